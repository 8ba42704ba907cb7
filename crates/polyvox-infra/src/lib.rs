//! Adapters for the external systems Polyvox scales out on: a job database, a work queue, object
//! storage for audio and a result cache.
//!
//! Each system sits behind a small async trait with a production engine and an embedded twin
//! (PostgreSQL | SQLite, Redis Streams | in-process, S3 | filesystem, Redis | memory | disabled), so
//! the single-binary default and a clustered deployment run the same code paths above this crate.
//! Every call to an external system goes through [`call::instrumented`]: it is bounded by a timeout
//! and recorded as a metric (names in [`names`]).

pub mod cache;
pub mod call;
pub mod db;
pub mod error;
pub mod names;
pub mod queue;
pub mod ratelimit;
pub mod storage;
pub mod tenancy;

pub use error::InfraError;

use std::sync::Arc;

/// The four external systems the job API and the workers both talk to, as one cheap-clone bundle.
#[derive(Clone)]
pub struct Backends {
    pub store: Arc<dyn db::JobStore>,
    pub queue: Arc<dyn queue::JobQueue>,
    pub audio: Arc<dyn storage::AudioStore>,
    pub cache: Arc<dyn cache::AudioCache>,
}

/// Result alias for this crate.
pub type Result<T, E = InfraError> = std::result::Result<T, E>;

/// Which queue lane a job travels in. Interactive jobs are always read first so that long batch
/// work cannot starve short requests a user is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    Interactive,
    Batch,
}

impl Lane {
    /// Lanes in the order consumers read them.
    pub const BY_PRIORITY: [Lane; 2] = [Lane::Interactive, Lane::Batch];

    /// Stable name, used in the database and in queue keys.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Interactive => "interactive",
            Self::Batch => "batch",
        }
    }

    /// Inverse of [`Lane::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "interactive" => Some(Self::Interactive),
            "batch" => Some(Self::Batch),
            _ => None,
        }
    }
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
