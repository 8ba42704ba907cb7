//! The SSML subset Polyvox reads: a document is parsed once, at the validation boundary, into a
//! flat, typed [`Document`] that the front end renders (`polyvox-text`) and that a stored job
//! re-creates by parsing its source again (a stored row is input too).
//!
//! Design:
//! - Refuse rather than guess. Every element and attribute outside the subset, every DTD,
//!   CDATA section, processing instruction, entity other than XML's five (and numeric character
//!   references), text outside `<speak>` and nesting deeper than [`MAX_DEPTH`] is an
//!   `invalid_ssml` error naming its line and column. Markup is never read aloud.
//! - Flat, not a tree: nesting only decides a piece's language and rate, so each piece of text
//!   carries them resolved, and structure survives as [`Item::Boundary`] marks (paragraphs and
//!   sentences, which the chunker ranks as pauses) and [`Item::Break`]s.
//! - Positions are byte offsets into the source (the request's `input`), so word timestamps of
//!   an SSML request point at the written words inside the markup.
//! - Whitespace is insignificant as in XML-based speech markup: a run of it is one space, so
//!   indentation does not turn into paragraph pauses.

mod chars;
mod parser;
#[cfg(test)]
mod tests;
mod values;

use std::ops::Range;

use crate::{Error, ErrorCode, Lang};

pub use values::{DateParts, Meridiem, Reading};

/// Longest single `<break>`; a longer `time` is refused rather than silently shortened.
pub const MAX_BREAK_MS: u32 = 5_000;
/// Most silence all breaks of one document may add: a short document must not buy minutes of
/// audio.
pub const MAX_TOTAL_BREAK_MS: u32 = 60_000;
/// Deepest element nesting accepted (`<speak>` is depth 1).
pub const MAX_DEPTH: usize = 16;
/// Most elements in one document.
pub const MAX_ELEMENTS: usize = 2_000;

/// Kokoro v1.0's phoneme symbols (its `vocab.json` keys without punctuation and space): what
/// `<phoneme ph>` may contain. The API checks against this copy because it may run without the
/// model; the front end checks again against the loaded vocabulary.
pub const KOKORO_PHONEMES: &str = "\u{303}ʣʥʦʨᵝꭧAIOQSTWYᵊabcdefhijklmnopqrstuvwxyzɑɐɒæβɔɕçɖðʤəɚɛɜɟɡɥɨɪʝɯɰŋɳɲɴøɸθœɹɾɻʁɽʂʃʈʧʊʋʌɣɤχʎʒʔˈˌːʰʲ↓→↗↘ᵻ";

/// How the request's `input` is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Literal text: markup characters are text.
    Text,
    /// The SSML subset of this module.
    Ssml,
}

impl InputFormat {
    /// `text` or `ssml`, any case.
    pub fn parse(s: &str, field: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "plain" => Ok(Self::Text),
            "ssml" => Ok(Self::Ssml),
            _ => Err(Error::new(
                ErrorCode::InvalidRequest,
                format!("{field} must be 'text' or 'ssml'"),
            )),
        }
    }

    /// The format of `input` when the request does not say: SSML exactly when it starts (after
    /// whitespace) with `<speak`.
    pub fn sniff(input: &str) -> Self {
        if input.trim_start().starts_with("<speak") {
            Self::Ssml
        } else {
            Self::Text
        }
    }
}

/// A parsed document: pieces in reading order.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub items: Vec<Item>,
}

/// Structure marks that become pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    Paragraph,
    Sentence,
}

/// One piece of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// Text read as written. `text` is the decoded text (entities resolved, whitespace runs
    /// folded to one space); `src[i]` is the source byte where decoded byte `i` comes from, and
    /// `src[text.len()]` the end of the piece in the source.
    Text {
        text: String,
        src: Vec<usize>,
        style: Style,
    },
    /// Source text read in another way: `span` is the written token (trimmed), which word
    /// timestamps report.
    Read {
        reading: Reading,
        span: Range<usize>,
        style: Style,
    },
    /// Silence, in milliseconds.
    Break { ms: u32 },
    /// A paragraph or sentence starts or ends here.
    Boundary(Boundary),
}

/// What the enclosing elements set for a piece.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    /// From `xml:lang`; `None` reads in the request's language.
    pub lang: Option<Lang>,
    /// Product of the enclosing `<prosody rate>`s; multiplies the request's speed.
    pub rate: f32,
}

impl Default for Style {
    fn default() -> Self {
        Self {
            lang: None,
            rate: 1.0,
        }
    }
}

impl Document {
    /// The words of the document as plain text (what language detection looks at).
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            match item {
                Item::Text { text, .. } => out.push_str(text),
                Item::Read { reading, .. } => {
                    out.push(' ');
                    out.push_str(&reading.plain());
                    out.push(' ');
                }
                Item::Boundary(_) | Item::Break { .. } => out.push(' '),
            }
        }
        out
    }

    /// The languages `xml:lang` asks for, each once.
    pub fn languages(&self) -> Vec<Lang> {
        let mut out = Vec::new();
        for item in &self.items {
            if let Item::Text { style, .. } | Item::Read { style, .. } = item
                && let Some(l) = style.lang
                && !out.contains(&l)
            {
                out.push(l);
            }
        }
        out
    }

    /// Whether anything would be spoken.
    pub fn has_speech(&self) -> bool {
        self.items.iter().any(|i| match i {
            Item::Text { text, .. } => text.chars().any(char::is_alphanumeric),
            Item::Read { .. } => true,
            _ => false,
        })
    }
}

/// Parses `source` (already sanitized: see [`crate::text::sanitize`]). Errors are
/// `invalid_ssml` with the line and column of the fault; `field` names the request field.
pub fn parse(source: &str, field: &str) -> Result<Document, Error> {
    parser::run(source, field)
}

/// Line and column (from 1, columns in characters) of byte `at`.
pub fn line_col(src: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(src.len());
    while !src.is_char_boundary(at) {
        at -= 1;
    }
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A value quoted back in an error, bounded.
pub(crate) fn short(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}
