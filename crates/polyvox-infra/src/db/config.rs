//! Which engine a URL selects, how the pool is sized and bounded, and the few SQL fragments
//! that differ between PostgreSQL and SQLite.

use std::time::Duration;

use crate::{InfraError, Result, names};

/// Which SQL engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbEngine {
    Postgres,
    Sqlite,
}

impl DbEngine {
    /// `postgres://` / `postgresql://` or `sqlite:`.
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(InfraError::Config(
                "database URL must start with postgres:// or sqlite: (e.g. sqlite://polyvox.db?mode=rwc)"
                    .into(),
            ))
        }
    }

    /// The `system` metric label.
    pub const fn system(self) -> &'static str {
        match self {
            Self::Postgres => names::system::POSTGRES,
            Self::Sqlite => names::system::SQLITE,
        }
    }

    /// Current Unix milliseconds by the database's clock (see the module note on clock skew).
    pub(super) const fn now_sql(self) -> &'static str {
        match self {
            Self::Postgres => "(EXTRACT(EPOCH FROM now()) * 1000)::BIGINT",
            Self::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        }
    }

    /// Lets concurrent reapers on PostgreSQL take disjoint rows instead of waiting on each
    /// other; SQLite serializes writers anyway.
    pub(super) const fn skip_locked(self) -> &'static str {
        match self {
            Self::Postgres => "FOR UPDATE SKIP LOCKED",
            Self::Sqlite => "",
        }
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `postgres://user@host/db` or `sqlite://path/polyvox.db?mode=rwc` (`mode=rwc` creates the
    /// file). `sqlite::memory:` works but is limited to one connection so the data survives.
    pub url: String,
    /// Upper bound of pooled connections.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long a call may wait for a free connection.
    pub acquire_timeout: Duration,
    /// Bound on every individual call (errors become `InfraError::Timeout`).
    pub call_timeout: Duration,
    /// PostgreSQL only: a schema to create (if missing) and use via `search_path`, for tests or
    /// for sharing a database between deployments. Lowercase letters, digits and `_`.
    pub schema: Option<String>,
}

impl DbConfig {
    /// Defaults: 10 connections, 5 s acquire and call timeouts.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(5),
            schema: None,
        }
    }
}
