//! [`SqlJobStore`]: the [`JobStore`] on PostgreSQL (production) or SQLite (embedded default),
//! one implementation through sqlx's `Any` driver. The only engine differences are the clock
//! expression, row locking in the reaper, and the migration directory.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use super::config::{DbConfig, DbEngine};
use super::outbox::{OutboxQueries, SendOutcome, WebhookDelivery};
use super::queries::Queries;
use super::row::{decode_job, millis};
// Timestamps bound here take the columns' signed type.
use super::unix_millis_i64;
use super::{
    AudioOutput, CreateOutcome, Heartbeat, Job, JobError, JobStatus, JobStore, NewJob, Progress,
};
use crate::call::instrumented;
use crate::{InfraError, Lane, Result};

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The SQL job store. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct SqlJobStore {
    pool: AnyPool,
    engine: DbEngine,
    timeout: Duration,
    q: std::sync::Arc<Queries>,
    pub(super) outbox: std::sync::Arc<OutboxQueries>,
}

impl SqlJobStore {
    /// Opens the pool (no migrations; see [`SqlJobStore::migrate`]).
    pub async fn connect(cfg: &DbConfig) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let engine = DbEngine::from_url(&cfg.url)?;
        let mut opts = AnyPoolOptions::new()
            .max_connections(cfg.max_connections.max(1))
            .min_connections(cfg.min_connections)
            .acquire_timeout(cfg.acquire_timeout);
        let schema = match &cfg.schema {
            Some(s) if engine != DbEngine::Postgres => {
                return Err(InfraError::Config(format!(
                    "schema '{s}' is only supported on PostgreSQL"
                )));
            }
            Some(s) => Some(valid_schema(s)?),
            None => None,
        };
        if let Some(schema) = &schema {
            // Quoting is safe: `valid_schema` allows only [a-z0-9_].
            let set = std::sync::Arc::<str>::from(format!("SET search_path TO \"{schema}\""));
            opts = opts.after_connect(move |conn, _meta| {
                let set = set.clone();
                Box::pin(async move {
                    conn.execute(&*set).await?;
                    Ok(())
                })
            });
        }
        if engine == DbEngine::Sqlite
            && (cfg.url.contains(":memory:") || cfg.url.contains("mode=memory"))
        {
            // Each SQLite in-memory connection is its own database: keep exactly one, forever.
            opts = opts
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let url = cfg.url.clone();
        let pool = instrumented(
            engine.system(),
            "connect",
            cfg.call_timeout + cfg.acquire_timeout,
            async { Ok(opts.connect(&url).await?) },
        )
        .await?;
        let store = Self {
            pool,
            engine,
            timeout: cfg.call_timeout,
            q: std::sync::Arc::new(Queries::new(engine)),
            outbox: std::sync::Arc::new(OutboxQueries::new(engine)),
        };
        if let Some(schema) = &schema {
            store
                .exec(
                    "create_schema",
                    &format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""),
                )
                .await?;
        } else if engine == DbEngine::Sqlite && !cfg.url.contains("memory") {
            // WAL lets readers proceed while a writer commits; it is a property of the file, so
            // setting it once here covers every later connection.
            store.exec("wal", "PRAGMA journal_mode=WAL").await?;
        }
        Ok(store)
    }

    /// Applies the embedded migrations for this engine (idempotent; PostgreSQL serializes
    /// concurrent runs with an advisory lock).
    pub async fn migrate(&self) -> Result<()> {
        let pool = self.pool.clone();
        let engine = self.engine;
        instrumented(engine.system(), "migrate", self.timeout * 6, async move {
            match engine {
                DbEngine::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
                DbEngine::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await?,
            }
            Ok(())
        })
        .await
    }

    /// Bound on each call, as configured.
    pub fn call_timeout(&self) -> Duration {
        self.timeout
    }

    /// The engine behind this store.
    pub fn engine(&self) -> DbEngine {
        self.engine
    }

    /// The pool, for callers that keep their own tables in the same database (usage, keys).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn exec(&self, op: &'static str, sql: &str) -> Result<()> {
        instrumented(self.engine.system(), op, self.timeout, async {
            self.pool.execute(sql).await?;
            Ok(())
        })
        .await
    }

    async fn fetch_one_job<'q>(&self, op: &'static str, q: AnyQuery<'q>) -> Result<Option<Job>> {
        instrumented(self.engine.system(), op, self.timeout, async {
            q.fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(decode_job)
                .transpose()
        })
        .await
    }

    async fn fetch_jobs<'q>(&self, op: &'static str, q: AnyQuery<'q>) -> Result<Vec<Job>> {
        instrumented(self.engine.system(), op, self.timeout, async {
            let rows: Vec<AnyRow> = q.fetch_all(&self.pool).await?;
            rows.iter().map(decode_job).collect()
        })
        .await
    }

    /// The fenced success transition, and with `bill` the owner's audio seconds, committed
    /// together: no crash can fall between a job's success and its usage, and a timeout or error
    /// anywhere rolls both back (the job stays `running` under the worker's lease).
    async fn finish(&self, id: &str, worker: &str, audio: AudioOutput, bill: bool) -> Result<Job> {
        let day = crate::tenancy::utc_day(std::time::SystemTime::now());
        let q = sqlx::query(&self.q.succeed)
            .bind(id.to_string())
            .bind(worker.to_string())
            .bind(audio.key)
            .bind(i64::try_from(audio.bytes).unwrap_or(i64::MAX))
            .bind(audio.seconds)
            .bind(audio.expires_at.map(unix_millis_i64));
        let done = instrumented(self.engine.system(), "succeed", self.timeout, async {
            let mut tx = self.pool.begin().await?;
            let Some(row) = q.fetch_optional(&mut *tx).await? else {
                return Ok(None);
            };
            let job = decode_job(&row)?;
            if bill && let (Some(owner), Some(out)) = (&job.owner, &job.audio) {
                sqlx::query(crate::tenancy::USAGE_UPSERT)
                    .bind(owner.clone())
                    .bind(day)
                    .bind(0_i64)
                    .bind(0_i64)
                    .bind(out.seconds)
                    .bind(0_i64)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(Some(job))
        })
        .await?;
        match done {
            Some(job) => Ok(job),
            None => Err(self.refused(id, "complete").await),
        }
    }

    /// After a guarded update matched nothing: `NotFound` or `Conflict` with the state seen.
    async fn refused(&self, id: &str, action: &str) -> InfraError {
        match self.get(id).await {
            Ok(Some(job)) => InfraError::Conflict(format!(
                "cannot {action} job {id}: it is {} (lease owner {:?})",
                job.status.as_str(),
                job.lease_owner
            )),
            Ok(None) => InfraError::not_found(format!("job {id}")),
            Err(e) => e,
        }
    }
}

fn valid_schema(s: &str) -> Result<&str> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(s)
    } else {
        Err(InfraError::Config(format!(
            "schema '{s}' must match [a-z_][a-z0-9_]{{0,62}}"
        )))
    }
}

fn count(n: u32) -> i64 {
    i64::from(n)
}

#[async_trait::async_trait]
impl JobStore for SqlJobStore {
    async fn create(&self, new: NewJob) -> Result<(Job, CreateOutcome)> {
        let request = serde_json::to_string(&new.request)
            .map_err(|e| InfraError::Corrupt(format!("request does not serialize: {e}")))?;
        // A collision with a row that finished between our INSERT and our SELECT leaves nothing
        // to join; inserting again then succeeds. Bounded so a pathological race cannot spin.
        for _ in 0..3 {
            let id = uuid::Uuid::now_v7().to_string();
            let insert = sqlx::query(&self.q.insert)
                .bind(id)
                .bind(new.owner.clone())
                .bind(new.lane.as_str())
                .bind(request.clone())
                .bind(new.cache_key.clone())
                .bind(new.idempotency_key.clone())
                .bind(count(new.max_attempts.max(1)))
                .bind(new.webhook_url.clone())
                .bind(new.fingerprint.clone())
                .bind(count(new.max_crashes.max(1)));
            if let Some(job) = self.fetch_one_job("create", insert).await? {
                return Ok((job, CreateOutcome::Created));
            }
            if let Some(key) = &new.idempotency_key
                && let Some(job) = self.find_idempotent(new.owner.as_deref(), key).await?
            {
                return Ok((job, CreateOutcome::Idempotent));
            }
            if let Some(key) = &new.cache_key
                && let Some(job) = self.find_inflight(new.owner.as_deref(), key).await?
            {
                return Ok((job, CreateOutcome::Joined));
            }
        }
        Err(InfraError::Conflict(
            "job creation kept colliding with jobs that finished meanwhile".into(),
        ))
    }

    async fn get(&self, id: &str) -> Result<Option<Job>> {
        self.fetch_one_job("get", sqlx::query(&self.q.get).bind(id.to_string()))
            .await
    }

    async fn find_idempotent(&self, owner: Option<&str>, key: &str) -> Result<Option<Job>> {
        let q = sqlx::query(&self.q.by_idempotency)
            .bind(owner.map(str::to_string))
            .bind(key.to_string());
        self.fetch_one_job("get_idempotent", q).await
    }

    async fn try_claim(&self, id: &str, worker: &str, lease: Duration) -> Result<Option<Job>> {
        let q = sqlx::query(&self.q.claim)
            .bind(id.to_string())
            .bind(worker.to_string())
            .bind(millis(lease));
        self.fetch_one_job("claim", q).await
    }

    async fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        lease: Duration,
        progress: Progress,
    ) -> Result<Heartbeat> {
        let q = sqlx::query(&self.q.heartbeat)
            .bind(id.to_string())
            .bind(worker.to_string())
            .bind(millis(lease))
            .bind(count(progress.chunks_done))
            .bind(progress.chunks_total.map(count));
        let held = instrumented(self.engine.system(), "heartbeat", self.timeout, async {
            Ok(q.fetch_optional(&self.pool).await?.is_some())
        })
        .await?;
        if held {
            return Ok(Heartbeat::Held);
        }
        Ok(match self.get(id).await? {
            Some(job) if job.status == JobStatus::Cancelled => Heartbeat::Cancelled,
            _ => Heartbeat::Lost,
        })
    }

    async fn succeed(&self, id: &str, worker: &str, audio: AudioOutput) -> Result<Job> {
        self.finish(id, worker, audio, true).await
    }

    async fn succeed_unbilled(&self, id: &str, worker: &str, audio: AudioOutput) -> Result<Job> {
        self.finish(id, worker, audio, false).await
    }

    async fn fail(&self, id: &str, worker: &str, error: JobError, retryable: bool) -> Result<Job> {
        let q = sqlx::query(&self.q.fail)
            .bind(id.to_string())
            .bind(worker.to_string())
            .bind(error.code)
            .bind(error.message)
            .bind(i64::from(retryable));
        match self.fetch_one_job("fail", q).await? {
            Some(job) => Ok(job),
            None => Err(self.refused(id, "fail").await),
        }
    }

    async fn cancel(&self, id: &str) -> Result<Job> {
        if let Some(job) = self
            .fetch_one_job("cancel", sqlx::query(&self.q.cancel).bind(id.to_string()))
            .await?
        {
            return Ok(job);
        }
        self.get(id)
            .await?
            .ok_or_else(|| InfraError::not_found(format!("job {id}")))
    }

    async fn requeue_expired_leases(&self, limit: u32) -> Result<Vec<Job>> {
        self.fetch_jobs(
            "requeue_expired",
            sqlx::query(&self.q.requeue_expired).bind(count(limit)),
        )
        .await
    }

    async fn find_stale_queued(&self, older_than: Duration, limit: u32) -> Result<Vec<Job>> {
        let q = sqlx::query(&self.q.stale_queued)
            .bind(millis(older_than))
            .bind(count(limit));
        self.fetch_jobs("stale_queued", q).await
    }

    async fn find_inflight(&self, owner: Option<&str>, cache_key: &str) -> Result<Option<Job>> {
        let q = sqlx::query(&self.q.inflight)
            .bind(owner.map(str::to_string))
            .bind(cache_key.to_string());
        self.fetch_one_job("inflight", q).await
    }

    async fn claim_expired(&self, sweeper: &str, lease: Duration, limit: u32) -> Result<Vec<Job>> {
        let q = sqlx::query(&self.q.claim_expired)
            .bind(sweeper.to_string())
            .bind(millis(lease))
            .bind(count(limit));
        self.fetch_jobs("claim_expired", q).await
    }

    async fn mark_expired(&self, id: &str, sweeper: &str) -> Result<bool> {
        let q = sqlx::query(&self.q.mark_expired)
            .bind(id.to_string())
            .bind(sweeper.to_string());
        instrumented(self.engine.system(), "mark_expired", self.timeout, async {
            Ok(q.fetch_optional(&self.pool).await?.is_some())
        })
        .await
    }

    async fn queued_by_lane(&self) -> Result<Vec<(Lane, u64)>> {
        let rows: Vec<AnyRow> = instrumented(
            self.engine.system(),
            "queued_by_lane",
            self.timeout,
            async {
                Ok(sqlx::query(&self.q.queued_by_lane)
                    .fetch_all(&self.pool)
                    .await?)
            },
        )
        .await?;
        let mut out: Vec<(Lane, u64)> = Lane::BY_PRIORITY.iter().map(|l| (*l, 0)).collect();
        for row in &rows {
            let lane: String = row.try_get("lane")?;
            let n: i64 = row.try_get("n")?;
            if let Some(slot) = out.iter_mut().find(|(l, _)| l.as_str() == lane) {
                slot.1 = u64::try_from(n).unwrap_or(0);
            }
        }
        Ok(out)
    }

    async fn ping(&self) -> Result<()> {
        self.exec("ping", "SELECT 1").await
    }

    async fn claim_webhooks(
        &self,
        sender: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>> {
        self.outbox_claim(sender, lease, limit).await
    }

    async fn record_webhook(&self, id: &str, sender: &str, outcome: SendOutcome) -> Result<bool> {
        self.outbox_record(id, sender, outcome).await
    }

    async fn webhooks_of(&self, job_id: &str) -> Result<Vec<WebhookDelivery>> {
        self.outbox_of_job(job_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_schema_names_are_checked() {
        assert_eq!(
            DbEngine::from_url("postgres://x@h/db").unwrap(),
            DbEngine::Postgres
        );
        assert_eq!(
            DbEngine::from_url("sqlite://a.db?mode=rwc").unwrap(),
            DbEngine::Sqlite
        );
        assert!(matches!(
            DbEngine::from_url("mysql://h/db"),
            Err(InfraError::Config(_))
        ));
        assert!(valid_schema("polyvox_test_1").is_ok());
        for bad in [
            "",
            "Public",
            "a\"; DROP TABLE jobs; --",
            "1abc",
            &"a".repeat(64),
        ] {
            assert!(valid_schema(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_query_uses_the_engine_clock() {
        for engine in [DbEngine::Postgres, DbEngine::Sqlite] {
            let q = Queries::new(engine);
            for sql in [
                &q.insert,
                &q.claim,
                &q.heartbeat,
                &q.fail,
                &q.requeue_expired,
                &q.stale_queued,
                &q.claim_expired,
                &q.mark_expired,
            ] {
                assert!(!sql.contains(":now"), "{sql}");
                assert!(sql.contains(engine.now_sql()), "{sql}");
            }
        }
    }
}
