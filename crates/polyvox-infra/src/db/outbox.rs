//! The webhook outbox: delivery rows the database writes (by trigger, see the migration
//! `webhook_outbox`) when a job with a `webhook_url` reaches a terminal state, and the calls a
//! sender uses to work through them.
//!
//! Senders claim due rows under a short lease (`SKIP LOCKED` on PostgreSQL), so several
//! processes never send the same attempt, and a sender that dies mid-send lets its lease lapse:
//! the row is claimed again and the receiver may see the event twice, with the same id (at
//! least once, deduplicable). Retry times and the give-up deadline use the database's clock.

use std::time::{Duration, SystemTime};

use sqlx::Row;
use sqlx::any::AnyRow;

use super::config::DbEngine;
use super::row::{millis, to_time};
use super::sql::SqlJobStore;
use crate::call::instrumented;
use crate::{InfraError, Result};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not yet accepted by the receiver; will be tried (again) at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: the receiver did not accept it within the configured time.
    Failed,
}

impl DeliveryStatus {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// One event owed to one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    /// Stable across retries: the `webhook-id` header.
    pub id: String,
    pub job_id: String,
    /// `job.succeeded`, `job.failed` or `job.cancelled`.
    pub event: String,
    pub url: String,
    pub status: DeliveryStatus,
    /// Sends tried so far (including one in progress).
    pub attempts: u32,
    pub next_attempt_at: SystemTime,
    /// HTTP status of the last answer, if the receiver answered at all.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: SystemTime,
    pub delivered_at: Option<SystemTime>,
}

/// How one send went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// 2xx from the receiver.
    Delivered { status: u16 },
    /// Anything else: try again after `retry_in`, unless that is past the row's deadline
    /// (`created_at + max_age`), in which case the row is marked failed.
    Refused {
        status: Option<u16>,
        error: String,
        retry_in: Duration,
        max_age: Duration,
    },
}

const COLUMNS: &str = "id, job_id, event, url, status, attempts, next_attempt_at, last_status, \
    last_error, created_at, delivered_at";

#[derive(Debug)]
pub(super) struct OutboxQueries {
    claim: String,
    delivered: String,
    refused: String,
    of_job: String,
}

impl OutboxQueries {
    pub(super) fn new(engine: DbEngine) -> Self {
        let sql = |s: String| s.replace(":now", engine.now_sql());
        Self {
            claim: sql(format!(
                "WITH picked AS MATERIALIZED (SELECT id FROM webhook_deliveries \
                     WHERE status = 'pending' AND next_attempt_at <= :now \
                     AND (lease_expires_at IS NULL OR lease_expires_at <= :now) \
                     ORDER BY next_attempt_at LIMIT $3 {lock}) \
                 UPDATE webhook_deliveries SET lease_owner = $1, lease_expires_at = :now + $2, \
                 attempts = attempts + 1, updated_at = :now \
                 WHERE id IN (SELECT id FROM picked) AND status = 'pending' \
                 AND (lease_expires_at IS NULL OR lease_expires_at <= :now) RETURNING {COLUMNS}",
                lock = engine.skip_locked()
            )),
            delivered: sql(
                "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = :now, \
                 last_status = $3, last_error = NULL, lease_owner = NULL, lease_expires_at = NULL, \
                 updated_at = :now WHERE id = $1 AND lease_owner = $2 RETURNING id"
                    .to_string(),
            ),
            refused: sql("UPDATE webhook_deliveries SET \
                 status = CASE WHEN :now + $5 > created_at + $6 THEN 'failed' ELSE 'pending' END, \
                 next_attempt_at = :now + $5, last_status = $3, last_error = $4, \
                 lease_owner = NULL, lease_expires_at = NULL, updated_at = :now \
                 WHERE id = $1 AND lease_owner = $2 RETURNING id"
                .to_string()),
            of_job: format!(
                "SELECT {COLUMNS} FROM webhook_deliveries WHERE job_id = $1 ORDER BY created_at, id"
            ),
        }
    }
}

fn decode(row: &AnyRow) -> Result<WebhookDelivery> {
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    Ok(WebhookDelivery {
        status: DeliveryStatus::parse(&status).ok_or_else(|| {
            InfraError::Corrupt(format!("webhook delivery {id}: unknown status '{status}'"))
        })?,
        job_id: row.try_get("job_id")?,
        event: row.try_get("event")?,
        url: row.try_get("url")?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?.max(0)).unwrap_or(u32::MAX),
        next_attempt_at: to_time(row.try_get("next_attempt_at")?),
        last_status: row
            .try_get::<Option<i64>, _>("last_status")?
            .and_then(|s| u16::try_from(s).ok()),
        last_error: row.try_get("last_error")?,
        created_at: to_time(row.try_get("created_at")?),
        delivered_at: row.try_get::<Option<i64>, _>("delivered_at")?.map(to_time),
        id,
    })
}

impl SqlJobStore {
    /// Claims up to `limit` due deliveries for `sender` for `lease`.
    pub(super) async fn outbox_claim(
        &self,
        sender: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>> {
        let q = sqlx::query(&self.outbox.claim)
            .bind(sender.to_string())
            .bind(millis(lease))
            .bind(i64::from(limit));
        self.fetch_deliveries("outbox_claim", q).await
    }

    /// Records a send by `sender`; `false` when its claim lapsed and someone else took the row.
    pub(super) async fn outbox_record(
        &self,
        id: &str,
        sender: &str,
        outcome: SendOutcome,
    ) -> Result<bool> {
        let status = |s: Option<u16>| s.map(i64::from);
        let q = match outcome {
            SendOutcome::Delivered { status: s } => sqlx::query(&self.outbox.delivered)
                .bind(id.to_string())
                .bind(sender.to_string())
                .bind(i64::from(s)),
            SendOutcome::Refused {
                status: s,
                error,
                retry_in,
                max_age,
            } => sqlx::query(&self.outbox.refused)
                .bind(id.to_string())
                .bind(sender.to_string())
                .bind(status(s))
                .bind(error)
                .bind(millis(retry_in))
                .bind(millis(max_age)),
        };
        instrumented(
            self.engine().system(),
            "outbox_record",
            self.call_timeout(),
            async { Ok(q.fetch_optional(self.pool()).await?.is_some()) },
        )
        .await
    }

    /// Every delivery owed for `job_id`, oldest first.
    pub(super) async fn outbox_of_job(&self, job_id: &str) -> Result<Vec<WebhookDelivery>> {
        let q = sqlx::query(&self.outbox.of_job).bind(job_id.to_string());
        self.fetch_deliveries("outbox_of_job", q).await
    }

    async fn fetch_deliveries<'q>(
        &self,
        op: &'static str,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Vec<WebhookDelivery>> {
        instrumented(self.engine().system(), op, self.call_timeout(), async {
            let rows: Vec<AnyRow> = q.fetch_all(self.pool()).await?;
            rows.iter().map(decode).collect()
        })
        .await
    }
}
