//! Metric names and label values, in one place so dashboards and code cannot drift apart.

/// Histogram: duration of one call to an external system, labels `system` and `op`.
pub const CALL_SECONDS: &str = "polyvox_infra_call_seconds";
/// Counter: failed calls, labels `system`, `op` and `code` (the stable error code).
pub const ERRORS_TOTAL: &str = "polyvox_infra_errors_total";
/// Counter: cache lookups, labels `backend` and `result` (`hit` | `miss`).
pub const CACHE_LOOKUPS_TOTAL: &str = "polyvox_infra_cache_lookups_total";
/// Counter: NOGROUP recoveries (the queue's Redis state was lost and rebuilt), label `lane`.
pub const QUEUE_GROUP_RECREATED_TOTAL: &str = "polyvox_infra_queue_group_recreated_total";
/// Gauge: usage rows (key × UTC day) waiting in memory to be written, set at each flush.
pub const USAGE_PENDING_ROWS: &str = "polyvox_usage_pending_rows";
/// Counter: usage deltas dropped because the in-memory buffer was full (the store kept failing).
pub const USAGE_DROPPED_TOTAL: &str = "polyvox_usage_dropped_total";

/// Values of the `system` label.
pub mod system {
    pub const POSTGRES: &str = "postgres";
    pub const SQLITE: &str = "sqlite";
    pub const REDIS: &str = "redis";
    pub const S3: &str = "s3";
    pub const FS: &str = "fs";
}
