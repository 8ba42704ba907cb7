//! `POST /v1/audio/speech`: OpenAI's speech endpoint, field for field.
//!
//! Design: the JSON body is checked in request order — model, stream format, then the domain
//! fields through `RawSynthesisRequest::validate` with OpenAI's field names — so every 4xx names
//! the field at fault. Only then does the request take a synthesis slot (admission), so invalid
//! requests never occupy the queue.

pub(crate) mod stream;

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use polyvox_core::request::FieldNames;
use polyvox_core::{ErrorCode, Lane, RawSynthesisRequest, SpeechJob};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::jobs::CACHE_HEADER;
use crate::routes::speech::stream::{self as streaming, Delivery, Meter};
use crate::speech::StreamOptions;
use crate::tenancy::Caller;

/// Model names accepted besides the service's own id: OpenAI's, so existing clients work unchanged.
pub const MODEL_ALIASES: [&str; 4] = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "kokoro"];

/// Body of `POST /v1/audio/speech`. Unknown fields are ignored, as OpenAI's SDKs may add some.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SpeechRequest {
    /// `tts-1`, `tts-1-hd`, `gpt-4o-mini-tts`, `kokoro` or the id from `/v1/models`; all use the
    /// same model. Optional here (OpenAI requires it).
    #[schema(example = "tts-1")]
    pub model: Option<String>,
    /// Text to speak, at most the configured number of characters (default 10 000).
    #[schema(example = "Hello from Polyvox.")]
    pub input: String,
    /// Kokoro id (`af_bella`), display name (`Bella`), OpenAI voice (`alloy`) or a weighted blend
    /// (`af_bella(2)+af_sky(1)`). Defaults to the language's default voice.
    #[schema(example = "af_heart")]
    pub voice: Option<String>,
    /// `mp3` (default), `opus`, `flac`, `wav` or `pcm` (24 kHz mono s16le).
    #[schema(example = "mp3")]
    pub response_format: Option<String>,
    /// 0.25 – 4.0, default 1.0.
    #[schema(example = 1.0)]
    pub speed: Option<f32>,
    /// `audio` (default: the audio bytes, streamed as produced) or `sse` (server-sent events).
    #[schema(example = "audio")]
    pub stream_format: Option<String>,
    /// Polyvox extension: `false` answers with one complete file once synthesis has finished
    /// (exact WAV/FLAC headers) instead of streaming; default `true`. Not with `stream_format=sse`.
    #[schema(example = true)]
    pub stream: Option<bool>,
    /// Polyvox extension: language code (`en-us`, `ja`, ...); defaults to the voice's language.
    #[schema(example = "en-us")]
    pub lang: Option<String>,
    /// Accepted for OpenAI compatibility and ignored: Kokoro has no instruction-following.
    pub instructions: Option<String>,
}

/// Synthesizes speech and streams it back as audio bytes or as server-sent events.
#[utoipa::path(
    post,
    path = "/v1/audio/speech",
    tag = "speech",
    request_body = SpeechRequest,
    responses(
        (status = 200, description = "Audio, streamed with chunked transfer as it is synthesized; the Content-Type follows `response_format`. \
            With `stream_format=sse`: `text/event-stream` of `speech.audio.delta` events (base64 `audio`), ending with \
            `speech.audio.done` (usage: `input_tokens` counts input characters) or an `error` event.",
            content(("audio/mpeg"), ("audio/ogg; codecs=opus"), ("audio/flac"), ("audio/wav"), ("audio/pcm"), ("text/event-stream"))),
        (status = 400, description = "Invalid field (the message names it)", body = crate::error::ErrorBody),
        (status = 413, description = "Body or input too large", body = crate::error::ErrorBody),
        (status = 415, description = "Body is not application/json", body = crate::error::ErrorBody),
        (status = 429, description = "Synthesis queue full (`queue_full`), a per-key limit (`rate_limited`, `quota_exceeded`, `concurrency_limited`: the key's speech requests in progress) or too many failed authentications from this address (`too_many_auth_failures`); retry after `Retry-After` seconds", body = crate::error::ErrorBody),
        (status = 503, description = "Synthesis unavailable", body = crate::error::ErrorBody),
        (status = 504, description = "No audio could start within the request timeout", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn create_speech(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<SpeechRequest>,
) -> Result<Response, ApiError> {
    crate::hardening::check_fields(&[
        (
            body.model.as_deref(),
            "model",
            crate::hardening::MAX_MODEL_CHARS,
        ),
        (
            body.stream_format.as_deref(),
            "stream_format",
            crate::hardening::MAX_STREAM_FORMAT_CHARS,
        ),
    ])?;
    if let Some(n) = body.instructions.as_ref().map(|i| i.chars().count())
        && n > crate::hardening::MAX_INSTRUCTIONS_CHARS
    {
        return Err(ApiError::InvalidRequest(format!(
            "instructions has {n} characters; the limit is {}",
            crate::hardening::MAX_INSTRUCTIONS_CHARS
        )));
    }
    check_model(body.model.as_deref(), st.speech.model_id())?;
    let delivery = parse_stream_format(body.stream_format.as_deref())?;
    let whole_file = !body.stream.unwrap_or(true);
    if whole_file && matches!(delivery, Delivery::Sse) {
        return Err(ApiError::InvalidRequest(
            "stream false cannot be combined with stream_format sse; drop one of them".into(),
        ));
    }
    let raw = RawSynthesisRequest {
        text: body.input,
        voice: body.voice,
        lang: body.lang,
        speed: body.speed,
        format: body.response_format,
    };
    let req = raw.validate(&st.limits, FieldNames::OPENAI)?;
    let input_chars = req.text.chars().count();
    // The key's slot comes before the charge, so a request refused for it is not billed; it is
    // held through a cache hit too, which ends at once.
    let key_slot = match &st.tenancy {
        Some(t) => t.hold_synthesis(&caller).await?,
        None => None,
    };
    if let Some(t) = &st.tenancy {
        t.charge(&caller, input_chars as u64).await?;
    }
    tracing::debug!(voice = %req.voice.canonical(), lang = %req.lang, format = req.format.as_str(), input_chars, "speech request");

    // Results rendered in this process are stored and cached; with workers they do it.
    let caches_here = st
        .jobs
        .as_ref()
        .is_some_and(|j| j.config().cache_sync_results);
    let opts = StreamOptions {
        low_latency_start: !whole_file,
        whole_file,
        keep_file: !whole_file && caches_here,
        background: false,
    };
    // The cache answers whole files; SSE clients always get a fresh stream of events. A result is
    // cached under its own chunk plan's key (equal keys, equal audio), and a stream also accepts
    // the whole-file render of the same request, which sounds the same to a listener.
    let cache = match (&st.jobs, delivery) {
        (Some(jobs), Delivery::Audio) => {
            let mut spec = SpeechJob::new(req.clone(), opts, Lane::Interactive);
            jobs.scope(&mut spec, caller.owner());
            let key = spec.cache_key();
            let mut lookups = vec![key.clone()];
            if !whole_file {
                let mut file = spec;
                file.delivery.low_latency_start = false;
                lookups.push(file.cache_key());
            }
            Some((Arc::clone(jobs), key, lookups))
        }
        _ => None,
    };
    if let Some((jobs, _, lookups)) = &cache {
        for key in lookups {
            let Some(entry) = jobs.cached(key).await? else {
                continue;
            };
            match jobs.read(&entry.audio_key, None).await {
                Ok(f) => {
                    if let Some(t) = &st.tenancy {
                        let delta = polyvox_infra::tenancy::UsageDelta {
                            cache_hits: 1,
                            audio_seconds: entry.seconds,
                            ..Default::default()
                        };
                        t.record(&caller, delta);
                    }
                    return Ok(cached_response(entry.format, f.bytes));
                }
                Err(e) if e.code() == polyvox_core::ErrorCode::NotFound => {
                    tracing::warn!(error = %e, "cached audio vanished; synthesizing");
                }
                Err(e) => return Err(crate::jobs::storage_unavailable(e, "cached audio read")),
            }
        }
    }

    let held = crate::admission::Held::new(st.admission.admit().await?, key_slot);
    let stream = st.speech.synthesize(req, opts).await.map_err(|e| {
        if e.code == ErrorCode::QueueFull {
            // The service's own queue is full: same answer as ours, with our Retry-After.
            ApiError::QueueFull {
                retry_after: st.cfg.retry_after,
            }
        } else {
            ApiError::Domain(e)
        }
    })?;
    let stream = match &cache {
        // A stream whose complete file was not kept is a different file: not cached.
        Some((jobs, key, _)) if caches_here && (whole_file || stream.file.is_some()) => {
            crate::jobs_sync::tee_into_cache(Arc::clone(jobs), key.clone(), stream)
        }
        _ => stream,
    };
    let meter = st.tenancy.clone().map(|tenancy| Meter { tenancy, caller });
    let mut res = streaming::respond(stream, held, delivery, input_chars, meter).await?;
    if cache.is_some() {
        res.headers_mut()
            .insert(CACHE_HEADER, HeaderValue::from_static("miss"));
    }
    Ok(res)
}

/// A complete file from the cache: no synthesis happened.
fn cached_response(format: polyvox_core::AudioFormat, bytes: bytes::Bytes) -> Response {
    let mut res = Response::new(axum::body::Body::from(bytes));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(CACHE_HEADER, HeaderValue::from_static("hit"));
    res
}

pub(crate) fn check_model(model: Option<&str>, own_id: &str) -> Result<(), ApiError> {
    let Some(model) = model.map(str::trim).filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    if model.eq_ignore_ascii_case(own_id)
        || MODEL_ALIASES.iter().any(|a| a.eq_ignore_ascii_case(model))
    {
        return Ok(());
    }
    Err(ApiError::InvalidRequest(format!(
        "model '{model}' is not available; use one of {own_id}, {}",
        MODEL_ALIASES.join(", ")
    )))
}

fn parse_stream_format(s: Option<&str>) -> Result<Delivery, ApiError> {
    match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("audio") => Ok(Delivery::Audio),
        Some("sse") => Ok(Delivery::Sse),
        Some(other) => Err(ApiError::InvalidRequest(format!(
            "stream_format '{other}' is not supported; use audio or sse"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_accept_openai_names_and_our_id_only() {
        for ok in [
            None,
            Some("tts-1"),
            Some("TTS-1-HD"),
            Some("gpt-4o-mini-tts"),
            Some("kokoro"),
            Some("kokoro-82m-int8"),
            Some(" "),
        ] {
            assert!(check_model(ok, "kokoro-82m-int8").is_ok(), "{ok:?}");
        }
        let err = check_model(Some("whisper-1"), "kokoro-82m-int8").expect_err("unknown model");
        assert_eq!(err.code(), ErrorCode::InvalidRequest);
        assert!(err.to_string().contains("model 'whisper-1'"));
    }

    #[test]
    fn stream_formats() {
        assert!(matches!(parse_stream_format(None), Ok(Delivery::Audio)));
        assert!(matches!(
            parse_stream_format(Some("SSE")),
            Ok(Delivery::Sse)
        ));
        let err = parse_stream_format(Some("websocket")).expect_err("unknown");
        assert!(err.to_string().contains("stream_format"));
    }
}
