//! Rendering a parsed SSML document ([`polyvox_core::ssml::Document`]) into phoneme segments
//! whose spans point into the SSML source, plus the marks (rate, breaks) the chunker applies.
//!
//! Design: consecutive pieces in one language become one "reading" text that the language's
//! reader sees whole, so context rules (function words, numbers across a `<sub>`) still apply.
//! Each byte of a reading remembers the source bytes it stands for: decoded text maps back
//! character by character (an entity maps to the whole `&amp;`), a replaced token (`sub`,
//! `say-as`) maps every byte of its replacement to the written token, so all its segments share
//! that span and the chunker keeps them as one word. Sentence and paragraph marks become line
//! breaks in the reading, which the readers already turn into pauses. A `<phoneme>` bypasses
//! the readers: its symbols are one segment as given.
//!
//! A request's lexicons match the reading text, but only where every byte of a match is written
//! text or a `<sub>` alias: a `say-as` reading is ours, not the author's words, separators stand
//! for markup (a match must not run across a sentence end), and a `<phoneme>` never reaches the
//! reading at all, so explicit IPA wins over a lexicon.
//!
//! Without a request language ([`Frontend::chunks_ssml_auto_with`]) the pieces without `xml:lang`
//! are read as plain text is: each sentence of their reading in its detected language. A
//! `say-as` among them is worded in the fallback language, since its own language is only known
//! once its sentence is.

use polyvox_core::Lang;
use polyvox_core::ssml::{Boundary, DateParts, Document, Item, Meridiem, Reading};

use crate::chunk::{self, Mark};
use crate::g2p::Seg;
use crate::normalize::{Gap, calendar::MONTHS, numbers};
use crate::pronounce::{self, Pronunciations};
use crate::{Chunk, ChunkOptions, Frontend, TextError};

/// One reading being collected.
#[derive(Default)]
struct Run {
    lang: Option<Lang>,
    /// `lang` is only the fallback: each sentence is read in its detected language.
    detect: bool,
    text: String,
    /// Per byte of `text`: the source range it stands for.
    src: Vec<(usize, usize)>,
    /// Per byte of `text`: the rate of the piece it came from.
    rate: Vec<f32>,
    /// Per byte of `text`: whether a lexicon entry may match it.
    lexical: Vec<bool>,
    /// Breaks at byte offsets of `text`.
    breaks: Vec<(usize, u32)>,
}

impl Run {
    fn push(&mut self, s: &str, src: impl Fn(usize) -> (usize, usize), rate: f32, lexical: bool) {
        for i in 0..s.len() {
            self.src.push(src(i));
            self.rate.push(rate);
            self.lexical.push(lexical);
        }
        self.text.push_str(s);
    }

    /// A separator that reads as nothing: mapped to where the previous byte ends.
    fn sep(&mut self, s: &str) {
        let at = self.src.last().map_or(0, |p| p.1);
        let rate = self.rate.last().copied().unwrap_or(1.0);
        self.push(s, |_| (at, at), rate, false);
    }
}

struct Out {
    segs: Vec<Seg>,
    marks: Vec<Mark>,
    /// Break time written since the last segment.
    pending_ms: u32,
}

impl Out {
    fn add(&mut self, seg: Seg, rate: f32) {
        self.marks.push(Mark {
            rate,
            break_ms: std::mem::take(&mut self.pending_ms),
        });
        self.segs.push(seg);
    }
}

impl Frontend {
    /// Chunks of an SSML document; `source` is the request's `input` the document was parsed
    /// from, `lang` the language of pieces without `xml:lang`.
    pub fn chunks_ssml(
        &self,
        source: &str,
        doc: &Document,
        lang: Lang,
        opts: &ChunkOptions,
    ) -> Result<Vec<Chunk>, TextError> {
        self.chunks_ssml_with(source, doc, lang, opts, &Pronunciations::default())
    }

    /// [`Frontend::chunks_ssml_with`] for a request without a language: pieces with `xml:lang`
    /// read in it, the others sentence by sentence in their detected language, `fallback` where
    /// a sentence does not decide it (as [`Frontend::chunks_auto_with`]).
    pub fn chunks_ssml_auto_with(
        &self,
        source: &str,
        doc: &Document,
        fallback: Lang,
        opts: &ChunkOptions,
        lex: &Pronunciations,
    ) -> Result<Vec<Chunk>, TextError> {
        self.plan_ssml(source, doc, (fallback, true), opts, lex)
    }

    /// [`Frontend::chunks_ssml`] with a request's own lexicons applied to the document's
    /// written words and `<sub>` aliases.
    pub fn chunks_ssml_with(
        &self,
        source: &str,
        doc: &Document,
        lang: Lang,
        opts: &ChunkOptions,
        lex: &Pronunciations,
    ) -> Result<Vec<Chunk>, TextError> {
        self.plan_ssml(source, doc, (lang, false), opts, lex)
    }

    /// `(lang, detect)`: the language of pieces without `xml:lang`, and whether it is only the
    /// fallback of per-sentence detection.
    fn plan_ssml(
        &self,
        source: &str,
        doc: &Document,
        (lang, detect): (Lang, bool),
        opts: &ChunkOptions,
        lex: &Pronunciations,
    ) -> Result<Vec<Chunk>, TextError> {
        // Pieces without `xml:lang`: the default language, detected or not.
        let of = |style_lang: Option<Lang>| style_lang.map_or((lang, detect), |l| (l, false));
        let mut out = Out {
            segs: Vec::new(),
            marks: Vec::new(),
            pending_ms: 0,
        };
        let mut run = Run::default();
        for item in &doc.items {
            match item {
                Item::Text { text, src, style } => {
                    self.switch(&mut run, of(style.lang), &mut out, lex)?;
                    run.push(text, |i| (src[i], src[i + 1]), style.rate, true);
                }
                Item::Read {
                    reading: Reading::Phonemes(ph),
                    span,
                    style,
                } => {
                    self.flush(&mut run, &mut out, lex)?;
                    if let Some(c) = ph.chars().find(|&c| c != ' ' && !self.vocab.contains(c)) {
                        return Err(TextError::InvalidSsml(format!(
                            "phoneme symbol '{c}' (U+{:04X}) is not in the loaded model's vocabulary",
                            c as u32
                        )));
                    }
                    let seg = Seg {
                        span: span.clone(),
                        phonemes: ph.clone(),
                        punct: None,
                        gap: Gap::Space,
                        space_before: true,
                    };
                    out.add(seg, style.rate);
                }
                Item::Read {
                    reading,
                    span,
                    style,
                } => {
                    let lang = style.lang.unwrap_or(lang);
                    self.switch(&mut run, of(style.lang), &mut out, lex)?;
                    let words = spoken(reading, lang);
                    run.sep(" ");
                    let lexical = matches!(reading, Reading::Alias(_));
                    run.push(&words, |_| (span.start, span.end), style.rate, lexical);
                    run.sep(" ");
                }
                Item::Break { ms } => {
                    if run.text.is_empty() {
                        out.pending_ms += ms;
                    } else {
                        run.breaks.push((run.text.len(), *ms));
                    }
                }
                Item::Boundary(b) => {
                    if !run.text.is_empty() {
                        run.sep(match b {
                            Boundary::Paragraph => "\n\n",
                            Boundary::Sentence => "\n",
                        });
                    }
                }
            }
        }
        self.flush(&mut run, &mut out, lex)?;
        if !out.segs.iter().any(|s| s.punct.is_none()) {
            return Err(TextError::NothingToSpeak);
        }
        chunk::chunk_marked(
            source,
            &out.segs,
            &out.marks,
            out.pending_ms,
            opts,
            &self.vocab,
        )
    }

    /// Starts a new reading when the language (or its detection) changes.
    fn switch(
        &self,
        run: &mut Run,
        (lang, detect): (Lang, bool),
        out: &mut Out,
        lex: &Pronunciations,
    ) -> Result<(), TextError> {
        if run.lang != Some(lang) || run.detect != detect {
            self.flush(run, out, lex)?;
            run.lang = Some(lang);
            run.detect = detect;
        }
        Ok(())
    }

    /// Reads the collected text and maps its segments back to the source.
    fn flush(&self, run: &mut Run, out: &mut Out, lex: &Pronunciations) -> Result<(), TextError> {
        let run = std::mem::take(run);
        let Some(lang) = run.lang else {
            return Ok(());
        };
        if run.text.trim().is_empty() {
            out.pending_ms += run.breaks.iter().map(|b| b.1).sum::<u32>();
            return Ok(());
        }
        let parts = if run.detect {
            crate::lang::language_runs(&run.text, lang)
        } else {
            vec![(0..run.text.len(), lang)]
        };
        let mut segs = Vec::new();
        for (range, lang) in parts {
            let reader = self.reader(lang)?;
            let mut matches = lex.find(&run.text[range.clone()], lang);
            matches.retain(|(m, _)| {
                run.lexical[range.start + m.start..range.start + m.end]
                    .iter()
                    .all(|&ok| ok)
            });
            segs.extend(pronounce::read_matched(
                reader, &run.text, range, lang, matches,
            ));
        }
        let mut breaks = run.breaks.iter().peekable();
        let first = out.segs.len();
        for mut seg in segs {
            let phonemes = self.vocab.filter(&seg.phonemes).trim().to_owned();
            let (a, b) = (seg.span.start, seg.span.end.max(seg.span.start + 1));
            while let Some(&&(at, ms)) = breaks.peek()
                && at <= a
            {
                out.pending_ms += ms;
                breaks.next();
            }
            if phonemes.is_empty() || a >= run.src.len() {
                continue;
            }
            let b = b.min(run.src.len());
            let start = run.src[a..b].iter().map(|p| p.0).min().unwrap_or(0);
            let end = run.src[a..b].iter().map(|p| p.1).max().unwrap_or(start);
            seg.span = start..end.max(start);
            seg.phonemes = phonemes;
            if out.segs.len() == first && first > 0 {
                // The reader saw this reading alone; a word after another reading is spaced.
                seg.space_before = seg.punct.is_none();
            }
            out.add(seg, run.rate[a]);
        }
        out.pending_ms += breaks.map(|b| b.1).sum::<u32>();
        Ok(())
    }
}

/// What a replaced token says, as text the language's reader reads.
fn spoken(reading: &Reading, lang: Lang) -> String {
    let english = matches!(lang, Lang::EnUs | Lang::EnGb);
    let british = lang == Lang::EnGb;
    let spaced = |s: &str| s.chars().map(String::from).collect::<Vec<_>>().join(" ");
    let words = |w: Vec<String>| w.join(" ");
    match reading {
        Reading::Alias(a) => a.clone(),
        Reading::Phonemes(_) => String::new(),
        Reading::Characters(cs) => cs
            .iter()
            .map(|c| c.to_uppercase().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        Reading::Cardinal { negative, value } if english => {
            let n = words(numbers::cardinal(*value, british));
            if *negative { format!("minus {n}") } else { n }
        }
        Reading::Cardinal { negative, value } => {
            format!("{}{value}", if *negative { "-" } else { "" })
        }
        Reading::Ordinal(n) if english => words(numbers::ordinal(*n, british)),
        Reading::Ordinal(n) => format!("{n}."),
        Reading::Digits(d) => spaced(d),
        Reading::Date(d) if english => english_date(*d, british),
        Reading::Date(d) => [d.day.map(u16::from), d.month.map(u16::from), d.year]
            .iter()
            .flatten()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        Reading::Time {
            hour,
            minute,
            meridiem,
        } => {
            let m = match meridiem {
                Some(Meridiem::Am) => " am",
                Some(Meridiem::Pm) => " pm",
                None => "",
            };
            format!("{hour}:{minute:02}{m}")
        }
        Reading::Telephone { plus, groups } => {
            let g = groups
                .iter()
                .map(|g| spaced(g))
                .collect::<Vec<_>>()
                .join(", ");
            match (plus, english) {
                (true, true) => format!("plus {g}"),
                (true, false) => format!("+ {g}"),
                _ => g,
            }
        }
    }
}

/// "March fifth, twenty twenty four", from whichever parts the format gave.
fn english_date(d: DateParts, british: bool) -> String {
    let mut out: Vec<String> = Vec::new();
    let day = d
        .day
        .map(|n| numbers::ordinal(u64::from(n), british).join(" "));
    let month = d
        .month
        .map(|m| MONTHS[usize::from(m.clamp(1, 12)) - 1].to_string());
    match (month, day) {
        (Some(m), Some(dd)) if british => out.extend([format!("the {dd} of {m}")]),
        (Some(m), Some(dd)) => out.extend([m, dd]),
        (Some(m), None) => out.push(m),
        (None, Some(dd)) => out.push(format!("the {dd}")),
        (None, None) => {}
    }
    if let Some(y) = d.year {
        if let Some(last) = out.last_mut() {
            last.push(',');
        }
        out.push(numbers::year(u64::from(y), british).join(" "));
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn say_as_readings_in_english() {
        let en = Lang::EnUs;
        assert_eq!(
            spoken(&Reading::Characters(vec!['a', 'B', '7']), en),
            "A B 7"
        );
        assert_eq!(
            spoken(
                &Reading::Cardinal {
                    negative: true,
                    value: 1234
                },
                en
            ),
            "minus one thousand two hundred thirty four"
        );
        assert_eq!(spoken(&Reading::Ordinal(21), en), "twenty first");
        assert_eq!(spoken(&Reading::Digits("0451".into()), en), "0 4 5 1");
        let date = DateParts {
            year: Some(2024),
            month: Some(3),
            day: Some(5),
        };
        assert_eq!(
            spoken(&Reading::Date(date), en),
            "March fifth, twenty twenty four"
        );
        assert_eq!(
            spoken(
                &Reading::Telephone {
                    plus: true,
                    groups: vec!["44".into(), "20".into()]
                },
                en
            ),
            "plus 4 4, 2 0"
        );
        assert_eq!(
            spoken(
                &Reading::Time {
                    hour: 2,
                    minute: 5,
                    meridiem: Some(Meridiem::Pm)
                },
                en
            ),
            "2:05 pm"
        );
        assert_eq!(spoken(&Reading::Ordinal(3), Lang::Fr), "3.");
    }
}
