//! Spanish, French, Hindi, Italian and Brazilian Portuguese through espeak-ng (a separate
//! process; GPL-3.0, never linked), the way kokoro-onnx and kokoro-js feed those voices: espeak-ng
//! IPA filtered to Kokoro's vocabulary.
//!
//! The text is cut into clauses at punctuation; the clauses of one call go to one espeak-ng
//! process, one per line (espeak-ng reads numbers in the voice's language itself), and each
//! clause becomes one segment spanning its text, with the punctuation kept as Kokoro marks since
//! espeak-ng drops it and it carries the pauses. The same route reads ja, zh and ko when asked to
//! (`Resources::espeak_langs`): the baseline our own front ends are measured against.

use std::sync::Arc;

use polyvox_core::Lang;

use super::Reader;
use super::cjk::{SegBuilder, punct};
use crate::espeak::{Espeak, clause_text, foreign_ipa_to_kokoro};
use crate::g2p::Seg;

/// espeak-ng's voice for a language (names as listed by `espeak-ng --voices` on 1.51).
pub(crate) fn voice(lang: Lang) -> &'static str {
    match lang {
        Lang::Es => "es",
        Lang::Fr => "fr-fr",
        Lang::Hi => "hi",
        Lang::It => "it",
        Lang::PtBr => "pt-br",
        Lang::Ja => "ja",
        Lang::Zh => "cmn",
        Lang::Ko => "ko",
        Lang::EnGb => "en-gb",
        Lang::EnUs => "en-us",
    }
}

#[derive(Debug)]
pub(crate) struct EspeakReader {
    pub(crate) espeak: Arc<Espeak>,
}

impl Reader for EspeakReader {
    fn segments(&self, text: &str, lang: Lang) -> Vec<Seg> {
        // Clauses (byte ranges) and the marks between them, in order.
        enum Piece {
            Clause(std::ops::Range<usize>),
            Mark(std::ops::Range<usize>, char),
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        for (i, c) in text.char_indices() {
            let m = punct(c).filter(|_| {
                // A point between digits is a decimal point, not a full stop.
                let before = text[..i].chars().next_back();
                let after = text[i + c.len_utf8()..].chars().next();
                !(matches!(c, '.' | ',')
                    && before.is_some_and(|b| b.is_ascii_digit())
                    && after.is_some_and(|a| a.is_ascii_digit()))
            });
            if let Some(m) = m {
                pieces.push(Piece::Clause(start..i));
                pieces.push(Piece::Mark(i..i + c.len_utf8(), m));
                start = i + c.len_utf8();
            }
        }
        pieces.push(Piece::Clause(start..text.len()));
        let mut lines: Vec<String> = Vec::new();
        let mut spans = Vec::new();
        for p in &pieces {
            if let Piece::Clause(r) = p {
                let line = clause_text(&text[r.clone()]);
                if !line.is_empty() {
                    lines.push(line);
                    let raw = &text[r.clone()];
                    let lead = raw.len() - raw.trim_start().len();
                    spans.push(r.start + lead..r.start + raw.trim_end().len());
                }
            }
        }
        let ipa = if lines.is_empty() {
            Some(Vec::new())
        } else {
            self.espeak.clauses(&lines, voice(lang))
        };
        let Some(ipa) = ipa else {
            return Vec::new();
        };
        let mut by_start: std::collections::HashMap<usize, (std::ops::Range<usize>, String)> =
            spans
                .into_iter()
                .zip(ipa)
                .map(|(s, i)| (s.start, (s, foreign_ipa_to_kokoro(&i))))
                .collect();
        let mut b = SegBuilder::new(text);
        for p in pieces {
            match p {
                Piece::Mark(r, m) => b.mark(r, m),
                Piece::Clause(r) => {
                    let raw = &text[r.clone()];
                    let lead = raw.len() - raw.trim_start().len();
                    if let Some((span, ph)) = by_start.remove(&(r.start + lead)) {
                        b.word(span, ph, true);
                    }
                }
            }
        }
        b.finish()
    }
}
