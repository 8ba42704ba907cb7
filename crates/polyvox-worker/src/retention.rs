//! Retention: deleting finished audio once it is past its `expires_at`, and keeping the queue
//! backlog gauge fresh. Both loops run in every worker process (and in `polyvox serve`'s
//! embedded worker).
//!
//! Sweeper design:
//! - Expiry is decided by the row's `expires_at`, not by the sweep: the API refuses expired audio
//!   (410) and never presigns past it, so a late or stopped sweeper costs storage, not
//!   correctness.
//! - Several sweepers may run at once. Each claims a batch of expired rows under a short lease
//!   (conditional update, `SKIP LOCKED` on PostgreSQL), deletes the object and the cache entry,
//!   then marks the row `expired_at`. Deletes are idempotent, so a sweeper that dies after
//!   deleting simply lets its lease lapse and the next one repeats the work.
//! - Several jobs may point at one object (cache hits reuse the object; they inherit its
//!   `expires_at`, so all of them expire together). The cache entry is removed only if it still
//!   points at this job's object: a newer synthesis of the same text keeps its entry.

use std::time::Duration;

use polyvox_core::metrics as m;
use polyvox_infra::db::Job;
use tokio_util::sync::CancellationToken;

use crate::Backends;

/// Rows claimed per sweep; the next pass takes the rest.
const SWEEP_BATCH: u32 = 100;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Jobs whose audio was deleted and which are now marked expired.
    pub expired: usize,
    /// Jobs left for a later pass (a delete or the final update failed).
    pub failed: usize,
}

/// One pass: claims up to a batch of expired jobs as `sweeper` and sweeps them.
pub async fn sweep(b: &Backends, sweeper: &str, lease: Duration) -> Swept {
    let jobs = match b.store.claim_expired(sweeper, lease, SWEEP_BATCH).await {
        Ok(j) => j,
        Err(e) => {
            tracing::warn!(error = %e, "retention sweep: claiming expired jobs failed");
            return Swept::default();
        }
    };
    let mut out = Swept::default();
    for job in &jobs {
        let ok = sweep_one(b, sweeper, job).await;
        let outcome = if ok {
            m::outcome::OK
        } else {
            m::outcome::FAILED
        };
        metrics::counter!(m::RETENTION_SWEPT_TOTAL, m::label::OUTCOME => outcome).increment(1);
        if ok {
            out.expired += 1;
        } else {
            out.failed += 1;
        }
    }
    out
}

async fn sweep_one(b: &Backends, sweeper: &str, job: &Job) -> bool {
    let Some(audio) = &job.audio else {
        return b
            .store
            .mark_expired(&job.id, sweeper)
            .await
            .unwrap_or(false);
    };
    if let Err(e) = b.audio.delete(&audio.key).await {
        tracing::warn!(job = %job.id, error = %e, "retention sweep: deleting the object failed");
        return false;
    }
    // Most jobs have no timings beside their audio; a missing one is not a failure.
    let timings = polyvox_core::timing::sidecar_key(&audio.key);
    if let Err(e) = b.audio.delete(&timings).await {
        tracing::debug!(job = %job.id, error = %e, "retention sweep: no word timings deleted");
    }
    // Shared jobs carry their key in the row; results the API recorded itself, in the request;
    // for the rest it is derived from the payload, as the worker that cached it did.
    let cache_key = job
        .cache_key
        .clone()
        .or_else(|| {
            job.request
                .get("cache_key")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .or_else(|| {
            polyvox_core::SpeechJob::from_row(&job.request, job.lane, usize::MAX)
                .ok()
                .map(|spec| spec.cache_key())
        });
    if let Some(key) = cache_key {
        // A failure here is harmless: entries carry the same expiry and read as misses.
        match b.cache.get(&key).await {
            Ok(Some(entry)) if entry.audio_key == audio.key => {
                if let Err(e) = b.cache.remove(&key).await {
                    tracing::warn!(job = %job.id, error = %e, "retention sweep: cache removal failed");
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "retention sweep: cache lookup failed")
            }
        }
    }
    match b.store.mark_expired(&job.id, sweeper).await {
        Ok(true) => true,
        Ok(false) => {
            tracing::info!(job = %job.id, "retention sweep: claim lapsed; another sweeper finishes it");
            false
        }
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "retention sweep: marking expired failed");
            false
        }
    }
}

/// Sweeps every `every` until `shutdown`.
pub async fn run(b: Backends, sweeper: String, every: Duration, shutdown: CancellationToken) {
    // Both series exist from the start, so dashboards and alerts see 0 rather than nothing.
    for outcome in [m::outcome::OK, m::outcome::FAILED] {
        metrics::counter!(m::RETENTION_SWEPT_TOTAL, m::label::OUTCOME => outcome).increment(0);
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A claim outlives one batch of deletes comfortably, yet frees rows soon after a crash.
    let lease = (every * 4).max(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        loop {
            let s = sweep(&b, &sweeper, lease).await;
            if s.expired + s.failed > 0 {
                tracing::info!(expired = s.expired, failed = s.failed, "retention sweep");
            }
            // A full batch means more may be waiting; anything else waits for the next tick.
            if s.expired < SWEEP_BATCH as usize || shutdown.is_cancelled() {
                break;
            }
        }
    }
}

/// Sets `polyvox_job_queue_length{lane}` from the job table once.
pub async fn record_queue_length(b: &Backends) {
    match b.store.queued_by_lane().await {
        Ok(counts) => {
            for (lane, n) in counts {
                metrics::gauge!(m::JOB_QUEUE_LENGTH, m::label::LANE => lane.as_str()).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "counting queued jobs failed"),
    }
}

/// Refreshes the queue-length gauge every `every` until `shutdown`. The count is one indexed
/// query per period; its duration and failures are in `polyvox_infra_call_seconds` /
/// `polyvox_infra_errors_total{op="queued_by_lane"}`.
pub async fn queue_length_loop(b: Backends, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        record_queue_length(&b).await;
    }
}
