//! Numbers read in Japanese (as katakana, which `kana` turns into phonemes), with the counters
//! whose sound changes a dictionary cannot know: 1本 イッポン, 3本 サンボン, 1人 ヒトリ, 4時 ヨジ,
//! 1日 ツイタチ, 20歳 ハタチ, 10分 ジュップン, ...
//!
//! Digits are read as one number (万/億/兆 groups of four); a decimal part digit by digit after
//! テン. Counters are matched right after the digits; an unknown counter is left to the
//! dictionary, and the number before it is read plainly.

const DIGITS: [&str; 10] = [
    "ゼロ",
    "イチ",
    "ニ",
    "サン",
    "ヨン",
    "ゴ",
    "ロク",
    "ナナ",
    "ハチ",
    "キュウ",
];

/// 1..=9999 in katakana.
fn below_10k(n: u64) -> String {
    let (th, h, t, o) = (n / 1000, n / 100 % 10, n / 10 % 10, n % 10);
    let mut s = String::new();
    s.push_str(match th {
        0 => "",
        1 => "セン",
        3 => "サンゼン",
        8 => "ハッセン",
        d => return format!("{}セン{}", DIGITS[d as usize], below_10k(n % 1000)),
    });
    s.push_str(match h {
        0 => "",
        1 => "ヒャク",
        3 => "サンビャク",
        6 => "ロッピャク",
        8 => "ハッピャク",
        d => return format!("{s}{}ヒャク{}", DIGITS[d as usize], below_10k(n % 100)),
    });
    match t {
        0 => {}
        1 => s.push_str("ジュウ"),
        d => {
            s.push_str(DIGITS[d as usize]);
            s.push_str("ジュウ");
        }
    }
    if o > 0 {
        s.push_str(DIGITS[o as usize]);
    }
    s
}

/// A whole number in katakana.
pub(crate) fn integer(n: u64) -> String {
    if n == 0 {
        return DIGITS[0].into();
    }
    let mut s = String::new();
    for (unit, name) in [
        (1_0000_0000_0000u64, "チョウ"),
        (1_0000_0000, "オク"),
        (1_0000, "マン"),
    ] {
        let k = n / unit % 1_0000;
        if k > 0 {
            s.push_str(&below_10k(k));
            s.push_str(name);
        }
    }
    s.push_str(&below_10k(n % 1_0000));
    s
}

/// Replaces the last mora of a number reading by its geminated form (イチ → イッ).
fn geminate(reading: &str) -> String {
    for (from, to) in [
        ("イチ", "イッ"),
        ("ロク", "ロッ"),
        ("ハチ", "ハッ"),
        ("ジュウ", "ジュッ"),
        ("ヒャク", "ヒャッ"),
    ] {
        if let Some(head) = reading.strip_suffix(from) {
            return format!("{head}{to}");
        }
    }
    reading.to_owned()
}

/// How a counter joins the number before it.
#[derive(Clone, Copy)]
enum Join {
    /// No change (枚, 円, 度).
    Plain,
    /// ッ after 1, 6, 8, 10 (個, 回, 歳, 冊).
    Geminate,
    /// ッ + p after 1, 6, 8, 10 and b after 3 (本, 匹, 杯).
    Handakuten { p: &'static str, b: &'static str },
}

/// Counters: surface, plain reading, how it joins. Longest surfaces first.
const COUNTERS: &[(&str, &str, Join)] = &[
    ("パーセント", "パーセント", Join::Plain),
    ("週間", "シュウカン", Join::Geminate),
    ("時間", "ジカン", Join::Plain),
    // Else the dictionary reads 間 alone, as ハザマ.
    ("年間", "ネンカン", Join::Plain),
    ("か月", "カゲツ", Join::Geminate),
    ("ヶ月", "カゲツ", Join::Geminate),
    ("%", "パーセント", Join::Plain),
    ("％", "パーセント", Join::Plain),
    ("円", "エン", Join::Plain),
    // 1万2千人: the dictionary reads a lone 万 as バン.
    ("万", "マン", Join::Plain),
    ("枚", "マイ", Join::Plain),
    ("度", "ド", Join::Plain),
    ("番", "バン", Join::Plain),
    ("秒", "ビョウ", Join::Plain),
    ("年", "ネン", Join::Plain),
    ("台", "ダイ", Join::Plain),
    ("個", "コ", Join::Geminate),
    ("回", "カイ", Join::Geminate),
    ("歳", "サイ", Join::Geminate),
    ("才", "サイ", Join::Geminate),
    ("冊", "サツ", Join::Geminate),
    ("階", "カイ", Join::Geminate),
    ("キロ", "キロ", Join::Geminate),
    (
        "本",
        "ホン",
        Join::Handakuten {
            p: "ポン",
            b: "ボン",
        },
    ),
    (
        "匹",
        "ヒキ",
        Join::Handakuten {
            p: "ピキ",
            b: "ビキ",
        },
    ),
    (
        "杯",
        "ハイ",
        Join::Handakuten {
            p: "パイ",
            b: "バイ",
        },
    ),
    (
        "分",
        "フン",
        Join::Handakuten {
            p: "プン",
            b: "プン",
        },
    ),
    ("人", "ニン", Join::Plain),
    ("時", "ジ", Join::Plain),
    ("月", "ガツ", Join::Plain),
    ("日", "ニチ", Join::Plain),
    ("つ", "ツ", Join::Plain),
];

/// Readings that no rule gives.
fn irregular(n: u64, counter: &str) -> Option<&'static str> {
    Some(match (counter, n) {
        ("人", 1) => "ヒトリ",
        ("人", 2) => "フタリ",
        ("人", 4) => "ヨニン",
        ("時", 4) => "ヨジ",
        ("時", 7) => "シチジ",
        ("時", 9) => "クジ",
        ("月", 4) => "シガツ",
        ("月", 7) => "シチガツ",
        ("月", 9) => "クガツ",
        ("日", 1) => "ツイタチ",
        ("日", 2) => "フツカ",
        ("日", 3) => "ミッカ",
        ("日", 4) => "ヨッカ",
        ("日", 5) => "イツカ",
        ("日", 6) => "ムイカ",
        ("日", 7) => "ナノカ",
        ("日", 8) => "ヨウカ",
        ("日", 9) => "ココノカ",
        ("日", 10) => "トオカ",
        ("日", 14) => "ジュウヨッカ",
        ("日", 20) => "ハツカ",
        ("日", 24) => "ニジュウヨッカ",
        ("歳" | "才", 20) => "ハタチ",
        ("年", 4) => "ヨネン",
        ("円", 4) => "ヨエン",
        ("分", 4) => "ヨンプン",
        ("つ", 1) => "ヒトツ",
        ("つ", 2) => "フタツ",
        ("つ", 3) => "ミッツ",
        ("つ", 4) => "ヨッツ",
        ("つ", 5) => "イツツ",
        ("つ", 6) => "ムッツ",
        ("つ", 7) => "ナナツ",
        ("つ", 8) => "ヤッツ",
        ("つ", 9) => "ココノツ",
        ("つ", 10) => "トオ",
        _ => return None,
    })
}

/// A number (digits as written, commas allowed) and the counter after it, in katakana; also the
/// number of bytes of `after` the counter used (0 when none matched).
pub(crate) fn read(digits: &str, after: &str) -> (String, usize) {
    let (int_part, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let int_digits: String = int_part.chars().filter(char::is_ascii_digit).collect();
    let Ok(n) = int_digits.parse::<u64>() else {
        // Too long for a number: read digit by digit.
        let s = digits
            .chars()
            .filter_map(|c| c.to_digit(10))
            .map(|d| DIGITS[d as usize])
            .collect();
        return (s, 0);
    };
    let mut base = integer(n);
    if let Some(f) = frac {
        base.push_str("テン");
        for d in f.chars().filter_map(|c| c.to_digit(10)) {
            base.push_str(DIGITS[d as usize]);
        }
        return (base, 0);
    }
    let Some(&(surface, reading, join)) = COUNTERS.iter().find(|(s, ..)| after.starts_with(s))
    else {
        return (base, 0);
    };
    // つ counts only to ten; beyond it the dictionary reads what follows.
    if surface == "つ" && !(1..=10).contains(&n) {
        return (base, 0);
    }
    if let Some(r) = irregular(n, surface) {
        return (r.to_owned(), surface.len());
    }
    let last = n % 10;
    let tens_only = last == 0 && n > 0;
    // 14年 ジュウヨネン, 17時 ジュウシチジ: the last digit's counter-specific form.
    if matches!(surface, "年" | "年間" | "円" | "人" | "時")
        && let Some(head) = base.strip_suffix("ヨン")
    {
        base = format!("{head}ヨ");
    }
    if surface == "時" {
        for (from, to) in [("ナナ", "シチ"), ("キュウ", "ク")] {
            if let Some(head) = base.strip_suffix(from) {
                base = format!("{head}{to}");
            }
        }
    }
    let joined = match join {
        Join::Plain => format!("{base}{reading}"),
        Join::Geminate if matches!(last, 1 | 6 | 8) || tens_only => {
            format!("{}{reading}", geminate(&base))
        }
        Join::Handakuten { p, .. } if matches!(last, 1 | 6 | 8) || tens_only => {
            format!("{}{p}", geminate(&base))
        }
        Join::Handakuten { b, .. } if last == 3 => format!("{base}{b}"),
        Join::Handakuten { p, .. } if surface == "分" && last == 4 => format!("{base}{p}"),
        _ => format!("{base}{reading}"),
    };
    (joined, surface.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(integer(0), "ゼロ");
        assert_eq!(integer(15), "ジュウゴ");
        assert_eq!(integer(300), "サンビャク");
        assert_eq!(integer(2024), "ニセンニジュウヨン");
        assert_eq!(integer(8600), "ハッセンロッピャク");
        assert_eq!(integer(10_000), "イチマン");
        assert_eq!(integer(120_000_000), "イチオクニセンマン");
    }

    #[test]
    fn counters_and_sound_changes() {
        let r = |d: &str, a: &str| read(d, a).0;
        assert_eq!(r("1", "本"), "イッポン");
        assert_eq!(r("3", "本"), "サンボン");
        assert_eq!(r("10", "分"), "ジュップン");
        assert_eq!(r("4", "分"), "ヨンプン");
        assert_eq!(r("2", "人"), "フタリ");
        assert_eq!(r("5", "人"), "ゴニン");
        assert_eq!(r("4", "時"), "ヨジ");
        assert_eq!(r("4", "月"), "シガツ");
        assert_eq!(r("1", "日"), "ツイタチ");
        assert_eq!(r("25", "日"), "ニジュウゴニチ");
        assert_eq!(r("2024", "年"), "ニセンニジュウヨネン");
        assert_eq!(r("3", "年間"), "サンネンカン");
        assert_eq!(r("4", "年間"), "ヨネンカン");
        assert_eq!(r("1", "万"), "イチマン");
        assert_eq!(r("8", "個"), "ハッコ");
        assert_eq!(r("100", "本"), "ヒャッポン");
        assert_eq!(r("19", "時"), "ジュウクジ");
        assert_eq!(r("20", "歳"), "ハタチ");
        assert_eq!(r("1,500", "円"), "センゴヒャクエン");
        assert_eq!(r("3.14", ""), "サンテンイチヨン");
        assert_eq!(r("50", "%"), "ゴジュウパーセント");
        assert_eq!(read("7", "時に").1, "時".len());
        assert_eq!(read("7", "は").1, 0);
    }
}
