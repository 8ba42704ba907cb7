//! Monthly character quotas without a per-request `SUM`: a counter per key and UTC month, checked
//! and incremented in one step.
//!
//! Design:
//! - [`RedisQuota`] (when Redis is configured) keeps the counter in Redis, so every API instance
//!   draws on the same allowance; one script checks and `INCRBY`s atomically, so concurrent
//!   requests cannot together pass the quota. The key expires a week after its month ends.
//! - [`MemoryQuota`] keeps it in this process (one instance, or no Redis).
//! - Either is seeded from the usage store (`month_chars`) the first time a key is seen in a month
//!   (per process for memory; whenever the Redis key is missing for Redis, such as after a Redis
//!   restart). Characters other instances counted but had not flushed at that moment are missed,
//!   at most one flush interval's worth; the store's own rows stay the record of usage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use redis::aio::ConnectionManager;

use super::{UsageStore, next_month_start};
use crate::call::{instrumented, redis_manager};
use crate::names::system::REDIS;
use crate::{InfraError, Result};

/// The answer of [`QuotaCounter::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaDecision {
    pub allowed: bool,
    /// Characters counted this month after the call (a refused call counts nothing).
    pub used: u64,
}

/// Per-key monthly character counters.
#[async_trait::async_trait]
pub trait QuotaCounter: Send + Sync {
    /// Counts `chars` for `key_id` in `month` (`YYYY-MM`) if the month's total stays within
    /// `quota`; otherwise counts nothing and refuses.
    async fn take(
        &self,
        key_id: &str,
        month: &str,
        chars: u64,
        quota: u64,
    ) -> Result<QuotaDecision>;

    /// Uncounts `chars` that an earlier [`QuotaCounter::take`] of the same month counted for a
    /// request that turned out to owe nothing (a submission that joined a job already paid for).
    /// Never goes below zero; a counter that is gone (a new month, Redis restarted) is left
    /// alone, to be seeded from the usage rows, which never held these characters.
    async fn give_back(&self, key_id: &str, month: &str, chars: u64) -> Result<()>;
}

fn decide(used: &mut u64, chars: u64, quota: u64) -> QuotaDecision {
    if used.saturating_add(chars) > quota {
        return QuotaDecision {
            allowed: false,
            used: *used,
        };
    }
    *used += chars;
    QuotaDecision {
        allowed: true,
        used: *used,
    }
}

/// Counters in this process.
pub struct MemoryQuota {
    seed: Arc<dyn UsageStore>,
    /// Key id → (month, characters); one entry per key, replaced when a new month starts.
    months: Mutex<HashMap<String, (String, u64)>>,
}

impl MemoryQuota {
    /// Counters seeded from `seed`'s `month_chars`.
    pub fn new(seed: Arc<dyn UsageStore>) -> Self {
        Self {
            seed,
            months: Mutex::new(HashMap::new()),
        }
    }

    fn months(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, u64)>> {
        self.months.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl QuotaCounter for MemoryQuota {
    async fn take(
        &self,
        key_id: &str,
        month: &str,
        chars: u64,
        quota: u64,
    ) -> Result<QuotaDecision> {
        if let Some((m, used)) = self.months().get_mut(key_id)
            && m == month
        {
            return Ok(decide(used, chars, quota));
        }
        // Read outside the lock. If another request seeded meanwhile, its entry stays: it may
        // already count requests that our read does not include.
        let seeded = self.seed.month_chars(key_id, month).await?;
        let mut months = self.months();
        let entry = months
            .entry(key_id.to_string())
            .or_insert_with(|| (month.to_string(), seeded));
        if entry.0.as_str() < month {
            *entry = (month.to_string(), seeded);
        }
        Ok(decide(&mut entry.1, chars, quota))
    }

    async fn give_back(&self, key_id: &str, month: &str, chars: u64) -> Result<()> {
        if let Some((m, used)) = self.months().get_mut(key_id)
            && m == month
        {
            *used = used.saturating_sub(chars);
        }
        Ok(())
    }
}

/// KEYS[1] = counter; ARGV[1] = chars to uncount. A missing counter stays missing.
const GIVE_BACK: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local n = math.min(tonumber(ARGV[1]), tonumber(v))
return redis.call('DECRBY', KEYS[1], n)
";

/// KEYS[1] = counter; ARGV = seed ('' = none), chars, expire-at (unix s), quota.
/// Returns {-1, 0} when the counter is missing and no seed was given, else {allowed, used}.
/// Counts stay far below 2^53, exact in Lua's doubles.
const SCRIPT: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then
  if ARGV[1] == '' then return {-1, 0} end
  v = ARGV[1]
  redis.call('SET', KEYS[1], v)
  redis.call('EXPIREAT', KEYS[1], ARGV[3])
end
local used = tonumber(v)
local n = tonumber(ARGV[2])
if used + n > tonumber(ARGV[4]) then return {0, used} end
return {1, redis.call('INCRBY', KEYS[1], n)}
";

/// Counters in Redis, shared by every API instance on the same server and prefix.
#[derive(Clone)]
pub struct RedisQuota {
    conn: ConnectionManager,
    script: redis::Script,
    give_back: redis::Script,
    prefix: String,
    timeout: Duration,
    seed: Arc<dyn UsageStore>,
}

impl std::fmt::Debug for RedisQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQuota")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisQuota {
    /// Connects; counters live under `{prefix}:quota:` and are seeded from `seed`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        call_timeout: Duration,
        seed: Arc<dyn UsageStore>,
    ) -> Result<Self> {
        let conn = redis_manager(redis::Client::open(url)?, call_timeout).await?;
        Ok(Self {
            conn,
            script: redis::Script::new(SCRIPT),
            give_back: redis::Script::new(GIVE_BACK),
            prefix: format!("{prefix}:quota:"),
            timeout: call_timeout,
            seed,
        })
    }

    async fn invoke(
        &self,
        counter: &str,
        seed: Option<u64>,
        chars: u64,
        expire_at: u64,
        quota: u64,
    ) -> Result<(i64, u64)> {
        let mut conn = self.conn.clone();
        let mut inv = self.script.key(counter);
        inv.arg(seed.map(|s| s.to_string()).unwrap_or_default())
            .arg(chars)
            .arg(expire_at)
            .arg(quota);
        let (state, used): (i64, i64) = instrumented(REDIS, "quota", self.timeout, async move {
            Ok(inv.invoke_async(&mut conn).await?)
        })
        .await?;
        Ok((state, u64::try_from(used).unwrap_or(0)))
    }
}

/// A week after the end of `month` (`YYYY-MM`), in Unix seconds.
fn expiry(month: &str) -> Result<u64> {
    let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|e| InfraError::Config(format!("month '{month}' is not YYYY-MM: {e}")))?;
    let start = SystemTime::from(first.and_time(chrono::NaiveTime::MIN).and_utc());
    let end = next_month_start(start) + Duration::from_secs(7 * 86_400);
    Ok(crate::db::unix_millis(end) / 1000)
}

#[async_trait::async_trait]
impl QuotaCounter for RedisQuota {
    async fn take(
        &self,
        key_id: &str,
        month: &str,
        chars: u64,
        quota: u64,
    ) -> Result<QuotaDecision> {
        let counter = format!("{}{key_id}:{month}", self.prefix);
        let expire_at = expiry(month)?;
        let mut r = self.invoke(&counter, None, chars, expire_at, quota).await?;
        if r.0 < 0 {
            let seeded = self.seed.month_chars(key_id, month).await?;
            r = self
                .invoke(&counter, Some(seeded), chars, expire_at, quota)
                .await?;
        }
        Ok(QuotaDecision {
            allowed: r.0 == 1,
            used: r.1,
        })
    }

    async fn give_back(&self, key_id: &str, month: &str, chars: u64) -> Result<()> {
        let mut conn = self.conn.clone();
        let mut inv = self
            .give_back
            .key(format!("{}{key_id}:{month}", self.prefix));
        inv.arg(chars);
        instrumented(REDIS, "quota_give_back", self.timeout, async move {
            let _left: i64 = inv.invoke_async(&mut conn).await?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_expire_a_week_after_their_month() {
        // 2027-01-08T00:00:00Z
        assert_eq!(expiry("2026-12").unwrap(), 1_799_366_400);
        assert!(expiry("December").is_err());
    }

    #[test]
    fn a_take_that_would_pass_the_quota_counts_nothing() {
        let mut used = 90;
        assert_eq!(
            decide(&mut used, 20, 100),
            QuotaDecision {
                allowed: false,
                used: 90
            }
        );
        assert_eq!(
            decide(&mut used, 10, 100),
            QuotaDecision {
                allowed: true,
                used: 100
            }
        );
    }
}
