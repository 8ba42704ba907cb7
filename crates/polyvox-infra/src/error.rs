//! One error type for every adapter. Callers need two answers from it: which stable code to show
//! (`code()`), and whether trying again later can help (`is_retryable()`), which is what decides
//! between a retry with backoff and a dead-letter in the worker.

use polyvox_core::ErrorCode;

/// Failure of an infrastructure call.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// The call did not finish within its configured timeout.
    #[error("{system} {op} timed out after {after_ms} ms")]
    Timeout {
        system: &'static str,
        op: &'static str,
        after_ms: u64,
    },
    /// The job, object or entry does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// A state transition was refused because the job is not in a state that allows it
    /// (for example `succeed` from a worker that no longer holds the lease).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A key or path was rejected before reaching the backend (traversal, bad characters).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A byte range that starts at or past the end of an object of `len` bytes (HTTP 416).
    #[error("range not satisfiable for an object of {len} bytes")]
    RangeNotSatisfiable { len: u64 },
    /// Configuration that cannot work (bad URL, bad schema name); fails fast at startup.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A streamed write used wrongly (a header patch longer than what was written).
    #[error("invalid write: {0}")]
    InvalidWrite(String),
    /// Stored data could not be decoded (a row or cache entry written by something else).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("object storage: {0}")]
    Storage(#[from] object_store::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl InfraError {
    /// The stable code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Timeout { .. } => ErrorCode::Timeout,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::InvalidKey(_) | Self::RangeNotSatisfiable { .. } => ErrorCode::InvalidRequest,
            Self::Storage(object_store::Error::NotFound { .. }) => ErrorCode::NotFound,
            Self::Database(sqlx::Error::RowNotFound) => ErrorCode::NotFound,
            Self::Conflict(_)
            | Self::Config(_)
            | Self::Corrupt(_)
            | Self::InvalidWrite(_)
            | Self::Database(_)
            | Self::Migration(_)
            | Self::Redis(_)
            | Self::Storage(_)
            | Self::Io(_) => ErrorCode::Internal,
        }
    }

    /// Whether the same call may succeed later without anything being changed: timeouts and
    /// connection-level failures are; missing objects, conflicts and bad input are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Database(sqlx::Error::Database(db)) => {
                // PostgreSQL shutting down or restarting (admin/crash shutdown, cannot connect
                // now) and lost connections: the next attempt, on a fresh connection, may work.
                matches!(
                    db.code().as_deref(),
                    Some("57P01" | "57P02" | "57P03" | "08000" | "08003" | "08006")
                )
            }
            Self::Database(e) => matches!(
                e,
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
                    | sqlx::Error::Protocol(_)
            ),
            Self::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.kind() == redis::ErrorKind::TryAgain
                    || e.kind() == redis::ErrorKind::BusyLoadingError
            }
            Self::Storage(e) => !matches!(
                e,
                object_store::Error::NotFound { .. }
                    | object_store::Error::InvalidPath { .. }
                    | object_store::Error::NotSupported { .. }
                    | object_store::Error::NotImplemented
                    | object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
                    | object_store::Error::UnknownConfigurationKey { .. }
            ),
            Self::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
            ),
            Self::NotFound { .. }
            | Self::Conflict(_)
            | Self::InvalidKey(_)
            | Self::RangeNotSatisfiable { .. }
            | Self::Config(_)
            | Self::Corrupt(_)
            | Self::InvalidWrite(_)
            | Self::Migration(_) => false,
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_retryability_follow_the_kind_of_failure() {
        let t = InfraError::Timeout {
            system: "redis",
            op: "xadd",
            after_ms: 5,
        };
        assert_eq!(t.code(), ErrorCode::Timeout);
        assert!(t.is_retryable());
        let nf = InfraError::not_found("job x");
        assert_eq!(nf.code(), ErrorCode::NotFound);
        assert!(!nf.is_retryable());
        let io = InfraError::Database(sqlx::Error::PoolTimedOut);
        assert_eq!(io.code(), ErrorCode::Internal);
        assert!(io.is_retryable());
        let key = InfraError::InvalidKey("../etc".into());
        assert_eq!(key.code(), ErrorCode::InvalidRequest);
        assert!(!key.is_retryable());
        let s3 = InfraError::Storage(object_store::Error::NotFound {
            path: "a".into(),
            source: "gone".into(),
        });
        assert_eq!(s3.code(), ErrorCode::NotFound);
        assert!(!s3.is_retryable());
    }
}
