//! API keys and usage metering: who may call the API, with which limits, and what they used.
//!
//! Design:
//! - A key's token is `pvx_<id>_<secret>`. The id is public (logs, `keys list`, usage rows); the
//!   secret is 256 random bits and only its SHA-256 is stored. Authentication looks the key up by
//!   id and compares hashes in constant time, so neither the database index nor the comparison
//!   leaks how much of a guessed secret was right. A fast hash is enough: the secret is random,
//!   not a password, so there is nothing for a slow hash to protect against dictionary attacks.
//! - Usage is one row per key and UTC day, incremented with an upsert, so any number of API
//!   instances and workers add to it concurrently; a month is the sum of its days. The API does
//!   not write it per request: [`UsageMeter`] sums in memory and flushes every few seconds, so a
//!   cache hit costs no database write.
//! - Monthly quotas are checked against a [`QuotaCounter`] (Redis, shared by every API instance,
//!   or memory), seeded once from the month's rows, never against a per-request `SUM`.
//! - Limits live on the key; `None` means "the server's default", decided by the API, so an
//!   operator can change defaults without touching every key.

mod meter;
mod quota;
mod sql;
mod token;

use std::time::SystemTime;

use crate::Result;

pub use meter::{MeterConfig, UsageMeter};
pub use quota::{MemoryQuota, QuotaCounter, QuotaDecision, RedisQuota};
pub use sql::SqlTenancy;
pub(crate) use sql::USAGE_UPSERT;
pub use token::{KeyToken, TOKEN_PREFIX};

/// Per-key limits; `None` = the server default, `Some(0)` = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct KeyLimits {
    pub requests_per_minute: Option<u64>,
    pub chars_per_minute: Option<u64>,
    /// Characters per calendar month (UTC); `None` = no quota.
    pub monthly_chars: Option<u64>,
    /// Syntheses (`/v1/audio/speech` requests) in progress at once.
    pub concurrent_syntheses: Option<u64>,
}

/// An API key as stored (never the secret).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// Lowercase hex SHA-256 of the secret.
    #[serde(skip)]
    pub secret_sha256: String,
    pub limits: KeyLimits,
    #[serde(serialize_with = "ser_ms")]
    pub created_at: SystemTime,
    #[serde(serialize_with = "ser_opt_ms")]
    pub revoked_at: Option<SystemTime>,
}

impl ApiKey {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// A newly created key: the only time the full token exists outside the client.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub token: String,
}

/// What one request (or job) adds to a key's usage.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct UsageDelta {
    pub requests: u64,
    pub characters: u64,
    pub audio_seconds: f64,
    pub cache_hits: u64,
}

impl std::ops::AddAssign for UsageDelta {
    fn add_assign(&mut self, o: Self) {
        self.requests = self.requests.saturating_add(o.requests);
        self.characters = self.characters.saturating_add(o.characters);
        self.audio_seconds += o.audio_seconds;
        self.cache_hits = self.cache_hits.saturating_add(o.cache_hits);
    }
}

/// What to add to one key's usage on one UTC day (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub key_id: String,
    pub day: String,
    pub delta: UsageDelta,
}

/// A key's usage on one UTC day (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct DayUsage {
    pub day: String,
    pub requests: u64,
    pub characters: u64,
    pub audio_seconds: f64,
    pub cache_hits: u64,
}

/// Key management and lookup.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// Creates a key named `name` and returns it with its token (shown once).
    async fn create_key(&self, name: &str, limits: KeyLimits) -> Result<CreatedKey>;
    /// The key with this id, revoked or not.
    async fn key(&self, id: &str) -> Result<Option<ApiKey>>;
    /// Every key, oldest first.
    async fn list_keys(&self) -> Result<Vec<ApiKey>>;
    /// Revokes a key (idempotent); `NotFound` if there is no such key.
    async fn revoke_key(&self, id: &str) -> Result<ApiKey>;
}

/// Usage metering.
#[async_trait::async_trait]
pub trait UsageStore: Send + Sync {
    /// Adds every row to its key's usage on its day, all or nothing.
    async fn add(&self, rows: &[UsageRow]) -> Result<()>;
    /// Adds `delta` to `key_id`'s usage of the current UTC day.
    async fn record(&self, key_id: &str, delta: UsageDelta) -> Result<()> {
        let row = UsageRow {
            key_id: key_id.to_string(),
            day: utc_day(SystemTime::now()),
            delta,
        };
        self.add(std::slice::from_ref(&row)).await
    }
    /// Characters used by `key_id` in the UTC month `month` (`YYYY-MM`).
    async fn month_chars(&self, key_id: &str, month: &str) -> Result<u64>;
    /// Daily usage of `key_id` for days in `[from, to]` (`YYYY-MM-DD`, inclusive), oldest first.
    async fn days(&self, key_id: &str, from: &str, to: &str) -> Result<Vec<DayUsage>>;
}

/// `YYYY-MM-DD` of `t` in UTC.
pub fn utc_day(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.format("%Y-%m-%d").to_string()
}

/// `YYYY-MM` of `t` in UTC.
pub fn utc_month(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.format("%Y-%m").to_string()
}

/// The first instant of the UTC month after `t`: when a monthly quota resets.
pub fn next_month_start(t: SystemTime) -> SystemTime {
    use chrono::{Datelike, TimeZone};
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    let (y, m) = if dt.month() == 12 {
        (dt.year() + 1, 1)
    } else {
        (dt.year(), dt.month() + 1)
    };
    chrono::Utc
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .map(SystemTime::from)
        .unwrap_or(t)
}

fn ser_ms<S: serde::Serializer>(t: &SystemTime, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(crate::db::unix_millis(*t))
}

fn ser_opt_ms<S: serde::Serializer>(
    t: &Option<SystemTime>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&crate::db::unix_millis(*t)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn calendar_helpers_use_utc() {
        // 2026-12-31T23:59:59Z
        let t = UNIX_EPOCH + Duration::from_secs(1_798_761_599);
        assert_eq!(utc_day(t), "2026-12-31");
        assert_eq!(utc_month(t), "2026-12");
        let next = next_month_start(t);
        assert_eq!(next.duration_since(t).unwrap(), Duration::from_secs(1));
        assert_eq!(utc_day(next), "2027-01-01");
    }
}
