//! Cutting text that arrives a few characters at a time (a language model's output, live
//! captions) into chunks worth one synthesis each: the buffering behind the live WebSocket.
//!
//! Kokoro renders a whole chunk per model call and its prosody spans that chunk, so the choice is
//! where to cut, never whether to call the model per token. The schedule ([`Schedule`]):
//! - The first chunk leaves as soon as the text has a clause or sentence end, or
//!   `first_chunk_words` complete words: the listener hears something early.
//! - Later chunks wait for a sentence end once the buffer holds the next length of
//!   `chunk_chars` (the last length repeats), and are cut at the last sentence end in the
//!   buffer: whole sentences sound better and cost fewer model calls, and the audio already sent
//!   covers the wait. A buffer that reaches `max_chunk_chars` without a sentence end is cut at its
//!   last clause end, else its last word break.
//! - A flush, an idle gap or the end of the session speaks whatever is left
//!   ([`Segmenter::flush`]).
//!
//! An end is only known once the next character has arrived: "3." may become "3.5", and a word
//! may still grow. So a mark counts as an end when whitespace follows it (CJK full stops need
//! nothing after them), and a word is complete when whitespace follows it.
//!
//! Offsets are in characters (Unicode scalar values) of the session's accumulated text, the unit
//! word timestamps use. Chunks partition that text: each runs from the end of the previous one,
//! with surrounding whitespace trimmed off its `text` (the offsets then point at the trimmed
//! text), so every character is counted exactly once ([`Piece::span`] + whitespace).

use std::ops::Range;

/// Silence after a sentence end inside one request (the chunker's figure), kept between chunks.
pub const SENTENCE_PAUSE_MS: u32 = 300;
/// Silence after a clause end.
pub const CLAUSE_PAUSE_MS: u32 = 150;

/// When chunks are cut (see the module note).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Complete words after which the first chunk is cut even without a clause end.
    pub first_chunk_words: usize,
    /// Least characters of chunk 2, 3, … before a sentence end cuts it; the last one repeats.
    pub chunk_chars: Vec<usize>,
    /// A buffer this long is cut at a clause or word break even without a sentence end.
    pub max_chunk_chars: usize,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            first_chunk_words: 5,
            chunk_chars: vec![40, 80, 160],
            max_chunk_chars: 300,
        }
    }
}

/// Bounds of [`Schedule`]'s fields, for validation at the API boundary.
pub const MAX_FIRST_CHUNK_WORDS: usize = 50;
pub const MAX_CHUNK_CHARS: usize = 1000;
pub const MAX_SCHEDULE_STEPS: usize = 8;

impl Schedule {
    /// Checks every field; the error names the field and its range.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_FIRST_CHUNK_WORDS).contains(&self.first_chunk_words) {
            return Err(format!(
                "first_chunk_words {} is outside [1, {MAX_FIRST_CHUNK_WORDS}]",
                self.first_chunk_words
            ));
        }
        if self.chunk_chars.is_empty() || self.chunk_chars.len() > MAX_SCHEDULE_STEPS {
            return Err(format!(
                "chunk_chars has {} entries; give 1 to {MAX_SCHEDULE_STEPS}",
                self.chunk_chars.len()
            ));
        }
        if let Some(bad) = self
            .chunk_chars
            .iter()
            .find(|n| !(1..=MAX_CHUNK_CHARS).contains(*n))
        {
            return Err(format!(
                "chunk_chars entry {bad} is outside [1, {MAX_CHUNK_CHARS}]"
            ));
        }
        Ok(())
    }

    fn target(&self, index: usize) -> usize {
        let i = index.saturating_sub(1).min(self.chunk_chars.len() - 1);
        self.chunk_chars[i].min(self.max_chunk_chars)
    }
}

/// Why a chunk ends where it does; decides the silence before the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    Sentence,
    Clause,
    /// Between words, inside a clause (first chunk by word count, or a buffer at its maximum).
    Word,
    /// Wherever the text stopped (flush, idle gap, end of session).
    Flush,
}

impl Boundary {
    /// Silence to put after a chunk that ends here, when another follows.
    pub fn pause_ms(self) -> u32 {
        match self {
            Self::Sentence => SENTENCE_PAUSE_MS,
            Self::Clause => CLAUSE_PAUSE_MS,
            Self::Word | Self::Flush => 0,
        }
    }
}

/// One chunk to speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Position among the session's chunks, from 0.
    pub index: usize,
    /// The text, trimmed of surrounding whitespace; never empty.
    pub text: String,
    /// Where `text` sits in the session's accumulated text, in characters.
    pub span: Range<usize>,
    pub boundary: Boundary,
}

/// The text received and not yet cut into chunks.
#[derive(Debug, Clone)]
pub struct Segmenter {
    schedule: Schedule,
    /// Received, not yet cut; `buf.chars()` starts at character `offset` of the session text.
    buf: String,
    offset: usize,
    /// Characters in `buf` (kept, not recounted per delta).
    buf_chars: usize,
    cut: usize,
}

/// A possible cut: after `chars` characters of the buffer (`bytes` bytes).
#[derive(Debug, Clone, Copy)]
struct Cut {
    chars: usize,
    bytes: usize,
    boundary: Boundary,
}

fn is_sentence_mark(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

/// Full stops of scripts written without spaces: an end by themselves.
fn is_cjk_sentence_mark(c: char) -> bool {
    matches!(c, '。' | '！' | '？')
}

fn is_clause_mark(c: char) -> bool {
    matches!(c, ',' | ';' | ':' | '—' | '、' | '，' | '；' | '：')
}

/// Closing quotes and brackets that may sit between a mark and the space after it.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '」' | '』' | '）'
    )
}

impl Segmenter {
    pub fn new(schedule: Schedule) -> Self {
        Self {
            schedule,
            buf: String::new(),
            offset: 0,
            buf_chars: 0,
            cut: 0,
        }
    }

    /// Appends received text (already sanitized by the caller).
    pub fn push(&mut self, delta: &str) {
        self.buf.push_str(delta);
        self.buf_chars += delta.chars().count();
    }

    /// Characters received and not yet cut into a chunk.
    pub fn pending_chars(&self) -> usize {
        self.buf_chars
    }

    /// Characters received so far in the session.
    pub fn total_chars(&self) -> usize {
        self.offset + self.buf_chars
    }

    /// Whether the buffer holds anything to speak (not only whitespace).
    pub fn has_speech(&self) -> bool {
        !self.buf.trim().is_empty()
    }

    /// The next chunk the schedule allows now, if any. Call until `None` after each push.
    pub fn next_piece(&mut self) -> Option<Piece> {
        let cut = self.find_cut()?;
        self.take(cut)
    }

    /// Everything left, as one chunk (`None` when only whitespace is left, which stays counted
    /// in [`Segmenter::total_chars`] but is not spoken).
    pub fn flush(&mut self) -> Option<Piece> {
        if !self.has_speech() {
            return None;
        }
        let cut = Cut {
            chars: self.buf_chars,
            bytes: self.buf.len(),
            boundary: Boundary::Flush,
        };
        self.take(cut)
    }

    /// The cut the schedule picks in the current buffer (see the module note).
    fn find_cut(&self) -> Option<Cut> {
        let first = self.cut == 0;
        let target = self.schedule.target(self.cut);
        let max = self.schedule.max_chunk_chars;
        let mut words = 0;
        let mut last_sentence: Option<Cut> = None;
        let mut last_clause: Option<Cut> = None;
        let mut last_word: Option<Cut> = None;
        // The last character that was neither whitespace nor a closer, and whether a word is open.
        let mut mark: Option<char> = None;
        let mut in_word = false;
        let mut chars = 0;
        for (i, c) in self.buf.char_indices() {
            chars += 1;
            let end = i + c.len_utf8();
            let here = |boundary| Cut {
                chars,
                bytes: end,
                boundary,
            };
            let mut found: Option<Cut> = None;
            if c.is_whitespace() {
                // The whitespace confirms what came before it; the cut goes before the space.
                let before = Cut {
                    chars: chars - 1,
                    bytes: i,
                    boundary: Boundary::Word,
                };
                if in_word {
                    words += 1;
                    in_word = false;
                    let boundary = match mark {
                        Some(m) if is_sentence_mark(m) => Boundary::Sentence,
                        Some(m) if is_clause_mark(m) => Boundary::Clause,
                        _ if c == '\n' => Boundary::Clause,
                        _ => Boundary::Word,
                    };
                    found = Some(Cut { boundary, ..before });
                }
                mark = None;
            } else if is_cjk_sentence_mark(c) {
                found = Some(here(Boundary::Sentence));
                in_word = false;
                mark = None;
            } else {
                in_word = true;
                if !is_closer(c) {
                    mark = Some(c);
                }
                if matches!(c, '、' | '，' | '；' | '：') {
                    found = Some(here(Boundary::Clause));
                    in_word = false;
                    mark = None;
                }
            }
            let Some(cut) = found else { continue };
            if cut.chars == 0 {
                continue;
            }
            if cut.chars > max {
                // Past the maximum: the best break inside it (this one only for a single word
                // longer than the maximum).
                return last_sentence.or(last_clause).or(last_word).or(Some(cut));
            }
            match cut.boundary {
                Boundary::Sentence => last_sentence = Some(cut),
                Boundary::Clause => last_clause = Some(cut),
                _ => {}
            }
            last_word = Some(cut);
            if first {
                let clause_or_more = matches!(cut.boundary, Boundary::Sentence | Boundary::Clause);
                if clause_or_more || words >= self.schedule.first_chunk_words {
                    return Some(cut);
                }
            }
        }
        if first {
            return None;
        }
        match last_sentence {
            Some(s) if s.chars >= target => Some(s),
            _ => None,
        }
    }

    /// Removes the first `cut.chars` characters from the buffer as a piece (trimmed), or `None`
    /// when they are only whitespace (they are then dropped, still counted).
    fn take(&mut self, cut: Cut) -> Option<Piece> {
        let head: String = self.buf.drain(..cut.bytes).collect();
        let start = self.offset;
        self.offset += cut.chars;
        self.buf_chars -= cut.chars;
        let lead = head.chars().take_while(|c| c.is_whitespace()).count();
        let text = head.trim();
        if text.is_empty() {
            return None;
        }
        let len = text.chars().count();
        let piece = Piece {
            index: self.cut,
            text: text.to_owned(),
            span: start + lead..start + lead + len,
            boundary: cut.boundary,
        };
        self.cut += 1;
        Some(piece)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seg: &mut Segmenter, text: &str, step: usize) -> Vec<Piece> {
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::new();
        for delta in chars.chunks(step) {
            seg.push(&delta.iter().collect::<String>());
            while let Some(p) = seg.next_piece() {
                out.push(p);
            }
        }
        out
    }

    fn texts(pieces: &[Piece]) -> Vec<&str> {
        pieces.iter().map(|p| p.text.as_str()).collect()
    }

    #[test]
    fn the_first_chunk_leaves_at_the_first_clause_end() {
        let mut seg = Segmenter::new(Schedule::default());
        let pieces = feed(&mut seg, "Well, here we go again", 3);
        assert_eq!(texts(&pieces), ["Well,"]);
        assert_eq!(pieces[0].boundary, Boundary::Clause);
        assert_eq!(pieces[0].span, 0..5);
    }

    #[test]
    fn the_first_chunk_leaves_after_n_words_without_punctuation() {
        let schedule = Schedule {
            first_chunk_words: 3,
            ..Schedule::default()
        };
        let mut seg = Segmenter::new(schedule);
        // "three" is not complete until a space follows it.
        assert!(feed(&mut seg, "one two three", 4).is_empty());
        let pieces = feed(&mut seg, " four", 4);
        assert_eq!(texts(&pieces), ["one two three"]);
        assert_eq!(pieces[0].boundary, Boundary::Word);
    }

    #[test]
    fn a_period_is_an_end_only_once_whitespace_follows() {
        let mut seg = Segmenter::new(Schedule::default());
        assert!(feed(&mut seg, "It costs 3.", 2).is_empty());
        let pieces = feed(&mut seg, "5 dollars. Yes", 2);
        assert_eq!(texts(&pieces), ["It costs 3.5 dollars."]);
        assert_eq!(pieces[0].boundary, Boundary::Sentence);
    }

    #[test]
    fn later_chunks_wait_for_a_sentence_end_past_their_length() {
        let schedule = Schedule {
            first_chunk_words: 5,
            chunk_chars: vec![30],
            max_chunk_chars: 300,
        };
        let mut seg = Segmenter::new(schedule);
        let text = "Hi. One short one. Then a somewhat longer sentence follows here. And more";
        let pieces = feed(&mut seg, text, 5);
        // "One short one." alone is under 30 characters: it waits and joins the next sentence.
        assert_eq!(
            texts(&pieces),
            [
                "Hi.",
                "One short one. Then a somewhat longer sentence follows here."
            ]
        );
        let rest = seg.flush().expect("rest");
        assert_eq!(rest.text, "And more");
        assert_eq!(rest.boundary, Boundary::Flush);
        assert!(seg.flush().is_none());
    }

    #[test]
    fn a_long_buffer_without_sentence_end_is_cut_at_a_clause_then_a_word() {
        let schedule = Schedule {
            first_chunk_words: 1,
            chunk_chars: vec![10],
            max_chunk_chars: 30,
        };
        let mut seg = Segmenter::new(schedule);
        let pieces = feed(
            &mut seg,
            "Go now and then, we will walk along the river bank slowly until dusk comes ",
            3,
        );
        assert_eq!(pieces[0].text, "Go");
        assert_eq!(pieces[1].text, "now and then,");
        assert_eq!(pieces[1].boundary, Boundary::Clause);
        assert!(pieces[2..].iter().all(|p| p.text.chars().count() <= 30));
        assert!(pieces[2..].iter().all(|p| p.boundary == Boundary::Word));
    }

    #[test]
    fn cjk_stops_cut_without_a_space() {
        let mut seg = Segmenter::new(Schedule::default());
        let pieces = feed(&mut seg, "こんにちは。今日は", 2);
        assert_eq!(texts(&pieces), ["こんにちは。"]);
        assert_eq!(pieces[0].span, 0..6);
    }

    #[test]
    fn pieces_partition_the_text_whatever_the_delta_size() {
        let text = "  The quick brown fox, who was quick, jumped. Over the lazy dog!\n\nAnd then \
                    \"it ran away.\" Nobody saw it again; not even once. The end  ";
        for step in 1..9 {
            let mut seg = Segmenter::new(Schedule::default());
            let mut pieces = feed(&mut seg, text, step);
            pieces.extend(seg.flush());
            assert_eq!(seg.total_chars(), text.chars().count(), "step {step}");
            let chars: Vec<char> = text.chars().collect();
            let mut at = 0;
            for (i, p) in pieces.iter().enumerate() {
                assert_eq!(p.index, i);
                assert!(p.span.start >= at, "step {step}: {pieces:?}");
                assert!(chars[at..p.span.start].iter().all(|c| c.is_whitespace()));
                let spoken: String = chars[p.span.clone()].iter().collect();
                assert_eq!(spoken, p.text, "step {step}");
                at = p.span.end;
            }
            assert!(chars[at..].iter().all(|c| c.is_whitespace()));
            // The chunks do not depend on how the text was split into deltas.
            let mut whole = Segmenter::new(Schedule::default());
            let mut once = feed(&mut whole, text, 1);
            once.extend(whole.flush());
            assert_eq!(texts(&pieces), texts(&once), "step {step}");
        }
    }

    #[test]
    fn whitespace_only_is_never_a_piece() {
        let mut seg = Segmenter::new(Schedule::default());
        seg.push("   \n ");
        assert!(seg.next_piece().is_none());
        assert!(seg.flush().is_none());
        assert_eq!(seg.total_chars(), 5);
    }

    #[test]
    fn schedules_are_validated_naming_the_field() {
        assert!(Schedule::default().validate().is_ok());
        let bad = Schedule {
            first_chunk_words: 0,
            ..Schedule::default()
        };
        assert!(bad.validate().unwrap_err().contains("first_chunk_words"));
        let bad = Schedule {
            chunk_chars: vec![],
            ..Schedule::default()
        };
        assert!(bad.validate().unwrap_err().contains("chunk_chars"));
        let bad = Schedule {
            chunk_chars: vec![10, 5000],
            ..Schedule::default()
        };
        assert!(bad.validate().unwrap_err().contains("5000"));
    }
}
