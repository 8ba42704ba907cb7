//! Japanese: morphemes and their pronunciations from IPADIC (vibrato), numbers and counters by
//! rule, kana → Kokoro phonemes.
//!
//! The dictionary's pronunciation field (not its reading) is what we speak: it already has the
//! particles は and へ as ワ and エ and long vowels as ー (東京 トーキョー), which is exactly what a
//! reader of the text says. Words without a pronunciation are read from their kana when written
//! in kana, and dropped otherwise (an unknown kanji compound; logged). A space goes before each
//! word that starts a new phrase: not before particles, auxiliaries, suffixes or dependent
//! words, nor after a prefix, so phrases such as 東京に行きました stay together the way Kokoro
//! saw them in training. Digits are read by [`numbers`] together with the counter after them;
//! runs of Latin letters go to the English reader.

mod dict;
pub(crate) mod kana;
mod numbers;

use std::ops::Range;
use std::sync::Arc;

use polyvox_core::Lang;

pub(crate) use dict::load as load_tokenizer;
pub use dict::{IPADIC_SOURCE_DIR, build as build_dictionary, dictionary_path, is_built};

use super::Reader;
use super::cjk::{SegBuilder, punct};
use crate::g2p::Seg;

pub(crate) struct Japanese {
    tokenizer: vibrato::Tokenizer,
    en: Arc<dyn Reader>,
}

impl std::fmt::Debug for Japanese {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Japanese(vibrato ipadic)")
    }
}

fn digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
        _ => None,
    }
}

/// The end of a number starting at `start`: digits with inner `,` or `.` (or full-width forms).
pub(crate) fn number_end(text: &str, start: usize) -> usize {
    let mut end = start;
    let mut it = text[start..].char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let sep = matches!(c, ',' | '.' | '，' | '．')
            && it.peek().is_some_and(|&(_, n)| digit(n).is_some())
            && i > 0;
        if digit(c).is_some() || sep {
            end = start + i + c.len_utf8();
        } else {
            break;
        }
    }
    end
}

impl Japanese {
    pub(crate) fn new(tokenizer: vibrato::Tokenizer, en: Arc<dyn Reader>) -> Self {
        Self { tokenizer, en }
    }

    fn morphemes(&self, b: &mut SegBuilder<'_>, text: &str, range: Range<usize>) {
        let piece = &text[range.clone()];
        if piece.trim().is_empty() {
            return;
        }
        let mut worker = self.tokenizer.new_worker();
        worker.reset_sentence(piece);
        worker.tokenize();
        let mut prev_prefix = false;
        for t in worker.token_iter() {
            let r = t.range_byte();
            let span = range.start + r.start..range.start + r.end;
            let surface = t.surface();
            let mut chars = surface.chars();
            if let (Some(c), None) = (chars.next(), chars.next())
                && let Some(m) = punct(c)
            {
                b.mark(span, m);
                prev_prefix = false;
                continue;
            }
            let f: Vec<&str> = t.feature().split(',').collect();
            let field = |k: usize| f.get(k).copied().filter(|s| *s != "*" && !s.is_empty());
            let pron = field(8).or_else(|| field(7));
            let reading = match pron {
                Some(p) => p.to_owned(),
                None if kana::is_kana(surface) => surface.to_owned(),
                None => {
                    tracing::debug!(surface, "Japanese word without a reading; dropped");
                    continue;
                }
            };
            let (pos, sub) = (f.first().copied().unwrap_or(""), field(1).unwrap_or(""));
            let attached =
                matches!(pos, "助詞" | "助動詞") || matches!(sub, "接尾" | "非自立") || prev_prefix;
            prev_prefix = pos == "接頭詞";
            b.word(span, kana::phonemes(&reading), !attached);
        }
    }
}

impl Reader for Japanese {
    fn segments(&self, text: &str, _lang: Lang) -> Vec<Seg> {
        let mut b = SegBuilder::new(text);
        let mut plain = 0;
        let mut i = 0;
        while i < text.len() {
            let c = text[i..].chars().next().unwrap_or(' ');
            if digit(c).is_some() {
                self.morphemes(&mut b, text, plain..i);
                let end = number_end(text, i);
                let digits: String = text[i..end]
                    .chars()
                    .map(|c| match c {
                        '，' => ',',
                        '．' => '.',
                        c => digit(c).unwrap_or(c),
                    })
                    .collect();
                let (reading, used) = numbers::read(&digits, &text[end..]);
                // Long vowels as the dictionary writes them (ジュー, not ジュウ).
                let reading = reading
                    .replace("ュウ", "ュー")
                    .replace("ョウ", "ョー")
                    .replace("ヨウ", "ヨー");
                b.word(i..end + used, kana::phonemes(&reading), true);
                i = end + used;
                plain = i;
            } else if c.is_ascii_alphabetic() {
                self.morphemes(&mut b, text, plain..i);
                let mut end = i;
                for (k, ch) in text[i..].char_indices() {
                    if ch.is_ascii_alphanumeric() || matches!(ch, '\'' | '-' | ' ' | '.') {
                        end = i + k + ch.len_utf8();
                    } else {
                        break;
                    }
                }
                let run = text[i..end].trim_end_matches([' ', '.']);
                let end = i + run.len();
                b.extend(super::shift(self.en.segments(run, Lang::EnUs), i));
                i = end;
                plain = i;
            } else {
                i += c.len_utf8();
            }
        }
        self.morphemes(&mut b, text, plain..text.len());
        b.finish()
    }
}
