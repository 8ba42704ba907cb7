//! Numbers read in Chinese, written out as characters that the pinyin step then reads:
//! 2024 二千零二十四, 15 十五, 3.14 三点一四, 50% 百分之五十, years digit by digit (2024年
//! 二零二四年), and 两 for two before a measure word (2个 两个).

const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

fn below_10k(n: u64, leading: bool) -> String {
    let parts = [(n / 1000, '千'), (n / 100 % 10, '百'), (n / 10 % 10, '十')];
    let mut s = String::new();
    let mut zero = false;
    // Zeros before the group's first digit are the caller's (it writes one 零 between groups).
    let mut started = false;
    for (d, unit) in parts {
        if d == 0 {
            zero |= started;
            continue;
        }
        if zero {
            s.push('零');
            zero = false;
        }
        // 十五, not 一十五, at the start of a number.
        if !(unit == '十' && d == 1 && s.is_empty() && leading) {
            s.push(DIGITS[d as usize]);
        }
        s.push(unit);
        started = true;
    }
    let o = n % 10;
    if o > 0 {
        if zero {
            s.push('零');
        }
        s.push(DIGITS[o as usize]);
    }
    s
}

/// A whole number in characters.
pub(crate) fn integer(n: u64) -> String {
    if n == 0 {
        return "零".into();
    }
    let groups = [
        (n / 1_0000_0000_0000, "万亿"),
        (n / 1_0000_0000 % 1_0000, "亿"),
        (n / 1_0000 % 1_0000, "万"),
        (n % 1_0000, ""),
    ];
    let mut s = String::new();
    let mut pending_zero = false;
    for (g, unit) in groups {
        if g == 0 {
            pending_zero |= !s.is_empty();
            continue;
        }
        if !s.is_empty() && (pending_zero || g < 1000) {
            s.push('零');
        }
        pending_zero = false;
        s.push_str(&below_10k(g, s.is_empty()));
        s.push_str(unit);
    }
    s
}

fn digit_by_digit(d: &str) -> String {
    d.chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| DIGITS[d as usize])
        .collect()
}

/// Measure words before which 2 is 两.
const MEASURES: &str = "个位只本张条件次天年岁块元点分种人台辆双对家";

/// A number as written (ASCII digits, commas allowed, one decimal point) and the text after it:
/// the characters to read, and how many bytes of `after` were folded in (for `%`).
pub(crate) fn read(digits: &str, after: &str) -> (String, usize) {
    let (int_part, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let int_digits: String = int_part.chars().filter(char::is_ascii_digit).collect();
    let percent = ["%", "％"].iter().find(|p| after.starts_with(**p));
    let mut s = match int_digits.parse::<u64>() {
        Ok(_) if after.starts_with('年') && int_digits.len() == 4 && frac.is_none() => {
            digit_by_digit(&int_digits)
        }
        Ok(2)
            if frac.is_none()
                && percent.is_none()
                && after.starts_with(|c| MEASURES.contains(c)) =>
        {
            "两".into()
        }
        Ok(n) if int_digits.len() <= 16 => integer(n),
        _ => digit_by_digit(&int_digits),
    };
    if let Some(f) = frac {
        s.push('点');
        s.push_str(&digit_by_digit(f));
    }
    match percent {
        Some(p) => (format!("百分之{s}"), p.len()),
        None => (s, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_characters() {
        assert_eq!(integer(0), "零");
        assert_eq!(integer(15), "十五");
        assert_eq!(integer(105), "一百零五");
        assert_eq!(integer(2024), "二千零二十四");
        assert_eq!(integer(1010), "一千零一十");
        assert_eq!(integer(30_000), "三万");
        assert_eq!(integer(100_500), "十万零五百");
        assert_eq!(integer(120_000_000), "一亿二千万");
        assert_eq!(read("2", "个苹果").0, "两");
        assert_eq!(read("2024", "年").0, "二零二四");
        assert_eq!(read("3.14", "").0, "三点一四");
        assert_eq!(read("50", "%的人"), ("百分之五十".into(), 1));
        assert_eq!(read("1,500", "元").0, "一千五百");
    }
}
