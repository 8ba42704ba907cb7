//! The sentence-level cache: the raw model output (PCM) of one chunk, keyed by exactly what the
//! model sees, so a long text that repeats sentences already synthesized (in any earlier request)
//! skips those model calls.
//!
//! Design:
//! - The key is the model input, not the text: the chunk's phoneme ids, the canonical voice (or
//!   blend) that picks the style vector, the speed, the model id and the front-end version. Two
//!   texts that chunk to the same ids get the same audio; the language needs no place of its own
//!   because it already shaped the ids, and neither does a pronunciation lexicon: an entry that
//!   changes how a word is said changes the ids of every chunk holding it, so a chunk spoken
//!   with an older entry is never a hit.
//! - The value is the model's PCM before any fade or pause. The pipeline applies those after a
//!   hit exactly as after a model call, so a cached chunk joins its neighbours sample-for-sample
//!   as a fresh one would: caching cannot change the audio.
//! - Samples are stored as little-endian `f32` (about 96 KB per second of audio), not as 16-bit,
//!   precisely so that a hit is bit-identical to a miss.
//! - Bounded: the memory backend evicts least-recently-used entries past a byte budget; Redis
//!   entries expire with a TTL and chunks above a size cap are not stored at all.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::{DisabledCache, RedisCache};
use crate::{InfraError, Result};

/// Bumped when the key derivation or the value layout changes.
pub const CHUNK_KEY_VERSION: &str = "polyvox-chunk-v1";

/// Content address of one chunk's PCM (hex SHA-256 over length-prefixed fields).
pub fn chunk_key(
    ids: &[i64],
    voice: &str,
    speed: f32,
    model_id: &str,
    frontend_version: &str,
) -> String {
    let mut h = Sha256::new();
    let speed = format!("{speed:.4}");
    for f in [CHUNK_KEY_VERSION, voice, &speed, model_id, frontend_version] {
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
    h.update((ids.len() as u64).to_le_bytes());
    for id in ids {
        h.update(id.to_le_bytes());
    }
    hex::encode(h.finalize())
}

/// PCM → the stored bytes.
pub fn encode_pcm(pcm: &[f32]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Stored bytes → PCM; `Corrupt` if the length is not a whole number of samples.
pub fn decode_pcm(bytes: &[u8]) -> Result<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(InfraError::Corrupt(format!(
            "chunk cache value of {} bytes is not whole f32 samples",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Where synthesized chunks are remembered.
#[async_trait::async_trait]
pub trait ChunkCache: Send + Sync {
    /// The PCM stored under `key`, if any.
    async fn get_chunk(&self, key: &str) -> Result<Option<Vec<f32>>>;

    /// Remembers `pcm` under `key` (a backend may decline entries above its size cap).
    async fn put_chunk(&self, key: &str, pcm: &[f32]) -> Result<()>;
}

#[async_trait::async_trait]
impl ChunkCache for DisabledCache {
    async fn get_chunk(&self, _key: &str) -> Result<Option<Vec<f32>>> {
        Ok(None)
    }

    async fn put_chunk(&self, _key: &str, _pcm: &[f32]) -> Result<()> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl ChunkCache for RedisCache {
    async fn get_chunk(&self, key: &str) -> Result<Option<Vec<f32>>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.chunk_key(key));
        let raw: Option<Vec<u8>> = self.query("chunk_get", cmd).await?;
        raw.map(|b| decode_pcm(&b)).transpose()
    }

    async fn put_chunk(&self, key: &str, pcm: &[f32]) -> Result<()> {
        let bytes = encode_pcm(pcm);
        if bytes.len() > self.chunk_max_bytes() {
            return Ok(());
        }
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.chunk_key(key))
            .arg(bytes)
            .arg("PX")
            .arg(u64::try_from(self.chunk_ttl().as_millis()).unwrap_or(u64::MAX));
        self.query::<()>("chunk_set", cmd).await
    }
}

/// An in-process chunk cache bounded by the bytes of PCM it holds.
#[derive(Debug)]
pub struct MemoryChunkCache {
    max_bytes: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    tick: u64,
    bytes: usize,
    entries: HashMap<String, (std::sync::Arc<[f32]>, u64)>,
}

impl MemoryChunkCache {
    /// Holds at most `max_bytes` of PCM (4 bytes per sample); a chunk larger than that is not kept.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            state: Mutex::new(State::default()),
        }
    }

    /// Bytes of PCM held now.
    pub fn bytes(&self) -> usize {
        self.state().bytes
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    /// Whether nothing is held.
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
impl ChunkCache for MemoryChunkCache {
    async fn get_chunk(&self, key: &str) -> Result<Option<Vec<f32>>> {
        let mut st = self.state();
        st.tick += 1;
        let tick = st.tick;
        Ok(st.entries.get_mut(key).map(|(pcm, used)| {
            *used = tick;
            pcm.to_vec()
        }))
    }

    async fn put_chunk(&self, key: &str, pcm: &[f32]) -> Result<()> {
        let size = pcm.len() * 4;
        if size > self.max_bytes {
            return Ok(());
        }
        let mut st = self.state();
        st.tick += 1;
        let tick = st.tick;
        if let Some((old, _)) = st.entries.remove(key) {
            st.bytes -= old.len() * 4;
        }
        // O(entries) per eviction: a budget of tens of MB holds hundreds of chunks, not millions.
        while st.bytes + size > self.max_bytes {
            let Some(oldest) = st
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((old, _)) = st.entries.remove(&oldest) {
                st.bytes -= old.len() * 4;
            }
        }
        st.bytes += size;
        st.entries.insert(key.to_string(), (pcm.into(), tick));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_change_with_every_model_input() {
        let base = chunk_key(&[1, 2, 3], "af_heart", 1.0, "m", "f");
        assert_eq!(base, chunk_key(&[1, 2, 3], "af_heart", 1.0, "m", "f"));
        for other in [
            chunk_key(&[1, 2, 4], "af_heart", 1.0, "m", "f"),
            chunk_key(&[1, 2], "af_heart", 1.0, "m", "f"),
            chunk_key(&[1, 2, 3], "af_bella", 1.0, "m", "f"),
            chunk_key(&[1, 2, 3], "af_heart", 1.1, "m", "f"),
            chunk_key(&[1, 2, 3], "af_heart", 1.0, "m2", "f"),
            chunk_key(&[1, 2, 3], "af_heart", 1.0, "m", "f2"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn pcm_round_trips_bit_for_bit_and_bad_lengths_are_refused() {
        let pcm = vec![0.0, -1.0, 0.123_456_79, f32::MIN_POSITIVE, 1e-30];
        let back = decode_pcm(&encode_pcm(&pcm)).unwrap();
        assert_eq!(
            back.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
            pcm.iter().map(|s| s.to_bits()).collect::<Vec<_>>()
        );
        assert!(matches!(
            decode_pcm(&[0, 0, 0]),
            Err(InfraError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn memory_cache_keeps_to_its_byte_budget_evicting_the_least_recent() {
        let c = MemoryChunkCache::new(40); // 10 samples
        c.put_chunk("a", &[1.0; 4]).await.unwrap();
        c.put_chunk("b", &[2.0; 4]).await.unwrap();
        assert_eq!(
            c.get_chunk("a").await.unwrap(),
            Some(vec![1.0; 4]),
            "a is now fresher than b"
        );
        c.put_chunk("c", &[3.0; 4]).await.unwrap();
        assert!(c.bytes() <= 40, "{} bytes held", c.bytes());
        assert_eq!(
            c.get_chunk("b").await.unwrap(),
            None,
            "b was least recently used"
        );
        assert!(c.get_chunk("a").await.unwrap().is_some());
        assert!(c.get_chunk("c").await.unwrap().is_some());
        c.put_chunk("huge", &[0.0; 11]).await.unwrap();
        assert_eq!(
            c.get_chunk("huge").await.unwrap(),
            None,
            "above the budget: not kept"
        );
        c.put_chunk("a", &[9.0; 2]).await.unwrap();
        assert_eq!(
            c.bytes(),
            8 + 16,
            "replacing an entry releases its old size"
        );
    }

    #[tokio::test]
    async fn the_disabled_cache_never_hits() {
        DisabledCache.put_chunk("k", &[1.0]).await.unwrap();
        assert_eq!(DisabledCache.get_chunk("k").await.unwrap(), None);
    }
}
