//! The crate's one error type. Encoding our own audio failing is a server fault (500); bad options
//! and undecodable bytes describe the caller's input (400), so they map to client codes.

use polyvox_core::{AudioFormat, ErrorCode};

/// Everything that can go wrong while encoding, joining or decoding audio.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// An [`crate::EncodeOptions`] field is outside what the codec accepts; the message names it.
    #[error("invalid encoder option: {0}")]
    InvalidOption(String),
    /// The native codec (LAME, libopus) or the FLAC encoder refused to work.
    #[error("{} encoder failed: {message}", format.as_str())]
    Codec {
        format: AudioFormat,
        message: String,
    },
    /// `push` or `finish` after `finish`, or after an earlier error left the codec in an unknown state.
    #[error("the {} stream encoder is already finished or failed; start a new one", format.as_str())]
    Finished { format: AudioFormat },
    /// The audio does not fit the container (a WAV data chunk is limited to 4 GiB).
    #[error("{samples} samples are too long for a {} file", format.as_str())]
    TooLong { format: AudioFormat, samples: usize },
    /// The bytes are not a valid file of the given format.
    #[error("not a valid {} file: {message}", format.as_str())]
    Decode {
        format: AudioFormat,
        message: String,
    },
}

impl AudioError {
    /// The stable API code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidOption(_) | Self::Decode { .. } => ErrorCode::InvalidRequest,
            Self::TooLong { .. } => ErrorCode::InputTooLong,
            Self::Codec { .. } | Self::Finished { .. } => ErrorCode::Internal,
        }
    }

    pub(crate) fn codec(format: AudioFormat, message: impl std::fmt::Display) -> Self {
        Self::Codec {
            format,
            message: message.to_string(),
        }
    }

    pub(crate) fn decode(format: AudioFormat, message: impl std::fmt::Display) -> Self {
        Self::Decode {
            format,
            message: message.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_separate_caller_mistakes_from_our_faults() {
        assert_eq!(
            AudioError::InvalidOption("mp3_bitrate_kbps".into()).code(),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            AudioError::decode(AudioFormat::Wav, "short").code(),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            AudioError::codec(AudioFormat::Mp3, "lame").code(),
            ErrorCode::Internal
        );
        assert_eq!(
            AudioError::Finished {
                format: AudioFormat::Opus
            }
            .code(),
            ErrorCode::Internal
        );
        let long = AudioError::TooLong {
            format: AudioFormat::Wav,
            samples: 1 << 31,
        };
        assert_eq!(long.code(), ErrorCode::InputTooLong);
        assert!(long.to_string().contains("wav"), "{long}");
    }
}
