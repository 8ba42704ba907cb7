//! The hook for a sentence-level cache ([`ChunkMemo`]): before a chunk goes to the model, the
//! pipeline asks the memo for that chunk's PCM; after a model call it hands the PCM over to be
//! remembered. Storage (Redis, memory) and key hashing live behind the trait, outside this crate.
//!
//! The memo sees the raw model output, before fades and pauses, so a remembered chunk goes
//! through exactly the same finishing as a fresh one and the joins are identical either way.
//! Cache trouble never fails a synthesis: an implementation answers `None` and logs instead.

use futures::future::BoxFuture;

/// Everything the model's output for one chunk depends on, besides the model itself.
#[derive(Debug, Clone, Copy)]
pub struct ChunkKey<'a> {
    /// The chunk's phoneme ids (without pads).
    pub ids: &'a [i64],
    /// Canonical voice or blend (picks the style vector together with `ids.len()`).
    pub voice: &'a str,
    pub speed: f32,
}

/// A sentence-level cache as the pipeline uses it.
pub trait ChunkMemo: Send + Sync {
    /// The remembered PCM for `key`, or `None` (also on any failure).
    fn lookup(&self, key: ChunkKey<'_>) -> BoxFuture<'static, Option<Vec<f32>>>;

    /// Remembers the model's PCM for `key`; best effort.
    fn remember(&self, key: ChunkKey<'_>, pcm: &[f32]) -> BoxFuture<'static, ()>;
}
