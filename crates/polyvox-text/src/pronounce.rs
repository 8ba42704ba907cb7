//! A request's own pronunciation lexicons (`polyvox_core::lexicon`), applied before the built-in
//! readers: where a grapheme matches the input, its alias is read in its place, or its phonemes
//! are spoken as given.
//!
//! Design: matches are found on the input as written, before normalization, so an entry for
//! "AT&T" or "Dr." sees the text the author sees. The text between matches goes to the
//! language's reader as usual; each match becomes segments whose spans are the matched grapheme,
//! so the chunker keeps them together and word timings point at the written word, whatever the
//! alias says. The price of cutting the text at matches is context: a reader sees the pieces
//! on either side of a match separately ("the" before a replaced word is read as before a
//! consonant).
//!
//! Matching (documented for users in `polyvox_core::lexicon`): a lower-case grapheme matches any
//! case, one with an upper-case letter only itself; a match starts and ends at a word boundary
//! (Han, kana and Hangul make none: a grapheme in those scripts matches inside a run of them);
//! a space in a grapheme matches any whitespace run; the longest match wins, then the lexicon
//! named first. English entries apply to both English variants.

use std::collections::HashMap;
use std::ops::Range;

use polyvox_core::Lang;
use polyvox_core::lexicon::{Lexicon, Reading};

use crate::g2p::Seg;
use crate::lang::Reader;
use crate::normalize::Gap;

/// The entries of a request's lexicons, ready to match. Empty for most requests.
#[derive(Debug, Default)]
pub struct Pronunciations {
    entries: Vec<Compiled>,
    /// Entries by the lower-cased first character of their grapheme.
    by_first: HashMap<char, Vec<usize>>,
}

#[derive(Debug)]
struct Compiled {
    pattern: Vec<char>,
    exact_case: bool,
    lang: Option<Lang>,
    reading: Reading,
}

/// A letter or digit that joins its neighbours into one word. Han, kana and Hangul do not:
/// text in those scripts has no spaces, so a grapheme may match inside a run of them.
fn word_char(c: char) -> bool {
    c.is_alphanumeric() && !crate::lang::is_cjk_char(c)
}

fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn same_lang(entry: Lang, text: Lang) -> bool {
    let english = |l: Lang| matches!(l, Lang::EnUs | Lang::EnGb);
    entry == text || (english(entry) && english(text))
}

impl Pronunciations {
    /// Compiles `lexicons`, the first one's entries before the next one's.
    pub fn new(lexicons: &[Lexicon]) -> Self {
        let mut out = Self::default();
        for lex in lexicons {
            for e in &lex.entries {
                let pattern: Vec<char> = e.grapheme.chars().collect();
                let Some(&first) = pattern.first() else {
                    continue;
                };
                out.by_first
                    .entry(fold(first))
                    .or_default()
                    .push(out.entries.len());
                out.entries.push(Compiled {
                    exact_case: pattern.iter().any(|c| c.is_uppercase()),
                    pattern,
                    lang: lex.lang_of(e),
                    reading: e.reading.clone(),
                });
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Non-overlapping matches in `text` read as `lang`, left to right: byte range and reading.
    pub(crate) fn find(&self, text: &str, lang: Lang) -> Vec<(Range<usize>, &Reading)> {
        let mut out = Vec::new();
        if self.is_empty() {
            return out;
        }
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut i = 0;
        while i < chars.len() {
            let (at, c) = chars[i];
            let starts_word = i == 0 || !word_char(chars[i - 1].1) || !word_char(c);
            let mut best: Option<(usize, usize)> = None; // (end char index, entry)
            if starts_word && let Some(candidates) = self.by_first.get(&fold(c)) {
                for &k in candidates {
                    let e = &self.entries[k];
                    if e.lang.is_some_and(|l| !same_lang(l, lang)) {
                        continue;
                    }
                    if let Some(end) = e.match_at(&chars, i)
                        && best.is_none_or(|(b, _)| end > b)
                    {
                        best = Some((end, k));
                    }
                }
            }
            match best {
                Some((end, k)) => {
                    let stop = chars.get(end).map_or(text.len(), |&(b, _)| b);
                    out.push((at..stop, &self.entries[k].reading));
                    i = end;
                }
                None => i += 1,
            }
        }
        out
    }
}

impl Compiled {
    /// The char index just past a match of this entry starting at `chars[i]`, if it matches there
    /// and ends at a word boundary.
    fn match_at(&self, chars: &[(usize, char)], mut i: usize) -> Option<usize> {
        for &p in &self.pattern {
            if p == ' ' {
                let start = i;
                while chars.get(i).is_some_and(|(_, c)| c.is_whitespace()) {
                    i += 1;
                }
                if i == start {
                    return None;
                }
                continue;
            }
            let &(_, t) = chars.get(i)?;
            let same = t == p || (!self.exact_case && fold(t) == fold(p));
            if !same {
                return None;
            }
            i += 1;
        }
        let last = *self.pattern.last()?;
        let ends_word = !word_char(last) || chars.get(i).is_none_or(|&(_, c)| !word_char(c));
        ends_word.then_some(i)
    }
}

/// Reads `text[range]` (one language) with `reader`, the request's entries taking precedence.
/// Spans are offsets into `text`.
pub(crate) fn read(
    reader: &dyn Reader,
    text: &str,
    range: Range<usize>,
    lang: Lang,
    lex: &Pronunciations,
) -> Vec<Seg> {
    let matches = lex.find(&text[range.clone()], lang);
    read_matched(reader, text, range, lang, matches)
}

/// [`read`] with the matches already found (offsets into `text[range]`): SSML drops those
/// that cover text a lexicon must not touch.
pub(crate) fn read_matched(
    reader: &dyn Reader,
    text: &str,
    range: Range<usize>,
    lang: Lang,
    matches: Vec<(Range<usize>, &Reading)>,
) -> Vec<Seg> {
    let part = &text[range.clone()];
    if matches.is_empty() {
        return crate::lang::shift(reader.segments(part, lang), range.start);
    }
    let mut segs: Vec<Seg> = Vec::new();
    // Indices of segments that open a piece read on its own: their spacing is decided here.
    let mut firsts = Vec::new();
    let mut cursor = 0;
    fn piece(segs: &mut Vec<Seg>, firsts: &mut Vec<usize>, new: Vec<Seg>) {
        if !new.is_empty() {
            firsts.push(segs.len());
        }
        segs.extend(new);
    }
    for (m, reading) in matches {
        if cursor < m.start {
            let before = reader.segments(&part[cursor..m.start], lang);
            piece(
                &mut segs,
                &mut firsts,
                crate::lang::shift(before, range.start + cursor),
            );
        }
        let span = range.start + m.start..range.start + m.end;
        let said = match reading {
            Reading::Phoneme(p) => vec![Seg {
                span: span.clone(),
                phonemes: p.clone(),
                punct: None,
                gap: Gap::None,
                space_before: false,
            }],
            Reading::Alias(a) => reader
                .segments(a, lang)
                .into_iter()
                .map(|s| Seg {
                    span: span.clone(),
                    // Punctuation inside an alias is part of the word, not a pause of the text.
                    punct: None,
                    ..s
                })
                .collect(),
        };
        piece(&mut segs, &mut firsts, said);
        cursor = m.end;
    }
    if cursor < part.len() {
        let after = reader.segments(&part[cursor..], lang);
        piece(
            &mut segs,
            &mut firsts,
            crate::lang::shift(after, range.start + cursor),
        );
    }
    for k in firsts {
        let from = if k == 0 {
            range.start
        } else {
            segs[k - 1].span.end
        };
        let gap = gap_in(text.get(from..segs[k].span.start).unwrap_or(""));
        segs[k].gap = gap;
        segs[k].space_before = k > 0 && space_between(&segs[k - 1], &segs[k]);
    }
    segs
}

/// The gap a run of text between two segments makes (only its whitespace counts).
fn gap_in(between: &str) -> Gap {
    if !between.chars().any(char::is_whitespace) {
        return Gap::None;
    }
    match between.matches('\n').count() {
        0 => Gap::Space,
        1 => Gap::Line,
        _ => Gap::Paragraph,
    }
}

/// `normalize::needs_space` for segments: always between words, never before closing or clause
/// punctuation, never after an opening bracket or quote.
fn space_between(prev: &Seg, cur: &Seg) -> bool {
    match (prev.punct, cur.punct) {
        (_, Some(c)) if ",.;:!?…)”".contains(c) => false,
        (_, Some(_)) => cur.gap != Gap::None,
        (Some('(' | '“'), _) => false,
        (Some('"' | '—'), _) => cur.gap != Gap::None,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyvox_core::lexicon::{LexiconLimits, RawEntry, RawLexicon};

    fn lexicon(name: &str, lang: Option<&str>, entries: &[(&str, &str, bool)]) -> Lexicon {
        RawLexicon {
            lang: lang.map(Into::into),
            entries: entries
                .iter()
                .map(|&(g, r, phoneme)| RawEntry {
                    grapheme: g.into(),
                    phoneme: phoneme.then(|| r.into()),
                    alias: (!phoneme).then(|| r.into()),
                    lang: None,
                })
                .collect(),
        }
        .validate(name, &LexiconLimits::default())
        .expect("valid test lexicon")
    }

    fn found(p: &Pronunciations, text: &str, lang: Lang) -> Vec<(String, String)> {
        p.find(text, lang)
            .into_iter()
            .map(|(r, reading)| {
                let said = match reading {
                    Reading::Phoneme(p) => format!("/{p}/"),
                    Reading::Alias(a) => a.clone(),
                };
                (text[r].to_string(), said)
            })
            .collect()
    }

    #[test]
    fn case_boundaries_length_and_order_decide_matches() {
        let p = Pronunciations::new(&[
            lexicon(
                "first",
                None,
                &[
                    ("polyvox", "poly vox", false),
                    ("US", "united states", false),
                ],
            ),
            lexicon(
                "second",
                None,
                &[
                    ("polyvox", "second", false),
                    ("polyvox cloud", "the cloud", false),
                    ("C++", "C plus plus", false),
                ],
            ),
        ]);
        assert_eq!(
            found(&p, "Polyvox, POLYVOX and polyvox's", Lang::EnUs),
            [
                ("Polyvox".into(), "poly vox".into()),
                ("POLYVOX".into(), "poly vox".into()),
                ("polyvox".into(), "poly vox".into()),
            ],
            "lower-case graphemes match any case; the first lexicon wins a tie"
        );
        assert!(
            found(&p, "polyvoxes superpolyvox", Lang::EnUs).is_empty(),
            "word boundaries"
        );
        assert_eq!(
            found(&p, "US us", Lang::EnUs),
            [("US".into(), "united states".into())],
            "a grapheme with capitals matches only itself"
        );
        assert_eq!(
            found(&p, "Polyvox \n cloud, C++.", Lang::EnUs),
            [
                ("Polyvox \n cloud".into(), "the cloud".into()),
                ("C++".into(), "C plus plus".into()),
            ],
            "the longest match wins; a space matches any whitespace"
        );
    }

    #[test]
    fn entries_apply_in_their_language_only() {
        let p = Pronunciations::new(&[
            lexicon("en", Some("en-us"), &[("tokyo", "toe key oh", false)]),
            lexicon("ja", Some("ja"), &[("東京", "とうきょう", false)]),
        ]);
        assert_eq!(
            found(&p, "Tokyo", Lang::EnGb).len(),
            1,
            "English variants share entries"
        );
        assert!(found(&p, "Tokyo", Lang::Fr).is_empty());
        assert!(found(&p, "東京", Lang::Zh).is_empty());
        assert_eq!(found(&p, "東京に", Lang::Ja).len(), 1);
    }

    /// Reads every whitespace-separated word as itself in upper case (phonemes = the word).
    struct Words;

    impl Reader for Words {
        fn segments(&self, text: &str, _: Lang) -> Vec<Seg> {
            let mut out: Vec<Seg> = Vec::new();
            let mut at = 0;
            for w in text.split_whitespace() {
                let start = at + text[at..].find(w).expect("word");
                out.push(Seg {
                    span: start..start + w.len(),
                    phonemes: w.to_uppercase(),
                    punct: None,
                    gap: if out.is_empty() {
                        Gap::None
                    } else {
                        Gap::Space
                    },
                    space_before: !out.is_empty(),
                });
                at = start + w.len();
            }
            out
        }
    }

    #[test]
    fn matches_become_segments_spanning_the_written_grapheme() {
        let p = Pronunciations::new(&[lexicon(
            "brand",
            None,
            &[("polyvox", "banana split", false), ("sql", "sˈikwəl", true)],
        )]);
        let text = "Say Polyvox\n\nand SQL";
        let segs = read(&Words, text, 0..text.len(), Lang::EnUs, &p);
        let got: Vec<(&str, &str, Gap, bool)> = segs
            .iter()
            .map(|s| {
                (
                    &text[s.span.clone()],
                    s.phonemes.as_str(),
                    s.gap,
                    s.space_before,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("Say", "SAY", Gap::None, false),
                ("Polyvox", "BANANA", Gap::Space, true),
                ("Polyvox", "SPLIT", Gap::Space, true),
                ("and", "AND", Gap::Paragraph, true),
                ("SQL", "sˈikwəl", Gap::Space, true),
            ]
        );
        // Offsets stay those of the whole text when the range is a part of it.
        let segs = read(&Words, text, 4..11, Lang::EnUs, &p);
        assert!(segs.iter().all(|s| s.span == (4..11)));
        assert!(!segs[0].space_before);
    }
}
