//! Languages Kokoro can speak (plus Korean, spoken through a Japanese voice; see the languages issue).

use crate::{Error, ErrorCode};

/// A language/accent of synthesis. The variant decides the front end (G2P) and the default voice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Lang {
    #[serde(rename = "en-us")]
    EnUs,
    #[serde(rename = "en-gb")]
    EnGb,
    #[serde(rename = "ja")]
    Ja,
    #[serde(rename = "zh")]
    Zh,
    #[serde(rename = "ko")]
    Ko,
    #[serde(rename = "es")]
    Es,
    #[serde(rename = "fr")]
    Fr,
    #[serde(rename = "hi")]
    Hi,
    #[serde(rename = "it")]
    It,
    #[serde(rename = "pt-br")]
    PtBr,
}

impl Lang {
    pub const ALL: [Lang; 10] = [
        Self::EnUs,
        Self::EnGb,
        Self::Ja,
        Self::Zh,
        Self::Ko,
        Self::Es,
        Self::Fr,
        Self::Hi,
        Self::It,
        Self::PtBr,
    ];

    /// The canonical code, as accepted by the API and shown in `/v1/languages`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::EnUs => "en-us",
            Self::EnGb => "en-gb",
            Self::Ja => "ja",
            Self::Zh => "zh",
            Self::Ko => "ko",
            Self::Es => "es",
            Self::Fr => "fr",
            Self::Hi => "hi",
            Self::It => "it",
            Self::PtBr => "pt-br",
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::EnUs => "English (American)",
            Self::EnGb => "English (British)",
            Self::Ja => "Japanese",
            Self::Zh => "Mandarin Chinese",
            Self::Ko => "Korean",
            Self::Es => "Spanish",
            Self::Fr => "French",
            Self::Hi => "Hindi",
            Self::It => "Italian",
            Self::PtBr => "Portuguese (Brazilian)",
        }
    }

    /// Kokoro's one-letter language prefix of voice ids (`a` in `af_bella`), if it has voices.
    pub const fn voice_prefix(self) -> Option<char> {
        match self {
            Self::EnUs => Some('a'),
            Self::EnGb => Some('b'),
            Self::Ja => Some('j'),
            Self::Zh => Some('z'),
            Self::Es => Some('e'),
            Self::Fr => Some('f'),
            Self::Hi => Some('h'),
            Self::It => Some('i'),
            Self::PtBr => Some('p'),
            Self::Ko => None,
        }
    }

    /// The voice used when a request names a language but no voice.
    pub const fn default_voice(self) -> &'static str {
        match self {
            Self::EnUs => "af_heart",
            Self::EnGb => "bf_emma",
            Self::Ja | Self::Ko => "jf_alpha",
            Self::Zh => "zf_xiaobei",
            Self::Es => "ef_dora",
            Self::Fr => "ff_siwis",
            Self::Hi => "hf_alpha",
            Self::It => "if_sara",
            Self::PtBr => "pf_dora",
        }
    }

    /// Parses a language code; accepts common spellings (`en`, `en_US`, `EN-GB`, `pt`, `cmn`).
    /// `field` names the request field in the error.
    pub fn parse(s: &str, field: &str) -> Result<Self, Error> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        let lang = match norm.as_str() {
            "en" | "en-us" | "american" => Self::EnUs,
            "en-gb" | "en-uk" | "british" => Self::EnGb,
            "ja" | "ja-jp" | "jp" => Self::Ja,
            "zh" | "zh-cn" | "cmn" | "zh-hans" => Self::Zh,
            "ko" | "ko-kr" | "kr" => Self::Ko,
            "es" | "es-es" => Self::Es,
            "fr" | "fr-fr" => Self::Fr,
            "hi" | "hi-in" => Self::Hi,
            "it" | "it-it" => Self::It,
            "pt" | "pt-br" => Self::PtBr,
            _ => {
                let known: Vec<&str> = Self::ALL.iter().map(|l| l.code()).collect();
                return Err(Error::new(
                    ErrorCode::UnknownLanguage,
                    format!(
                        "{field} '{}' is not a known language; use one of {}",
                        s.trim(),
                        known.join(", ")
                    ),
                ));
            }
        };
        Ok(lang)
    }

    /// The language of a Kokoro voice id, from its first letter.
    pub const fn of_voice(voice_id: &str) -> Option<Self> {
        let Some(first) = voice_id.as_bytes().first() else {
            return None;
        };
        match first {
            b'a' => Some(Self::EnUs),
            b'b' => Some(Self::EnGb),
            b'j' => Some(Self::Ja),
            b'z' => Some(Self::Zh),
            b'e' => Some(Self::Es),
            b'f' => Some(Self::Fr),
            b'h' => Some(Self::Hi),
            b'i' => Some(Self::It),
            b'p' => Some(Self::PtBr),
            _ => None,
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}
