//! What the Japanese, Mandarin and Korean readers share: full-width punctuation mapped to the
//! marks Kokoro knows (they carry its pauses, and the chunker ranks breaks by them: 。！？ end
//! sentences, ；、，： end clauses), and a builder that turns words and marks into segments with
//! the right gaps and spaces.

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
