//! Numbers as English words: cardinals, ordinals, years, decimals, digit strings, fractions.
//!
//! Words come out one per element, hyphen-free ("ninety", "nine"), because that is how the
//! lexicon stores them. British English says "and" inside numbers ("one hundred and five").

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const SCALES: [&str; 6] = [
    "",
    "thousand",
    "million",
    "billion",
    "trillion",
    "quadrillion",
];

/// Largest integer we read as a number; longer digit strings are read digit by digit.
pub(crate) const MAX_CARDINAL_DIGITS: usize = 15;

fn below_thousand(n: u64, british: bool, out: &mut Vec<String>) {
    let (hundreds, rest) = (n / 100, n % 100);
    if hundreds > 0 {
        out.push(ONES[hundreds as usize].into());
        out.push("hundred".into());
        if rest > 0 && british {
            out.push("and".into());
        }
    }
    if rest >= 20 {
        out.push(TENS[(rest / 10) as usize].into());
        if rest % 10 > 0 {
            out.push(ONES[(rest % 10) as usize].into());
        }
    } else if rest > 0 {
        out.push(ONES[rest as usize].into());
    }
}

/// `1234` → one thousand two hundred thirty four.
pub(crate) fn cardinal(n: u64, british: bool) -> Vec<String> {
    if n == 0 {
        return vec!["zero".into()];
    }
    let mut groups = Vec::new();
    let mut rest = n;
    while rest > 0 {
        groups.push(rest % 1000);
        rest /= 1000;
    }
    let mut out = Vec::new();
    for (scale, &group) in groups.iter().enumerate().rev() {
        if group == 0 {
            continue;
        }
        // "one thousand and five": British links a final group under a hundred with "and".
        if british && scale == 0 && group < 100 && !out.is_empty() {
            out.push("and".into());
        }
        below_thousand(group, british, &mut out);
        if let Some(word) = SCALES.get(scale).filter(|w| !w.is_empty()) {
            out.push((*word).into());
        }
    }
    out
}

/// Turns the last word of a cardinal reading into its ordinal.
fn ordinalize(word: &str) -> String {
    match word {
        "one" => "first".into(),
        "two" => "second".into(),
        "three" => "third".into(),
        "five" => "fifth".into(),
        "eight" => "eighth".into(),
        "nine" => "ninth".into(),
        "twelve" => "twelfth".into(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    }
}

/// `22` → twenty second.
pub(crate) fn ordinal(n: u64, british: bool) -> Vec<String> {
    let mut words = cardinal(n, british);
    if let Some(last) = words.last_mut() {
        *last = ordinalize(last);
    }
    words
}

/// `1999` → nineteen ninety nine; `2005` → two thousand five; `1905` → nineteen oh five.
pub(crate) fn year(n: u64, british: bool) -> Vec<String> {
    let (hi, lo) = (n / 100, n % 100);
    if !(1000..10_000).contains(&n) || n % 1000 < 10 {
        return cardinal(n, british);
    }
    let mut out = cardinal(hi, british);
    match lo {
        0 => out.push("hundred".into()),
        1..=9 => {
            out.push("oh".into());
            out.push(ONES[lo as usize].into());
        }
        _ => out.extend(cardinal(lo, british)),
    }
    out
}

/// Plural of the last word: 1990s → nineteen nineties, 80s → eighties.
pub(crate) fn pluralize(mut words: Vec<String>) -> Vec<String> {
    if let Some(last) = words.last_mut() {
        *last = match last.as_str() {
            w if w.ends_with('y') => format!("{}ies", &w[..w.len() - 1]),
            w if w.ends_with('x') => format!("{w}es"),
            w => format!("{w}s"),
        };
    }
    words
}

/// Every digit on its own: `007` → zero zero seven.
pub(crate) fn digits(s: &str) -> Vec<String> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| ONES[(b - b'0') as usize].to_owned())
        .collect()
}

/// Reads an integer written with ASCII digits and optional thousands commas (`1,234`).
/// Leading zeros and very long numbers are read digit by digit; `None` if the commas are not
/// thousands separators.
pub(crate) fn integer(s: &str, british: bool) -> Option<Vec<String>> {
    let plain = thousands(s)?;
    if plain.is_empty() {
        return None;
    }
    if plain.len() > MAX_CARDINAL_DIGITS || (plain.len() > 1 && plain.starts_with('0')) {
        return Some(digits(&plain));
    }
    plain.parse().ok().map(|n| cardinal(n, british))
}

/// `1,234,567` → `1234567`; `None` when the commas are not in thousands positions.
pub(crate) fn thousands(s: &str) -> Option<String> {
    if !s.contains(',') {
        return s.bytes().all(|b| b.is_ascii_digit()).then(|| s.to_owned());
    }
    let mut groups = s.split(',');
    let first = groups.next()?;
    let ok_first = (1..=3).contains(&first.len()) && first.bytes().all(|b| b.is_ascii_digit());
    let mut plain = first.to_owned();
    for g in groups {
        if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        plain.push_str(g);
    }
    ok_first.then_some(plain)
}

/// `3.14` → three point one four; `.5` → point five. `None` unless `int[.frac]` with digits.
pub(crate) fn decimal(s: &str, british: bool) -> Option<Vec<String>> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let mut out = if int.is_empty() {
        Vec::new()
    } else {
        integer(int, british)?
    };
    if let Some(frac) = frac {
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        out.push("point".into());
        out.extend(digits(frac));
    }
    (!out.is_empty()).then_some(out)
}

/// `3/4` → three quarters. Only proper fractions with small denominators read as fractions.
pub(crate) fn fraction(num: u64, den: u64, british: bool) -> Option<Vec<String>> {
    if !(2..=16).contains(&den) || num == 0 || num >= den {
        return None;
    }
    let mut out = cardinal(num, british);
    let (one, many) = match den {
        2 => ("half".to_owned(), "halves".to_owned()),
        4 => ("quarter".to_owned(), "quarters".to_owned()),
        d => {
            let o = ordinal(d, british).join(" ");
            (o.clone(), format!("{o}s"))
        }
    };
    out.extend(
        (if num == 1 { one } else { many })
            .split(' ')
            .map(str::to_owned),
    );
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(words: Vec<String>) -> String {
        words.join(" ")
    }

    #[test]
    fn cardinals_in_both_accents() {
        for (n, us, gb) in [
            (0, "zero", "zero"),
            (7, "seven", "seven"),
            (13, "thirteen", "thirteen"),
            (40, "forty", "forty"),
            (99, "ninety nine", "ninety nine"),
            (105, "one hundred five", "one hundred and five"),
            (1_005, "one thousand five", "one thousand and five"),
            (1_000_000, "one million", "one million"),
            (
                1_234_567,
                "one million two hundred thirty four thousand five hundred sixty seven",
                "one million two hundred and thirty four thousand five hundred and sixty seven",
            ),
        ] {
            assert_eq!(j(cardinal(n, false)), us, "{n}");
            assert_eq!(j(cardinal(n, true)), gb, "{n}");
        }
    }

    #[test]
    fn ordinals_years_and_plurals() {
        for (n, want) in [
            (1, "first"),
            (2, "second"),
            (3, "third"),
            (12, "twelfth"),
            (20, "twentieth"),
            (22, "twenty second"),
            (101, "one hundred first"),
        ] {
            assert_eq!(j(ordinal(n, false)), want);
        }
        for (n, want) in [
            (1999, "nineteen ninety nine"),
            (2024, "twenty twenty four"),
            (2000, "two thousand"),
            (2005, "two thousand five"),
            (1900, "nineteen hundred"),
            (1905, "nineteen oh five"),
            (2010, "twenty ten"),
        ] {
            assert_eq!(j(year(n, false)), want);
        }
        assert_eq!(j(pluralize(year(1990, false))), "nineteen nineties");
        assert_eq!(j(pluralize(cardinal(6, false))), "sixes");
    }

    #[test]
    fn digit_strings_decimals_and_fractions() {
        assert_eq!(
            integer("1,234", false).map(j).as_deref(),
            Some("one thousand two hundred thirty four")
        );
        assert_eq!(integer("1,23", false), None);
        assert_eq!(
            integer("007", false).map(j).as_deref(),
            Some("zero zero seven")
        );
        assert_eq!(
            integer("1234567890123456", false).map(|w| w.len()),
            Some(16)
        );
        assert_eq!(
            decimal("3.14", false).map(j).as_deref(),
            Some("three point one four")
        );
        assert_eq!(decimal(".5", false).map(j).as_deref(), Some("point five"));
        assert_eq!(decimal("3.", false), None);
        assert_eq!(fraction(1, 2, false).map(j).as_deref(), Some("one half"));
        assert_eq!(
            fraction(3, 4, false).map(j).as_deref(),
            Some("three quarters")
        );
        assert_eq!(fraction(2, 3, false).map(j).as_deref(), Some("two thirds"));
        assert_eq!(
            fraction(5, 16, false).map(j).as_deref(),
            Some("five sixteenths")
        );
        assert_eq!(fraction(24, 7, false), None);
    }
}
