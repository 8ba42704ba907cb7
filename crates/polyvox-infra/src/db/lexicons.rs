//! Pronunciation lexicons in the job database ([`SqlLexicons`]), next to the keys that own them.
//!
//! Design: one row per owner and name holding the validated lexicon as JSON; the version column
//! is bumped by the upsert itself, so two concurrent writers of one lexicon get two versions.
//! The per-owner count is checked in the writing transaction; under PostgreSQL's read-committed
//! isolation two concurrent creations of *new* names may both pass it, so the bound can be
//! exceeded by the number of such racing writers, never grown without limit.

use std::time::{Duration, SystemTime};

use polyvox_core::lexicon::Lexicon;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::{SqlJobStore, from_unix_millis, unix_millis_i64};
use crate::call::instrumented;
use crate::{InfraError, Result};

const COUNT_OTHERS: &str = "SELECT COUNT(*) AS n FROM lexicons WHERE owner = $1 AND name <> $2";
const UPSERT: &str = "INSERT INTO lexicons \
    (owner, name, version, lang, entries, body, created_at, updated_at) \
    VALUES ($1, $2, 1, $3, $4, $5, $6, $6) \
    ON CONFLICT (owner, name) DO UPDATE SET version = lexicons.version + 1, \
    lang = excluded.lang, entries = excluded.entries, body = excluded.body, \
    updated_at = excluded.updated_at \
    RETURNING version, created_at, updated_at";
const GET: &str = "SELECT name, version, lang, entries, body, created_at, updated_at \
    FROM lexicons WHERE owner = $1 AND name = $2";
const LIST: &str = "SELECT name, version, lang, entries, created_at, updated_at \
    FROM lexicons WHERE owner = $1 ORDER BY name";
const DELETE: &str = "DELETE FROM lexicons WHERE owner = $1 AND name = $2";

/// A stored lexicon with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLexicon {
    /// With the stored version.
    pub lexicon: Lexicon,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

/// A lexicon as listed (no entries).
#[derive(Debug, Clone, PartialEq)]
pub struct LexiconSummary {
    pub name: String,
    pub version: u64,
    pub lang: Option<String>,
    pub entries: u64,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

/// How a write went.
#[derive(Debug, Clone, PartialEq)]
pub enum PutLexicon {
    /// Written; the version is the new one.
    Stored(StoredLexicon),
    /// The owner already has `limit` other lexicons: nothing was written.
    TooMany { limit: usize },
}

/// Lexicons per owner. `owner` is an API key id, `None` for the anonymous owner of a server
/// without keys.
#[async_trait::async_trait]
pub trait LexiconStore: Send + Sync {
    /// Creates the lexicon at version 1 or replaces it with the next version, unless that would
    /// give the owner more than `max_per_owner` lexicons.
    async fn put_lexicon(
        &self,
        owner: Option<&str>,
        lexicon: &Lexicon,
        max_per_owner: usize,
    ) -> Result<PutLexicon>;
    /// The owner's lexicon of this name, if any.
    async fn get_lexicon(&self, owner: Option<&str>, name: &str) -> Result<Option<StoredLexicon>>;
    /// The owner's lexicons, by name.
    async fn list_lexicons(&self, owner: Option<&str>) -> Result<Vec<LexiconSummary>>;
    /// Deletes the owner's lexicon; `false` if there was none.
    async fn delete_lexicon(&self, owner: Option<&str>, name: &str) -> Result<bool>;
}

/// Lexicons on the job store's pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqlLexicons {
    pool: AnyPool,
    system: &'static str,
    timeout: Duration,
}

impl SqlLexicons {
    /// Uses `store`'s pool and timeout (its migrations create the table).
    pub fn new(store: &SqlJobStore) -> Self {
        Self {
            pool: store.pool().clone(),
            system: store.engine().system(),
            timeout: store.call_timeout(),
        }
    }
}

fn owner_key(owner: Option<&str>) -> String {
    owner.unwrap_or_default().to_string()
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn decode(row: &AnyRow) -> Result<StoredLexicon> {
    let body: String = row.try_get("body")?;
    let mut lexicon: Lexicon = serde_json::from_str(&body)
        .map_err(|e| InfraError::Corrupt(format!("stored lexicon: {e}")))?;
    lexicon.version = to_u64(row.try_get("version")?);
    Ok(StoredLexicon {
        lexicon,
        created_at: from_unix_millis(row.try_get("created_at")?),
        updated_at: from_unix_millis(row.try_get("updated_at")?),
    })
}

#[async_trait::async_trait]
impl LexiconStore for SqlLexicons {
    async fn put_lexicon(
        &self,
        owner: Option<&str>,
        lexicon: &Lexicon,
        max_per_owner: usize,
    ) -> Result<PutLexicon> {
        let owner = owner_key(owner);
        let body = serde_json::to_string(lexicon)
            .map_err(|e| InfraError::Corrupt(format!("lexicon to JSON: {e}")))?;
        let now = unix_millis_i64(SystemTime::now());
        let lang = lexicon.lang.map(|l| l.code().to_string());
        let entries = i64::try_from(lexicon.entries.len()).unwrap_or(i64::MAX);
        instrumented(self.system, "lexicon_put", self.timeout, async {
            let mut tx = self.pool.begin().await?;
            let others: i64 = sqlx::query(COUNT_OTHERS)
                .bind(owner.clone())
                .bind(lexicon.name.clone())
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
            if to_u64(others) >= max_per_owner as u64 {
                tx.rollback().await?;
                return Ok(PutLexicon::TooMany {
                    limit: max_per_owner,
                });
            }
            let row = sqlx::query(UPSERT)
                .bind(owner.clone())
                .bind(lexicon.name.clone())
                .bind(lang)
                .bind(entries)
                .bind(body)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            let mut stored = lexicon.clone();
            stored.version = to_u64(row.try_get("version")?);
            Ok(PutLexicon::Stored(StoredLexicon {
                lexicon: stored,
                created_at: from_unix_millis(row.try_get("created_at")?),
                updated_at: from_unix_millis(row.try_get("updated_at")?),
            }))
        })
        .await
    }

    async fn get_lexicon(&self, owner: Option<&str>, name: &str) -> Result<Option<StoredLexicon>> {
        let q = sqlx::query(GET)
            .bind(owner_key(owner))
            .bind(name.to_string());
        instrumented(self.system, "lexicon_get", self.timeout, async {
            q.fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(decode)
                .transpose()
        })
        .await
    }

    async fn list_lexicons(&self, owner: Option<&str>) -> Result<Vec<LexiconSummary>> {
        let q = sqlx::query(LIST).bind(owner_key(owner));
        instrumented(self.system, "lexicon_list", self.timeout, async {
            let rows: Vec<AnyRow> = q.fetch_all(&self.pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(LexiconSummary {
                        name: r.try_get("name")?,
                        version: to_u64(r.try_get("version")?),
                        lang: r.try_get("lang")?,
                        entries: to_u64(r.try_get("entries")?),
                        created_at: from_unix_millis(r.try_get("created_at")?),
                        updated_at: from_unix_millis(r.try_get("updated_at")?),
                    })
                })
                .collect()
        })
        .await
    }

    async fn delete_lexicon(&self, owner: Option<&str>, name: &str) -> Result<bool> {
        let q = sqlx::query(DELETE)
            .bind(owner_key(owner))
            .bind(name.to_string());
        instrumented(self.system, "lexicon_delete", self.timeout, async {
            Ok(q.execute(&self.pool).await?.rows_affected() > 0)
        })
        .await
    }
}
