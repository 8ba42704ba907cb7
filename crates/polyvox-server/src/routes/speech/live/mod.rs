//! `GET /v1/audio/speech/stream`: the live text socket. Text arrives a few characters at a time
//! (a language model's output), audio leaves as one continuous stream (docs/live.md).
//!
//! Design:
//! - Authentication happens before the upgrade when the request has an `Authorization` header
//!   (refusals are then plain HTTP answers); a browser, which cannot set one, sends an `auth`
//!   message first instead, within the handshake timeout.
//! - The session message is validated with the HTTP route's validators, so a bad voice or speed
//!   gets the same code and message shape as on `/v1/audio/speech`.
//! - Three tasks per session, joined by bounded channels: the reader (client messages → the pure
//!   [`polyvox_core::live::Segmenter`] → chunks), the speaker (each chunk through the one
//!   [`crate::speech::SpeechService`], so the embedded pipeline and the worker relay both serve it;
//!   PCM in, one session encoder out) and the writer (frames to the socket). A client that stops
//!   reading fills the writer's queue, which stops the speaker, which stops the reader: the
//!   server stops reading from it, and the listener's send timeout ends it.

mod protocol;
mod session;
mod speaker;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Extension;
use axum::extract::ConnectInfo;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use polyvox_core::live::Schedule;
use polyvox_core::request::FieldNames;
use polyvox_core::{AudioFormat, ErrorCode, RawSynthesisRequest};

pub use protocol::LiveSessionRequest;

use crate::app::AppState;
use crate::error::ApiError;
use crate::tenancy::Caller;

/// Field names of the session message in errors.
const FIELDS: FieldNames = FieldNames {
    text: "text",
    voice: "voice",
    lang: "lang",
    speed: "speed",
    format: "format",
};

/// Bounds of `idle_ms`.
const IDLE_MS: std::ops::RangeInclusive<u64> = 50..=10_000;
const DEFAULT_IDLE_MS: u64 = 800;

/// Opens a live text session (WebSocket). See docs/live.md for the messages.
#[utoipa::path(
    get,
    path = "/v1/audio/speech/stream",
    tag = "speech",
    params(
        ("Authorization" = Option<String>, Header, description = "`Bearer <key>`; without it the first message must be `{\"type\":\"auth\",\"token\":\"<key>\"}`"),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol. Client → server: JSON text frames `auth` (only without the header), \
            `session` (`LiveSessionRequest`, first), then any number of `text` (`{\"type\":\"text\",\"text\":\"…\"}`), `flush` and one `close`. \
            Server → client: `ready`, binary audio frames (or `audio` events with base64), `words` events when asked, \
            `done` (`characters`, `audio_seconds`, `chunks`) then close 1000; or `error` (`code`, `message`, the HTTP codes) \
            then close 4000 + the code's HTTP status; 1003 after a binary frame from the client."),
        (status = 400, description = "Not a WebSocket upgrade request", body = crate::error::ErrorBody),
        (status = 401, description = "Invalid `Authorization` header", body = crate::error::ErrorBody),
        (status = 429, description = "Requests-per-minute limit of the key, or too many failed authentications", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn live_speech(
    State(st): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let client = crate::tenancy::client_of(&st, &headers, peer.map(|Extension(c)| c.0));
    // With a header, a refusal is an HTTP answer, before anything is upgraded.
    let caller = match &st.tenancy {
        None => Some(Caller::anonymous()),
        Some(t) if headers.contains_key(header::AUTHORIZATION) => {
            let caller = t.authenticate(&headers, client).await?;
            t.check_request_rate(&caller).await?;
            Some(caller)
        }
        Some(_) => None,
    };
    let max = st.cfg.live.max_message_bytes;
    Ok(ws
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| session::run(socket, st, caller, client)))
}

/// A validated session message.
#[derive(Debug, Clone)]
pub(crate) struct LiveSession {
    pub voice: Option<String>,
    /// `None`: detected per chunk.
    pub lang: Option<String>,
    pub speed: f32,
    pub format: AudioFormat,
    pub timestamps: bool,
    pub base64: bool,
    pub schedule: Schedule,
    pub idle_gap: Duration,
    /// The caller's lexicons named in the session, resolved once when it opens: an entry
    /// changed mid-session does not change how the rest of the session sounds.
    pub lexicons: std::sync::Arc<[polyvox_core::lexicon::Lexicon]>,
}

impl LiveSession {
    /// Checks the session message as `/v1/audio/speech` checks its body (same validators, same
    /// codes), plus the socket's own fields, and resolves its lexicons for `caller` as that
    /// route does (same limits and codes).
    pub(crate) async fn validate(
        req: LiveSessionRequest,
        st: &AppState,
        caller: &Caller,
    ) -> Result<Self, ApiError> {
        crate::hardening::check_fields(&[
            (
                req.model.as_deref(),
                "model",
                crate::hardening::MAX_MODEL_CHARS,
            ),
            (
                req.audio.as_deref(),
                "audio",
                crate::hardening::MAX_STREAM_FORMAT_CHARS,
            ),
        ])?;
        super::check_model(req.model.as_deref(), st.speech.model_id())?;
        let lang = req
            .lang
            .filter(|l| !l.trim().is_empty() && !l.trim().eq_ignore_ascii_case("auto"));
        let format = req.format.unwrap_or_else(|| "pcm".into());
        // The voice, language, speed and format, checked on a stand-in text.
        let probe = RawSynthesisRequest {
            text: "a".into(),
            voice: req.voice.clone(),
            lang: lang.clone(),
            speed: req.speed,
            format: Some(format),
        }
        .validate(&st.limits, FIELDS)?;
        if !matches!(
            probe.format,
            AudioFormat::Pcm | AudioFormat::Mp3 | AudioFormat::Opus
        ) {
            return Err(ApiError::Domain(polyvox_core::Error::new(
                ErrorCode::UnsupportedFormat,
                format!(
                    "format '{}' cannot be one continuous stream on the live socket; use pcm, mp3 or opus",
                    probe.format.as_str()
                ),
            )));
        }
        if lang.is_some() && !st.speech.languages().contains(&probe.lang) {
            return Err(ApiError::Domain(polyvox_core::Error::new(
                ErrorCode::UnsupportedLanguage,
                format!(
                    "lang '{}' is not loaded on this server; see /v1/languages",
                    probe.lang.code()
                ),
            )));
        }
        let timestamps = req.timestamps.unwrap_or(false);
        if timestamps && !st.speech.timestamps() {
            return Err(ApiError::Domain(polyvox_core::Error::new(
                ErrorCode::TimestampsUnavailable,
                "timestamps is not available on this deployment: its synthesis does not report word timings; omit timestamps",
            )));
        }
        let base64 = match req.audio.as_deref().map(|a| a.trim().to_ascii_lowercase()) {
            None => false,
            Some(a) if a.is_empty() || a == "binary" => false,
            Some(a) if a == "base64" => true,
            Some(other) => {
                return Err(ApiError::InvalidRequest(format!(
                    "audio '{other}' is not supported; use binary or base64"
                )));
            }
        };
        let defaults = Schedule::default();
        let schedule = Schedule {
            first_chunk_words: req.first_chunk_words.unwrap_or(defaults.first_chunk_words),
            chunk_chars: req.chunk_chars.unwrap_or(defaults.chunk_chars),
            max_chunk_chars: defaults.max_chunk_chars,
        };
        schedule.validate().map_err(ApiError::InvalidRequest)?;
        let idle_ms = req.idle_ms.unwrap_or(DEFAULT_IDLE_MS);
        if !IDLE_MS.contains(&idle_ms) {
            return Err(ApiError::InvalidRequest(format!(
                "idle_ms {idle_ms} is outside [{}, {}]",
                IDLE_MS.start(),
                IDLE_MS.end()
            )));
        }
        // An explicit language keeps its code; a voice stays as written (a blend's canonical
        // spelling would round its shares).
        let lang = lang.map(|_| probe.lang.code().to_owned());
        let lexicons = crate::routes::lexicons::resolve(st, caller, req.lexicons.as_deref())
            .await?
            .into();
        Ok(Self {
            voice: req.voice,
            lang,
            speed: probe.speed,
            format: probe.format,
            timestamps,
            base64,
            schedule,
            idle_gap: Duration::from_millis(idle_ms),
            lexicons,
        })
    }
}
