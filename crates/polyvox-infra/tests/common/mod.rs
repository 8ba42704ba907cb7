//! Fixtures shared by the integration tests: real services, isolated per test (a fresh SQLite
//! file, a random PostgreSQL schema, a random Redis key prefix, a private SeaweedFS process).
#![allow(dead_code)] // each test binary uses a different subset

pub mod s3;

use polyvox_infra::db::{DbConfig, SqlJobStore};

/// PostgreSQL server for tests (trust auth on this machine); override with
/// `POLYVOX_TEST_DATABASE_URL`.
pub fn pg_url() -> String {
    std::env::var("POLYVOX_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Redis server for tests; override with `POLYVOX_TEST_REDIS_URL`.
pub fn redis_url() -> String {
    std::env::var("POLYVOX_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_string())
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A migrated job store plus what it takes to throw it away.
pub struct DbFixture {
    pub store: SqlJobStore,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl DbFixture {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
        let mut cfg = DbConfig::new(url);
        cfg.max_connections = 4;
        let store = SqlJobStore::connect(&cfg).await.expect("open sqlite");
        store.migrate().await.expect("migrate sqlite");
        Self {
            store,
            schema: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Self {
        let schema = unique("polyvox_test");
        let mut cfg = DbConfig::new(pg_url());
        cfg.max_connections = 4;
        cfg.schema = Some(schema.clone());
        let store = SqlJobStore::connect(&cfg)
            .await
            .expect("connect postgres (is it running?)");
        store.migrate().await.expect("migrate postgres");
        Self {
            store,
            schema: Some(schema),
            _dir: None,
        }
    }

    /// Drops the test schema. Called at the end of each test; a failed test leaves its
    /// `polyvox_test_*` schema behind for inspection.
    pub async fn teardown(self) {
        if let Some(schema) = self.schema {
            sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .execute(self.store.pool())
                .await
                .expect("drop test schema");
        }
        self.store.close().await;
    }
}

/// One `#[tokio::test]` per named function of the calling file (each an `async fn` taking
/// `&dyn JobStore`), on SQLite and on PostgreSQL.
#[allow(unused_macros)] // each test binary uses a different subset
macro_rules! job_store_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = $crate::common::DbFixture::sqlite().await;
                    super::$name(&f.store).await;
                    f.teardown().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = $crate::common::DbFixture::postgres().await;
                    super::$name(&f.store).await;
                    f.teardown().await;
                }
            )*
        }
    };
}

#[allow(unused_imports)]
pub(crate) use job_store_suite;
