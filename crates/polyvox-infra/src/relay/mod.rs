//! The relay: how a worker's audio reaches the API instance that holds the client, chunk by
//! chunk, and how that instance learns the job's outcome without polling the database.
//!
//! Design: one append-only log per job — a Redis Stream (`XADD … MAXLEN ~`, with a TTL renewed
//! on every append) in a cluster, a list in memory in the embedded process. The worker appends
//! `Started`, then each encoded piece as it is rendered, then exactly one terminal event per
//! attempt. Readers start at the beginning, so a reader that subscribes late (or after a
//! reconnect) still sees every piece, and several readers may follow one job. The database stays
//! the record: the log is a wire, allowed to vanish (a Redis restart), and readers fall back to
//! the job row when it goes quiet.
//!
//! A retry renders the same chunks again under a new attempt number; a reader that already
//! passed some pieces on skips them by sequence number (see `polyvox-server`'s relay reader).

mod memory;
mod redis;

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use self::memory::MemoryRelay;
pub use self::redis::RedisRelay;
use crate::Result;

/// One entry of a job's relay log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RelayEvent {
    /// An attempt starts rendering `chunks` text chunks.
    Started { attempt: u32, chunks: u32 },
    /// The `seq`-th encoded piece of `attempt` (0-based); `audio_ms` rendered so far. A timed
    /// job's piece carries the timings of the words that became known with it (a chunk's words
    /// ride on its first piece), so a reader announces no word after its sound.
    Audio {
        attempt: u32,
        seq: u32,
        audio_ms: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        words: Vec<polyvox_core::WordTiming>,
        #[serde(skip)]
        bytes: Bytes,
    },
    /// `attempt` has relayed every one of its `pieces` (`audio_ms` in all): a live stream is
    /// complete. Storing the whole file comes after and may still fail and be retried, but the
    /// client already has all its audio, so a storage outage does not cut its stream.
    Rendered {
        attempt: u32,
        pieces: u32,
        audio_ms: u64,
    },
    /// `attempt` failed; `retrying` says whether the job goes back to the queue.
    Failed {
        attempt: u32,
        code: String,
        message: String,
        retrying: bool,
    },
    /// The job succeeded and its complete file is stored under `audio_key`; a relayed stream
    /// published `pieces` audio entries in its last attempt (0 otherwise).
    Succeeded {
        audio_key: String,
        bytes: u64,
        seconds: f64,
        #[serde(default)]
        pieces: u32,
    },
    /// The job was cancelled.
    Cancelled,
}

impl RelayEvent {
    /// Whether no event can follow this one.
    pub fn is_terminal(&self) -> bool {
        match self {
            Self::Succeeded { .. } | Self::Cancelled => true,
            Self::Failed { retrying, .. } => !retrying,
            _ => false,
        }
    }
}

/// Settings shared by the relay engines.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Key prefix (Redis), so several deployments can share one server.
    pub prefix: String,
    /// How long a job's log outlives its last append.
    pub ttl: Duration,
    /// Entries kept per job at most (oldest dropped first).
    pub max_entries: usize,
    /// Bound of each non-blocking call.
    pub call_timeout: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            prefix: "polyvox".into(),
            ttl: Duration::from_secs(15 * 60),
            max_entries: 4096,
            call_timeout: Duration::from_secs(5),
        }
    }
}

/// Appends to and follows job logs. Cheap to share behind an `Arc`.
#[async_trait::async_trait]
pub trait Relay: Send + Sync + 'static {
    /// Appends `event` to `job_id`'s log.
    async fn publish(&self, job_id: &str, event: RelayEvent) -> Result<()>;

    /// Follows `job_id`'s log from its first entry.
    async fn subscribe(&self, job_id: &str) -> Result<Box<dyn Subscription>>;

    /// Round-trip to the engine, for readiness probes.
    async fn ping(&self) -> Result<()>;
}

/// A reader of one job's log.
#[async_trait::async_trait]
pub trait Subscription: Send {
    /// The entries after those already returned, waiting up to `wait` for at least one; empty
    /// if none came in time.
    async fn next(&mut self, wait: Duration) -> Result<Vec<RelayEvent>>;
}
