//! The messages of the live text socket and its close codes (docs/live.md is the reference).
//!
//! Client messages are JSON text frames with a `type`. They are read in two steps — the `type`,
//! then the fields of that message through `serde_path_to_error` — so a wrong field is named in
//! the error, as in the HTTP routes' bodies.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use polyvox_core::ErrorCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorReport};
use crate::routes::speech::WordTimestamp;

/// The session ended as asked: every character was spoken and `done` was sent.
pub const CLOSE_NORMAL: u16 = 1000;
/// The client sent a binary frame: this socket takes JSON text frames only.
pub const CLOSE_UNSUPPORTED_DATA: u16 = 1003;
/// Errors close with 4000 + the HTTP status of their code (4400, 4401, 4404, 4408, 4413, 4422,
/// 4429, 4500, 4503, 4504).
pub const CLOSE_ERROR_BASE: u16 = 4000;

/// The close code of a session ended by an error with `code`.
pub fn close_code(code: ErrorCode) -> u16 {
    CLOSE_ERROR_BASE + code.http_status()
}

/// `{"type":"auth"}`: the API key, for clients that cannot set headers (browsers).
#[derive(Debug, Deserialize)]
pub struct Auth {
    pub token: String,
}

/// `{"type":"session"}`: how to speak. Every field is optional; unknown fields are ignored.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LiveSessionRequest {
    /// As in `/v1/audio/speech`; only the service's own model exists.
    pub model: Option<String>,
    /// Voice id, name, OpenAI voice or blend, as in `/v1/audio/speech`; default: the language's
    /// default voice (fixed by the first chunk when `lang` is automatic).
    #[schema(example = "af_heart")]
    pub voice: Option<String>,
    /// Language code, or `auto` (default): detected chunk by chunk.
    #[schema(example = "en-us")]
    pub lang: Option<String>,
    /// 0.25 – 4.0, default 1.0.
    pub speed: Option<f32>,
    /// `pcm` (default: 24 kHz mono s16le), `mp3` or `opus` (Ogg). One continuous stream for the
    /// whole session.
    #[schema(example = "pcm")]
    pub format: Option<String>,
    /// Send `words` events (word timestamps) before the audio they time. Default false.
    pub timestamps: Option<bool>,
    /// `binary` (default: audio in binary frames) or `base64` (`audio` JSON events).
    #[schema(example = "binary")]
    pub audio: Option<String>,
    /// Complete words after which the first chunk is spoken without waiting for a clause end
    /// (1 – 50, default 5).
    pub first_chunk_words: Option<usize>,
    /// Least characters of the 2nd, 3rd, … chunk before a sentence end cuts it, the last value
    /// repeating (1 – 8 values of 1 – 1000; default [40, 80, 160]).
    pub chunk_chars: Option<Vec<usize>>,
    /// Pause in the text after which what is buffered is spoken, in ms (50 – 10000, default 800).
    pub idle_ms: Option<u64>,
    /// Names of the caller's pronunciation lexicons (`/v1/lexicons`) to apply to every chunk, as
    /// `lexicons` of `/v1/audio/speech` (at most 4; the one named first wins). The entries are
    /// read once, when the session opens.
    #[schema(example = json!(["brand"]))]
    pub lexicons: Option<Vec<String>>,
}

/// `{"type":"text"}`: more text.
#[derive(Debug, Deserialize)]
pub struct TextDelta {
    pub text: String,
}

/// A client message, read.
#[derive(Debug)]
pub enum ClientMessage {
    Auth(Auth),
    Session(Box<LiveSessionRequest>),
    Text(TextDelta),
    Flush,
    Close,
}

/// Reads a text frame; the error names what is wrong (`invalid_json` for bad JSON).
pub fn parse(frame: &str) -> Result<ClientMessage, ApiError> {
    let value: serde_json::Value =
        serde_json::from_str(frame).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| {
            ApiError::InvalidRequest(
                "every message needs a string field 'type' (auth, session, text, flush or close)"
                    .into(),
            )
        })?
        .to_owned();
    Ok(match kind.as_str() {
        "auth" => ClientMessage::Auth(fields(value, "auth")?),
        "session" => ClientMessage::Session(Box::new(fields(value, "session")?)),
        "text" => ClientMessage::Text(fields(value, "text")?),
        "flush" => ClientMessage::Flush,
        "close" => ClientMessage::Close,
        other => {
            let other: String = other.chars().take(32).collect();
            return Err(ApiError::InvalidRequest(format!(
                "unknown message type '{other}'; use auth, session, text, flush or close"
            )));
        }
    })
}

fn fields<T: DeserializeOwned>(value: serde_json::Value, kind: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ApiError::InvalidRequest(format!("{kind} message, field {path}: {}", e.inner()))
    })
}

/// Messages to the client, besides binary audio frames.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The session is accepted; audio follows in `format`.
    Ready {
        format: &'static str,
        content_type: &'static str,
        sample_rate: u32,
    },
    /// Audio as base64 (with `"audio": "base64"`).
    Audio { audio: String },
    /// Timings of the next words, offsets into the session's text.
    Words { words: Vec<WordTimestamp> },
    /// Everything was spoken; the socket closes with 1000 next.
    Done {
        characters: u64,
        audio_seconds: f64,
        chunks: usize,
    },
    /// The session failed; the socket closes with [`close_code`] next.
    Error { code: &'static str, message: String },
}

impl ServerMessage {
    pub fn frame(&self) -> Message {
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{}".into());
        Message::Text(Utf8Bytes::from(json))
    }

    /// The error event of `e` (5xx details go to the log only) and the close code to follow it.
    pub fn error(e: &ApiError) -> (Self, u16) {
        let report = ErrorReport::new(e.code(), e.to_string());
        if let Some(detail) = &report.detail {
            tracing::error!(code = %report.code, detail, "live session failed");
        } else {
            tracing::info!(code = %report.code, message = %report.message, "live session refused");
        }
        let close = close_code(report.code);
        (
            Self::Error {
                code: report.code.as_str(),
                message: report.message,
            },
            close,
        )
    }
}

/// A close frame with `code`; the reason is kept short (the error event carries the message).
pub fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_read_and_bad_ones_named() {
        assert!(matches!(
            parse(r#"{"type":"text","text":"Hi"}"#),
            Ok(ClientMessage::Text(TextDelta { text })) if text == "Hi"
        ));
        assert!(matches!(
            parse(r#"{"type":"flush"}"#),
            Ok(ClientMessage::Flush)
        ));
        let e = parse("{not json").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidJson);
        let e = parse(r#"{"type":"text","text":5}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
        assert!(e.to_string().contains("text"), "{e}");
        let e = parse(r#"{"type":"session","speed":"fast"}"#).unwrap_err();
        assert!(e.to_string().contains("speed"), "{e}");
        let e = parse(r#"{"type":"sing"}"#).unwrap_err();
        assert!(e.to_string().contains("'sing'"), "{e}");
        let e = parse(r#"{"text":"no type"}"#).unwrap_err();
        assert!(e.to_string().contains("type"), "{e}");
    }

    #[test]
    fn close_codes_follow_the_http_status() {
        assert_eq!(close_code(ErrorCode::Unauthorized), 4401);
        assert_eq!(close_code(ErrorCode::InputTooLong), 4413);
        assert_eq!(close_code(ErrorCode::RateLimited), 4429);
        assert_eq!(close_code(ErrorCode::RequestTimeout), 4408);
    }
}
