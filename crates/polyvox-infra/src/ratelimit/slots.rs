//! Concurrency caps shared by every API instance: at most `limit` holders of a bucket at once
//! (a key's syntheses in progress), on Redis or in memory.
//!
//! Design: a slot is a lease, not a counter. A counter that an instance increments and then
//! crashes before decrementing leaks the slot forever; a lease that nobody renews expires.
//! - On Redis a bucket is a sorted set of holder ids scored by their lease's expiry, by Redis's
//!   own clock (`TIME`, so the instances' clocks never matter). Taking a slot drops expired
//!   holders, counts the rest and adds itself, in one script, so two instances cannot both take
//!   the last slot. Holders renew their lease while they run ([`SlotLimiter::renew`]); the set
//!   itself expires with its last lease, so idle keys leave nothing behind.
//! - In memory the same rules hold per process (the embedded default, or no Redis).
//! - A crashed instance's slots come back one lease later, at most.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use crate::Result;
use crate::call::{instrumented, redis_manager};
use crate::names::system::REDIS;

/// Slots of a bucket held at once, with leases that expire unless renewed.
#[async_trait::async_trait]
pub trait SlotLimiter: Send + Sync {
    /// Takes one of `limit` slots of `bucket` for `holder` (a unique id) for `lease`; `false`
    /// when all are held.
    async fn take(&self, bucket: &str, holder: &str, limit: u64, lease: Duration) -> Result<bool>;
    /// Extends `holder`'s lease; `false` if it had already expired (the slot may be someone
    /// else's now).
    async fn renew(&self, bucket: &str, holder: &str, lease: Duration) -> Result<bool>;
    /// Gives `holder`'s slot back (nothing if it has none).
    async fn release(&self, bucket: &str, holder: &str) -> Result<()>;
}

/// Buckets kept before empty ones are swept.
const SWEEP_AT: usize = 10_000;

/// In-process [`SlotLimiter`].
#[derive(Debug, Default)]
pub struct MemorySlots {
    buckets: Mutex<HashMap<String, HashMap<String, Instant>>>,
}

impl MemorySlots {
    pub fn new() -> Self {
        Self::default()
    }

    fn buckets(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, Instant>>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl SlotLimiter for MemorySlots {
    async fn take(&self, bucket: &str, holder: &str, limit: u64, lease: Duration) -> Result<bool> {
        let now = Instant::now();
        let mut map = self.buckets();
        if map.len() >= SWEEP_AT {
            map.retain(|_, holders| holders.values().any(|until| *until > now));
        }
        let holders = map.entry(bucket.to_string()).or_default();
        holders.retain(|_, until| *until > now);
        if holders.len() as u64 >= limit {
            return Ok(false);
        }
        holders.insert(holder.to_string(), now + lease);
        Ok(true)
    }

    async fn renew(&self, bucket: &str, holder: &str, lease: Duration) -> Result<bool> {
        let now = Instant::now();
        let mut map = self.buckets();
        let Some(until) = map.get_mut(bucket).and_then(|h| h.get_mut(holder)) else {
            return Ok(false);
        };
        if *until <= now {
            return Ok(false);
        }
        *until = now + lease;
        Ok(true)
    }

    async fn release(&self, bucket: &str, holder: &str) -> Result<()> {
        let mut map = self.buckets();
        if let Some(holders) = map.get_mut(bucket) {
            holders.remove(holder);
            if holders.is_empty() {
                map.remove(bucket);
            }
        }
        Ok(())
    }
}

/// KEYS[1] = bucket; ARGV = limit, lease ms, holder. Returns 1 when the slot was taken.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// KEYS[1] = bucket; ARGV = lease ms, holder. Returns 1 when the lease was still held.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not expiry or tonumber(expiry) <= now then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
";

/// Redis-backed [`SlotLimiter`], shared by every API instance on the same server and prefix.
#[derive(Clone)]
pub struct RedisSlots {
    conn: ConnectionManager,
    take: redis::Script,
    renew: redis::Script,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSlots")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisSlots {
    /// Connects; buckets live under `{prefix}:slots:`.
    pub async fn connect(url: &str, prefix: &str, call_timeout: Duration) -> Result<Self> {
        let conn = redis_manager(redis::Client::open(url)?, call_timeout).await?;
        Ok(Self {
            conn,
            take: redis::Script::new(TAKE),
            renew: redis::Script::new(RENEW),
            prefix: format!("{prefix}:slots:"),
            timeout: call_timeout,
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait::async_trait]
impl SlotLimiter for RedisSlots {
    async fn take(&self, bucket: &str, holder: &str, limit: u64, lease: Duration) -> Result<bool> {
        let mut conn = self.conn.clone();
        let mut inv = self.take.key(format!("{}{bucket}", self.prefix));
        inv.arg(limit).arg(millis(lease)).arg(holder);
        let taken: i64 = instrumented(REDIS, "slot_take", self.timeout, async move {
            Ok(inv.invoke_async(&mut conn).await?)
        })
        .await?;
        Ok(taken == 1)
    }

    async fn renew(&self, bucket: &str, holder: &str, lease: Duration) -> Result<bool> {
        let mut conn = self.conn.clone();
        let mut inv = self.renew.key(format!("{}{bucket}", self.prefix));
        inv.arg(millis(lease)).arg(holder);
        let held: i64 = instrumented(REDIS, "slot_renew", self.timeout, async move {
            Ok(inv.invoke_async(&mut conn).await?)
        })
        .await?;
        Ok(held == 1)
    }

    async fn release(&self, bucket: &str, holder: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let key = format!("{}{bucket}", self.prefix);
        let holder = holder.to_string();
        instrumented(REDIS, "slot_release", self.timeout, async move {
            let _: i64 = redis::cmd("ZREM")
                .arg(key)
                .arg(holder)
                .query_async(&mut conn)
                .await?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_slots_cap_release_and_expire() {
        let s = MemorySlots::new();
        let lease = Duration::from_secs(60);
        assert!(s.take("k", "a", 2, lease).await.unwrap());
        assert!(s.take("k", "b", 2, lease).await.unwrap());
        assert!(!s.take("k", "c", 2, lease).await.unwrap(), "both held");
        assert!(
            s.take("other", "c", 2, lease).await.unwrap(),
            "buckets are apart"
        );
        s.release("k", "a").await.unwrap();
        assert!(
            s.take("k", "c", 2, lease).await.unwrap(),
            "a gave its slot back"
        );
        // A holder that stops renewing loses its slot when the lease runs out.
        let short = Duration::from_millis(30);
        assert!(s.take("e", "gone", 1, short).await.unwrap());
        assert!(s.renew("e", "gone", short).await.unwrap());
        assert!(!s.take("e", "next", 1, short).await.unwrap());
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(!s.renew("e", "gone", short).await.unwrap(), "expired");
        assert!(s.take("e", "next", 1, short).await.unwrap());
    }
}
