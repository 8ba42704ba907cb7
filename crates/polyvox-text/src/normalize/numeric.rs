//! Rules for pieces that start with a number: currency, percentages, ordinals, decades, ranges
//! and phone-like groups, units, and plain numbers; times and dates live in `calendar`.
//!
//! Each rule must match the whole core or not at all; when none does, the general sub-tokenizer
//! reads the piece (digit runs inside words still become numbers there).

use std::ops::Range;

use super::calendar::{date, is_month, slashed, time};
use super::numbers::{self, cardinal, decimal, ordinal, pluralize, year};
use super::{Cx, Out, tables};

/// Reads piece `i` if it is numeric; returns how many following pieces it consumed.
pub(super) fn read(cx: &Cx, i: usize, out: &mut Out) -> Option<usize> {
    let core = cx.core(i)?;
    let span = cx.span(i);
    let b = cx.british;
    // "+1-800-555-0199", "+5": a leading plus is said, then the rest is read on its own.
    if let Some(rest) = core
        .strip_prefix('+')
        .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    {
        out.word("plus", span.start..span.start + 1);
        let mut sub = Out {
            tokens: Vec::new(),
            gap: super::Gap::None,
        };
        if !(date(rest, span.start + 1..span.end, b, &mut sub)
            || grouped(rest, span.start + 1..span.end, b, &mut sub))
        {
            super::words::general(rest, span.start + 1, b, &mut sub);
        }
        out.tokens.extend(sub.tokens);
        return Some(0);
    }
    let (neg, body) = match core.strip_prefix(['-', '−']) {
        Some(rest) => (true, rest),
        None => (false, core),
    };
    if let Some(rest) = body.strip_prefix(['\'', '’', '‘'])
        && let Some(tens) = rest.strip_suffix('s').filter(|t| t.len() == 2)
        && let Ok(n) = tens.parse::<u64>()
    {
        // '80s → eighties
        out.words(pluralize(cardinal(n, cx.british)), span);
        return Some(0);
    }
    let first = body.chars().next()?;
    let starts_numeric = first.is_ascii_digit()
        || (first == '.' && body[1..].starts_with(|c: char| c.is_ascii_digit()));
    let minus = |out: &mut Out| {
        if neg {
            out.word("minus", span.clone());
        }
    };
    if let Some(sym) = currency_symbol(first) {
        let (num, tail) = take_number(&body[first.len_utf8()..])?;
        let (scale, consumed) = scale_of(tail, cx, i)?;
        minus(out);
        out.words(money(num, sym, scale, b)?, span_through(cx, i, consumed));
        return Some(consumed);
    }
    if !starts_numeric {
        return None;
    }
    let (num, tail) = take_number(body)?;
    if num.len() > numbers::MAX_CARDINAL_DIGITS && num.bytes().all(|b| b.is_ascii_digit()) {
        return None; // read digit by digit in groups by the general rule, each with its own span
    }
    if let Some(sym) = tail
        .chars()
        .next()
        .and_then(currency_symbol)
        .filter(|s| tail.len() == s.len_utf8())
    {
        minus(out);
        out.words(money(num, sym, None, b)?, span);
        return Some(0);
    }
    if tail == "%" {
        minus(out);
        out.words(number(num, b, false)?, span.clone());
        out.word("percent", span);
        return Some(0);
    }
    if neg {
        // Only a plain number or a number with a unit may carry a minus; "-3:30" is not a time.
        let (unit, consumed) = unit_of(tail, cx, i)?;
        out.word("minus", span.clone());
        out.words(number(num, b, false)?, span_through(cx, i, consumed));
        if let Some(u) = unit {
            out.words(unit_words(u, num, b), span_through(cx, i, consumed));
        }
        return Some(consumed);
    }
    if let Some(consumed) = time(cx, i, body, out) {
        return Some(consumed);
    }
    if date(body, span.clone(), b, out)
        || slashed(body, span.clone(), b, out)
        || grouped(body, span.clone(), b, out)
    {
        return Some(0);
    }
    let n = numbers::thousands(num).and_then(|p| p.parse::<u64>().ok());
    let lower = tail.to_ascii_lowercase();
    if let Some(n) = n.filter(|_| matches!(lower.as_str(), "st" | "nd" | "rd" | "th")) {
        out.words(ordinal(n, b), span);
        return Some(0);
    }
    if let Some(n) = n.filter(|_| matches!(tail, "s" | "'s")) {
        let base = if num.len() == 4 {
            year(n, b)
        } else {
            cardinal(n, b)
        };
        out.words(pluralize(base), span);
        return Some(0);
    }
    let (unit, consumed) = unit_of(tail, cx, i)?;
    if unit.is_none()
        && let Some(d) = n.filter(|d| (1..=31).contains(d) && !num.contains(','))
    {
        // "March 5" → March fifth; "5 March" → the fifth of March.
        if i > 0 && cx.core(i - 1).is_some_and(is_month) {
            out.words(ordinal(d, b), span);
            return Some(0);
        }
        if cx.core(i + 1).is_some_and(is_month) {
            out.word("the", span.clone());
            out.words(ordinal(d, b), span.clone());
            out.word("of", span);
            return Some(0);
        }
    }
    out.words(
        number(num, b, unit.is_none())?,
        span_through(cx, i, consumed),
    );
    if let Some(u) = unit {
        out.words(unit_words(u, num, b), span_through(cx, i, consumed));
    }
    Some(consumed)
}

/// The span from piece `i`'s core through piece `i + consumed`'s core.
pub(super) fn span_through(cx: &Cx, i: usize, consumed: usize) -> Range<usize> {
    cx.span(i).start..cx.span(i + consumed).end
}

/// Splits a leading number (`1,234.5`, `.5`) from the rest.
pub(super) fn take_number(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let digit = |k: usize| b.get(k).is_some_and(u8::is_ascii_digit);
    let mut k = 0;
    while digit(k) || (k > 0 && b.get(k) == Some(&b',') && digit(k + 1)) {
        k += 1;
    }
    if b.get(k) == Some(&b'.') && digit(k + 1) {
        k += 1;
        while digit(k) {
            k += 1;
        }
    }
    (k > 0 && digit(k - 1)).then(|| s.split_at(k))
}

/// A number as words: decimals, thousands commas; four-digit integers read as years when `years`.
fn number(num: &str, british: bool, years: bool) -> Option<Vec<String>> {
    if years
        && num.len() == 4
        && let Ok(n) = num.parse::<u64>()
        && (1100..=2099).contains(&n)
    {
        return Some(year(n, british));
    }
    decimal(num, british)
}

fn currency_symbol(c: char) -> Option<char> {
    matches!(c, '$' | '£' | '€' | '¥' | '₹').then_some(c)
}

/// Unit names of a currency: (one, many, one hundredth, many hundredths).
fn currency_names(
    sym: char,
) -> (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
) {
    match sym {
        '£' => ("pound", "pounds", Some(("penny", "pence"))),
        '€' => ("euro", "euros", Some(("cent", "cents"))),
        '¥' => ("yen", "yen", None),
        '₹' => ("rupee", "rupees", Some(("paisa", "paise"))),
        _ => ("dollar", "dollars", Some(("cent", "cents"))),
    }
}

/// Scale after an amount: attached (`$5M`, `$2bn`) or the next piece (`$5 million`).
fn scale_of(tail: &str, cx: &Cx, i: usize) -> Option<(Option<&'static str>, usize)> {
    let attached = match tail {
        "" => None,
        "k" | "K" => Some("thousand"),
        "m" | "M" | "mn" => Some("million"),
        "b" | "B" | "bn" => Some("billion"),
        "t" | "T" | "tn" => Some("trillion"),
        _ => return None,
    };
    if attached.is_some() || !cx.joinable(i) {
        return Some((attached, 0));
    }
    let next = cx.core(i + 1).map(str::to_ascii_lowercase);
    let word = ["thousand", "million", "billion", "trillion"]
        .into_iter()
        .find(|w| next.as_deref() == Some(*w));
    Some((word, usize::from(word.is_some())))
}

/// `$5.50` → five dollars fifty cents; `$1.5 million` → one point five million dollars.
pub(super) fn money(
    num: &str,
    sym: char,
    scale: Option<&str>,
    british: bool,
) -> Option<Vec<String>> {
    let (one, many, hundredths) = currency_names(sym);
    if let Some(scale) = scale {
        let mut words = decimal(num, british)?;
        words.extend([scale.to_owned(), many.to_owned()]);
        return Some(words);
    }
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let whole: u64 = if int.is_empty() {
        0
    } else {
        numbers::thousands(int)?.parse().ok()?
    };
    let (Some((sub_one, sub_many)), 1..=2) = (hundredths, frac.len()) else {
        // No sub-unit, or more than two decimals: a plain decimal amount.
        if frac.is_empty() {
            let mut words = numbers::integer(int, british)?;
            words.push(if whole == 1 { one } else { many }.to_owned());
            return Some(words);
        }
        let mut words = decimal(num, british)?;
        words.push(many.to_owned());
        return Some(words);
    };
    let cents: u64 = format!("{frac:0<2}").parse().ok()?;
    let mut words = Vec::new();
    if whole > 0 || cents == 0 {
        words.extend(numbers::integer(int, british).unwrap_or_else(|| cardinal(whole, british)));
        words.push(if whole == 1 { one } else { many }.to_owned());
    }
    if cents > 0 {
        words.extend(cardinal(cents, british));
        words.push(if cents == 1 { sub_one } else { sub_many }.to_owned());
    }
    Some(words)
}

/// Dash-separated digit groups: a range (`10-20` → ten to twenty) or, for phone-like shapes
/// (`555-1234`, three or more groups), digit by digit with a short pause between groups.
fn grouped(body: &str, span: Range<usize>, british: bool, out: &mut Out) -> bool {
    let parts: Vec<&str> = body.split(['-', '–']).collect();
    if parts.len() < 2
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let phone = parts.len() > 2
        || (parts[0].len() == 3 && parts[1].len() == 4)
        || parts.iter().any(|p| p.len() > 4);
    if phone {
        for (k, p) in parts.iter().enumerate() {
            if k > 0 {
                out.punct(',', span.clone());
            }
            out.words(numbers::digits(p), span.clone());
        }
        return true;
    }
    let (Some(a), Some(c)) = (
        number(parts[0], british, true),
        number(parts[1], british, true),
    ) else {
        return false;
    };
    out.words(a, span.clone());
    out.word("to", span.clone());
    out.words(c, span);
    true
}

/// A unit after a number: attached (`5km`) or the next piece (`5 km`).
fn unit_of(tail: &str, cx: &Cx, i: usize) -> Option<(Option<&'static str>, usize)> {
    if !tail.is_empty() {
        return unit_key(tail).map(|k| (Some(k), 0));
    }
    if cx.joinable(i)
        && let Some(next) = cx.core(i + 1)
        && tables::unit(next).is_some()
    {
        return Some((unit_key(next), 1));
    }
    Some((None, 0))
}

fn unit_key(s: &str) -> Option<&'static str> {
    tables::UNITS
        .iter()
        .find(|(k, ..)| *k == s)
        .map(|(k, ..)| *k)
}

/// Unit words, singular only after exactly "1".
fn unit_words(unit: &str, num: &str, british: bool) -> Vec<String> {
    let Some((one, many)) = tables::unit(unit) else {
        return Vec::new();
    };
    let word = if num == "1" { one } else { many };
    let word = if british {
        word.replace("meter", "metre").replace("liter", "litre")
    } else {
        word.to_owned()
    };
    word.split(' ').map(str::to_owned).collect()
}
