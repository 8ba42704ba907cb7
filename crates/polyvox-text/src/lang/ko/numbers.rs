//! Numbers read in Korean, written out in Hangul for the G2P to read: Sino-Korean (일, 이, 삼 …
//! 십, 백, 천, 만, 억) by default and for dates, money and measures; native Korean (한, 두, 세 …
//! 스무, 서른) before the counters that take it (개, 명, 살, 시, 마리 …) up to 99.

const SINO: [&str; 10] = ["영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"];

fn sino_below_10k(n: u64) -> String {
    let mut s = String::new();
    for (d, unit) in [(n / 1000, "천"), (n / 100 % 10, "백"), (n / 10 % 10, "십")] {
        if d == 0 {
            continue;
        }
        if d > 1 {
            s.push_str(SINO[d as usize]);
        }
        s.push_str(unit);
    }
    if !n.is_multiple_of(10) {
        s.push_str(SINO[(n % 10) as usize]);
    }
    s
}

/// A whole number, Sino-Korean.
pub(crate) fn sino(n: u64) -> String {
    if n == 0 {
        return SINO[0].into();
    }
    let mut s = String::new();
    for (unit, name) in [
        (1_0000_0000_0000u64, "조"),
        (1_0000_0000, "억"),
        (1_0000, "만"),
    ] {
        let g = n / unit % 1_0000;
        if g > 0 {
            // 만, not 일만.
            if !(g == 1 && name == "만" && s.is_empty()) {
                s.push_str(&sino_below_10k(g));
            }
            s.push_str(name);
        }
    }
    s.push_str(&sino_below_10k(n % 1_0000));
    s
}

/// 1..=99 in native Korean, in the form used before a counter (한, 두, 세, 네, 스무).
pub(crate) fn native(n: u64) -> Option<String> {
    const ONES: [&str; 10] = [
        "", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉",
    ];
    const TENS: [&str; 10] = [
        "", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔",
    ];
    if !(1..=99).contains(&n) {
        return None;
    }
    let (t, o) = ((n / 10) as usize, (n % 10) as usize);
    if t == 2 && o == 0 {
        return Some("스무".into());
    }
    Some(format!("{}{}", TENS[t], ONES[o]))
}

/// Counters that take native numbers.
const NATIVE_COUNTERS: &[&str] = &[
    "시간", "사람", "마리", "가지", "번째", "개", "명", "살", "시", "권", "잔", "병", "대", "달",
    "번",
];
/// Counters and units read after Sino-Korean numbers (so the counter is matched and kept).
const SINO_COUNTERS: &[&str] = &[
    "퍼센트",
    "킬로",
    "미터",
    "년",
    "월",
    "일",
    "분",
    "초",
    "원",
    "층",
    "도",
    "호",
    "%",
    "％",
];

/// A number as written (digits, commas, one decimal point) and the text after it: Hangul to read
/// and how many bytes of `after` (the counter) the reading includes.
pub(crate) fn read(digits: &str, after: &str) -> (String, usize) {
    let (int_part, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let int_digits: String = int_part.chars().filter(char::is_ascii_digit).collect();
    let Ok(n) = int_digits.parse::<u64>() else {
        let s = int_digits
            .chars()
            .filter_map(|c| c.to_digit(10))
            .map(|d| SINO[d as usize])
            .collect();
        return (s, 0);
    };
    if let Some(f) = frac {
        let mut s = sino(n);
        s.push('점');
        for d in f.chars().filter_map(|c| c.to_digit(10)) {
            s.push_str(SINO[d as usize]);
        }
        return (s, 0);
    }
    if let Some(c) = NATIVE_COUNTERS.iter().find(|c| after.starts_with(**c)) {
        // Past 99 even native counters take Sino-Korean numbers (백 명).
        let num = native(n).unwrap_or_else(|| sino(n));
        return (format!("{num}{c}"), c.len());
    }
    if let Some(c) = SINO_COUNTERS.iter().find(|c| after.starts_with(**c)) {
        let spoken = match (*c, n) {
            ("월", 6) => "유".to_owned(),
            ("월", 10) => "시".to_owned(),
            _ => sino(n),
        };
        let unit = if matches!(*c, "%" | "％") {
            "퍼센트"
        } else {
            c
        };
        return (format!("{spoken}{unit}"), c.len());
    }
    (sino(n), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sino_and_native() {
        assert_eq!(sino(0), "영");
        assert_eq!(sino(15), "십오");
        assert_eq!(sino(2024), "이천이십사");
        assert_eq!(sino(10_000), "만");
        assert_eq!(sino(35_000), "삼만오천");
        assert_eq!(native(1).as_deref(), Some("한"));
        assert_eq!(native(20).as_deref(), Some("스무"));
        assert_eq!(native(23).as_deref(), Some("스물세"));
        assert_eq!(native(100), None);
    }

    #[test]
    fn counters_choose_the_system() {
        assert_eq!(read("3", "개"), ("세개".into(), "개".len()));
        assert_eq!(read("2", "명이"), ("두명".into(), "명".len()));
        assert_eq!(read("100", "명").0, "백명");
        assert_eq!(read("6", "월").0, "유월");
        assert_eq!(read("2024", "년").0, "이천이십사년");
        assert_eq!(read("5,000", "원").0, "오천원");
        assert_eq!(read("30", "%").0, "삼십퍼센트");
        assert_eq!(read("3.5", "").0, "삼점오");
    }
}
