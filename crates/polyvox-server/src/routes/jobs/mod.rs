//! `/v1/jobs`: asynchronous synthesis. Submit answers 202 at once; clients poll the status URL
//! (or receive a webhook) and fetch the audio, with HTTP Range support or through a presigned
//! storage URL when one is configured.

pub(crate) mod audio;
pub(crate) mod compat;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use polyvox_core::request::FieldNames;
use polyvox_core::{ErrorCode, Limits, RawSynthesisRequest, SynthesisRequest};
use polyvox_infra::db::{Job, unix_millis};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::jobs::{JobService, SubmitOptions, Submitted, has_audio};
use crate::tenancy::Caller;

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
    /// End of the audio's retention (Unix milliseconds); absent when kept forever or no audio.
    pub expires_at_ms: Option<u64>,
    /// The audio passed its retention and is gone (`GET .../audio` answers 410 `audio_expired`).
    pub audio_expired: bool,
    pub error: Option<JobErrorView>,
    pub status_url: String,
}

pub(crate) fn status_url(id: &str) -> String {
    format!("/v1/jobs/{id}")
}

pub(crate) async fn view(jobs: &JobService, job: Job) -> JobView {
    let audio_expired = has_audio(&job) && job.audio_expired(std::time::SystemTime::now());
    let audio_url = match &job.audio {
        Some(a) if has_audio(&job) && !audio_expired => Some(
            jobs.presigned(&a.key, a.expires_at)
                .await
                .unwrap_or_else(|| format!("/v1/jobs/{}/audio", job.id)),
        ),
        _ => None,
    };
    let created = unix_millis(job.created_at);
    let started = job.started_at.map(unix_millis);
    let finished = job.finished_at.map(unix_millis);
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
        expires_at_ms: job
            .audio
            .as_ref()
            .and_then(|a| a.expires_at)
            .map(unix_millis),
        audio_expired,
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
    headers
        .get("idempotency-key")
        .map(|v| crate::hardening::check_idempotency_key(v.as_bytes()))
        .transpose()
}

fn check_webhook(url: Option<String>, allow_private: bool) -> Result<Option<String>, ApiError> {
    let Some(url) = url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let odd_char = url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 || odd_char
    {
        return Err(ApiError::InvalidRequest(
            "webhook_url must be an http:// or https:// URL of at most 2048 characters, without \
             spaces or control characters"
                .into(),
        ));
    }
    // Names are resolved and checked again at delivery; this catches the obvious cases early.
    if !allow_private && let Some(host) = polyvox_core::net::names_internal_host(&url) {
        return Err(ApiError::InvalidRequest(format!(
            "webhook_url names the internal host {host}; webhooks go only to public addresses \
             unless the server runs with --webhook-allow-private"
        )));
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
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<JobRequest>,
) -> Result<Response, ApiError> {
    let jobs = service(&st)?;
    crate::hardening::check_fields(&[(
        body.model.as_deref(),
        "model",
        crate::hardening::MAX_MODEL_CHARS,
    )])?;
    crate::routes::speech::check_model(body.model.as_deref(), st.speech.model_id())?;
    let webhook_url = check_webhook(body.webhook_url, jobs.config().webhook_allow_private)?;
    let idempotency_key = idempotency_key(&headers)?;
    let raw = RawSynthesisRequest {
        text: body.input,
        voice: body.voice,
        lang: body.lang,
        speed: body.speed,
        format: body.response_format,
    };
    let req = validate(&st, jobs, raw, FieldNames::OPENAI)?;
    let opts = SubmitOptions {
        owner: caller.owner().map(str::to_string),
        webhook_url,
        idempotency_key,
        share: true,
    };
    submit_charged(&st, jobs, &caller, req, opts).await
}

/// Charges the caller for `req` (limits, quota, usage), then submits it as a batch job that
/// renders one complete file.
pub(crate) async fn submit_charged(
    st: &AppState,
    jobs: &JobService,
    caller: &Caller,
    req: SynthesisRequest,
    opts: SubmitOptions,
) -> Result<Response, ApiError> {
    if let Some(t) = &st.tenancy {
        t.charge(caller, req.text.chars().count() as u64).await?;
    }
    let delivery = polyvox_core::StreamOptions {
        whole_file: true,
        ..Default::default()
    };
    let spec = polyvox_core::SpeechJob::new(req, delivery, polyvox_core::Lane::Batch);
    let submitted = jobs.submit(&spec, opts).await?;
    if submitted.cache_hit
        && let Some(t) = &st.tenancy
    {
        t.record(
            caller,
            polyvox_infra::tenancy::UsageDelta {
                cache_hits: 1,
                ..Default::default()
            },
        );
    }
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
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let jobs = service(&st)?;
    let job = jobs.get_owned(&id, caller.owner()).await?;
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
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let jobs = service(&st)?;
    let job = jobs.cancel(&id, caller.owner()).await?;
    Ok(axum::Json(view(jobs, job).await).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_must_be_http_urls() {
        assert!(check_webhook(Some("ftp://x".into()), false).is_err());
        assert!(check_webhook(Some("http://x/a b".into()), false).is_err());
        assert!(check_webhook(Some("http://x/\r\nHost: y".into()), false).is_err());
        assert!(check_webhook(Some(format!("http://x/{}", "a".repeat(2048))), false).is_err());
        assert_eq!(check_webhook(Some(" ".into()), false).ok(), Some(None));
        assert!(check_webhook(Some("https://hooks.example.com/x".into()), false).is_ok());
    }

    #[test]
    fn internal_webhook_hosts_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://[::1]/x",
            "http://169.254.169.254/latest",
        ] {
            let err = check_webhook(Some(url.into()), false)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("internal host") && err.contains("--webhook-allow-private"),
                "{url}: {err}"
            );
            assert!(
                check_webhook(Some(url.into()), true).is_ok(),
                "{url} allowed"
            );
        }
    }
}
