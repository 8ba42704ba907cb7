//! Row ↔ domain conversion, shared by both engines (the `Any` driver yields the same row type).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AudioOutput, Job, JobError, JobStatus};
use crate::{InfraError, Lane, Result};

/// Columns in the order [`decode_job`] expects; used in every `SELECT` and `RETURNING`.
pub(super) const JOB_COLUMNS: &str = "id, owner, status, lane, request, cache_key, \
    idempotency_key, attempts, max_attempts, last_error_code, last_error_message, lease_owner, \
    lease_expires_at, chunks_done, chunks_total, audio_key, audio_bytes, audio_seconds, \
    webhook_url, created_at, queued_at, started_at, finished_at, expires_at, expired_at, \
    request_fingerprint, crashes, max_crashes";

pub(super) fn decode_job(row: &AnyRow) -> Result<Job> {
    let status: String = row.try_get("status")?;
    let lane: String = row.try_get("lane")?;
    let request: String = row.try_get("request")?;
    let id: String = row.try_get("id")?;
    let last_error = match (
        row.try_get::<Option<String>, _>("last_error_code")?,
        row.try_get::<Option<String>, _>("last_error_message")?,
    ) {
        (Some(code), message) => Some(JobError {
            code,
            message: message.unwrap_or_default(),
        }),
        (None, _) => None,
    };
    let audio = match (
        row.try_get::<Option<String>, _>("audio_key")?,
        row.try_get::<Option<i64>, _>("audio_bytes")?,
        row.try_get::<Option<f64>, _>("audio_seconds")?,
    ) {
        (Some(key), bytes, seconds) => Some(AudioOutput {
            key,
            bytes: bytes.and_then(|b| u64::try_from(b).ok()).unwrap_or(0),
            seconds: seconds.unwrap_or(0.0),
            expires_at: row.try_get::<Option<i64>, _>("expires_at")?.map(to_time),
        }),
        _ => None,
    };
    Ok(Job {
        status: JobStatus::parse(&status)
            .ok_or_else(|| InfraError::Corrupt(format!("job {id}: unknown status '{status}'")))?,
        lane: Lane::parse(&lane)
            .ok_or_else(|| InfraError::Corrupt(format!("job {id}: unknown lane '{lane}'")))?,
        request: serde_json::from_str(&request)
            .map_err(|e| InfraError::Corrupt(format!("job {id}: request is not JSON: {e}")))?,
        owner: row.try_get("owner")?,
        cache_key: row.try_get("cache_key")?,
        idempotency_key: row.try_get("idempotency_key")?,
        attempts: to_u32(row.try_get("attempts")?),
        max_attempts: to_u32(row.try_get("max_attempts")?),
        crashes: to_u32(row.try_get("crashes")?),
        max_crashes: to_u32(row.try_get("max_crashes")?),
        last_error,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: row
            .try_get::<Option<i64>, _>("lease_expires_at")?
            .map(to_time),
        chunks_done: to_u32(row.try_get("chunks_done")?),
        chunks_total: row.try_get::<Option<i64>, _>("chunks_total")?.map(to_u32),
        audio,
        webhook_url: row.try_get("webhook_url")?,
        request_fingerprint: row.try_get("request_fingerprint")?,
        created_at: to_time(row.try_get("created_at")?),
        queued_at: to_time(row.try_get("queued_at")?),
        started_at: row.try_get::<Option<i64>, _>("started_at")?.map(to_time),
        finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(to_time),
        expired_at: row.try_get::<Option<i64>, _>("expired_at")?.map(to_time),
        id,
    })
}

/// Unix milliseconds → `SystemTime`; values before the epoch clamp to it.
pub(crate) fn to_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// A duration as the `BIGINT` milliseconds the SQL adds to its clock.
pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
