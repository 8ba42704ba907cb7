//! [`SqlTenancy`]: keys and usage in the job database (PostgreSQL or SQLite), next to `jobs`.

use std::time::{Duration, SystemTime};

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::{ApiKey, CreatedKey, DayUsage, KeyLimits, KeyStore, KeyToken, UsageRow, UsageStore};
use crate::call::instrumented;
use crate::db::{SqlJobStore, from_unix_millis, unix_millis};
use crate::{InfraError, Result};

/// The columns of a key row as `decode_key` reads them; a macro so `concat!` can build every
/// query from the one list at compile time.
macro_rules! key_columns {
    () => {
        "id, name, secret_sha256, requests_per_minute, chars_per_minute, monthly_chars, \
         concurrent_syntheses, created_at, revoked_at"
    };
}

const KEY_BY_ID: &str = concat!("SELECT ", key_columns!(), " FROM api_keys WHERE id = $1");
const KEY_LIST: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM api_keys ORDER BY created_at, id"
);
const KEY_INSERT: &str = concat!(
    "INSERT INTO api_keys (id, name, secret_sha256, requests_per_minute, chars_per_minute, \
     monthly_chars, concurrent_syntheses, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     RETURNING ",
    key_columns!()
);
// COALESCE keeps the first revocation time when a key is revoked twice.
const KEY_REVOKE: &str = "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1";

/// Adds one usage row (also run by the job store, inside the transaction that marks a job
/// succeeded, so a job's audio seconds are recorded exactly when its success is).
pub(crate) const USAGE_UPSERT: &str = "INSERT INTO usage_daily \
    (key_id, day, requests, characters, audio_seconds, cache_hits) VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (key_id, day) DO UPDATE SET \
    requests = usage_daily.requests + excluded.requests, \
    characters = usage_daily.characters + excluded.characters, \
    audio_seconds = usage_daily.audio_seconds + excluded.audio_seconds, \
    cache_hits = usage_daily.cache_hits + excluded.cache_hits";
// SUM of a BIGINT is NUMERIC on PostgreSQL; the cast keeps one decoder for both engines.
const USAGE_MONTH_CHARS: &str = "SELECT CAST(COALESCE(SUM(characters), 0) AS BIGINT) AS chars \
    FROM usage_daily WHERE key_id = $1 AND day BETWEEN $2 AND $3";
const USAGE_DAYS: &str = "SELECT day, requests, characters, audio_seconds, cache_hits \
    FROM usage_daily WHERE key_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day";

/// Keys and usage on the job store's pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqlTenancy {
    pool: AnyPool,
    system: &'static str,
    timeout: Duration,
}

impl SqlTenancy {
    /// Uses `store`'s pool and timeout (its migrations create the tables).
    pub fn new(store: &SqlJobStore) -> Self {
        Self {
            pool: store.pool().clone(),
            system: store.engine().system(),
            timeout: store.call_timeout(),
        }
    }

    /// The engine label, for tests.
    pub fn engine_system(&self) -> &'static str {
        self.system
    }

    async fn fetch_key(
        &self,
        op: &'static str,
        sql: &'static str,
        id: &str,
    ) -> Result<Option<ApiKey>> {
        let q = sqlx::query(sql).bind(id.to_string());
        instrumented(self.system, op, self.timeout, async {
            q.fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(decode_key)
                .transpose()
        })
        .await
    }
}

fn opt_u64(v: Option<u64>) -> Option<i64> {
    v.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn decode_key(row: &AnyRow) -> Result<ApiKey> {
    let limit = |col: &str| -> Result<Option<u64>> {
        Ok(row
            .try_get::<Option<i64>, _>(col)?
            .map(|v| u64::try_from(v).unwrap_or(0)))
    };
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_sha256: row.try_get("secret_sha256")?,
        limits: KeyLimits {
            requests_per_minute: limit("requests_per_minute")?,
            chars_per_minute: limit("chars_per_minute")?,
            monthly_chars: limit("monthly_chars")?,
            concurrent_syntheses: limit("concurrent_syntheses")?,
        },
        created_at: from_unix_millis(row.try_get("created_at")?),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(from_unix_millis),
    })
}

#[async_trait::async_trait]
impl KeyStore for SqlTenancy {
    async fn create_key(&self, name: &str, limits: KeyLimits) -> Result<CreatedKey> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(InfraError::Config(
                "key name must be 1 to 100 characters".into(),
            ));
        }
        let token = KeyToken::generate();
        let q = sqlx::query(KEY_INSERT)
            .bind(token.id.clone())
            .bind(name.to_string())
            .bind(token.secret_sha256())
            .bind(opt_u64(limits.requests_per_minute))
            .bind(opt_u64(limits.chars_per_minute))
            .bind(opt_u64(limits.monthly_chars))
            .bind(opt_u64(limits.concurrent_syntheses))
            .bind(to_i64(unix_millis(SystemTime::now())));
        let key = instrumented(self.system, "key_create", self.timeout, async {
            decode_key(&q.fetch_one(&self.pool).await?)
        })
        .await?;
        Ok(CreatedKey {
            key,
            token: token.expose(),
        })
    }

    async fn key(&self, id: &str) -> Result<Option<ApiKey>> {
        self.fetch_key("key_get", KEY_BY_ID, id).await
    }

    async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        let q = sqlx::query(KEY_LIST);
        instrumented(self.system, "key_list", self.timeout, async {
            let rows: Vec<AnyRow> = q.fetch_all(&self.pool).await?;
            rows.iter().map(decode_key).collect()
        })
        .await
    }

    async fn revoke_key(&self, id: &str) -> Result<ApiKey> {
        let q = sqlx::query(KEY_REVOKE)
            .bind(id.to_string())
            .bind(to_i64(unix_millis(SystemTime::now())));
        instrumented(self.system, "key_revoke", self.timeout, async {
            q.execute(&self.pool).await?;
            Ok(())
        })
        .await?;
        self.key(id)
            .await?
            .ok_or_else(|| InfraError::not_found(format!("API key {id}")))
    }
}

#[async_trait::async_trait]
impl UsageStore for SqlTenancy {
    /// One transaction, so a failed batch can be retried whole without counting a row twice
    /// (unless the timeout strikes after the commit was sent: then the retry does double it).
    async fn add(&self, rows: &[UsageRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        instrumented(self.system, "usage_add", self.timeout, async {
            let mut tx = self.pool.begin().await?;
            for r in rows {
                let d = &r.delta;
                sqlx::query(USAGE_UPSERT)
                    .bind(r.key_id.clone())
                    .bind(r.day.clone())
                    .bind(to_i64(d.requests))
                    .bind(to_i64(d.characters))
                    .bind(d.audio_seconds)
                    .bind(to_i64(d.cache_hits))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn month_chars(&self, key_id: &str, month: &str) -> Result<u64> {
        let q = sqlx::query(USAGE_MONTH_CHARS)
            .bind(key_id.to_string())
            .bind(format!("{month}-01"))
            .bind(format!("{month}-31"));
        instrumented(self.system, "usage_month", self.timeout, async {
            let row = q.fetch_one(&self.pool).await?;
            Ok(u64::try_from(row.try_get::<i64, _>("chars")?).unwrap_or(0))
        })
        .await
    }

    async fn days(&self, key_id: &str, from: &str, to: &str) -> Result<Vec<DayUsage>> {
        let q = sqlx::query(USAGE_DAYS)
            .bind(key_id.to_string())
            .bind(from.to_string())
            .bind(to.to_string());
        instrumented(self.system, "usage_days", self.timeout, async {
            let rows: Vec<AnyRow> = q.fetch_all(&self.pool).await?;
            rows.iter()
                .map(|r| {
                    let n = |c: &str| -> Result<u64> {
                        Ok(u64::try_from(r.try_get::<i64, _>(c)?).unwrap_or(0))
                    };
                    Ok(DayUsage {
                        day: r.try_get("day")?,
                        requests: n("requests")?,
                        characters: n("characters")?,
                        audio_seconds: r.try_get("audio_seconds")?,
                        cache_hits: n("cache_hits")?,
                    })
                })
                .collect()
        })
        .await
    }
}
