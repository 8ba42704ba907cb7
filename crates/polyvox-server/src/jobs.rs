//! The job side of the API: submitting (with cache and in-flight sharing) and serving
//! stored audio. Used by the `/v1/jobs` routes, the `/tts/generate` alias, the cache-hit path of
//! `/v1/audio/speech`, and [`crate::RemoteSpeech`] (speech through the workers and the relay when
//! Redis is configured).
//!
//! Design:
//! - Submit order: cache lookup first (a hit means no synthesis: the job is born `succeeded`,
//!   pointing at the cached object), then `create`, which returns the earlier job for a repeated
//!   `Idempotency-Key` or joins an identical queued/running job (one synthesis for N identical
//!   requests), and only a freshly created job is enqueued.
//! - A born-succeeded job is written through the store's normal transitions (claim under a
//!   pseudo-worker, then succeed), so the job table keeps one set of state rules.
//! - A cache entry whose object is gone or past its retention is treated as a miss and removed.
//!   A job answered from the cache inherits the object's `expires_at`: it cannot outlive it.
//! - Retention is enforced on read: audio past `expires_at` is 410 `audio_expired` even before
//!   the sweeper deleted it, and a presigned URL never lives past the object's expiry.
//! - The queue message carries the id only; if the enqueue fails after the insert, the job is
//!   still accepted: the workers' reconciler re-enqueues queued rows the queue does not have.

use std::time::{Duration, SystemTime};

use polyvox_core::metrics as m;
use polyvox_core::{ErrorCode, SpeechJob};
use polyvox_infra::cache::CachedAudio;
use polyvox_infra::db::{AudioOutput, CreateOutcome, Job, JobStatus, NewJob};
use polyvox_infra::relay::RelayEvent;
use polyvox_infra::{InfraError, storage::Fetched};

use crate::error::ApiError;

/// Lease owner used for jobs answered from the cache (no real worker ever runs them).
const CACHE_WORKER: &str = "api-cache";

/// The external systems the API needs for jobs (the same bundle the workers use).
pub use polyvox_infra::Backends as JobBackends;

/// Settings of the job API.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Longest input of an async job, in characters.
    pub max_input_chars: usize,
    /// Claims before a job is dead-lettered.
    pub max_attempts: u32,
    /// Attempts that may die with their worker before the job is dead-lettered
    /// (`worker_crashed`).
    pub max_crashes: u32,
    /// Hand out presigned storage URLs valid this long instead of serving audio through the API
    /// (only where the store can presign, i.e. S3); `None` always serves through the API.
    pub presign: Option<Duration>,
    /// Store the whole-file results of `/v1/audio/speech` rendered in this process in the cache
    /// (embedded mode; with workers, they store their own results).
    pub cache_sync_results: bool,
    /// Object key prefix for audio the API stores itself.
    pub key_prefix: String,
    /// How long audio the API stores itself is kept; `None` keeps it forever. (Workers apply
    /// their own setting to what they store.)
    pub retention: Option<Duration>,
    /// Accept webhook URLs naming internal hosts (loopback, private ranges, `localhost`).
    pub webhook_allow_private: bool,
    /// Webhooks are signed and sent (a secret is configured); without, a `webhook_url` is
    /// refused at submission rather than accepted and never called.
    pub webhooks_enabled: bool,
    /// One result cache per API key (`--cache-scope key` on a server with keys): lookups and
    /// results of a keyed caller carry its key id in the cache key ([`SpeechJob::cache_scope`]).
    pub cache_per_key: bool,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            max_input_chars: 100_000,
            max_attempts: 3,
            max_crashes: 2,
            presign: None,
            cache_sync_results: true,
            key_prefix: "audio".into(),
            retention: None,
            webhook_allow_private: false,
            webhooks_enabled: false,
            cache_per_key: false,
        }
    }
}

/// What a submission asks for besides the request itself.
#[derive(Debug, Clone, Default)]
pub struct SubmitOptions {
    /// API key id of the submitter: only it can see the job (`None` without keys).
    pub owner: Option<String>,
    pub webhook_url: Option<String>,
    pub idempotency_key: Option<String>,
    /// Join an identical queued or running job instead of creating one (never for jobs with a
    /// webhook, which belongs to one caller).
    pub share: bool,
    /// Digest of the request body, kept with an idempotency key (see [`SpeechJob::fingerprint`]).
    pub fingerprint: Option<String>,
    /// Do not answer from the cache: the caller looked it up already, under the right scope.
    pub skip_cache: bool,
}

/// How a submission was answered.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub job: Job,
    /// Answered from the cache: no synthesis will run.
    pub cache_hit: bool,
    pub outcome: CreateOutcome,
}

/// Job operations shared by the routes and [`crate::RemoteSpeech`].
pub struct JobService {
    pub(crate) b: JobBackends,
    pub(crate) cfg: JobsConfig,
}

impl JobService {
    pub fn new(backends: JobBackends, cfg: JobsConfig) -> Self {
        Self { b: backends, cfg }
    }

    pub fn config(&self) -> &JobsConfig {
        &self.cfg
    }

    /// Puts `spec` in `owner`'s private cache when the cache is per key (a keyless server has
    /// one tenant, so its jobs stay global).
    pub fn scope(&self, spec: &mut SpeechJob, owner: Option<&str>) {
        if self.cfg.cache_per_key {
            spec.cache_scope = owner.map(str::to_string);
        }
    }

    /// The cached entry for `key` if its object still exists.
    ///
    /// A sick cache costs a synthesis, never a failed request. A known entry whose object the
    /// store cannot reach right now (timeout, overload, connection lost) is a 503 instead:
    /// synthesizing again would move the load from the storage to the model, the scarcest part.
    pub async fn cached(&self, key: &str) -> Result<Option<CachedAudio>, ApiError> {
        let entry = match self.b.cache.get(key).await {
            Ok(Some(e)) if e.expired(SystemTime::now()) => {
                let _ = self.b.cache.remove(key).await;
                return Ok(None);
            }
            Ok(Some(e)) => e,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!(error = %e, "cache lookup failed");
                return Ok(None);
            }
        };
        match self.b.audio.head(&entry.audio_key).await {
            Ok(_) => Ok(Some(entry)),
            Err(e) if e.code() == ErrorCode::NotFound => {
                let _ = self.b.cache.remove(key).await;
                Ok(None)
            }
            Err(e) => Err(storage_unavailable(e, "cached object check")),
        }
    }

    /// Submits `spec` as a job (see the module note for the order of checks).
    pub async fn submit(
        &self,
        spec: &SpeechJob,
        opts: SubmitOptions,
    ) -> Result<Submitted, ApiError> {
        let key = spec.cache_key();
        let hit = if opts.skip_cache {
            None
        } else {
            self.cached(&key).await?
        };
        let share = opts.share && opts.webhook_url.is_none();
        let new = NewJob {
            owner: opts.owner,
            lane: spec.lane,
            request: spec.to_row(),
            cache_key: share.then(|| key.clone()),
            idempotency_key: opts.idempotency_key,
            max_attempts: self.cfg.max_attempts,
            max_crashes: self.cfg.max_crashes,
            webhook_url: opts.webhook_url,
            fingerprint: opts.fingerprint,
        };
        let lane = new.lane;
        let (job, outcome) = self.b.store.create(new).await.map_err(infra)?;
        // Ties this request's log lines (the edge span) to the job the worker logs under.
        tracing::Span::current().record("job_id", job.id.as_str());
        let submission = match (outcome, &hit) {
            (CreateOutcome::Created, Some(_)) => m::outcome::CACHE_HIT,
            (CreateOutcome::Created, None) => m::outcome::ENQUEUED,
            _ => m::outcome::SHARED,
        };
        metrics::counter!(m::JOB_SUBMISSIONS_TOTAL,
            m::label::LANE => lane.as_str(), m::label::OUTCOME => submission)
        .increment(1);
        if outcome != CreateOutcome::Created {
            return Ok(Submitted {
                job,
                cache_hit: false,
                outcome,
            });
        }
        if let Some(entry) = hit {
            let job = self.finish_from_cache(&job, &entry).await?;
            return Ok(Submitted {
                job,
                cache_hit: true,
                outcome,
            });
        }
        if let Err(e) = self.b.queue.enqueue(lane, &job.id).await {
            tracing::warn!(job = %job.id, error = %e, "enqueue failed; the reconciler will pick the job up");
        }
        Ok(Submitted {
            job,
            cache_hit: false,
            outcome,
        })
    }

    async fn finish_from_cache(&self, job: &Job, entry: &CachedAudio) -> Result<Job, ApiError> {
        let claimed = self
            .b
            .store
            .try_claim(&job.id, CACHE_WORKER, Duration::from_secs(30))
            .await
            .map_err(infra)?;
        if claimed.is_none() {
            return Err(ApiError::Internal(format!(
                "job {} could not be completed from the cache",
                job.id
            )));
        }
        let audio = AudioOutput {
            key: entry.audio_key.clone(),
            bytes: entry.bytes,
            seconds: entry.seconds,
            expires_at: entry.expires_at(),
        };
        // Not rendered for this job: the submission records a cache hit instead of audio.
        self.b
            .store
            .succeed_unbilled(&job.id, CACHE_WORKER, audio)
            .await
            .map_err(infra)
    }

    /// A retry of an earlier submission with the same `Idempotency-Key`: the job it created
    /// (without a second charge), or 409 `idempotency_key_reused` when the body differs. `None`
    /// when the key is new. Rows written before fingerprints existed match any body.
    pub async fn replay(
        &self,
        owner: Option<&str>,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<Submitted>, ApiError> {
        let Some(job) = self
            .b
            .store
            .find_idempotent(owner, key)
            .await
            .map_err(infra)?
        else {
            return Ok(None);
        };
        Self::check_fingerprint(&job, key, fingerprint)?;
        Ok(Some(Submitted {
            job,
            cache_hit: false,
            outcome: CreateOutcome::Idempotent,
        }))
    }

    /// 409 `idempotency_key_reused` when `job`, created under `key`, was created from another
    /// request body than the one `fingerprint` digests.
    pub fn check_fingerprint(job: &Job, key: &str, fingerprint: &str) -> Result<(), ApiError> {
        if job
            .request_fingerprint
            .as_deref()
            .is_some_and(|f| f != fingerprint)
        {
            return Err(ApiError::Domain(polyvox_core::Error::new(
                ErrorCode::IdempotencyKeyReused,
                format!(
                    "Idempotency-Key '{key}' was used for job {} with a different request body; \
                     use a new key for a new request",
                    job.id
                ),
            )));
        }
        Ok(())
    }

    /// The webhook deliveries of a job; a failed read shows none rather than failing the view.
    pub async fn webhooks_of(&self, id: &str) -> Vec<polyvox_infra::db::WebhookDelivery> {
        self.b.store.webhooks_of(id).await.unwrap_or_else(|e| {
            tracing::warn!(job = %id, error = %e, "webhook status read failed");
            Vec::new()
        })
    }

    /// The job, or 404.
    pub async fn get(&self, id: &str) -> Result<Job, ApiError> {
        if !crate::hardening::is_job_id(id) {
            return Err(no_such_job(None));
        }
        self.b
            .store
            .get(id)
            .await
            .map_err(infra)?
            .ok_or_else(|| no_such_job(Some(id)))
    }

    /// The job if `owner` owns it; otherwise the same 404 as for a job that does not exist, so
    /// one key cannot even learn which ids another key's jobs have.
    pub async fn get_owned(&self, id: &str, owner: Option<&str>) -> Result<Job, ApiError> {
        let job = self.get(id).await?;
        if job.owner.as_deref() != owner {
            return Err(no_such_job(Some(id)));
        }
        Ok(job)
    }

    /// Cancels `owner`'s queued or running job (a running one stops at its worker's next
    /// heartbeat).
    pub async fn cancel(&self, id: &str, owner: Option<&str>) -> Result<Job, ApiError> {
        self.get_owned(id, owner).await?;
        let job = self.b.store.cancel(id).await.map_err(infra)?;
        // A queued job has no worker to say so; whoever follows its relay log hears it here.
        if job.status == JobStatus::Cancelled
            && let Err(e) = self.b.relay.publish(id, RelayEvent::Cancelled).await
        {
            tracing::warn!(job = %id, error = %e, "relay publish of a cancel failed");
        }
        Ok(job)
    }

    /// Reads stored audio, or the byte `range` of it.
    pub async fn read(
        &self,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<Fetched, InfraError> {
        self.b.audio.get(key, range).await
    }

    /// A presigned GET for `key` when configured and supported, valid no longer than the
    /// object's retention (`expires_at`); `None` once that has passed.
    pub async fn presigned(&self, key: &str, expires_at: Option<SystemTime>) -> Option<String> {
        let mut ttl = self.cfg.presign?;
        if let Some(end) = expires_at {
            let left = end.duration_since(SystemTime::now()).ok()?;
            // Presigned URLs have whole-second lifetimes; rounding up could outlive the object.
            ttl = ttl.min(Duration::from_secs(left.as_secs()));
            if ttl.is_zero() {
                return None;
            }
        }
        match self.b.audio.presigned_get(key, ttl).await {
            Ok(url) => url,
            Err(e) => {
                tracing::warn!(error = %e, "presigning failed; serving through the API");
                None
            }
        }
    }
}

/// The 404 for a job id that names no job. `None` is an id that is not a UUID: it is not echoed,
/// since it could be anything the path allowed and no job can have it.
fn no_such_job(id: Option<&str>) -> ApiError {
    let message = match id {
        Some(id) => format!("job '{id}' does not exist"),
        None => "no such job: job ids are UUIDs (36 hex digits and dashes)".to_string(),
    };
    ApiError::Domain(polyvox_core::Error::new(ErrorCode::NotFound, message))
}

/// A storage failure on audio we know exists: passing failures (and timeouts, which under
/// overload are the usual kind) are 503 with `Retry-After`; the rest go through [`infra`].
pub(crate) fn storage_unavailable(e: InfraError, what: &str) -> ApiError {
    if e.is_retryable() {
        tracing::warn!(error = %e, "{what} failed");
        return ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::ServiceUnavailable,
            format!("audio storage is unavailable ({what}); retry shortly"),
        ));
    }
    infra(e)
}

/// What a client reads when a database, queue or storage call ran out of time. The error's own
/// text names the system and the operation (`postgres key_get timed out after 10000 ms`), which
/// is ours to know; the stable `timeout` code is what clients match on.
pub(crate) const BACKEND_TIMEOUT: &str = "a backing service did not answer in time; retry shortly";

/// What a client reads when a row or object a request relied on is gone. The error's own text
/// names storage keys and tables.
const BACKEND_NOT_FOUND: &str =
    "what this request refers to does not exist (any more); it may have expired or been deleted";

/// Infrastructure failures as API errors: a missing row is 404; a failure that usually passes
/// (connection lost, pool exhausted, a restarting server) is 503 with `Retry-After`, so clients
/// and load balancers retry instead of treating it as a bug; a timeout is 504; the rest is ours
/// (500). The client reads a fixed sentence per code; the error itself is logged here, inside
/// the request's span, so the log line carries the request id the client was given.
pub(crate) fn infra(e: InfraError) -> ApiError {
    let code = e.code();
    if code == ErrorCode::NotFound {
        tracing::info!(error = %e, "backing service: not found");
    } else {
        tracing::warn!(error = %e, "backing service call failed");
    }
    if code != ErrorCode::Timeout && code != ErrorCode::NotFound && e.is_retryable() {
        // A 5xx: the edge replaces this text with the public sentence and logs it again.
        return ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::ServiceUnavailable,
            e.to_string(),
        ));
    }
    match code {
        ErrorCode::NotFound => ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::NotFound,
            BACKEND_NOT_FOUND,
        )),
        ErrorCode::Timeout => ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::Timeout,
            BACKEND_TIMEOUT,
        )),
        _ => ApiError::Internal(e.to_string()),
    }
}

/// Whether the job is finished with audio.
pub(crate) fn has_audio(job: &Job) -> bool {
    job.status == JobStatus::Succeeded && job.audio.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_infrastructure_failures_are_503_with_retry_after() {
        use axum::response::IntoResponse;
        let lost = InfraError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connection to 10.0.0.5 timed out",
        ));
        let res = infra(lost).into_response();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["retry-after"], "1");
        let bug = InfraError::Corrupt("row 7 is not JSON".into());
        assert_eq!(infra(bug).code(), ErrorCode::Internal);
        let gone = InfraError::NotFound {
            what: "job x".into(),
        };
        let gone = infra(gone);
        assert_eq!(gone.code(), ErrorCode::NotFound);
        assert!(!gone.to_string().contains("job x"), "{gone}");
    }

    /// A timed-out database call answers 504 `timeout` with a fixed sentence: the store, the
    /// operation and the limit stay in the log.
    #[test]
    fn timeouts_keep_their_code_and_hide_their_text() {
        use axum::response::IntoResponse;
        let slow = InfraError::Timeout {
            system: "postgres",
            op: "key_get",
            after_ms: 10_000,
        };
        let e = infra(slow);
        assert_eq!(e.code(), ErrorCode::Timeout);
        let text = e.to_string();
        assert_eq!(text, BACKEND_TIMEOUT);
        assert_eq!(e.into_response().status(), 504);
    }
}
