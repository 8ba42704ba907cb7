//! Calendar and clock rules: times (`3:30 pm`, `15:45`, `11am`), ratios (`16:9`), ISO and
//! slashed dates (month first in the US, day first in Britain), "March 5" / "5 March", fractions.

use std::ops::Range;

use super::numbers::{self, cardinal, ordinal, year};
use super::numeric::span_through;
use super::{Cx, Out};

pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `"Mar"`, `"March"`, `"March,"` (capitalized: "may" is a verb).
pub(super) fn is_month(core: &str) -> bool {
    let w = core.trim_end_matches([',', '.']);
    w.len() >= 3
        && w.starts_with(|c: char| c.is_ascii_uppercase())
        && MONTHS.iter().any(|m| m.starts_with(w))
}

/// `3:30`, `15:45:10`, `3:30pm`, `3pm`, `3:30 p.m.` (the next piece is consumed).
pub(super) fn time(cx: &Cx, i: usize, body: &str, out: &mut Out) -> Option<usize> {
    let span = cx.span(i);
    let digits_end = body
        .find(|c: char| !c.is_ascii_digit() && c != ':')
        .unwrap_or(body.len());
    let (clock, suffix) = body.split_at(digits_end);
    let parts: Vec<&str> = clock.split(':').collect();
    let attached = ampm(suffix);
    if !suffix.is_empty() && attached.is_none() {
        return None;
    }
    let (next, consumed) = match attached {
        None if cx.joinable(i) => match cx.core(i + 1).and_then(ampm) {
            Some(p) => (Some(p), 1),
            None => (None, 0),
        },
        _ => (attached, 0),
    };
    let marker = attached.or(next);
    let num = |s: &str| s.parse::<u64>().ok();
    let (h, m, s) = match parts.as_slice() {
        [h] if marker.is_some() && h.len() <= 2 => (num(h)?, 0, None),
        [h, m] if m.len() == 2 && h.len() <= 2 => (num(h)?, num(m)?, None),
        [h, m, s] if m.len() == 2 && s.len() == 2 && h.len() <= 2 => {
            (num(h)?, num(m)?, Some(num(s)?))
        }
        [a, c] if !a.is_empty() && !c.is_empty() && marker.is_none() => {
            // A ratio or a score: 16:9, 2:1.
            out.words(numbers::integer(a, cx.british)?, span.clone());
            out.word("to", span.clone());
            out.words(numbers::integer(c, cx.british)?, span);
            return Some(0);
        }
        _ => return None,
    };
    if h > 24 || m > 59 || s.is_some_and(|s| s > 59) || (marker.is_some() && !(1..=12).contains(&h))
    {
        return None;
    }
    // "at 3 p.m. Then": the dot of "p.m." also ends the sentence.
    let give_back = marker.is_some() && cx.dot_ends_sentence(i + consumed);
    let span = span_through(cx, i, consumed);
    let span = if give_back {
        span.start..span.end - 1
    } else {
        span
    };
    let b = cx.british;
    out.words(
        if h == 0 {
            vec!["zero".to_owned()]
        } else {
            cardinal(h, b)
        },
        span.clone(),
    );
    match m {
        0 if marker.is_some() => {}
        0 if h <= 12 => out.word("o'clock", span.clone()),
        0 => out.word("hundred", span.clone()),
        1..=9 => out.words(
            ["oh".to_owned()].into_iter().chain(cardinal(m, b)),
            span.clone(),
        ),
        _ => out.words(cardinal(m, b), span.clone()),
    }
    if let Some(s) = s.filter(|&s| s > 0) {
        out.word("and", span.clone());
        out.words(cardinal(s, b), span.clone());
        out.word(if s == 1 { "second" } else { "seconds" }, span.clone());
    }
    if let Some(p) = marker {
        out.spell(p, span.clone());
    }
    if give_back {
        out.punct('.', span.end..span.end + 1);
    }
    Some(consumed)
}

fn ampm(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().replace('.', "").as_str() {
        "am" => Some("AM"),
        "pm" => Some("PM"),
        _ => None,
    }
}

/// Speaks a calendar date: US "March fifth, twenty twenty-four", British "the fifth of March, ...".
fn say_date(y: Option<u64>, m: u64, d: u64, span: Range<usize>, british: bool, out: &mut Out) {
    let month = MONTHS[(m - 1) as usize];
    if british {
        out.word("the", span.clone());
        out.words(ordinal(d, british), span.clone());
        out.word("of", span.clone());
        out.word(month, span.clone());
    } else {
        out.word(month, span.clone());
        out.words(ordinal(d, british), span.clone());
    }
    if let Some(y) = y {
        out.punct(',', span.clone());
        out.words(year(y, british), span);
    }
}

/// ISO dates: `2024-03-05`.
pub(super) fn date(body: &str, span: Range<usize>, british: bool, out: &mut Out) -> bool {
    let parts: Vec<&str> = body.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u64>(), m.parse::<u64>(), d.parse::<u64>()) else {
        return false;
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return false;
    }
    say_date(Some(y), m, d, span, british, out);
    true
}

/// `3/5/2024` (month first in the US, day first in Britain), fractions `3/4`, and `24/7`.
pub(super) fn slashed(body: &str, span: Range<usize>, british: bool, out: &mut Out) -> bool {
    let parts: Vec<&str> = body.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 4)
    {
        return false;
    }
    let nums: Vec<u64> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    match *nums.as_slice() {
        [a, b, y] if parts[2].len() == 2 || parts[2].len() == 4 => {
            let (m, d) = if british { (b, a) } else { (a, b) };
            if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
                return false;
            }
            let y = if parts[2].len() == 2 {
                if y < 50 { 2000 + y } else { 1900 + y }
            } else {
                y
            };
            say_date(Some(y), m, d, span, british, out);
            true
        }
        [a, b] => {
            match numbers::fraction(a, b, british) {
                Some(words) => out.words(words, span),
                None => {
                    out.words(cardinal(a, british), span.clone());
                    out.words(cardinal(b, british), span);
                }
            }
            true
        }
        _ => false,
    }
}
