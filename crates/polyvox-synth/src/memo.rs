//! The hook for a sentence-level cache ([`ChunkMemo`]): before a chunk goes to the model, the
//! pipeline asks the memo for that chunk's PCM; after a model call it hands the PCM over to be
//! remembered. Storage (Redis, memory) and key hashing live behind the trait, outside this crate.
//!
//! The memo sees the raw model output, before fades and pauses, so a remembered chunk goes
//! through exactly the same finishing as a fresh one and the joins are identical either way.
//! Cache trouble never fails a synthesis: an implementation answers `None` and logs instead.
//!
//! A timed synthesis also needs the model's per-token durations; a memo that keeps them beside
//! the PCM answers both, and one that does not makes timed syntheses call the model.

use futures::FutureExt;
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

    /// The remembered per-token durations for `key` (pads included, in samples), which a timed
    /// synthesis needs beside the PCM; `None` where the memo keeps none (a timed synthesis then
    /// calls the model).
    fn lookup_durations(&self, _key: ChunkKey<'_>) -> BoxFuture<'static, Option<Vec<u32>>> {
        async { None }.boxed()
    }

    /// Remembers the model's durations for `key`; best effort.
    fn remember_durations(&self, _key: ChunkKey<'_>, _durations: &[u32]) -> BoxFuture<'static, ()> {
        async {}.boxed()
    }
}
