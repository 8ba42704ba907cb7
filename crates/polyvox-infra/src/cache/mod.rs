//! The result cache: a content address ([`cache_key`]) → where the finished audio already is.
//! A hit means no synthesis at all.
//!
//! Three backends behind one trait: Redis (shared by every API instance, entries expire with a
//! TTL), memory (one process, bounded, least-recently-used eviction) and disabled (always a miss;
//! a real backend so "cache off" runs the same code path as "cache on"). The cache only points at
//! audio; if retention deleted the object, the caller should treat the hit as a miss and
//! [`AudioCache::remove`] the entry.

mod chunks;
mod memory;
mod redis;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Result, names};

pub use self::chunks::{
    CHUNK_KEY_VERSION, ChunkCache, MemoryChunkCache, chunk_key, decode_pcm, encode_pcm,
};
pub use self::memory::{DisabledCache, MemoryCache};
pub use self::redis::RedisCache;
pub use polyvox_core::cache_key::{CACHE_KEY_VERSION, cache_key, normalize_text};

/// What the cache remembers about a finished synthesis.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CachedAudio {
    /// Object key in the audio store.
    pub audio_key: String,
    pub format: polyvox_core::AudioFormat,
    /// Object size in bytes.
    pub bytes: u64,
    /// Audio duration.
    pub seconds: f64,
    /// End of the object's retention (Unix milliseconds); an entry past it is a miss. Absent in
    /// entries written before retention existed, and for objects kept forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

impl CachedAudio {
    /// Whether the object this entry points at is past its retention at `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires_at_ms
            .is_some_and(|t| t <= crate::db::unix_millis(now))
    }

    /// The retention end as a timestamp.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at_ms
            .map(|ms| UNIX_EPOCH + std::time::Duration::from_millis(ms))
    }
}

/// Content-addressed lookup of finished audio.
#[async_trait::async_trait]
pub trait AudioCache: Send + Sync {
    /// The entry for `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<CachedAudio>>;

    /// Stores or replaces the entry for `key`.
    async fn put(&self, key: &str, entry: &CachedAudio) -> Result<()>;

    /// Forgets `key` (absent keys are fine).
    async fn remove(&self, key: &str) -> Result<()>;
}

/// Counts a lookup in `polyvox_infra_cache_lookups_total{backend,result}`.
fn record_lookup(backend: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!(names::CACHE_LOOKUPS_TOTAL, "backend" => backend, "result" => result)
        .increment(1);
}
