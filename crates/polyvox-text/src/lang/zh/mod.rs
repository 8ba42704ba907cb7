//! Mandarin: jieba words → pinyin per character (fixed by a word table) → tone sandhi over each
//! run of words between pauses → Kokoro's Mandarin symbols, one space between words as in the
//! reference front end. Digits are written out in characters first (`numbers`) and read like any
//! word; runs of Latin letters go to the English reader; punctuation becomes Kokoro's marks.

mod ipa;
mod numbers;
mod sandhi;

use std::ops::Range;
use std::sync::Arc;

use pinyin::ToPinyin;
use polyvox_core::Lang;

use super::Reader;
use super::cjk::{SegBuilder, latin_run_end, punct};
use crate::g2p::Seg;
use sandhi::Syl;

pub(crate) struct Mandarin {
    jieba: jieba_rs::Jieba,
    en: Arc<dyn Reader>,
}

impl std::fmt::Debug for Mandarin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mandarin(jieba, pinyin)")
    }
}

/// What a run of text turned into, before sandhi (which needs the neighbours).
enum Item {
    Word {
        span: Range<usize>,
        sylls: Vec<Syl>,
        numeric: bool,
    },
    Mark(Range<usize>, char),
    English(Vec<Seg>),
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
}

/// Syllables of a word of Han characters (others are skipped).
fn syllables(word: &str) -> Vec<Syl> {
    if let Some(s) = sandhi::word_reading(word) {
        return s;
    }
    let mut sylls: Vec<Syl> = word
        .chars()
        .filter_map(|ch| {
            let p = ch.to_pinyin()?;
            let numbered = p.with_tone_num_end();
            let (py, tone) = match numbered.chars().last().and_then(|c| c.to_digit(10)) {
                Some(t) => (&numbered[..numbered.len() - 1], t as u8),
                None => (numbered, 5),
            };
            Some(Syl {
                ch,
                py: py.to_owned(),
                tone,
            })
        })
        .collect();
    sandhi::neutralize(&mut sylls);
    sylls
}

impl Mandarin {
    pub(crate) fn new(en: Arc<dyn Reader>) -> Self {
        Self {
            jieba: jieba_rs::Jieba::new(),
            en,
        }
    }

    fn han_run(&self, items: &mut Vec<Item>, text: &str, range: Range<usize>) {
        let piece = &text[range.clone()];
        let mut at = range.start;
        for word in self.jieba.cut(piece, true) {
            let span = at..at + word.len();
            at = span.end;
            let mut chars = word.chars();
            if let (Some(c), None) = (chars.next(), chars.next())
                && let Some(m) = punct(c)
            {
                items.push(Item::Mark(span, m));
                continue;
            }
            let sylls = syllables(word);
            if !sylls.is_empty() {
                items.push(Item::Word {
                    span,
                    sylls,
                    numeric: false,
                });
            }
        }
    }

    fn items(&self, text: &str) -> Vec<Item> {
        let mut items = Vec::new();
        let mut run: Option<usize> = None;
        let mut i = 0;
        while i < text.len() {
            let c = text[i..].chars().next().unwrap_or(' ');
            let len = c.len_utf8();
            let special = c.is_ascii_digit() || c.is_ascii_alphabetic();
            if !special {
                if is_han(c) || punct(c).is_some() {
                    run.get_or_insert(i);
                } else if let Some(s) = run.take() {
                    self.han_run(&mut items, text, s..i);
                }
                i += len;
                continue;
            }
            if let Some(s) = run.take() {
                self.han_run(&mut items, text, s..i);
            }
            if c.is_ascii_digit() {
                let end = super::ja::number_end(text, i);
                let (chars, used) = numbers::read(&text[i..end], &text[end..]);
                items.push(Item::Word {
                    span: i..end + used,
                    sylls: syllables(&chars),
                    numeric: true,
                });
                i = end + used;
            } else {
                let end = latin_run_end(text, i);
                items.push(Item::English(super::shift(
                    self.en.segments(&text[i..end], Lang::EnUs),
                    i,
                )));
                i = end;
            }
        }
        if let Some(s) = run.take() {
            self.han_run(&mut items, text, s..text.len());
        }
        items
    }
}

/// Sandhi over each run of words between marks or English.
fn apply_sandhi(items: &mut [Item]) {
    let mut k = 0;
    while k < items.len() {
        let start = k;
        while matches!(items.get(k), Some(Item::Word { .. })) {
            k += 1;
        }
        if k > start {
            let mut words: Vec<(Vec<Syl>, bool)> = items[start..k]
                .iter_mut()
                .map(|it| match it {
                    Item::Word { sylls, numeric, .. } => (std::mem::take(sylls), *numeric),
                    _ => unreachable!("only words in this range"),
                })
                .collect();
            sandhi::apply(&mut words);
            for (it, (s, _)) in items[start..k].iter_mut().zip(words) {
                if let Item::Word { sylls, .. } = it {
                    *sylls = s;
                }
            }
        }
        k += 1;
    }
}

impl Reader for Mandarin {
    fn segments(&self, text: &str, _lang: Lang) -> Vec<Seg> {
        let mut items = self.items(text);
        apply_sandhi(&mut items);
        let mut b = SegBuilder::new(text);
        for it in items {
            match it {
                Item::Word { span, sylls, .. } => {
                    let p: String = sylls
                        .iter()
                        .filter_map(|s| ipa::syllable(&s.py, s.tone))
                        .collect();
                    b.word(span, p, true);
                }
                Item::Mark(span, m) => b.mark(span, m),
                Item::English(segs) => b.extend(segs),
            }
        }
        b.finish()
    }
}
