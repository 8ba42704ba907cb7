//! In-process caches: [`MemoryCache`] (bounded, least-recently-used eviction, optional TTL) and
//! [`DisabledCache`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{AudioCache, CachedAudio, record_lookup};
use crate::Result;

/// A bounded in-memory cache. Eviction scans for the least recently used entry, which is
/// O(capacity) per insert into a full cache: fine for the thousands of entries one process
/// keeps, and it needs no extra dependency.
#[derive(Debug)]
pub struct MemoryCache {
    capacity: usize,
    ttl: Option<Duration>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    tick: u64,
    entries: HashMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    value: CachedAudio,
    expires: Option<Instant>,
    last_used: u64,
}

impl MemoryCache {
    /// Holds at most `capacity` entries (at least 1), each for `ttl` if given.
    pub fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        Self {
            capacity: capacity.max(1),
            ttl,
            state: Mutex::new(State::default()),
        }
    }

    /// Number of live entries (expired ones may still be counted until touched).
    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl AudioCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<CachedAudio>> {
        let now = Instant::now();
        let mut st = self.state();
        st.tick += 1;
        let tick = st.tick;
        let found = match st.entries.get_mut(key) {
            Some(e) if e.expires.is_none_or(|t| t > now) => {
                e.last_used = tick;
                Some(e.value.clone())
            }
            Some(_) => {
                st.entries.remove(key);
                None
            }
            None => None,
        };
        record_lookup("memory", found.is_some());
        Ok(found)
    }

    async fn put(&self, key: &str, entry: &CachedAudio) -> Result<()> {
        let now = Instant::now();
        let mut st = self.state();
        st.tick += 1;
        let tick = st.tick;
        if !st.entries.contains_key(key) && st.entries.len() >= self.capacity {
            // Expired entries go first; otherwise the least recently used one.
            st.entries.retain(|_, e| e.expires.is_none_or(|t| t > now));
            if st.entries.len() >= self.capacity
                && let Some(oldest) = st
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(k, _)| k.clone())
            {
                st.entries.remove(&oldest);
            }
        }
        let expires = self.ttl.map(|t| now + t);
        st.entries.insert(
            key.to_string(),
            Entry {
                value: entry.clone(),
                expires,
                last_used: tick,
            },
        );
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<()> {
        self.state().entries.remove(key);
        Ok(())
    }
}

/// The cache turned off: every lookup misses and nothing is stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct DisabledCache;

#[async_trait::async_trait]
impl AudioCache for DisabledCache {
    async fn get(&self, _key: &str) -> Result<Option<CachedAudio>> {
        record_lookup("disabled", false);
        Ok(None)
    }

    async fn put(&self, _key: &str, _entry: &CachedAudio) -> Result<()> {
        Ok(())
    }

    async fn remove(&self, _key: &str) -> Result<()> {
        Ok(())
    }
}
