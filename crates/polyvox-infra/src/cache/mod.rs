//! The result cache: a content address ([`cache_key`]) → where the finished audio already is.
//! A hit means no synthesis at all.
//!
//! Three backends behind one trait: Redis (shared by every API instance, entries expire with a
//! TTL), memory (one process, bounded, least-recently-used eviction) and disabled (always a miss;
//! a real backend so "cache off" runs the same code path as "cache on"). The cache only points at
//! audio; if retention deleted the object, the caller should treat the hit as a miss and
//! [`AudioCache::remove`] the entry.

mod key;
mod memory;
mod redis;

use crate::{Result, names};

pub use self::key::{CACHE_KEY_VERSION, cache_key, normalize_text};
pub use self::memory::{DisabledCache, MemoryCache};
pub use self::redis::RedisCache;

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
