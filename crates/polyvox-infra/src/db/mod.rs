//! The `jobs` table is the source of truth for asynchronous synthesis; the queue only carries ids.
//!
//! Design:
//! - Every state change is one conditional `UPDATE ... WHERE <expected state> RETURNING`, so two
//!   workers that received the same queue message (at-least-once delivery) cannot both run a job:
//!   only one `try_claim` matches. Finishing calls are fenced by `lease_owner`, so a worker whose
//!   lease was taken over cannot overwrite the new owner's result.
//! - `attempts` counts claims, not failures: a worker that dies mid-job (lease expiry, no `fail`
//!   call) still uses up an attempt. `crashes` counts those deaths alone (a lease found expired by
//!   the reaper or by another worker's claim; never a reported failure or a shutdown hand-back),
//!   so a job that crashes workers is dead-lettered as `worker_crashed` after `max_crashes`, while
//!   storage or database blips keep the whole attempt budget.
//! - Leases and "stale" are measured with the database's clock, never a worker's, so clock skew
//!   between hosts cannot make a reconciler reclaim a healthy job early.
//! - Identical in-flight requests share a job: a partial unique index on `(owner, cache_key)` over
//!   queued/running rows makes the second `create` collide and return the first job instead.
//! - One implementation ([`SqlJobStore`]) serves PostgreSQL and SQLite through sqlx's `Any`
//!   driver; the schema keeps to types both engines share (text, 64-bit integers, doubles;
//!   timestamps as Unix milliseconds) so the SQL text is the same for both.
//! - A rendered job's audio seconds are added to its owner's usage in the transaction that marks
//!   it succeeded: a process killed right after `succeed` has billed the job already, and a
//!   repeated `succeed` matches no row and bills nothing.
//! - Retention: a succeeded job's audio carries an absolute `expires_at`. Expiry is decided by
//!   that timestamp alone (readers refuse expired audio at once); the sweeper only deletes the
//!   object afterwards. Sweepers claim expired rows with a conditional update under a short lease
//!   (`SKIP LOCKED` on PostgreSQL), delete, then mark the row `expired_at`; a sweeper that dies
//!   in between lets its lease lapse and another one repeats the (idempotent) deletes.

mod config;
mod lexicons;
mod outbox;
mod queries;
mod row;
mod sql;

use std::time::{Duration, SystemTime};

use crate::{Lane, Result};

pub use config::{DbConfig, DbEngine};
pub use lexicons::{LexiconStore, LexiconSummary, PutLexicon, SqlLexicons, StoredLexicon};
pub use outbox::{DeliveryStatus, SendOutcome, WebhookDelivery};
pub(crate) use row::to_time as from_unix_millis;
pub use sql::SqlJobStore;

/// Unix milliseconds of `t` (0 before the epoch): the timestamp encoding of every table.
pub fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// [`unix_millis`] as the signed `BIGINT` the columns hold (saturating).
pub fn unix_millis_i64(t: SystemTime) -> i64 {
    i64::try_from(unix_millis(t)).unwrap_or(i64::MAX)
}

/// Lifecycle state of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    /// Stable name stored in the database and shown by the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Inverse of [`JobStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// No further transition will happen.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// What to insert for a new job.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// API key id of the submitter; `None` while the service runs without keys.
    pub owner: Option<String>,
    pub lane: Lane,
    /// The validated request, as the API chooses to serialize it.
    pub request: serde_json::Value,
    /// Content address of the result. `Some` lets an identical in-flight job of the same owner be
    /// shared; `None` opts out (for example when the caller wants its own webhook).
    pub cache_key: Option<String>,
    /// Client-supplied `Idempotency-Key`, unique per owner.
    pub idempotency_key: Option<String>,
    /// Claims allowed before the job is dead-lettered (at least 1).
    pub max_attempts: u32,
    /// Attempts that may die with their worker before the job is dead-lettered as
    /// [`WORKER_CRASHED`] (at least 1).
    pub max_crashes: u32,
    pub webhook_url: Option<String>,
    /// Digest of the request body the idempotency key is bound to (see the API's submit).
    pub fingerprint: Option<String>,
}

/// How `create` resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// A new row was inserted: the caller should enqueue its id.
    Created,
    /// The owner already used this idempotency key: the earlier job is returned.
    Idempotent,
    /// An identical request of the same owner is queued or running: that job is returned.
    Joined,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub owner: Option<String>,
    pub status: JobStatus,
    pub lane: Lane,
    pub request: serde_json::Value,
    pub cache_key: Option<String>,
    pub idempotency_key: Option<String>,
    /// Claims so far (including the current one while running).
    pub attempts: u32,
    pub max_attempts: u32,
    /// Attempts that ended with their worker gone (lease expired), counted when found.
    pub crashes: u32,
    pub max_crashes: u32,
    pub last_error: Option<JobError>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<SystemTime>,
    pub chunks_done: u32,
    pub chunks_total: Option<u32>,
    /// Set once the job succeeded.
    pub audio: Option<AudioOutput>,
    pub webhook_url: Option<String>,
    /// Digest of the request body it was created with, when it carried an idempotency key.
    pub request_fingerprint: Option<String>,
    pub created_at: SystemTime,
    /// When the job last entered `queued` (creation or requeue); the reconciler's staleness clock.
    pub queued_at: SystemTime,
    /// First claim.
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    /// When the retention sweeper deleted this job's audio (`audio` still describes what was).
    pub expired_at: Option<SystemTime>,
}

impl Job {
    /// Whether the audio is past its retention at `now` (swept or not yet).
    pub fn audio_expired(&self, now: SystemTime) -> bool {
        self.expired_at.is_some()
            || self
                .audio
                .as_ref()
                .and_then(|a| a.expires_at)
                .is_some_and(|t| t <= now)
    }
}

/// The error a failed attempt left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// A stable code (`polyvox_core::ErrorCode::as_str`; [`LEASE_EXPIRED`] and
    /// [`WORKER_CRASHED`] are the job store's own).
    pub code: String,
    pub message: String,
}

/// Where a finished job's audio lives.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioOutput {
    /// Object key in the audio store.
    pub key: String,
    pub bytes: u64,
    pub seconds: f64,
    /// End of retention: the object may be deleted from then on. `None` keeps it forever.
    pub expires_at: Option<SystemTime>,
}

/// Progress reported with a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub chunks_done: u32,
    pub chunks_total: Option<u32>,
}

/// Answer to a heartbeat: whether the worker should keep going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease is extended.
    Held,
    /// The job was cancelled: stop and discard the work.
    Cancelled,
    /// Another worker owns the job now (or it was requeued): stop, do not report a result.
    Lost,
}

/// `lease_expired`: the code recorded when a worker stopped heartbeating.
pub const LEASE_EXPIRED: &str = polyvox_core::ErrorCode::LeaseExpired.as_str();

/// `worker_crashed`: the code of a job dead-lettered because `max_crashes` of its attempts died
/// with their worker. Such an input would otherwise take down one worker per attempt.
pub const WORKER_CRASHED: &str = polyvox_core::ErrorCode::WorkerCrashed.as_str();

/// Persistence of jobs. Implemented by [`SqlJobStore`] for PostgreSQL and SQLite.
#[async_trait::async_trait]
pub trait JobStore: Send + Sync {
    /// Inserts a job, or returns the existing one for a repeated idempotency key or an identical
    /// in-flight request (see [`CreateOutcome`]).
    async fn create(&self, new: NewJob) -> Result<(Job, CreateOutcome)>;

    /// The job with this id, if any.
    async fn get(&self, id: &str) -> Result<Option<Job>>;

    /// The job `owner` created with this idempotency key, if any.
    async fn find_idempotent(&self, owner: Option<&str>, key: &str) -> Result<Option<Job>>;

    /// Atomically moves a job to `running` under `worker`'s lease. Succeeds for a queued job, or
    /// for a running job whose lease has expired (its worker died: a crash is counted); returns
    /// `None` when the job is leased by someone else, finished, cancelled, out of attempts, or
    /// at its crash limit (the reaper dead-letters it).
    async fn try_claim(&self, id: &str, worker: &str, lease: Duration) -> Result<Option<Job>>;

    /// Extends `worker`'s lease and records progress.
    async fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        lease: Duration,
        progress: Progress,
    ) -> Result<Heartbeat>;

    /// Marks the job succeeded and, in the same transaction, adds its audio seconds to its
    /// owner's usage of the current UTC day (nothing for a job without an owner). `Conflict` if
    /// `worker` no longer holds it, so a job is billed exactly once however many attempts,
    /// retries or repeated calls it sees: the fenced transition is the usage's key.
    async fn succeed(&self, id: &str, worker: &str, audio: AudioOutput) -> Result<Job>;

    /// [`JobStore::succeed`] without billing, for audio that was not rendered for this job (a
    /// cache hit, a synchronous result recorded for the sweeper).
    async fn succeed_unbilled(&self, id: &str, worker: &str, audio: AudioOutput) -> Result<Job>;

    /// Records a failed attempt. A retryable failure with attempts left returns the job to
    /// `queued` (the caller re-enqueues it with a backoff); otherwise the job is dead-lettered as
    /// `failed`. `Conflict` if `worker` no longer holds it.
    async fn fail(&self, id: &str, worker: &str, error: JobError, retryable: bool) -> Result<Job>;

    /// Cancels a queued or running job; a finished job is returned unchanged. `NotFound` if absent.
    async fn cancel(&self, id: &str) -> Result<Job>;

    /// Running jobs whose lease expired (their worker died) count a crash and go back to
    /// `queued`, or to `failed` when out of attempts ([`LEASE_EXPIRED`]) or at their crash limit
    /// ([`WORKER_CRASHED`]). Returns the changed jobs; the caller re-enqueues the queued ones.
    async fn requeue_expired_leases(&self, limit: u32) -> Result<Vec<Job>>;

    /// Jobs queued for longer than `older_than`: candidates the queue may have lost (Redis
    /// flushed), for the reconciler to enqueue again. Read-only.
    async fn find_stale_queued(&self, older_than: Duration, limit: u32) -> Result<Vec<Job>>;

    /// The queued or running job of `owner` with this cache key, if any.
    async fn find_inflight(&self, owner: Option<&str>, cache_key: &str) -> Result<Option<Job>>;

    /// Claims up to `limit` succeeded jobs whose audio expired and is not swept yet, under
    /// `sweeper`'s lease: concurrent sweepers get disjoint rows, and a row whose sweeper died is
    /// claimable again once the lease lapses.
    async fn claim_expired(&self, sweeper: &str, lease: Duration, limit: u32) -> Result<Vec<Job>>;

    /// Records that `sweeper` deleted the job's audio. `false` if the claim was lost meanwhile.
    async fn mark_expired(&self, id: &str, sweeper: &str) -> Result<bool>;

    /// Queued jobs per lane (lanes without any are listed with 0).
    async fn queued_by_lane(&self) -> Result<Vec<(Lane, u64)>>;

    /// A trivial round trip, for readiness checks.
    async fn ping(&self) -> Result<()>;

    /// Claims up to `limit` webhook deliveries that are due, for `sender`, for `lease` (see
    /// [`WebhookDelivery`]; the rows are written by the database when a job finishes).
    async fn claim_webhooks(
        &self,
        sender: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>>;

    /// Records how a claimed delivery's send went; `false` if the claim had lapsed.
    async fn record_webhook(&self, id: &str, sender: &str, outcome: SendOutcome) -> Result<bool>;

    /// Every webhook delivery owed for a job, oldest first.
    async fn webhooks_of(&self, job_id: &str) -> Result<Vec<WebhookDelivery>>;
}
