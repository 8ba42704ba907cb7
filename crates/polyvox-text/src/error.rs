//! The one error type of the text front end, with its mapping to Polyvox's stable error codes.

use std::path::PathBuf;

use polyvox_core::{ErrorCode, Lang};

/// Everything that can go wrong while loading the front end or turning text into chunks.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The front end has no G2P for this language (yet).
    #[error(
        "language {0} is not available in this deployment: ja needs its dictionary (`polyvox models fetch` with Debian's mecab-ipadic), es, fr, hi, it and pt-br need espeak-ng; GET /v1/languages lists what is supported"
    )]
    UnsupportedLanguage(Lang),
    /// The input is empty or only whitespace.
    #[error("text is empty")]
    EmptyInput,
    /// The input has characters, but none that can be spoken (only punctuation, emoji or
    /// characters no reader of the language can say).
    #[error("text contains nothing speakable (only punctuation, symbols or unsupported scripts)")]
    NothingToSpeak,
    /// Chunk options that no chunking can satisfy.
    #[error("invalid chunk options: {0}")]
    InvalidOptions(String),
    /// An asset file (vocab, lexicon) could not be read.
    #[error("cannot read {path}: {source}; run `polyvox models fetch` to install the assets")]
    AssetMissing {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An asset file was read but its content is not what we expect.
    #[error("{path} is malformed: {reason}")]
    AssetInvalid { path: PathBuf, reason: String },
    /// `EspeakMode::Binary` named a program that does not run as espeak-ng.
    #[error("espeak-ng binary {path} is unusable: {reason}")]
    EspeakUnusable { path: PathBuf, reason: String },
    /// An SSML document the API accepted that this front end cannot render as written.
    #[error("input is not valid SSML: {0}")]
    InvalidSsml(String),
}

impl TextError {
    /// The stable, client-visible code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::UnsupportedLanguage(_) => ErrorCode::UnsupportedLanguage,
            Self::EmptyInput | Self::NothingToSpeak => ErrorCode::EmptyInput,
            Self::InvalidOptions(_) => ErrorCode::InvalidRequest,
            Self::InvalidSsml(_) => ErrorCode::InvalidSsml,
            Self::AssetMissing { .. } | Self::AssetInvalid { .. } | Self::EspeakUnusable { .. } => {
                ErrorCode::AssetMissing
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_stable_ones() {
        assert_eq!(
            TextError::UnsupportedLanguage(Lang::Ja).code(),
            ErrorCode::UnsupportedLanguage
        );
        assert_eq!(TextError::NothingToSpeak.code(), ErrorCode::EmptyInput);
        let missing = TextError::AssetMissing {
            path: "x/vocab.json".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(missing.code(), ErrorCode::AssetMissing);
        assert!(
            missing.to_string().contains("polyvox models fetch"),
            "{missing}"
        );
        assert!(
            TextError::UnsupportedLanguage(Lang::Ko)
                .to_string()
                .contains("ko")
        );
    }
}
