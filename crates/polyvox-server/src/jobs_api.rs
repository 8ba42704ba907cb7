//! `/v1/jobs`: asynchronous synthesis. Submit answers 202 at once; clients poll the status URL
//! (or receive a webhook) and fetch the audio, with HTTP Range support or through a presigned
//! storage URL when one is configured.

use std::ops::Range;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use polyvox_core::request::FieldNames;
use polyvox_core::{ErrorCode, Limits, RawSynthesisRequest, SynthesisRequest};
use polyvox_infra::InfraError;
use polyvox_infra::db::Job;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::error::{ApiError, ErrorReport};
use crate::extract::ApiJson;
use crate::jobs::{JobService, SubmitOptions, Submitted, has_audio, infra, unix_ms};

/// Response header telling whether the answer came from the result cache (`hit` | `miss`).
pub const CACHE_HEADER: &str = "x-polyvox-cache";

/// Body of `POST /v1/jobs`: the speech body plus an optional webhook.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct JobRequest {
    /// Accepted like `/v1/audio/speech`'s `model`.
    pub model: Option<String>,
    /// Text to speak, at most the async limit (default 100 000 characters).
    #[schema(example = "A long chapter to narrate.")]
    pub input: String,
    #[schema(example = "af_heart")]
    pub voice: Option<String>,
    #[schema(example = "mp3")]
    pub response_format: Option<String>,
    #[schema(example = 1.0)]
    pub speed: Option<f32>,
    #[schema(example = "en-us")]
    pub lang: Option<String>,
    /// Called with a signed JSON POST when the job finishes (header `X-Polyvox-Signature`).
    pub webhook_url: Option<String>,
}

/// Answer of a submission.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobAccepted {
    pub id: String,
    /// `queued`, or `succeeded` at once for a cache hit.
    pub status: String,
    pub status_url: String,
}

/// Error of a failed job.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobErrorView {
    pub code: String,
    pub message: String,
}

/// Timings in milliseconds (absent until the phase happened).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobTimings {
    pub created_at_ms: u64,
    pub started_at_ms: Option<u64>,
    pub finished_at_ms: Option<u64>,
    /// From creation to the first claim.
    pub queued_ms: Option<u64>,
    /// From the first claim to the end.
    pub run_ms: Option<u64>,
}

/// A job as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// `interactive` or `batch`.
    pub lane: String,
    pub chunks_done: u32,
    pub chunks_total: Option<u32>,
    pub attempts: u32,
    pub timings: JobTimings,
    /// Where to GET the audio once succeeded: this API's `/v1/jobs/{id}/audio` or a presigned URL.
    pub audio_url: Option<String>,
    pub audio_bytes: Option<u64>,
    pub audio_seconds: Option<f64>,
    pub error: Option<JobErrorView>,
    pub status_url: String,
}

pub(crate) fn status_url(id: &str) -> String {
    format!("/v1/jobs/{id}")
}

pub(crate) async fn view(jobs: &JobService, job: Job) -> JobView {
    let audio_url = match &job.audio {
        Some(a) if has_audio(&job) => Some(
            jobs.presigned(&a.key)
                .await
                .unwrap_or_else(|| format!("/v1/jobs/{}/audio", job.id)),
        ),
        _ => None,
    };
    let created = unix_ms(job.created_at);
    let started = job.started_at.map(unix_ms);
    let finished = job.finished_at.map(unix_ms);
    let error = match job.status.as_str() {
        "failed" | "cancelled" => job.last_error.map(|e| JobErrorView {
            code: e.code,
            message: e.message,
        }),
        _ => None,
    };
    JobView {
        status_url: status_url(&job.id),
        status: job.status.as_str().to_string(),
        lane: job.lane.as_str().to_string(),
        chunks_done: job.chunks_done,
        chunks_total: job.chunks_total,
        attempts: job.attempts,
        timings: JobTimings {
            created_at_ms: created,
            started_at_ms: started,
            finished_at_ms: finished,
            queued_ms: started.map(|s| s.saturating_sub(created)),
            run_ms: started.zip(finished).map(|(s, f)| f.saturating_sub(s)),
        },
        audio_bytes: job.audio.as_ref().map(|a| a.bytes),
        audio_seconds: job.audio.as_ref().map(|a| a.seconds),
        audio_url,
        error,
        id: job.id,
    }
}

pub(crate) fn service(st: &AppState) -> Result<&JobService, ApiError> {
    st.jobs.as_deref().ok_or_else(|| {
        ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::ModelUnavailable,
            "asynchronous jobs are not configured on this server",
        ))
    })
}

/// Validates a job's synthesis fields with the async input limit and checks the language is
/// spoken here, so an unsupported language is refused at submit rather than by a worker.
pub(crate) fn validate(
    st: &AppState,
    jobs: &JobService,
    raw: RawSynthesisRequest,
    names: FieldNames,
) -> Result<SynthesisRequest, ApiError> {
    let limits = Limits {
        max_input_chars: jobs.config().max_input_chars,
        ..Limits::default()
    };
    let req = raw.validate(&limits, names)?;
    if !st.speech.languages().contains(&req.lang) {
        return Err(ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::UnsupportedLanguage,
            format!(
                "{} '{}' is not supported by this server; GET /v1/languages lists the supported ones",
                names.lang, req.lang
            ),
        )));
    }
    Ok(req)
}

pub(crate) fn accepted(s: &Submitted) -> Response {
    let body = JobAccepted {
        id: s.job.id.clone(),
        status: s.job.status.as_str().to_string(),
        status_url: status_url(&s.job.id),
    };
    let mut res = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&status_url(&s.job.id)) {
        h.insert(header::LOCATION, v);
    }
    h.insert(
        CACHE_HEADER,
        HeaderValue::from_static(if s.cache_hit { "hit" } else { "miss" }),
    );
    res
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| ApiError::InvalidRequest("Idempotency-Key must be visible ASCII".into()))?
        .trim();
    if s.is_empty() || s.len() > 255 {
        return Err(ApiError::InvalidRequest(
            "Idempotency-Key must be 1 to 255 characters".into(),
        ));
    }
    Ok(Some(s.to_string()))
}

fn check_webhook(url: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(url) = url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
        return Err(ApiError::InvalidRequest(
            "webhook_url must be an http:// or https:// URL of at most 2048 characters".into(),
        ));
    }
    Ok(Some(url))
}

/// Submits an asynchronous synthesis job.
#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = "jobs",
    request_body = JobRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeating a key returns the job first created with it")),
    responses(
        (status = 202, description = "Accepted; poll `status_url`. `X-Polyvox-Cache: hit` when answered from the cache (the job is already `succeeded`)", body = JobAccepted),
        (status = 400, description = "Invalid field, or `unsupported_language`", body = crate::error::ErrorBody),
        (status = 413, description = "Input above the async limit", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn create_job(
    State(st): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<JobRequest>,
) -> Result<Response, ApiError> {
    let jobs = service(&st)?;
    crate::speech_api::check_model(body.model.as_deref(), st.speech.model_id())?;
    let webhook_url = check_webhook(body.webhook_url)?;
    let idempotency_key = idempotency_key(&headers)?;
    let raw = RawSynthesisRequest {
        text: body.input,
        voice: body.voice,
        lang: body.lang,
        speed: body.speed,
        format: body.response_format,
    };
    let req = validate(&st, jobs, raw, FieldNames::OPENAI)?;
    let submitted = jobs
        .submit(
            &req,
            SubmitOptions {
                webhook_url,
                idempotency_key,
                lane: None,
            },
        )
        .await?;
    Ok(accepted(&submitted))
}

/// Status, progress, timings and audio URL of a job.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = crate::error::ErrorBody))
)]
pub(crate) async fn get_job(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let jobs = service(&st)?;
    let job = jobs.get(&id).await?;
    Ok(axum::Json(view(jobs, job).await).into_response())
}

/// Cancels a job: a queued one at once, a running one at its worker's next heartbeat.
#[utoipa::path(
    delete,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The job after cancelling (a finished job is unchanged)", body = JobView), (status = 404, body = crate::error::ErrorBody))
)]
pub(crate) async fn cancel_job(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let jobs = service(&st)?;
    let job = jobs.cancel(&id).await?;
    Ok(axum::Json(view(jobs, job).await).into_response())
}

/// The audio of a finished job; supports `Range: bytes=…` (206, or 416 when unsatisfiable).
/// With presigned URLs configured, redirects (302) to the storage URL.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/audio",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id"), ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`")),
    responses(
        (status = 200, description = "The whole file", content(("audio/mpeg"), ("audio/ogg; codecs=opus"), ("audio/flac"), ("audio/wav"), ("audio/pcm"))),
        (status = 206, description = "The requested range, with `Content-Range`"),
        (status = 302, description = "Redirect to a presigned storage URL"),
        (status = 404, description = "No such job, or it has no audio (yet)", body = crate::error::ErrorBody),
        (status = 416, description = "Range starts past the end", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn job_audio(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let jobs = service(&st)?;
    let job = jobs.get(&id).await?;
    let audio = match &job.audio {
        Some(a) if has_audio(&job) => a.clone(),
        _ => {
            return Err(ApiError::Domain(polyvox_core::Error::new(
                ErrorCode::NotFound,
                format!("job '{id}' has no audio: it is {}", job.status.as_str()),
            )));
        }
    };
    if let Some(url) = jobs.presigned(&audio.key).await {
        let mut res = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(&url) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(res);
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) => match parse_range(r, audio.bytes) {
            Some(r) => Some(r),
            None => return Ok(unsatisfiable(audio.bytes)),
        },
        None => None,
    };
    let partial = range.is_some();
    let fetched = match jobs.read(&audio.key, range).await {
        Ok(f) => f,
        Err(InfraError::RangeNotSatisfiable { len }) => return Ok(unsatisfiable(len)),
        Err(e) => return Err(infra(e)),
    };
    let content_type = fetched
        .info
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let (start, end, len) = (fetched.range.start, fetched.range.end, fetched.info.len);
    let mut res = Response::new(Body::from(fetched.bytes));
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if partial {
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) =
            HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end.saturating_sub(1)))
        {
            res.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(res)
}

fn unsatisfiable(len: u64) -> Response {
    let report = ErrorReport::new(
        ErrorCode::InvalidRequest,
        format!("range not satisfiable; the audio has {len} bytes"),
    );
    let mut res = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
        res.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    res.extensions_mut().insert(report);
    res
}

/// One `bytes=` range against an object of `len` bytes, as a half-open range; `None` when it
/// cannot be satisfied. Unparseable headers are ignored per RFC 9110 (whole file), which the
/// caller gets by passing the full range.
pub(crate) fn parse_range(header: &str, len: u64) -> Option<Range<u64>> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Some(0..len);
    };
    if spec.contains(',') {
        // Multipart ranges are not supported; the whole file is a valid answer.
        return Some(0..len);
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let r = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(s), Some(e)) if e >= s => s..e.saturating_add(1).min(len),
        (Some(_), Some(_)) => return Some(0..len),
        (Some(s), None) if b.is_empty() => s..len,
        (None, Some(n)) if a.is_empty() => len.saturating_sub(n)..len,
        _ => return Some(0..len),
    };
    (r.start < len && r.start < r.end).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(0..10));
        assert_eq!(parse_range("bytes=90-", 100), Some(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Some(90..100));
        assert_eq!(parse_range("bytes=95-200", 100), Some(95..100));
        assert_eq!(parse_range("bytes=100-", 100), None, "starts at the end");
        assert_eq!(parse_range("bytes=200-300", 100), None);
        assert_eq!(
            parse_range("items=0-1", 100),
            Some(0..100),
            "unknown unit: whole file"
        );
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Some(0..100));
        assert_eq!(
            parse_range("bytes=9-3", 100),
            Some(0..100),
            "invalid: ignored"
        );
    }

    #[test]
    fn webhooks_must_be_http_urls() {
        assert!(check_webhook(Some("ftp://x".into())).is_err());
        assert_eq!(check_webhook(Some(" ".into())).ok(), Some(None));
        assert!(check_webhook(Some("http://127.0.0.1:9/x".into())).is_ok());
    }
}
