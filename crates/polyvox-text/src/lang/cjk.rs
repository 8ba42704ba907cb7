//! What the Japanese, Mandarin and Korean readers share: full-width punctuation mapped to the
//! marks Kokoro knows (they carry its pauses, and the chunker ranks breaks by them: 。！？ end
//! sentences, ；、，： end clauses), a builder that turns words and marks into segments with
//! the right gaps and spaces, and the extent of an embedded run of Latin letters, which each
//! reader hands to the English front end rather than dropping it.

use std::ops::Range;

use crate::g2p::Seg;
use crate::normalize::Gap;

/// The Kokoro punctuation mark for a CJK or ASCII mark, if it is one that is spoken as a pause.
pub(crate) fn punct(c: char) -> Option<char> {
    Some(match c {
        '。' | '．' | '.' | '｡' | '।' => '.',
        '、' | '，' | ',' | '､' => ',',
        '！' | '!' => '!',
        '？' | '?' => '?',
        '；' | ';' => ';',
        '：' | ':' => ':',
        '…' | '‥' => '…',
        '—' | '―' | '─' => '—',
        '「' | '『' | '《' | '【' | '“' | '«' => '“',
        '」' | '』' | '》' | '】' | '”' | '»' => '”',
        '（' | '(' => '(',
        '）' | ')' => ')',
        _ => return None,
    })
}

/// The end of the run of Latin-script text starting at `start` (an ASCII letter): letters,
/// digits attached to them, apostrophes, hyphens, and spaces between words, so "don't", "MP3" and
/// "New York" each stay one English phrase. A number after a space is left to the reader's own
/// language ("iPhone 15" is read iPhone 십오 in Korean, as a Korean speaker says it).
pub(crate) fn latin_run_end(text: &str, start: usize) -> usize {
    let mut end = start;
    let mut chars = text[start..].char_indices().peekable();
    while let Some((k, ch)) = chars.next() {
        let word_follows = chars.peek().is_some_and(|&(_, n)| n.is_ascii_alphabetic());
        if ch.is_ascii_alphanumeric() || matches!(ch, '\'' | '-') || (ch == ' ' && word_follows) {
            end = start + k + ch.len_utf8();
        } else {
            break;
        }
    }
    end
}

/// Collects segments of one text in order.
pub(crate) struct SegBuilder<'a> {
    text: &'a str,
    last_end: usize,
    pub(crate) segs: Vec<Seg>,
}

impl<'a> SegBuilder<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            last_end: 0,
            segs: Vec::new(),
        }
    }

    fn gap(&self, start: usize) -> Gap {
        let between = &self.text[self.last_end.min(start)..start];
        match between.matches('\n').count() {
            0 if between.chars().any(char::is_whitespace) => Gap::Space,
            0 => Gap::None,
            1 => Gap::Line,
            _ => Gap::Paragraph,
        }
    }

    /// A word's phonemes; `space` says whether a space separates it from the previous word
    /// (phrase boundaries), never after an opening mark or before a closing one.
    pub(crate) fn word(&mut self, span: Range<usize>, phonemes: String, space: bool) {
        if phonemes.is_empty() {
            return;
        }
        let after_opening = matches!(self.segs.last().and_then(|s| s.punct), Some('“' | '('));
        let gap = self.gap(span.start);
        self.last_end = span.end;
        self.segs.push(Seg {
            span,
            phonemes,
            punct: None,
            gap,
            space_before: !self.segs.is_empty() && !after_opening && (space || gap != Gap::None),
        });
    }

    /// A punctuation mark (already mapped by [`punct`]).
    pub(crate) fn mark(&mut self, span: Range<usize>, mark: char) {
        let gap = self.gap(span.start);
        self.last_end = span.end;
        let opening = matches!(mark, '“' | '(');
        self.segs.push(Seg {
            span,
            phonemes: mark.to_string(),
            punct: Some(mark),
            gap,
            space_before: opening && !self.segs.is_empty(),
        });
    }

    /// Segments from another reader (embedded English), already relative to this text.
    pub(crate) fn extend(&mut self, segs: Vec<Seg>) {
        let first = !self.segs.is_empty();
        for (k, mut s) in segs.into_iter().enumerate() {
            if k == 0 {
                s.space_before = first && s.punct.is_none();
            }
            self.last_end = s.span.end;
            self.segs.push(s);
        }
    }

    pub(crate) fn finish(self) -> Vec<Seg> {
        self.segs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_map_to_kokoro_punctuation() {
        assert_eq!(punct('。'), Some('.'));
        assert_eq!(punct('、'), Some(','));
        assert_eq!(punct('」'), Some('”'));
        assert_eq!(punct('あ'), None);
    }

    #[test]
    fn latin_runs_keep_inner_spaces_and_stop_at_other_scripts() {
        let t = "hello world 안녕, iPhone 15를 MP3 don't";
        let end = latin_run_end(t, 0);
        assert_eq!(&t[..end], "hello world");
        let run = |word: &str| {
            let at = t.find(word).unwrap();
            &t[at..latin_run_end(t, at)]
        };
        assert_eq!(run("iPhone"), "iPhone");
        assert_eq!(run("MP3"), "MP3 don't");
        assert_eq!(latin_run_end("abc  ", 0), 3);
    }

    #[test]
    fn builder_spaces_words_but_not_marks() {
        let text = "ab、「cd」\n\nef";
        let mut b = SegBuilder::new(text);
        b.word(0..2, "ab".into(), true);
        b.mark(2..5, ',');
        b.mark(5..8, '“');
        b.word(8..10, "cd".into(), true);
        b.mark(10..13, '”');
        b.word(15..17, "ef".into(), true);
        let segs = b.finish();
        let joined: String = segs
            .iter()
            .map(|s| format!("{}{}", if s.space_before { " " } else { "" }, s.phonemes))
            .collect();
        assert_eq!(joined, "ab, “cd” ef");
        assert_eq!(segs.last().unwrap().gap, Gap::Paragraph);
    }
}
