//! `/v1/jobs`: asynchronous synthesis. Submit answers 202 at once; clients poll the status URL
//! (or receive a webhook) and fetch the audio, with HTTP Range support or through a presigned
//! storage URL when one is configured.

pub(crate) mod audio;
pub(crate) mod compat;
pub(crate) mod timestamps;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use polyvox_core::request::FieldNames;
use polyvox_core::ssml::InputFormat;
use polyvox_core::{ErrorCode, Limits, RawSynthesisRequest, SynthesisRequest};
use polyvox_infra::db::{CreateOutcome, Job, unix_millis};
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
    /// Called with a signed JSON POST (Standard Webhooks headers `webhook-id`,
    /// `webhook-timestamp`, `webhook-signature`) when the job ends: succeeded, failed or
    /// cancelled. Retried with backoff until the receiver answers 2xx or the deployment's
    /// deadline (a day by default) passes. Needs a server with a webhook secret.
    pub webhook_url: Option<String>,
    /// `word` also records when every written word is spoken, for `GET /v1/jobs/{id}/timestamps`
    /// and `/captions`; `none` (default) does not.
    #[schema(example = "word")]
    pub timestamps: Option<String>,
    /// As `/v1/audio/speech`'s `input_format`: `text`, `ssml`, or omitted (SSML exactly when
    /// `input` starts with `<speak`).
    #[schema(example = "text")]
    pub input_format: Option<String>,
    /// Names of the caller's pronunciation lexicons to apply, as on `/v1/audio/speech`. The
    /// entries are read when the job is submitted: a later change to a lexicon does not reach a
    /// job already queued.
    #[schema(example = json!(["brand"]))]
    pub lexicons: Option<Vec<String>>,
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
    /// One of the API's stable error codes: the input's own (`voice_not_found`, ...), the
    /// engine's (`synthesis_failed`, `timeout`, ...) or the job store's for attempts that died
    /// with their worker (`lease_expired`, `worker_crashed`).
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
    /// Claims so far, including the current one while running.
    pub attempts: u32,
    /// Attempts that died with their worker (its lease expired: the process crashed, was killed
    /// or hung). At the job's crash limit it ends `failed` with `worker_crashed`.
    pub crashes: u32,
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
    /// Webhook events owed for this job and how their delivery stands (empty without a
    /// `webhook_url`, or before the job ends).
    pub webhooks: Vec<WebhookView>,
}

/// One webhook event of a job.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// The `webhook-id` header: the same on every retry of this event.
    pub id: String,
    /// `job.succeeded`, `job.failed` or `job.cancelled`.
    pub event: String,
    /// `pending` (will be retried at `next_attempt_at_ms`), `delivered` or `failed` (given up).
    pub status: String,
    pub attempts: u32,
    /// HTTP status of the receiver's last answer, if it answered.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub next_attempt_at_ms: Option<u64>,
    pub delivered_at_ms: Option<u64>,
}

pub(crate) fn status_url(id: &str) -> String {
    format!("/v1/jobs/{id}")
}

pub(crate) async fn view(jobs: &JobService, job: Job) -> JobView {
    let webhooks = if job.webhook_url.is_some() && job.status.is_terminal() {
        jobs.webhooks_of(&job.id).await
    } else {
        Vec::new()
    };
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
        crashes: job.crashes,
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
        webhooks: webhooks
            .into_iter()
            .map(|d| WebhookView {
                next_attempt_at_ms: (d.status == polyvox_infra::db::DeliveryStatus::Pending)
                    .then(|| unix_millis(d.next_attempt_at)),
                delivered_at_ms: d.delivered_at.map(unix_millis),
                status: d.status.as_str().to_string(),
                id: d.id,
                event: d.event,
                attempts: d.attempts,
                last_status: d.last_status,
                last_error: d.last_error,
            })
            .collect(),
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
    validate_as(st, jobs, raw, Some(InputFormat::Text), names)
}

/// [`validate`], reading the input as `format` (`None`: sniffed).
pub(crate) fn validate_as(
    st: &AppState,
    jobs: &JobService,
    raw: RawSynthesisRequest,
    format: Option<InputFormat>,
    names: FieldNames,
) -> Result<SynthesisRequest, ApiError> {
    let limits = Limits {
        max_input_chars: jobs.config().max_input_chars,
        ..Limits::default()
    };
    let req = raw.validate_as(format, &limits, names)?;
    crate::routes::speech::check_ssml_languages(st, &req)?;
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

/// The one check of a `webhook_url` ([`polyvox_core::net::webhook_target`], also run by the
/// worker at delivery), and a refusal when this deployment sends no webhooks at all.
fn check_webhook(
    url: Option<String>,
    cfg: &crate::jobs::JobsConfig,
) -> Result<Option<String>, ApiError> {
    let Some(url) = url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let target = polyvox_core::net::webhook_target(&url, cfg.webhook_allow_private)
        .map_err(ApiError::InvalidRequest)?;
    if !cfg.webhooks_enabled {
        return Err(ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::WebhooksDisabled,
            "webhook_url: this server sends no webhooks (it runs without --webhook-secret); \
             omit the field and poll status_url instead",
        )));
    }
    Ok(Some(target.url))
}

#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = "jobs",
    request_body = JobRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeating a key with the same body returns the job first created with it, uncharged; with a different body, 409 `idempotency_key_reused`")),
    responses(
        (status = 202, description = "Accepted; poll `status_url`. `X-Polyvox-Cache: hit` when answered from the cache (the job is already `succeeded`)", body = JobAccepted),
        (status = 400, description = "Invalid field, `unsupported_language`, or `invalid_ssml` (the message names the line and column); `too_many_lexicons` or `invalid_lexicon` for `lexicons`", body = crate::error::ErrorBody),
        (status = 404, description = "`lexicon_not_found`: a name in `lexicons` is none of this key's lexicons", body = crate::error::ErrorBody),
        (status = 409, description = "`idempotency_key_reused`: the key was used with a different body", body = crate::error::ErrorBody),
        (status = 413, description = "Input above the async limit", body = crate::error::ErrorBody),
        (status = 422, description = "`webhooks_disabled`: a `webhook_url` on a server without a webhook secret", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn create_job(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<JobRequest>,
) -> Result<Response, ApiError> {
    let jobs = service(&st)?;
    crate::hardening::check_fields(&[
        (
            body.model.as_deref(),
            "model",
            crate::hardening::MAX_MODEL_CHARS,
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
    crate::routes::speech::check_model(body.model.as_deref(), st.speech.model_id())?;
    let format = crate::routes::speech::parse_input_format(body.input_format.as_deref())?;
    let timestamps = crate::routes::speech::parse_timestamps(body.timestamps.as_deref())?;
    let webhook_url = check_webhook(body.webhook_url, jobs.config())?;
    let idempotency_key = idempotency_key(&headers)?;
    let raw = RawSynthesisRequest {
        text: body.input,
        voice: body.voice,
        lang: body.lang,
        speed: body.speed,
        format: body.response_format,
    };
    let mut req = validate_as(&st, jobs, raw, format, FieldNames::OPENAI)?;
    crate::routes::lexicons::apply(&st, &caller, body.lexicons.as_deref(), &mut req).await?;
    let opts = SubmitOptions {
        owner: caller.owner().map(str::to_string),
        webhook_url,
        idempotency_key,
        share: true,
        fingerprint: None,
        skip_cache: false,
    };
    submit_charged(&st, jobs, &caller, req, opts, timestamps).await
}

/// Charges the caller for `req` (limits, quota, usage), then submits it as a batch job that
/// renders one complete file (and its word timings, with `timestamps`). A submission is paid
/// once per job: retries are answered before any charge, and a submission that finds its job
/// made meanwhile (a racing retry with the same `Idempotency-Key`, or the owner's identical
/// request still in flight) hands its quota back and records no usage.
pub(crate) async fn submit_charged(
    st: &AppState,
    jobs: &JobService,
    caller: &Caller,
    req: SynthesisRequest,
    opts: SubmitOptions,
    timestamps: bool,
) -> Result<Response, ApiError> {
    let chars = req.text.chars().count() as u64;
    let delivery = polyvox_core::StreamOptions {
        whole_file: true,
        timestamps,
        ..Default::default()
    };
    let mut spec = polyvox_core::SpeechJob::new(req, delivery, polyvox_core::Lane::Batch);
    jobs.scope(&mut spec, opts.owner.as_deref());
    let mut opts = opts;
    // A retry of a submission that already made its job is answered before any charge: rate
    // tokens, quota and usage are taken once per job, however often the client retries.
    if let Some(key) = opts.idempotency_key.as_deref() {
        let fingerprint = spec.fingerprint(opts.webhook_url.as_deref());
        if let Some(earlier) = jobs
            .replay(opts.owner.as_deref(), key, &fingerprint)
            .await?
        {
            return Ok(accepted(&earlier));
        }
        opts.fingerprint = Some(fingerprint);
    }
    let fingerprint = opts.fingerprint.clone();
    let charge = match &st.tenancy {
        Some(t) => Some(t.charge_pending(caller, chars).await?),
        None => None,
    };
    // The lookup above and the insert are not one step: two first submissions with one key can
    // both get here, and the database lets one create the job. The other is settled as owing
    // nothing, like a submission joining the owner's own in-flight job (one job, one payment).
    let submitted = jobs.submit(&spec, opts).await;
    let owed = matches!(&submitted, Ok(s) if s.outcome == CreateOutcome::Created);
    if let (Some(t), Some(charge)) = (&st.tenancy, charge) {
        t.settle(caller, charge, owed).await;
    }
    let submitted = submitted?;
    if submitted.outcome == CreateOutcome::Idempotent
        && let (Some(key), Some(fingerprint)) = (&submitted.job.idempotency_key, &fingerprint)
    {
        // The racer that won may have sent another body under the same key.
        JobService::check_fingerprint(&submitted.job, key, fingerprint)?;
    }
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
    use crate::jobs::JobsConfig;

    fn cfg(allow_private: bool) -> JobsConfig {
        JobsConfig {
            webhooks_enabled: true,
            webhook_allow_private: allow_private,
            ..JobsConfig::default()
        }
    }

    #[test]
    fn webhooks_must_be_http_urls() {
        let c = cfg(false);
        assert!(check_webhook(Some("ftp://x".into()), &c).is_err());
        assert!(check_webhook(Some("http://x/a b".into()), &c).is_err());
        assert!(check_webhook(Some("http://x/\r\nHost: y".into()), &c).is_err());
        assert!(check_webhook(Some(format!("http://x/{}", "a".repeat(2048))), &c).is_err());
        assert_eq!(check_webhook(Some(" ".into()), &c).ok(), Some(None));
        assert!(check_webhook(Some("https://hooks.example.com/x".into()), &c).is_ok());
    }

    #[test]
    fn internal_webhook_hosts_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/x",
            "http://2130706433/x",
            "http://0x7f.1/x",
            "http://localhost/x",
            "http://[::1]/x",
            "http://169.254.169.254/latest",
        ] {
            let err = check_webhook(Some(url.into()), &cfg(false))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("internal host") && err.contains("--webhook-allow-private"),
                "{url}: {err}"
            );
            assert!(
                check_webhook(Some(url.into()), &cfg(true)).is_ok(),
                "{url} allowed"
            );
        }
    }

    #[test]
    fn a_webhook_on_a_server_that_sends_none_is_refused() {
        let off = JobsConfig::default();
        let err = check_webhook(Some("https://hooks.example.com/x".into()), &off).unwrap_err();
        assert_eq!(err.code(), ErrorCode::WebhooksDisabled);
        assert_eq!(err.code().http_status(), 422);
        assert!(err.to_string().contains("webhook_url"), "{err}");
        assert_eq!(check_webhook(None, &off).ok(), Some(None));
    }
}
