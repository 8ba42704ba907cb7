//! The SQL text of every job-store operation, rendered once per engine (`:now` becomes the
//! engine's clock expression).

use super::config::DbEngine;
use super::row::JOB_COLUMNS;
use super::{LEASE_EXPIRED, WORKER_CRASHED};

/// The message of a `lease_expired` attempt.
const LEASE_GONE: &str = "the worker holding the job stopped heartbeating";

#[derive(Debug)]
pub(super) struct Queries {
    pub(super) insert: String,
    pub(super) get: String,
    pub(super) by_idempotency: String,
    pub(super) inflight: String,
    pub(super) claim: String,
    pub(super) heartbeat: String,
    pub(super) succeed: String,
    pub(super) fail: String,
    pub(super) cancel: String,
    pub(super) requeue_expired: String,
    pub(super) stale_queued: String,
    pub(super) claim_expired: String,
    pub(super) mark_expired: String,
    pub(super) queued_by_lane: String,
}

impl Queries {
    pub(super) fn new(engine: DbEngine) -> Self {
        let c = JOB_COLUMNS;
        let sql = |s: String| s.replace(":now", engine.now_sql());
        Self {
            insert: sql(format!(
                "INSERT INTO jobs (id, owner, status, lane, request, cache_key, idempotency_key, \
                 max_attempts, webhook_url, request_fingerprint, max_crashes, created_at, queued_at, \
                 updated_at) \
                 VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10, :now, :now, :now) \
                 ON CONFLICT DO NOTHING RETURNING {c}"
            )),
            get: format!("SELECT {c} FROM jobs WHERE id = $1"),
            by_idempotency: format!(
                "SELECT {c} FROM jobs WHERE COALESCE(owner, '') = COALESCE($1, '') \
                 AND idempotency_key = $2"
            ),
            inflight: format!(
                "SELECT {c} FROM jobs WHERE COALESCE(owner, '') = COALESCE($1, '') \
                 AND cache_key = $2 AND status IN ('queued', 'running')"
            ),
            // Taking over a running job whose lease expired is finding its worker dead: that
            // counts a crash, and the job that reached its crash limit is left to the reaper,
            // which dead-letters it, instead of being handed to one more worker.
            claim: sql(format!(
                "UPDATE jobs SET status = 'running', lease_owner = $2, lease_expires_at = :now + $3, \
                 attempts = attempts + 1, chunks_done = 0, started_at = COALESCE(started_at, :now), \
                 crashes = crashes + CASE WHEN status = 'running' THEN 1 ELSE 0 END, \
                 last_error_code = CASE WHEN status = 'running' THEN '{LEASE_EXPIRED}' \
                     ELSE last_error_code END, \
                 last_error_message = CASE WHEN status = 'running' THEN '{LEASE_GONE}' \
                     ELSE last_error_message END, \
                 updated_at = :now \
                 WHERE id = $1 AND attempts < max_attempts \
                 AND (status = 'queued' OR (status = 'running' AND lease_expires_at <= :now \
                     AND crashes + 1 < max_crashes)) \
                 RETURNING {c}"
            )),
            heartbeat: sql(
                "UPDATE jobs SET lease_expires_at = :now + $3, chunks_done = $4, \
                 chunks_total = COALESCE($5, chunks_total), updated_at = :now \
                 WHERE id = $1 AND status = 'running' AND lease_owner = $2 RETURNING id"
                    .to_string(),
            ),
            succeed: sql(format!(
                "UPDATE jobs SET status = 'succeeded', audio_key = $3, audio_bytes = $4, \
                 audio_seconds = $5, expires_at = $6, chunks_done = COALESCE(chunks_total, chunks_done), \
                 last_error_code = NULL, last_error_message = NULL, lease_owner = NULL, \
                 lease_expires_at = NULL, finished_at = :now, updated_at = :now \
                 WHERE id = $1 AND status = 'running' AND lease_owner = $2 RETURNING {c}"
            )),
            fail: sql(format!(
                "UPDATE jobs SET \
                 status = CASE WHEN $5 = 1 AND attempts < max_attempts THEN 'queued' ELSE 'failed' END, \
                 queued_at = CASE WHEN $5 = 1 AND attempts < max_attempts THEN :now ELSE queued_at END, \
                 finished_at = CASE WHEN $5 = 1 AND attempts < max_attempts THEN NULL ELSE :now END, \
                 last_error_code = $3, last_error_message = $4, lease_owner = NULL, \
                 lease_expires_at = NULL, updated_at = :now \
                 WHERE id = $1 AND status = 'running' AND lease_owner = $2 RETURNING {c}"
            )),
            cancel: sql(format!(
                "UPDATE jobs SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, \
                 finished_at = :now, updated_at = :now \
                 WHERE id = $1 AND status IN ('queued', 'running') RETURNING {c}"
            )),
            // The outer predicate repeats the inner one: under PostgreSQL's READ COMMITTED a row
            // that a heartbeat extended while we waited is re-checked and left alone. The batch is
            // a MATERIALIZED CTE for the reason given at `claim_expired`.
            requeue_expired: sql(format!(
                "WITH picked AS MATERIALIZED (SELECT id FROM jobs WHERE status = 'running' \
                     AND lease_expires_at <= :now ORDER BY lease_expires_at LIMIT $1 {lock}) \
                 UPDATE jobs SET \
                 status = CASE WHEN {again} THEN 'queued' ELSE 'failed' END, \
                 queued_at = CASE WHEN {again} THEN :now ELSE queued_at END, \
                 finished_at = CASE WHEN {again} THEN NULL ELSE :now END, \
                 crashes = crashes + 1, \
                 last_error_code = CASE WHEN {limit} THEN '{WORKER_CRASHED}' \
                     ELSE '{LEASE_EXPIRED}' END, \
                 last_error_message = CASE WHEN {limit} THEN \
                     'the job''s worker died or hung on ' || (crashes + 1) || ' attempts (the \
                     crash limit); it is not retried, so it cannot take down more workers' \
                     ELSE '{LEASE_GONE}' END, \
                 lease_owner = NULL, lease_expires_at = NULL, updated_at = :now \
                 WHERE id IN (SELECT id FROM picked) \
                 AND status = 'running' AND lease_expires_at <= :now RETURNING {c}",
                lock = engine.skip_locked(),
                // Every SET expression reads the row as it was, so `crashes + 1` is this crash.
                again = "attempts < max_attempts AND crashes + 1 < max_crashes",
                limit = "crashes + 1 >= max_crashes",
            )),
            stale_queued: sql(format!(
                "SELECT {c} FROM jobs WHERE status = 'queued' AND queued_at <= :now - $1 \
                 ORDER BY queued_at, id LIMIT $2"
            )),
            // Only succeeded rows reach here, and every worker-side query requires `queued` or
            // `running`, so the sweeper can borrow the lease columns without new ones. The batch
            // is picked in a MATERIALIZED CTE: PostgreSQL may re-run an `IN (SELECT .. LIMIT ..
            // SKIP LOCKED)` subquery per outer row and so claim more than the limit (seen in the
            // concurrent-sweepers test). The outer predicate re-checks rows a concurrent sweeper
            // took while we waited.
            claim_expired: sql(format!(
                "WITH picked AS MATERIALIZED (SELECT id FROM jobs WHERE status = 'succeeded' \
                     AND expires_at IS NOT NULL AND expires_at <= :now AND expired_at IS NULL \
                     AND (lease_expires_at IS NULL OR lease_expires_at <= :now) \
                     ORDER BY expires_at LIMIT $3 {lock}) \
                 UPDATE jobs SET lease_owner = $1, lease_expires_at = :now + $2, updated_at = :now \
                 WHERE id IN (SELECT id FROM picked) \
                 AND status = 'succeeded' AND expired_at IS NULL \
                 AND (lease_expires_at IS NULL OR lease_expires_at <= :now) RETURNING {c}",
                lock = engine.skip_locked()
            )),
            mark_expired: sql(
                "UPDATE jobs SET expired_at = :now, lease_owner = NULL, lease_expires_at = NULL, \
                 updated_at = :now \
                 WHERE id = $1 AND status = 'succeeded' AND lease_owner = $2 \
                 AND expired_at IS NULL RETURNING id"
                    .to_string(),
            ),
            queued_by_lane: "SELECT lane, COUNT(*) AS n FROM jobs WHERE status = 'queued' \
                 GROUP BY lane"
                .to_string(),
        }
    }
}
