//! Rules for word-like pieces: abbreviations (whose dot is not a sentence end, unless it is
//! both), and the general sub-tokenizer that splits any remaining piece into letter runs (words),
//! digit runs (numbers) and symbols.

use super::numbers::{self, MAX_CARDINAL_DIGITS};
use super::numeric::{money, take_number};
use super::tables::{ABBREVIATIONS, greek, symbol};
use super::{Cx, Out, punct_of};

/// Letter runs longer than this are cut into pieces with their own spans (no English word is
/// longer, and a bounded piece keeps both espeak-ng and the chunker cheap).
const MAX_LETTER_RUN: usize = 40;
/// Digit runs read digit by digit are cut into groups of this many, each with its own span.
const DIGIT_GROUP: usize = 4;

/// Whether a trailing dot belongs to `core` (an abbreviation, `U.S.`, an initial) rather than
/// ending a sentence. `next` is the following piece, if any.
pub(super) fn takes_dot(core: &str, next: Option<&str>) -> bool {
    let next_upper = next
        .and_then(|n| n.chars().find(|c| c.is_alphanumeric()))
        .is_some_and(char::is_uppercase);
    let next_digit = next.is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit() || c == '#'));
    let lower = core.to_ascii_lowercase();
    match lower.as_str() {
        // "No. 5" is "number five"; "no." at a sentence end is just "no".
        "no" => core == "No" && next_digit,
        _ if ABBREVIATIONS.iter().any(|(k, ..)| *k == lower) => true,
        _ if dotted(core) => true,
        // An initial: "J. K. Rowling".
        _ => {
            core.len() == 1
                && core.chars().all(|c| c.is_ascii_uppercase())
                && !matches!(core, "A" | "I")
                && next_upper
        }
    }
}

/// `U.S`, `U.S.`, `a.m.`, `Ph.D.`: one- or two-letter groups joined by dots.
fn dotted(core: &str) -> bool {
    let groups: Vec<&str> = core.trim_end_matches('.').split('.').collect();
    groups.len() >= 2
        && groups
            .iter()
            .all(|g| (1..=2).contains(&g.len()) && g.chars().all(|c| c.is_ascii_alphabetic()))
}

/// Reads piece `i` if it is an abbreviation or dotted acronym.
pub(super) fn abbreviation(cx: &Cx, i: usize, out: &mut Out) -> bool {
    let (Some(core), span) = (cx.core(i), cx.span(i)) else {
        return false;
    };
    let stem = core.strip_suffix('.').unwrap_or(core);
    let lower = stem.to_ascii_lowercase();
    let next_upper = cx
        .core(i + 1)
        .and_then(|n| n.chars().next())
        .is_some_and(char::is_uppercase);
    // "St. Louis" is a saint; "Main St." and "5th St." are streets (a name or number before it,
    // unless that word only starts a sentence).
    let prev = cx.core(i.wrapping_sub(1)).filter(|_| i > 0);
    let prev_starts_sentence = i < 2
        || cx.text[..cx.raws[i - 1].lead.start]
            .trim_end()
            .ends_with(['.', '!', '?']);
    let street_name = prev.is_some_and(|p| {
        p.starts_with(|c: char| c.is_ascii_digit())
            || (p.starts_with(char::is_uppercase) && !prev_starts_sentence)
    });
    let saint = next_upper && !street_name;
    // Without its dot a stem is often a word or a name ("Jan", "Gen Z"); only these are safe.
    let dotless_ok = ["dr", "mr", "mrs", "ms", "vs", "etc", "e.g", "i.e"].contains(&lower.as_str());
    let abbreviation = ABBREVIATIONS
        .iter()
        .find(|(k, ..)| *k == lower)
        .filter(|_| core.ends_with('.') || dotless_ok);
    let is_initial =
        core.ends_with('.') && stem.len() == 1 && stem.chars().all(|c| c.is_ascii_uppercase());
    let can_end = match abbreviation {
        Some(_) if lower == "no" && core != "No." => return false,
        Some(&(_, _, can_end)) => can_end && !(lower == "st" && saint),
        None if dotted(stem) => true,
        // An initial is followed by a capital ("J. K. Rowling"); that is no sentence end.
        None if is_initial => false,
        None => return false,
    };
    // The dot was taken for the abbreviation; give it back when it also ends the sentence.
    let give_back = can_end && cx.dot_ends_sentence(i);
    let span = if give_back {
        span.start..span.end - 1
    } else {
        span
    };
    match abbreviation {
        Some(_) if lower == "ms" => {
            out.push(super::TokenKind::Phonemes("mˈɪz".into()), span.clone())
        }
        // "St. Louis" is a saint, "Main St." a street.
        Some(_) if lower == "st" => out.word(if saint { "Saint" } else { "street" }, span.clone()),
        Some(&(_, expansion, _)) => out.words(expansion.split(' '), span.clone()),
        None => out.spell(stem.replace('.', ""), span.clone()),
    }
    if give_back {
        out.punct('.', span.end..span.end + 1);
    }
    true
}

/// Scripts the English front end can read: Latin letters (with diacritics) and combining marks.
fn latin(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (('\u{00C0}'..='\u{024F}').contains(&c) && c != '×' && c != '÷')
        || ('\u{0300}'..='\u{036F}').contains(&c)
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ')
}

/// Splits any piece into letter runs (words), digit runs (numbers) and symbols.
pub(super) fn general(s: &str, off: usize, british: bool, out: &mut Out) {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let at = |k: usize| chars.get(k).map(|&(_, c)| c);
    let pos = |k: usize| chars.get(k).map_or(s.len(), |&(p, _)| p);
    let mut k = 0;
    while k < chars.len() {
        let c = chars[k].1;
        let start = k;
        if c.is_alphabetic() {
            let script = latin(c);
            while let Some(d) = at(k) {
                let inner_apostrophe = is_apostrophe(d)
                    && k > start
                    && at(k + 1).is_some_and(|n| n.is_alphabetic() && latin(n) == script);
                let mark = ('\u{0300}'..='\u{036F}').contains(&d);
                if !((d.is_alphabetic() && latin(d) == script) || mark || inner_apostrophe) {
                    break;
                }
                k += 1;
            }
            letters(&s[pos(start)..pos(k)], off + pos(start), script, out);
        } else if c.is_ascii_digit() || (c == '.' && at(k + 1).is_some_and(|n| n.is_ascii_digit()))
        {
            while let Some(d) = at(k) {
                // A separator counts only between digits (or as the leading dot of ".5").
                let inner = (d == '.' || (d == ',' && k > start))
                    && at(k + 1).is_some_and(|n| n.is_ascii_digit());
                if !(d.is_ascii_digit() || inner) {
                    break;
                }
                k += 1;
            }
            digit_run(&s[pos(start)..pos(k)], off + pos(start), british, out);
        } else if matches!(c, '$' | '£' | '€' | '¥' | '₹')
            && let Some((num, _)) = take_number(&s[pos(k + 1)..])
            && let Some(words) = money(num, c, None, british)
        {
            let end = pos(k + 1) + num.len();
            out.words(words, off + pos(k)..off + end);
            while pos(k) < end {
                k += 1;
            }
        } else {
            let span = off + pos(k)..off + pos(k + 1);
            let next = at(k + 1);
            if c == '.'
                && next.is_some_and(char::is_alphabetic)
                && !next.is_some_and(char::is_uppercase)
            {
                out.word("dot", span); // file.txt, node.js
            } else if let Some(words) = symbol(c, next) {
                out.words(words.iter().copied(), span);
            } else if let Some(p) = punct_of(c, false).filter(|p| !"()\"“”".contains(*p)) {
                out.punct(p, span);
            }
            k += 1;
        }
    }
}

/// A run of letters: a word, or pieces of a very long run; non-Latin scripts are not read
/// except single Greek letters.
fn letters(run: &str, off: usize, latin_script: bool, out: &mut Out) {
    if !latin_script {
        let mut chars = run.chars();
        if let (Some(c), None) = (chars.next(), chars.next())
            && let Some(name) = greek(c)
        {
            out.word(name, off..off + run.len());
        }
        return;
    }
    let bounds: Vec<usize> = run
        .char_indices()
        .map(|(p, _)| p)
        .step_by(MAX_LETTER_RUN)
        .chain(std::iter::once(run.len()))
        .collect();
    for w in bounds.windows(2) {
        out.word(&run[w[0]..w[1]], off + w[0]..off + w[1]);
    }
}

/// A run of digits with inner commas or dots.
fn digit_run(run: &str, off: usize, british: bool, out: &mut Out) {
    let span = off..off + run.len();
    if run.matches('.').count() >= 2 {
        // Versions and addresses: 1.2.3 → one dot two dot three.
        let mut pos = 0;
        for (k, group) in run.split('.').enumerate() {
            if k > 0 {
                out.word("dot", off + pos - 1..off + pos);
            }
            digit_run(group, off + pos, british, out);
            pos += group.len() + 1;
        }
        return;
    }
    let plain = run.bytes().all(|b| b.is_ascii_digit());
    if plain && run.len() > MAX_CARDINAL_DIGITS {
        for (k, chunk) in run.as_bytes().chunks(DIGIT_GROUP).enumerate() {
            let start = off + k * DIGIT_GROUP;
            let text = std::str::from_utf8(chunk).unwrap_or_default();
            out.words(numbers::digits(text), start..start + chunk.len());
        }
        return;
    }
    if plain
        && run.len() == 4
        && let Ok(n) = run.parse::<u64>()
        && (1100..=2099).contains(&n)
    {
        out.words(numbers::year(n, british), span);
        return;
    }
    if let Some(words) = numbers::decimal(run, british) {
        out.words(words, span);
        return;
    }
    // Commas that are not thousands separators separate a list: 1,2,3.
    let mut pos = 0;
    for (k, part) in run.split(',').enumerate() {
        if k > 0 {
            out.punct(',', off + pos - 1..off + pos);
        }
        if let Some(words) = numbers::decimal(part, british) {
            out.words(words, off + pos..off + pos + part.len());
        }
        pos += part.len() + 1;
    }
}
