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
pub mod relay;
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
    /// Carries relayed jobs' audio and outcomes from the worker to the waiting API instance.
    pub relay: Arc<dyn relay::Relay>,
}

/// Result alias for this crate.
pub type Result<T, E = InfraError> = std::result::Result<T, E>;

/// Lanes live with the job payload in `polyvox-core`; re-exported for the adapters' callers.
pub use polyvox_core::Lane;
