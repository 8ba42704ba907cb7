//! Output audio formats.

use crate::{Error, ErrorCode};

/// Audio container/codec of a synthesis result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    Mp3,
    Opus,
    Flac,
    Wav,
    /// Raw 24 kHz mono signed 16-bit little-endian samples.
    Pcm,
}

impl AudioFormat {
    pub const ALL: [AudioFormat; 5] = [Self::Mp3, Self::Opus, Self::Flac, Self::Wav, Self::Pcm];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Opus => "opus",
            Self::Flac => "flac",
            Self::Wav => "wav",
            Self::Pcm => "pcm",
        }
    }

    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Mp3 => "audio/mpeg",
            Self::Opus => "audio/ogg; codecs=opus",
            Self::Flac => "audio/flac",
            Self::Wav => "audio/wav",
            Self::Pcm => "audio/pcm; rate=24000; channels=1; encoding=s16le",
        }
    }

    /// Parses a format name (`mp3`, `opus`, ...). `field` names the request field in the error.
    pub fn parse(s: &str, field: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mp3" => Ok(Self::Mp3),
            "opus" | "ogg" => Ok(Self::Opus),
            "flac" => Ok(Self::Flac),
            "wav" | "wave" => Ok(Self::Wav),
            "pcm" | "raw" => Ok(Self::Pcm),
            other => Err(Error::new(
                ErrorCode::UnsupportedFormat,
                format!("{field} '{other}' is not supported; use one of mp3, opus, flac, wav, pcm"),
            )),
        }
    }

    /// Guesses the format from a file name's extension (`out.mp3` → Mp3).
    pub fn from_path_extension(path: &str) -> Option<Self> {
        let ext = path.rsplit_once('.')?.1;
        Self::parse(ext, "extension").ok()
    }
}
