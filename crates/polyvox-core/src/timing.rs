//! Word timings on the request's own text, and captions made from them.
//!
//! A [`WordTiming`] ties a span of the input as written (offsets in Unicode scalar values, i.e.
//! Rust `char`s / Python `str` indices, not bytes and not UTF-16 units) to where it is spoken in
//! the returned audio. A token the normalizer reads as several words ("$42.50", "3:30 pm") is
//! one timing covering the written token.
//!
//! [`Timeline`] is how timings travel beside a stream: the producer appends each chunk's words
//! before it yields that chunk's audio, so a reader that takes the new words before forwarding
//! each audio piece never announces a word after its sound.
//!
//! Captions: cues are cut after sentence ends always, after clause marks once the cue has some
//! length, and before a word that would push the line past the limit; the cue text is the input
//! itself (punctuation kept, whitespace runs folded).

use std::sync::Mutex;

/// Samples per second of everything the model produces.
const RATE: f64 = crate::SAMPLE_RATE as f64;

/// One written word (or token) and when it is spoken.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WordTiming {
    /// `input[char_start..char_end]`: the token as written.
    pub text: String,
    /// Offset of the first character in the input, in Unicode scalar values.
    pub char_start: usize,
    /// Offset just past the last character, in Unicode scalar values.
    pub char_end: usize,
    /// Seconds from the start of the audio.
    pub start: f64,
    pub end: f64,
}

impl WordTiming {
    /// A timing for the input's bytes `bytes`, spoken from sample `start` to `end`. `chars` maps
    /// byte offsets to char offsets ([`char_offsets`]).
    pub fn from_samples(
        input: &str,
        bytes: std::ops::Range<usize>,
        chars: &CharOffsets,
        (start, end): (usize, usize),
    ) -> Self {
        Self {
            text: input[bytes.clone()].to_owned(),
            char_start: chars.of(bytes.start),
            char_end: chars.of(bytes.end),
            start: millis(start as f64 / RATE),
            end: millis(end.max(start) as f64 / RATE),
        }
    }
}

fn millis(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

/// Byte offset → char offset of one text.
#[derive(Debug, Clone)]
pub struct CharOffsets {
    /// Byte offset of every char, then the text's length.
    starts: Vec<usize>,
}

impl CharOffsets {
    pub fn new(text: &str) -> Self {
        let mut starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        starts.push(text.len());
        Self { starts }
    }

    /// The char offset of byte offset `byte` (the char containing it, if it is not a boundary).
    pub fn of(&self, byte: usize) -> usize {
        match self.starts.binary_search(&byte) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }
}

/// Word timings of one synthesis as they become known, shared by the producer and its readers.
#[derive(Debug, Default)]
pub struct Timeline {
    words: Mutex<Vec<WordTiming>>,
}

impl Timeline {
    pub fn push(&self, words: impl IntoIterator<Item = WordTiming>) {
        self.lock().extend(words);
    }

    /// Words from index `from` on (a reader keeps its own cursor).
    pub fn since(&self, from: usize) -> Vec<WordTiming> {
        self.lock()
            .get(from..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    pub fn all(&self) -> Vec<WordTiming> {
        self.since(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<WordTiming>> {
        self.words.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where a job's word timings are stored: beside its audio object, so whatever finds, shares or
/// deletes the audio finds, shares or deletes them too.
pub fn sidecar_key(audio_key: &str) -> String {
    format!("{audio_key}.words.json")
}

/// The stored form of a job's timings: the text they index into, and the words.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredTimings {
    pub input: String,
    pub words: Vec<WordTiming>,
    /// `input` is SSML: captions show its text without the markup.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ssml: bool,
}

/// A caption file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptionFormat {
    Vtt,
    Srt,
}

impl CaptionFormat {
    /// `vtt` or `srt`, any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "vtt" | "webvtt" => Some(Self::Vtt),
            "srt" => Some(Self::Srt),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Vtt => "text/vtt; charset=utf-8",
            Self::Srt => "application/x-subrip; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Vtt => "vtt",
            Self::Srt => "srt",
        }
    }
}

/// Longest caption line, in characters (the common broadcast guideline).
pub const MAX_LINE_CHARS: usize = 42;
/// A clause mark ends a cue only once the cue has at least this many characters, so "Yes," does
/// not flash up alone.
const MIN_CLAUSE_CUE_CHARS: usize = 16;

/// One caption: a stretch of the input shown from `start` to `end` seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// Groups `words` (timings of `input`) into cues of at most `max_chars` characters.
pub fn cues(input: &str, words: &[WordTiming], max_chars: usize) -> Vec<Cue> {
    cues_in(input, words, max_chars, false)
}

/// [`cues`] of an input that is SSML when `markup` is set: the cue text is what the markup
/// shows (tags dropped, entities decoded), cut at the same words.
pub fn cues_in(input: &str, words: &[WordTiming], max_chars: usize, markup: bool) -> Vec<Cue> {
    let chars: Vec<char> = input.chars().collect();
    let slice = |a: usize, b: usize| -> String {
        let s: String = chars[a.min(chars.len())..b.min(chars.len())]
            .iter()
            .collect();
        if markup { without_markup(&s) } else { s }
    };
    // Each word's text carries the punctuation written right after it ("world." of "world.").
    let ends: Vec<usize> = words
        .iter()
        .enumerate()
        .map(|(k, w)| {
            let limit = words.get(k + 1).map_or(chars.len(), |n| n.char_start);
            let mut e = w.char_end;
            let limit = limit.min(chars.len());
            while e < limit && !chars[e].is_whitespace() && !chars[e].is_alphanumeric() {
                // A closing tag between a word and its punctuation ("42</say-as>!").
                if markup
                    && chars[e] == '<'
                    && let Some(close) = chars[e..limit].iter().position(|&c| c == '>')
                {
                    e += close;
                }
                e += 1;
            }
            e.max(w.char_end)
        })
        .collect();
    let mut out: Vec<Cue> = Vec::new();
    let mut first = 0;
    for k in 0..words.len() {
        let text = fold(&slice(words[first].char_start, ends[k]));
        let tail = slice(words[k].char_end, ends[k]);
        let next_fits = k + 1 == words.len()
            || fold(&slice(words[first].char_start, ends[k + 1]))
                .chars()
                .count()
                <= max_chars;
        let sentence = tail.contains(['.', '!', '?', '。', '！', '？', '…']);
        let clause = tail.contains([',', ';', ':', '、', '，', '；', '：', '—', ')'])
            && text.chars().count() >= MIN_CLAUSE_CUE_CHARS;
        if k + 1 == words.len() || sentence || clause || !next_fits {
            let start = words[first].start;
            let end = words[k].end.max(start + 0.001);
            out.push(Cue { start, end, text });
            first = k + 1;
        }
    }
    // Cues never overlap, whatever the timings: a player may otherwise drop one.
    for k in 1..out.len() {
        if out[k].start < out[k - 1].end {
            out[k - 1].end = out[k].start.max(out[k - 1].start);
        }
    }
    out.retain(|c| !c.text.is_empty());
    out
}

/// SSML source as it reads: tags become spaces, the five entities and numeric references their
/// characters.
fn without_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let end = rest.find('>').map_or(rest.len(), |e| e + 1);
            rest = &rest[end..];
            // "42</say-as>!" reads "42!"; "</s><s>" separates sentences.
            if !rest.starts_with([',', '.', ';', ':', '!', '?', '…', ')', '”']) {
                out.push(' ');
            }
            continue;
        }
        if c == '&'
            && let Some(semi) = rest.find(';').filter(|&n| n <= 10)
        {
            let name = &rest[1..semi];
            let decoded = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => name
                    .strip_prefix("#x")
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            if let Some(d) = decoded {
                out.push(d);
                rest = &rest[semi + 1..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A caption file of `cues`.
pub fn render(format: CaptionFormat, cues: &[Cue]) -> String {
    let mut out = String::new();
    if format == CaptionFormat::Vtt {
        out.push_str("WEBVTT\n\n");
    }
    for (i, c) in cues.iter().enumerate() {
        let (a, b) = (stamp(c.start, format), stamp(c.end, format));
        match format {
            CaptionFormat::Vtt => {
                // WebVTT cue text is HTML-like, and "-->" would end the cue's timing line.
                let text = c
                    .text
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;");
                out.push_str(&format!("{a} --> {b}\n{text}\n\n"));
            }
            CaptionFormat::Srt => {
                out.push_str(&format!("{}\n{a} --> {b}\n{}\n\n", i + 1, c.text));
            }
        }
    }
    out
}

fn stamp(secs: f64, format: CaptionFormat) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let sep = if format == CaptionFormat::Srt {
        ','
    } else {
        '.'
    };
    format!("{h:02}:{m:02}:{s:02}{sep}{ms:03}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str, input: &str, from: usize, start: f64, end: f64) -> WordTiming {
        let byte = input[from..].find(text).unwrap() + from;
        let chars = CharOffsets::new(input);
        WordTiming {
            text: text.into(),
            char_start: chars.of(byte),
            char_end: chars.of(byte + text.len()),
            start,
            end,
        }
    }

    #[test]
    fn char_offsets_count_scalar_values_not_bytes_or_utf16() {
        let input = "né 😀 x";
        let c = CharOffsets::new(input);
        assert_eq!(c.of(0), 0);
        assert_eq!(c.of(3), 2, "é is two bytes, one char");
        let x = input.find('x').unwrap();
        assert_eq!(
            c.of(x),
            5,
            "😀 is four bytes and two UTF-16 units, one char"
        );
        assert_eq!(c.of(input.len()), 6);
        let t = WordTiming::from_samples(input, x..x + 1, &c, (24_000, 36_000));
        assert_eq!((t.char_start, t.char_end, t.start, t.end), (5, 6, 1.0, 1.5));
        let chars: Vec<char> = input.chars().collect();
        assert_eq!(
            chars[t.char_start..t.char_end].iter().collect::<String>(),
            "x"
        );
    }

    #[test]
    fn cues_break_at_sentences_and_clauses_and_respect_the_line_length() {
        let input = "Hello there. It costs $42.50, which is a lot of money for such a small and ordinary thing!";
        let mut words = Vec::new();
        let mut from = 0;
        let mut t = 0.0;
        for token in input.split_whitespace() {
            let token = token.trim_end_matches(['.', ',', '!']);
            let word = w(token, input, from, t, t + 0.3);
            from = input[from..].find(token).unwrap() + from + token.len();
            t += 0.35;
            words.push(word);
        }
        let cues = cues(input, &words, MAX_LINE_CHARS);
        let texts: Vec<&str> = cues.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts[0], "Hello there.");
        assert_eq!(texts[1], "It costs $42.50,");
        assert!(
            texts.iter().all(|t| t.chars().count() <= MAX_LINE_CHARS),
            "{texts:?}"
        );
        assert!(texts.last().unwrap().ends_with("thing!"));
        assert_eq!(texts.join(" "), input, "every word shown once, in order");
        assert!(
            cues.windows(2)
                .all(|p| p[0].end <= p[1].start && p[0].start < p[0].end)
        );
    }

    #[test]
    fn ssml_cues_show_the_text_without_its_markup() {
        let input = "<speak><s>Fish &amp; chips.</s><break time=\"1s\"/><s>Call <say-as interpret-as=\"digits\">42</say-as>!</s></speak>";
        let words: Vec<WordTiming> = ["Fish", "&amp;", "chips", "Call", "42"]
            .iter()
            .enumerate()
            .map(|(i, t)| w(t, input, 0, i as f64, i as f64 + 0.5))
            .collect();
        let texts: Vec<String> = cues_in(input, &words, MAX_LINE_CHARS, true)
            .into_iter()
            .map(|c| c.text)
            .collect();
        assert_eq!(texts, ["Fish & chips.", "Call 42!"]);
    }

    #[test]
    fn vtt_and_srt_have_their_headers_stamps_and_escapes() {
        let cues = [
            Cue {
                start: 0.0,
                end: 1.25,
                text: "A <b> & c".into(),
            },
            Cue {
                start: 3661.5,
                end: 3662.0,
                text: "end".into(),
            },
        ];
        let vtt = render(CaptionFormat::Vtt, &cues);
        assert!(
            vtt.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nA &lt;b&gt; &amp; c\n\n")
        );
        assert!(vtt.contains("01:01:01.500 --> 01:01:02.000\nend\n"));
        let srt = render(CaptionFormat::Srt, &cues);
        assert!(srt.starts_with("1\n00:00:00,000 --> 00:00:01,250\nA <b> & c\n\n2\n01:01:01,500"));
        assert_eq!(CaptionFormat::parse("VTT"), Some(CaptionFormat::Vtt));
        assert_eq!(CaptionFormat::parse("ass"), None);
    }
}
