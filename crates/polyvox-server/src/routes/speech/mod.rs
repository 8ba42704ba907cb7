//! `POST /v1/audio/speech`: OpenAI's speech endpoint, field for field.
//!
//! Design: the JSON body is checked in request order — model, stream format, then the domain
//! fields through `RawSynthesisRequest::validate` with OpenAI's field names — so every 4xx names
//! the field at fault. Only then does the request take a synthesis slot (admission), so invalid
//! requests never occupy the queue.

pub(crate) mod live;
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
    /// Polyvox extension: `word` times every written word of `input`; `none` (default) does not.
    /// With `word`, `stream_format=audio` answers JSON ([`SpeechWithTimestamps`], the whole file
    /// in base64) and `sse` adds `speech.words` events before the audio they describe.
    #[schema(example = "word")]
    pub timestamps: Option<String>,
    /// Polyvox extension: `text` reads `input` literally (markup included); `ssml` reads it as
    /// the SSML subset of the README ("SSML"). Omitted: SSML exactly when `input` starts with
    /// `<speak`. Invalid SSML is a 400 `invalid_ssml` naming the line and column.
    #[schema(example = "text")]
    pub input_format: Option<String>,
    /// Polyvox extension: names of the caller's pronunciation lexicons (`/v1/lexicons`) to apply,
    /// at most 4; where two match at one place, the one named first wins. An unknown name is
    /// 404 `lexicon_not_found`. With SSML input they apply to the written words and `<sub>`
    /// aliases, not to `say-as` readings; a `<phoneme>` keeps its own IPA.
    #[schema(example = json!(["brand"]))]
    pub lexicons: Option<Vec<String>>,
}

/// The answer of `POST /v1/audio/speech` with `"timestamps": "word"` and no SSE.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SpeechWithTimestamps {
    /// The complete audio file in `response_format`, base64 (standard alphabet, padded).
    pub audio_base64: String,
    /// Media type of the decoded audio.
    #[schema(example = "audio/mpeg")]
    pub content_type: String,
    /// Every written word of `input`, in order.
    pub words: Vec<WordTimestamp>,
}

/// One written word of the input and when it is spoken. A token read as several words ("$42.50",
/// "3:30 pm") is one entry covering the token as written; for Japanese, Chinese and Korean an
/// entry is a morpheme or a character.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WordTimestamp {
    /// `input[char_start..char_end]`.
    #[schema(example = "$42.50")]
    pub text: String,
    /// Offset into `input` in Unicode scalar values (code points, as Python's `str` indexes; not
    /// bytes, not UTF-16 units).
    pub char_start: usize,
    /// End offset (exclusive), in Unicode scalar values.
    pub char_end: usize,
    /// Seconds from the start of the audio (speed, pauses and chunk joins included).
    #[schema(example = 0.125)]
    pub start: f64,
    #[schema(example = 0.9)]
    pub end: f64,
}

impl From<polyvox_core::WordTiming> for WordTimestamp {
    fn from(w: polyvox_core::WordTiming) -> Self {
        Self {
            text: w.text,
            char_start: w.char_start,
            char_end: w.char_end,
            start: w.start,
            end: w.end,
        }
    }
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
            `speech.audio.done` (usage: `input_tokens` counts input characters) or an `error` event; with `timestamps=word` \
            also `speech.words` events (`words`: the next words, as in `SpeechWithTimestamps`), each sent before the audio it times. \
            With `timestamps=word` and no SSE: `application/json`, `SpeechWithTimestamps`.",
            content(("audio/mpeg"), ("audio/ogg; codecs=opus"), ("audio/flac"), ("audio/wav"), ("audio/pcm"), ("text/event-stream"),
                (SpeechWithTimestamps = "application/json"))),
        (status = 400, description = "Invalid field (the message names it), or `invalid_ssml`: SSML input outside the supported subset or not well-formed (the message names the line and column); `too_many_lexicons` or `invalid_lexicon` for `lexicons`", body = crate::error::ErrorBody),
        (status = 404, description = "`lexicon_not_found`: a name in `lexicons` is none of this key's lexicons", body = crate::error::ErrorBody),
        (status = 413, description = "Body or input too large", body = crate::error::ErrorBody),
        (status = 415, description = "Body is not application/json", body = crate::error::ErrorBody),
        (status = 422, description = "`timestamps_unavailable`: the synthesis service behind this deployment cannot time words", body = crate::error::ErrorBody),
        (status = 429, description = "Synthesis queue full (`queue_full`), a per-key limit (`rate_limited`, `quota_exceeded`, `concurrency_limited`: the key's speech requests in progress) or too many failed authentications from this address (`too_many_auth_failures`); retry after `Retry-After` seconds", body = crate::error::ErrorBody),
        (status = 500, description = "`synthesis_failed`, `internal`, or (relayed to workers) `worker_crashed`: the job's attempts died with their worker up to the crash limit and it is not retried", body = crate::error::ErrorBody),
        (status = 503, description = "Synthesis unavailable (`model_unavailable`, `service_unavailable`), or (relayed to workers) `lease_expired`: the worker stopped on the last attempt", body = crate::error::ErrorBody),
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
        (
            body.timestamps.as_deref(),
            "timestamps",
            crate::hardening::MAX_STREAM_FORMAT_CHARS,
        ),
        (
            body.input_format.as_deref(),
            "input_format",
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
    let timestamps = parse_timestamps(body.timestamps.as_deref())?;
    if timestamps && !st.speech.timestamps() {
        return Err(ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::TimestampsUnavailable,
            "timestamps 'word' is not available on this deployment: its synthesis service does not report word timings; omit timestamps",
        )));
    }
    // Timed audio is answered as one JSON document unless it goes out as events.
    let json = timestamps && delivery == Delivery::Audio;
    let whole_file = whole_file || json;
    let raw = RawSynthesisRequest {
        text: body.input,
        voice: body.voice,
        lang: body.lang,
        speed: body.speed,
        format: body.response_format,
    };
    let format = parse_input_format(body.input_format.as_deref())?;
    let mut req = raw.validate_as(format, &st.limits, FieldNames::OPENAI)?;
    check_ssml_languages(&st, &req)?;
    crate::routes::lexicons::apply(&st, &caller, body.lexicons.as_deref(), &mut req).await?;
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
    // A timed stream takes the whole file's chunk plan: its audio and timings are then the ones
    // the JSON answer and a job give for the same text (a short first chunk adds a chunk edge,
    // ~0.1 s, and shifts every later word). The first audio leaves after a full-size chunk.
    let opts = StreamOptions {
        low_latency_start: !whole_file && !timestamps,
        whole_file,
        keep_file: !whole_file && caches_here,
        file_head: false,
        background: false,
        timestamps,
    };
    // The cache answers whole files; SSE clients always get a fresh stream of events. A result is
    // cached under its own chunk plan's key (equal keys, equal audio), and a stream also accepts
    // the whole-file render of the same request, which sounds the same to a listener.
    let cache = match (&st.jobs, delivery) {
        // The cache keeps audio only: a timed answer is always synthesized.
        (Some(_), Delivery::Audio) if timestamps => None,
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
                    return Ok(cached_response(entry.format, f));
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
    if json {
        return streaming::respond_json(stream, held, meter).await;
    }
    let mut res = streaming::respond(stream, held, delivery, input_chars, meter).await?;
    if cache.is_some() {
        res.headers_mut()
            .insert(CACHE_HEADER, HeaderValue::from_static("miss"));
    }
    Ok(res)
}

/// A complete file from the cache, streamed from storage: no synthesis happened.
fn cached_response(
    format: polyvox_core::AudioFormat,
    fetched: polyvox_infra::storage::Fetched,
) -> Response {
    let len = fetched.range.end - fetched.range.start;
    let mut res = Response::new(axum::body::Body::from_stream(fetched.body));
    let h = res.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
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

/// `timestamps`: `word` or `none` (the default).
/// `input_format`: `text`, `ssml`, or omitted (sniffed from the input).
pub(crate) fn parse_input_format(
    s: Option<&str>,
) -> Result<Option<polyvox_core::ssml::InputFormat>, ApiError> {
    s.filter(|s| !s.trim().is_empty())
        .map(|s| polyvox_core::ssml::InputFormat::parse(s, "input_format"))
        .transpose()
        .map_err(ApiError::Domain)
}

/// Every `xml:lang` of an SSML input must be one this deployment speaks: refused now rather
/// than failing mid-synthesis (or, for a job, after it was queued).
pub(crate) fn check_ssml_languages(
    st: &AppState,
    req: &polyvox_core::SynthesisRequest,
) -> Result<(), ApiError> {
    let Some(doc) = &req.ssml else { return Ok(()) };
    let spoken = st.speech.languages();
    match doc.languages().into_iter().find(|l| !spoken.contains(l)) {
        Some(l) => Err(ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::UnsupportedLanguage,
            format!(
                "input asks for xml:lang '{l}', which this server does not speak; GET /v1/languages lists the supported ones"
            ),
        ))),
        None => Ok(()),
    }
}

pub(crate) fn parse_timestamps(s: Option<&str>) -> Result<bool, ApiError> {
    match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("none") => Ok(false),
        Some("word") => Ok(true),
        Some(other) => Err(ApiError::InvalidRequest(format!(
            "timestamps '{other}' is not supported; use word or none"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_word_or_none() {
        assert!(!parse_timestamps(None).unwrap());
        assert!(!parse_timestamps(Some("none")).unwrap());
        assert!(parse_timestamps(Some(" Word ")).unwrap());
        let err = parse_timestamps(Some("character")).expect_err("unknown");
        assert_eq!(err.code(), ErrorCode::InvalidRequest);
        assert!(err.to_string().contains("timestamps 'character'"), "{err}");
    }

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
