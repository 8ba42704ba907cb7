//! The boundary between untrusted input and the pipeline: a raw request (strings, options) is
//! validated once into a [`SynthesisRequest`] whose fields can no longer be wrong.

use std::sync::Arc;

use crate::ssml::{self, InputFormat};
use crate::text::{self, CharRule};
use crate::{AudioFormat, Error, ErrorCode, Lang, VoiceSpec};

/// Limits applied at validation; configurable per entry point (CLI, sync API, async jobs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Maximum input length in Unicode scalar values (characters), after trimming.
    pub max_input_chars: usize,
    pub min_speed: f32,
    pub max_speed: f32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_chars: 10_000,
            min_speed: 0.25,
            max_speed: 4.0,
        }
    }
}

/// A request as it arrives: every field optional or free text.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct RawSynthesisRequest {
    pub text: String,
    pub voice: Option<String>,
    pub lang: Option<String>,
    pub speed: Option<f32>,
    pub format: Option<String>,
}

/// A validated request: text within limits, a resolved voice, a language, a speed in range.
///
/// It serializes (inside a job payload) as plain strings and numbers, and deserializing checks
/// every field again: a stored row is input too.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(into = "WireRequest", try_from = "WireRequest")]
pub struct SynthesisRequest {
    pub text: String,
    pub voice: VoiceSpec,
    /// The language of the text: given, or detected from the whole text when `lang` was omitted.
    pub lang: Lang,
    /// `lang` was omitted: the front end detects the language sentence by sentence, falling back to
    /// `lang` where a sentence does not decide it (see `detect`).
    #[serde(default)]
    pub auto_lang: bool,
    pub speed: f32,
    pub format: AudioFormat,
    /// `text` is SSML, parsed: rendered instead of reading `text` literally.
    pub ssml: Option<Arc<ssml::Document>>,
    /// The caller's pronunciation lexicons named in the request, resolved (entries and version)
    /// at the API, in the order named: the first one's entries win. Empty for most requests.
    pub lexicons: Vec<crate::lexicon::Lexicon>,
}

/// [`SynthesisRequest`] as stored: the voice by its canonical spelling (and a blend's exact
/// shares: the spelling rounds them, and a worker must render what the API was asked), the
/// language by its code.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireRequest {
    text: String,
    voice: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blend: Option<Vec<(String, f32)>>,
    lang: String,
    #[serde(default)]
    auto_lang: bool,
    speed: f32,
    format: String,
    /// `text` is SSML: parsed again on load (the stored row is input too).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    ssml: bool,
    /// Each lexicon is checked again when read ([`crate::lexicon::Lexicon`]'s own wire form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    lexicons: Vec<crate::lexicon::Lexicon>,
}

impl From<SynthesisRequest> for WireRequest {
    fn from(r: SynthesisRequest) -> Self {
        let blend = (r.voice.parts.len() > 1).then(|| {
            r.voice
                .parts
                .iter()
                .map(|(id, w)| ((*id).to_string(), *w))
                .collect()
        });
        Self {
            voice: r.voice.canonical(),
            blend,
            lang: r.lang.code().to_string(),
            auto_lang: r.auto_lang,
            speed: r.speed,
            format: r.format.as_str().to_string(),
            ssml: r.ssml.is_some(),
            text: r.text,
            lexicons: r.lexicons,
        }
    }
}

impl TryFrom<WireRequest> for SynthesisRequest {
    type Error = String;

    fn try_from(w: WireRequest) -> Result<Self, String> {
        let limits = Limits::default();
        if w.text.trim().is_empty() {
            return Err("text is empty".into());
        }
        if !(w.speed.is_finite() && w.speed >= limits.min_speed && w.speed <= limits.max_speed) {
            return Err(format!("speed {} is out of range", w.speed));
        }
        let max = crate::lexicon::LexiconLimits::default().max_per_request;
        if w.lexicons.len() > max {
            return Err(format!("{} lexicons; the limit is {max}", w.lexicons.len()));
        }
        let voice = match w.blend {
            Some(parts) => exact_blend(&parts)?,
            None => VoiceSpec::parse(&w.voice, "voice").map_err(|e| e.message)?,
        };
        let ssml = if w.ssml {
            Some(Arc::new(
                ssml::parse(&w.text, "text").map_err(|e| e.message)?,
            ))
        } else {
            None
        };
        Ok(Self {
            ssml,
            voice,
            lang: Lang::parse(&w.lang, "lang").map_err(|e| e.message)?,
            auto_lang: w.auto_lang,
            speed: w.speed,
            format: AudioFormat::parse(&w.format, "format").map_err(|e| e.message)?,
            text: w.text,
            lexicons: w.lexicons,
        })
    }
}

/// Field names used in error messages; the HTTP API passes OpenAI's names (`input`, `response_format`).
#[derive(Debug, Clone, Copy)]
pub struct FieldNames {
    pub text: &'static str,
    pub voice: &'static str,
    pub lang: &'static str,
    pub speed: &'static str,
    pub format: &'static str,
}

impl FieldNames {
    pub const CLI: FieldNames = FieldNames {
        text: "text",
        voice: "--voice",
        lang: "--lang",
        speed: "--speed",
        format: "--format",
    };
    pub const OPENAI: FieldNames = FieldNames {
        text: "input",
        voice: "voice",
        lang: "lang",
        speed: "speed",
        format: "response_format",
    };
}

impl RawSynthesisRequest {
    /// Validates every field; the first error wins. Without `lang` the language is detected from
    /// the text (falling back to the voice's language, then en-us) and `auto_lang` is set; without a
    /// voice, the language's default voice speaks. A voice of another language than the text reads
    /// the text's phonemes with its own accent (the documented mismatch rule, README "Languages").
    pub fn validate(self, limits: &Limits, names: FieldNames) -> Result<SynthesisRequest, Error> {
        self.validate_as(Some(InputFormat::Text), limits, names)
    }

    /// Like [`Self::validate`], reading the text as `format`; `None` sniffs it (SSML exactly
    /// when it starts with `<speak`). For SSML the language is detected from the document's
    /// words, not its markup.
    pub fn validate_as(
        self,
        format: Option<InputFormat>,
        limits: &Limits,
        names: FieldNames,
    ) -> Result<SynthesisRequest, Error> {
        let text = text::sanitize(&self.text, names.text)?;
        if text.is_empty() {
            return Err(Error::new(
                ErrorCode::EmptyInput,
                format!("{} is empty: give some text to speak", names.text),
            ));
        }
        let chars = text.chars().count();
        if chars > limits.max_input_chars {
            return Err(Error::new(
                ErrorCode::InputTooLong,
                format!(
                    "{} has {chars} characters; the limit is {}",
                    names.text, limits.max_input_chars
                ),
            ));
        }
        for (value, field, max) in [
            (&self.voice, names.voice, MAX_VOICE_CHARS),
            (&self.lang, names.lang, MAX_LANG_CHARS),
            (&self.format, names.format, MAX_FORMAT_CHARS),
        ] {
            if let Some(v) = value {
                check_short_field(v, field, max)?;
            }
        }
        let doc = match format.unwrap_or_else(|| InputFormat::sniff(&text)) {
            InputFormat::Text => None,
            InputFormat::Ssml => {
                let doc = ssml::parse(&text, names.text)?;
                if !doc.has_speech() {
                    return Err(Error::new(
                        ErrorCode::EmptyInput,
                        format!("{} has nothing to speak inside its SSML markup", names.text),
                    ));
                }
                Some(Arc::new(doc))
            }
        };
        let lang = self
            .lang
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| Lang::parse(s, names.lang))
            .transpose()?;
        let auto_lang = lang.is_none();
        let voice = match self.voice.as_deref() {
            Some(v) => Some(VoiceSpec::parse(v, names.voice)?),
            None => None,
        };
        let fallback = voice
            .as_ref()
            .and_then(|v| Lang::of_voice(v.primary()))
            .unwrap_or(Lang::EnUs);
        let words = doc.as_ref().map(|d| d.plain_text());
        let spoken = words.as_deref().unwrap_or(&text);
        let lang =
            lang.unwrap_or_else(|| crate::detect::detect(spoken, fallback).unwrap_or(fallback));
        let voice = match voice {
            Some(v) => v,
            None => VoiceSpec::single(lang.default_voice())?,
        };
        let speed = self.speed.unwrap_or(1.0);
        if !(speed.is_finite() && speed >= limits.min_speed && speed <= limits.max_speed) {
            return Err(Error::new(
                ErrorCode::SpeedOutOfRange,
                format!(
                    "{} {speed} is outside [{}, {}]",
                    names.speed, limits.min_speed, limits.max_speed
                ),
            ));
        }
        let format = match self.format.as_deref() {
            Some(f) => AudioFormat::parse(f, names.format)?,
            None => AudioFormat::Mp3,
        };
        Ok(SynthesisRequest {
            text,
            voice,
            lang,
            auto_lang,
            speed,
            format,
            ssml: doc,
            lexicons: Vec::new(),
        })
    }
}

/// A stored blend with its shares as they were: every id known, shares positive and summing to 1.
fn exact_blend(parts: &[(String, f32)]) -> Result<VoiceSpec, String> {
    let mut out = Vec::with_capacity(parts.len());
    for (id, w) in parts {
        let info = crate::voice::resolve(id).ok_or_else(|| format!("unknown voice {id}"))?;
        if !(w.is_finite() && *w > 0.0) {
            return Err(format!("share {w} of {id} is not positive"));
        }
        out.push((info.id, *w));
    }
    let total: f32 = out.iter().map(|p| p.1).sum();
    if out.is_empty() || (total - 1.0).abs() > 1e-3 {
        return Err(format!("blend shares sum to {total}, not 1"));
    }
    Ok(VoiceSpec { parts: out })
}

/// Longest `voice` accepted, in characters: a blend of [`MAX_BLEND_VOICES`] ids with weights
/// fits in well under half of it.
///
/// [`MAX_BLEND_VOICES`]: crate::voice::MAX_BLEND_VOICES
pub const MAX_VOICE_CHARS: usize = 256;
/// Longest `lang` accepted, in characters (the longest BCP 47 tag we know is 7).
pub const MAX_LANG_CHARS: usize = 32;
/// Longest `format` accepted, in characters.
pub const MAX_FORMAT_CHARS: usize = 16;

/// Bounds a short identifier-like field before it is parsed: parse errors quote the value back,
/// so its size and its characters must be safe to echo into a response body and a log line.
pub fn check_short_field(value: &str, field: &str, max_chars: usize) -> Result<(), Error> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            format!("{field} has {chars} characters; the limit is {max_chars}"),
        ));
    }
    if let Some((i, c)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() || !matches!(text::rule(*c), CharRule::Keep))
    {
        return Err(Error::new(
            ErrorCode::InvalidCharacter,
            format!(
                "{field} contains an invisible or control character (U+{:04X}) at character {}",
                c as u32,
                i + 1
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawSynthesisRequest {
        RawSynthesisRequest {
            text: text.into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_follow_the_voice() {
        let r = RawSynthesisRequest {
            voice: Some("bf_emma".into()),
            ..raw("Hello")
        }
        .validate(&Limits::default(), FieldNames::CLI)
        .unwrap();
        assert_eq!(r.lang, Lang::EnGb);
        assert_eq!(r.format, AudioFormat::Mp3);
        assert_eq!(r.speed, 1.0);
        let r = RawSynthesisRequest {
            lang: Some("en-gb".into()),
            ..raw("Hello")
        }
        .validate(&Limits::default(), FieldNames::CLI)
        .unwrap();
        assert_eq!(r.voice.canonical(), "bf_emma");
        assert!(!r.auto_lang);
    }

    #[test]
    fn omitted_language_is_detected_and_picks_the_voice() {
        let r = raw("今日は良い天気ですね。")
            .validate(&Limits::default(), FieldNames::CLI)
            .unwrap();
        assert_eq!(
            (r.lang, r.voice.canonical().as_str()),
            (Lang::Ja, "jf_alpha")
        );
        assert!(r.auto_lang);
        let r = raw("北京欢迎你。")
            .validate(&Limits::default(), FieldNames::CLI)
            .unwrap();
        assert_eq!(
            (r.lang, r.voice.canonical().as_str()),
            (Lang::Zh, "zf_xiaobei")
        );
        // A voice keeps itself; the text still decides the language (read with that voice's accent).
        let r = RawSynthesisRequest {
            voice: Some("af_heart".into()),
            ..raw("안녕하세요.")
        }
        .validate(&Limits::default(), FieldNames::CLI)
        .unwrap();
        assert_eq!(
            (r.lang, r.voice.canonical().as_str()),
            (Lang::Ko, "af_heart")
        );
        // Nothing decides: the voice's language.
        let r = RawSynthesisRequest {
            voice: Some("ef_dora".into()),
            ..raw("42")
        }
        .validate(&Limits::default(), FieldNames::CLI)
        .unwrap();
        assert_eq!(r.lang, Lang::Es);
    }

    #[test]
    fn every_bad_field_has_its_code_and_names_the_field() {
        let limits = Limits {
            max_input_chars: 10,
            ..Default::default()
        };
        let cases = [
            (raw("   "), ErrorCode::EmptyInput, "input"),
            (raw("\u{feff}\u{200b}"), ErrorCode::EmptyInput, "input"),
            (raw("a\u{7}\u{1b}"), ErrorCode::InvalidCharacter, "U+0007"),
            (raw("a\u{202e}b"), ErrorCode::InvalidCharacter, "input"),
            (
                RawSynthesisRequest {
                    voice: Some("af_bella+".repeat(40)),
                    ..raw("hi")
                },
                ErrorCode::InvalidRequest,
                "voice has 360 characters; the limit is 256",
            ),
            (
                RawSynthesisRequest {
                    voice: Some("af_bella\nINFO forged log line".into()),
                    ..raw("hi")
                },
                ErrorCode::InvalidCharacter,
                "voice contains",
            ),
            (
                RawSynthesisRequest {
                    lang: Some("en-".repeat(20)),
                    ..raw("hi")
                },
                ErrorCode::InvalidRequest,
                "lang has 60 characters; the limit is 32",
            ),
            (
                RawSynthesisRequest {
                    format: Some("mp3\u{0}".into()),
                    ..raw("hi")
                },
                ErrorCode::InvalidCharacter,
                "response_format contains",
            ),
            (raw("01234567890"), ErrorCode::InputTooLong, "limit is 10"),
            (
                RawSynthesisRequest {
                    voice: Some("zz_nobody".into()),
                    ..raw("hi")
                },
                ErrorCode::VoiceNotFound,
                "voice",
            ),
            (
                RawSynthesisRequest {
                    lang: Some("klingon".into()),
                    ..raw("hi")
                },
                ErrorCode::UnknownLanguage,
                "lang",
            ),
            (
                RawSynthesisRequest {
                    speed: Some(4.5),
                    ..raw("hi")
                },
                ErrorCode::SpeedOutOfRange,
                "[0.25, 4]",
            ),
            (
                RawSynthesisRequest {
                    speed: Some(0.1),
                    ..raw("hi")
                },
                ErrorCode::SpeedOutOfRange,
                "speed",
            ),
            (
                RawSynthesisRequest {
                    speed: Some(f32::NAN),
                    ..raw("hi")
                },
                ErrorCode::SpeedOutOfRange,
                "speed",
            ),
            (
                RawSynthesisRequest {
                    format: Some("aac".into()),
                    ..raw("hi")
                },
                ErrorCode::UnsupportedFormat,
                "response_format",
            ),
        ];
        for (req, code, needle) in cases {
            let err = req
                .clone()
                .validate(&limits, FieldNames::OPENAI)
                .unwrap_err();
            assert_eq!(err.code, code, "{req:?}");
            assert!(
                err.message.contains(needle),
                "{:?}: '{}' lacks '{needle}'",
                req,
                err.message
            );
        }
    }

    #[test]
    fn ssml_is_sniffed_or_asked_and_survives_the_job_payload() {
        let limits = Limits::default();
        let src = "<speak>Bonjour mes amis, <break time=\"1s\"/> comment allez-vous aujourd'hui? Il fait très beau à Paris.</speak>";
        let r = raw(src)
            .validate_as(None, &limits, FieldNames::OPENAI)
            .unwrap();
        assert!(r.ssml.is_some(), "an input starting with <speak is SSML");
        assert_eq!(r.text, src, "offsets index the source as sent");
        assert_eq!(
            r.lang,
            Lang::Fr,
            "the language comes from the words, not the markup"
        );
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"ssml\":true"), "{json}");
        let back: SynthesisRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r, "the worker renders the same document");
        // A stored row is input too: an invalid document is refused on load.
        let forged = json.replace("<break time=\\\"1s\\\"/>", "<voice/>");
        assert_ne!(forged, json);
        let err = serde_json::from_str::<SynthesisRequest>(&forged).unwrap_err();
        assert!(err.to_string().contains("<voice>"), "{err}");
        // Plain text stays literal unless asked; asked-for SSML must be valid.
        let text = raw(src).validate(&limits, FieldNames::OPENAI).unwrap();
        assert!(text.ssml.is_none());
        assert!(!serde_json::to_string(&text).unwrap().contains("ssml"));
        let err = raw("Hello <b>")
            .validate_as(Some(InputFormat::Ssml), &limits, FieldNames::OPENAI)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidSsml);
        let err = raw("<speak> <break/> </speak>")
            .validate_as(None, &limits, FieldNames::OPENAI)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::EmptyInput);
    }

    #[test]
    fn limit_counts_characters_not_bytes() {
        let limits = Limits {
            max_input_chars: 5,
            ..Default::default()
        };
        assert!(raw("ありがとう").validate(&limits, FieldNames::CLI).is_ok());
    }
}
