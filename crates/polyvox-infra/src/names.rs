//! The infrastructure metrics' names (re-exported from `polyvox_core::metrics`, where every
//! metric is named) and the values of their `system` label.

// The names themselves are defined once, in `polyvox_core::metrics`, beside every other metric.
pub use polyvox_core::metrics::{
    CACHE_LOOKUPS_TOTAL, INFRA_CALL_SECONDS as CALL_SECONDS, INFRA_ERRORS_TOTAL as ERRORS_TOTAL,
    INFRA_STREAM_BYTES_TOTAL as STREAM_BYTES_TOTAL, QUEUE_GROUP_RECREATED_TOTAL,
    USAGE_DROPPED_TOTAL, USAGE_PENDING_ROWS,
};

/// Values of the `system` label.
pub mod system {
    pub const POSTGRES: &str = "postgres";
    pub const SQLITE: &str = "sqlite";
    pub const REDIS: &str = "redis";
    pub const S3: &str = "s3";
    pub const FS: &str = "fs";
}
