//! One reader per language behind one small trait, and the router that sends each sentence to
//! its reader.
//!
//! A [`Reader`] turns text of its language into phoneme segments whose spans point into that
//! text; the router shifts them to the whole input's offsets, so the chunker sees one stream of
//! segments whatever mix of languages produced it. Readers may emit symbols outside Kokoro's
//! vocabulary; the front end filters every segment once, at the end, so "one char = one id"
//! holds downstream.
//!
//! With an explicit `lang` the whole text goes to that language's reader. With auto-detection
//! the text is cut into sentences, each detected on its own (`polyvox_core::detect`), falling
//! back to the request's language; neighbouring sentences of one language are read together so
//! context-dependent rules (sandhi, particles) still see whole sentences.

pub(crate) mod cjk;
pub(crate) mod en;
pub(crate) mod espeak;
pub(crate) mod ja;
pub(crate) mod ko;
pub(crate) mod zh;

use std::ops::Range;

use polyvox_core::Lang;

use crate::g2p::Seg;

/// A grapheme-to-phoneme reader for one language (or one family sharing a backend).
pub(crate) trait Reader: Send + Sync {
    /// Phoneme segments of `text`; spans are byte ranges of `text`.
    fn segments(&self, text: &str, lang: Lang) -> Vec<Seg>;
}

/// Byte ranges of sentences: each ends after its terminal punctuation (and closing quotes) or
/// at a line break. The ranges cover the whole text.
pub(crate) fn sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let ends = matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '।' | '\n')
            && chars.peek().is_none_or(|&(_, n)| {
                n.is_whitespace()
                    || !matches!(c, '.' | '!' | '?')
                    || is_cjk_char(n)
                    || matches!(n, '"' | '”' | '」' | '』' | ')' | '）')
            });
        if ends {
            let mut end = i + c.len_utf8();
            while let Some(&(j, n)) = chars.peek() {
                if matches!(n, '"' | '”' | '」' | '』' | ')' | '）' | '.' | '!' | '?') {
                    end = j + n.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(start..end);
            start = end;
        }
    }
    if start < text.len() {
        out.push(start..text.len());
    }
    out
}

pub(crate) fn is_cjk_char(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7A3}' | '\u{F900}'..='\u{FAFF}')
}

/// Runs of consecutive sentences in one language: `(range, lang)`, covering the text.
pub(crate) fn language_runs(text: &str, fallback: Lang) -> Vec<(Range<usize>, Lang)> {
    let mut runs: Vec<(Range<usize>, Lang)> = Vec::new();
    for s in sentences(text) {
        let lang = polyvox_core::detect::detect(&text[s.clone()], fallback).unwrap_or(fallback);
        match runs.last_mut() {
            Some((r, l)) if *l == lang => r.end = s.end,
            _ => runs.push((s, lang)),
        }
    }
    runs
}

/// Moves segment spans by `offset` bytes (a sub-text's segments into the whole text).
pub(crate) fn shift(mut segs: Vec<Seg>, offset: usize) -> Vec<Seg> {
    for s in &mut segs {
        s.span = s.span.start + offset..s.span.end + offset;
    }
    segs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_cover_the_text_and_cut_after_terminals() {
        let t = "Hello there. 今日は晴れ。明日は雨！ Is it? \"Yes.\" e.g. 3.5 ok";
        let s = sentences(t);
        assert_eq!(s.first().unwrap().start, 0);
        assert_eq!(s.last().unwrap().end, t.len());
        assert!(s.windows(2).all(|w| w[0].end == w[1].start));
        let texts: Vec<&str> = s.iter().map(|r| t[r.clone()].trim()).collect();
        assert_eq!(
            texts,
            [
                "Hello there.",
                "今日は晴れ。",
                "明日は雨！",
                "Is it?",
                "\"Yes.\"",
                "e.g.",
                "3.5 ok"
            ]
        );
    }

    #[test]
    fn runs_group_sentences_by_language() {
        let t = "The weather is lovely today in the park. 今日はとても良い天気ですね。北京欢迎你。";
        let runs = language_runs(t, Lang::EnUs);
        let langs: Vec<Lang> = runs.iter().map(|r| r.1).collect();
        assert_eq!(langs, [Lang::EnUs, Lang::Ja, Lang::Zh]);
        assert_eq!(runs.last().unwrap().0.end, t.len());
    }
}
