//! Japanese: morphemes and their pronunciations from IPADIC (vibrato), numbers and counters by
//! rule, kana → Kokoro phonemes.
//!
//! The dictionary's pronunciation field (not its reading) is what we speak: it already has the
//! particles は and へ as ワ and エ and most long vowels as ー (東京 トーキョー). Words without a
//! pronunciation are read from their kana when written in kana, and dropped otherwise (an
//! unknown kanji compound; logged). Digits are read by [`numbers`] together with the counter
//! after them; runs of Latin letters go to the English reader.
//!
//! The output follows what Kokoro's Japanese voices were trained on, misaki's default path
//! (UniDic words → kana → [`kana`]'s table; `scripts/ja_parity.py` measures the agreement):
//! - a space between words, particles and auxiliaries included (今日 は 良い 天気 です ね),
//!   except where misaki joins them too: the conjunctive て/で/ば to their verb, a run of
//!   auxiliaries to each other (まし|た), a word after a prefix, and around ッ (行っ|て);
//! - long vowels as UniDic writes them, which IPADIC does not for エイ and イイ (先生 センセー,
//!   大きい オーキー).
//!
//! Numbers, counters and dates keep our own readings (2本 ニホン, 1日 ツイタチ), read as one
//! word, where misaki reads digits one way whatever follows them.

mod dict;
pub(crate) mod kana;
mod numbers;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use polyvox_core::Lang;

use dict::load as load_tokenizer;
pub use dict::{IPADIC_SOURCE_DIR, build as build_dictionary, dictionary_path, is_built};

use super::Reader;
use super::cjk::{SegBuilder, punct};
use crate::TextError;
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

/// Japanese whose dictionary (~70 MiB resident) is read at the first Japanese text, so that a
/// process serving other languages never holds it. A dictionary that fails to load stays failed
/// until restart: the file is checked at start (`is_built`), so this means it is damaged.
pub(crate) struct OnDemand {
    dict: PathBuf,
    en: Arc<dyn Reader>,
    loaded: OnceLock<Result<Japanese, String>>,
}

impl std::fmt::Debug for OnDemand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.loaded.get() {
            None => "not yet loaded",
            Some(Ok(_)) => "loaded",
            Some(Err(_)) => "failed to load",
        };
        write!(f, "Japanese({state})")
    }
}

impl OnDemand {
    pub(crate) fn new(dict: PathBuf, en: Arc<dyn Reader>) -> Self {
        Self {
            dict,
            en,
            loaded: OnceLock::new(),
        }
    }

    /// The reader, loading the dictionary if this is the first call; concurrent first calls wait
    /// for one load.
    pub(crate) fn reader(&self) -> Result<&dyn Reader, TextError> {
        let loaded = self.loaded.get_or_init(|| {
            let started = std::time::Instant::now();
            let ja = load_tokenizer(&self.dict)
                .map(|tokenizer| Japanese::new(tokenizer, self.en.clone()))
                .map_err(|e| e.to_string());
            match &ja {
                Ok(_) => tracing::info!(
                    dict = %self.dict.display(),
                    seconds = started.elapsed().as_secs_f64(),
                    "Japanese dictionary loaded"
                ),
                Err(why) => {
                    tracing::error!(dict = %self.dict.display(), %why, "Japanese dictionary unusable")
                }
            }
            ja
        });
        match loaded {
            Ok(ja) => Ok(ja),
            Err(reason) => Err(TextError::AssetInvalid {
                path: self.dict.clone(),
                reason: reason.clone(),
            }),
        }
    }
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
        let mut prev: Option<Prev> = None;
        for t in worker.token_iter() {
            let r = t.range_byte();
            let span = range.start + r.start..range.start + r.end;
            let surface = t.surface();
            let mut chars = surface.chars();
            if let (Some(c), None) = (chars.next(), chars.next())
                && let Some(m) = punct(c)
            {
                b.mark(span, m);
                prev = None;
                continue;
            }
            let f: Vec<&str> = t.feature().split(',').collect();
            let field = |k: usize| f.get(k).copied().filter(|s| *s != "*" && !s.is_empty());
            let pron = field(8).or_else(|| field(7));
            let reading = match pron {
                Some(p) => long_vowels(p),
                None if kana::is_kana(surface) => surface.to_owned(),
                None => {
                    tracing::debug!(surface, "Japanese word without a reading; dropped");
                    continue;
                }
            };
            let (pos, sub) = (f.first().copied().unwrap_or(""), field(1).unwrap_or(""));
            let mut phonemes = kana::phonemes(&reading);
            let attached = prev.as_ref().is_some_and(|p| {
                let after_verb = matches!(p.pos, "動詞" | "助動詞");
                p.pos == "接頭詞"
                    || p.geminate
                    || phonemes.starts_with('ʔ')
                    || (pos == "助動詞" && after_verb && !matches!(surface, "です" | "でし" | "だ"))
                    || (sub == "接続助詞"
                        && p.pos == "動詞"
                        && matches!(surface, "て" | "で" | "ば"))
                    || (sub == "接尾" && field(2) != Some("助数詞"))
            });
            if attached {
                // One word to misaki: ましょ|う is マショー, 住ん|で is sɨnde.
                if pos == "助動詞" && reading == "ウ" && prev.as_ref().is_some_and(|p| p.ends_in_o)
                {
                    phonemes = "ː".into();
                }
                if let Some(last) = b.segs.last_mut().filter(|s| s.phonemes.ends_with('ɴ')) {
                    let nasal = kana::nasal_before(phonemes.chars().next());
                    last.phonemes.pop();
                    last.phonemes.push(nasal);
                }
            }
            prev = Some(Prev {
                pos: match pos {
                    "接頭詞" => "接頭詞",
                    "動詞" => "動詞",
                    "助動詞" => "助動詞",
                    _ => "",
                },
                geminate: phonemes.ends_with('ʔ'),
                ends_in_o: phonemes.ends_with('o'),
            });
            b.word(span, phonemes, !attached);
        }
    }
}

/// What the next word's spacing depends on.
struct Prev {
    /// 接頭詞, 動詞 or 助動詞 (the parts of speech a following word may join), else empty.
    pos: &'static str,
    geminate: bool,
    ends_in_o: bool,
}

/// IPADIC writes エイ and イイ where UniDic (and so misaki) writes a long vowel: 先生 センセイ →
/// センセー, 大きい オーキイ → オーキー.
fn long_vowels(pron: &str) -> String {
    let mut out = String::with_capacity(pron.len());
    let mut last: Option<char> = None;
    for c in pron.chars() {
        // Not after イ itself (会員 カイイン), except in いい.
        let long = c == 'イ'
            && last.is_some_and(|l| matches!(vowel_of(l), Some('e' | 'i')))
            && (last != Some('イ') || pron == "イイ");
        out.push(if long { 'ー' } else { c });
        last = Some(c);
    }
    out
}

/// The vowel a katakana ends in, for the e- and i-rows (イ after them is heard as ー).
fn vowel_of(c: char) -> Option<char> {
    const E: &str = "エケゲセゼテデネヘベペメレェ";
    const I: &str = "イキギシジチヂニヒビピミリィ";
    if E.contains(c) {
        Some('e')
    } else if I.contains(c) {
        Some('i')
    } else {
        None
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
