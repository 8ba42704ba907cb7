//! [`RedisCache`]: entries as JSON strings with a millisecond TTL, shared by every API instance.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{AudioCache, CachedAudio, record_lookup};
use crate::call::{instrumented, redis_manager};
use crate::names::system::REDIS;
use crate::{InfraError, Result};

/// Redis-backed [`AudioCache`].
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
    ttl: Duration,
    timeout: Duration,
    chunk_prefix: String,
    chunk_ttl: Duration,
    chunk_max_bytes: usize,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl RedisCache {
    /// Connects; entries live under `{prefix}:cache:` for `ttl` (at least 1 ms).
    pub async fn connect(
        url: &str,
        prefix: &str,
        ttl: Duration,
        call_timeout: Duration,
    ) -> Result<Self> {
        let conn = redis_manager(redis::Client::open(url)?, call_timeout).await?;
        Ok(Self {
            conn,
            prefix: format!("{prefix}:cache:"),
            ttl: ttl.max(Duration::from_millis(1)),
            timeout: call_timeout,
            chunk_prefix: format!("{prefix}:chunk:"),
            chunk_ttl: ttl.max(Duration::from_millis(1)),
            chunk_max_bytes: 4 << 20,
        })
    }

    /// Sentence-cache bounds: entries (under `{prefix}:chunk:`) live for `ttl`, and chunks whose
    /// PCM exceeds `max_entry_bytes` are not stored. Redis's own `maxmemory` bounds the total.
    pub fn with_chunk_limits(mut self, ttl: Duration, max_entry_bytes: usize) -> Self {
        self.chunk_ttl = ttl.max(Duration::from_millis(1));
        self.chunk_max_bytes = max_entry_bytes;
        self
    }

    pub(super) fn chunk_key(&self, key: &str) -> String {
        format!("{}{key}", self.chunk_prefix)
    }

    pub(super) fn chunk_ttl(&self) -> Duration {
        self.chunk_ttl
    }

    pub(super) fn chunk_max_bytes(&self) -> usize {
        self.chunk_max_bytes
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub(super) async fn query<T: redis::FromRedisValue + Send>(
        &self,
        op: &'static str,
        cmd: redis::Cmd,
    ) -> Result<T> {
        let mut conn = self.conn.clone();
        instrumented(REDIS, op, self.timeout, async move {
            Ok(cmd.query_async(&mut conn).await?)
        })
        .await
    }
}

#[async_trait::async_trait]
impl AudioCache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<CachedAudio>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(key));
        let raw: Option<String> = self.query("cache_get", cmd).await?;
        let found = match raw.map(|s| serde_json::from_str::<CachedAudio>(&s)) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                // Written by an incompatible version: a miss, and the slot is reused by the
                // next put.
                tracing::warn!(key, error = %e, "unreadable cache entry ignored");
                None
            }
            None => None,
        };
        record_lookup("redis", found.is_some());
        Ok(found)
    }

    async fn put(&self, key: &str, entry: &CachedAudio) -> Result<()> {
        let json = serde_json::to_string(entry).map_err(|e| InfraError::Corrupt(e.to_string()))?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key))
            .arg(json)
            .arg("PX")
            .arg(u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX));
        self.query::<()>("cache_set", cmd).await
    }

    async fn remove(&self, key: &str) -> Result<()> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(key));
        self.query::<()>("cache_del", cmd).await
    }
}
