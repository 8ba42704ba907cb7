//! The two loops that make the database, not the queue, the source of truth.
//!
//! - Lease reaper: running jobs whose lease expired (their worker died without a word) count a
//!   crash and go back to `queued` — or to `failed` when out of attempts (`lease_expired`) or at
//!   their crash limit (`worker_crashed`) — and are enqueued again.
//! - Reconciler: jobs queued for longer than `stale_after` are enqueued again, because the queue
//!   may have lost them (Redis flushed or restarted, an enqueue that failed after the insert).
//!   A duplicate message is harmless: `try_claim` lets exactly one delivery run the job. A job
//!   that merely waits its turn in a deep queue is also "stale", so each process re-enqueues a
//!   given job at most once per `stale_after` (remembered in memory) to keep duplicates bounded.
//!
//! Every worker runs both; on PostgreSQL concurrent reapers skip each other's locked rows.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use polyvox_infra::db::JobStatus;
use polyvox_infra::relay::RelayEvent;
use tokio_util::sync::CancellationToken;

use crate::Backends;

/// Rows handled per pass; the next pass picks up the rest.
const BATCH: u32 = 200;

/// Runs both loops every `every` until `shutdown`.
pub async fn run(b: Backends, every: Duration, stale_after: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut recent = Recent::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let (reaped, reconciled) = pass(&b, stale_after, &mut recent).await;
        if reaped + reconciled > 0 {
            tracing::info!(reaped, reconciled, "maintenance re-enqueued jobs");
        }
    }
}

/// Jobs this process re-enqueued lately, so a job waiting in a long queue is not re-enqueued on
/// every pass.
#[derive(Debug, Default)]
pub struct Recent(HashMap<String, Instant>);

impl Recent {
    /// Whether `id` may be re-enqueued now; records it if so.
    fn admit(&mut self, id: &str, window: Duration) -> bool {
        let now = Instant::now();
        self.0.retain(|_, at| now.duration_since(*at) < window);
        if self.0.contains_key(id) {
            return false;
        }
        self.0.insert(id.to_string(), now);
        true
    }
}

/// One pass of both loops; returns how many jobs each re-enqueued.
pub async fn pass(b: &Backends, stale_after: Duration, recent: &mut Recent) -> (usize, usize) {
    let mut reaped = 0;
    match b.store.requeue_expired_leases(BATCH).await {
        Ok(jobs) => {
            for j in &jobs {
                if j.status != JobStatus::Queued {
                    // Dead-lettered: whoever follows the job's relay log hears it there.
                    dead_lettered(b, j).await;
                    continue;
                }
                match b.queue.enqueue(j.lane, &j.id).await {
                    Ok(()) => reaped += 1,
                    Err(e) => {
                        tracing::warn!(job = %j.id, error = %e, "re-enqueue after lease expiry failed")
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "lease reaper failed"),
    }
    let mut reconciled = 0;
    match b.store.find_stale_queued(stale_after, BATCH).await {
        Ok(jobs) => {
            for j in jobs.iter().filter(|j| recent.admit(&j.id, stale_after)) {
                match b.queue.enqueue(j.lane, &j.id).await {
                    Ok(()) => reconciled += 1,
                    Err(e) => tracing::warn!(job = %j.id, error = %e, "reconciler enqueue failed"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "reconciler failed"),
    }
    (reaped, reconciled)
}

async fn dead_lettered(b: &Backends, j: &polyvox_infra::db::Job) {
    let (code, message) = j.last_error.as_ref().map_or_else(
        || {
            (
                polyvox_infra::db::LEASE_EXPIRED.to_string(),
                "the job's workers died".to_string(),
            )
        },
        |e| (e.code.clone(), e.message.clone()),
    );
    let event = RelayEvent::Failed {
        attempt: j.attempts,
        code,
        message,
        retrying: false,
    };
    if let Err(e) = b.relay.publish(&j.id, event).await {
        tracing::warn!(job = %j.id, error = %e, "relay publish of a dead-letter failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_job_is_re_enqueued_at_most_once_per_window() {
        let mut r = Recent::default();
        let w = Duration::from_secs(10);
        assert!(r.admit("a", w));
        assert!(!r.admit("a", w));
        assert!(r.admit("b", w));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(r.admit("a", w), "window over");
    }
}
