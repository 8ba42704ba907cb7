use polyvox_core::{Error, ErrorCode};

/// Everything that can go wrong between a validated request and encoded audio.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error(transparent)]
    Text(#[from] polyvox_text::TextError),
    #[error(transparent)]
    Engine(#[from] polyvox_engine::EngineError),
    #[error(transparent)]
    Audio(#[from] polyvox_audio::AudioError),
    #[error("language '{0}' is not supported by the loaded front ends")]
    UnsupportedLanguage(polyvox_core::Lang),
    #[error("the input contains nothing that can be spoken")]
    NothingToSay,
    #[error("synthesis was cancelled")]
    Cancelled,
    #[error("a pipeline task failed: {0}")]
    Task(String),
}

impl SynthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Text(e) => e.code(),
            Self::Engine(e) => e.code(),
            Self::Audio(e) => e.code(),
            Self::UnsupportedLanguage(_) => ErrorCode::UnsupportedLanguage,
            Self::NothingToSay => ErrorCode::EmptyInput,
            Self::Cancelled => ErrorCode::SynthesisFailed,
            Self::Task(_) => ErrorCode::Internal,
        }
    }
}

impl From<SynthError> for Error {
    fn from(e: SynthError) -> Self {
        Error::new(e.code(), e.to_string())
    }
}
