//! `GET /v1/usage`: what the calling key used, per UTC day, with its limits and this month's
//! quota standing.

use std::time::SystemTime;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use polyvox_core::ErrorCode;
use polyvox_infra::tenancy::{DayUsage, KeyLimits, utc_day, utc_month};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::error::ApiError;
use crate::tenancy::Caller;

/// Longest range one call may ask for.
const MAX_DAYS: i64 = 366;

/// Query of `GET /v1/usage`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UsageQuery {
    /// First UTC day (`YYYY-MM-DD`), default: the first day of this month.
    pub from: Option<String>,
    /// Last UTC day (`YYYY-MM-DD`), inclusive, default: today.
    pub to: Option<String>,
}

/// Sums over the requested days.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct UsageTotals {
    pub requests: u64,
    /// Characters of input accepted for synthesis (cache hits included).
    pub characters: u64,
    /// Seconds of audio delivered.
    pub audio_seconds: f64,
    /// Requests answered from the result cache.
    pub cache_hits: u64,
}

/// One UTC day of usage.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageDay {
    pub day: String,
    pub requests: u64,
    pub characters: u64,
    pub audio_seconds: f64,
    pub cache_hits: u64,
}

/// The key's limits as configured (`null` = the server's default / no quota).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageLimits {
    pub requests_per_minute: Option<u64>,
    pub chars_per_minute: Option<u64>,
    pub monthly_chars: Option<u64>,
    /// Speech requests in progress at once; `null` = the server's default, 0 = unlimited.
    pub concurrent_syntheses: Option<u64>,
}

/// This month's standing against the quota.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MonthUsage {
    /// `YYYY-MM` (UTC).
    pub month: String,
    pub characters: u64,
    pub quota: Option<u64>,
    pub remaining: Option<u64>,
}

/// Answer of `GET /v1/usage`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    pub key_id: String,
    pub key_name: String,
    pub from: String,
    pub to: String,
    pub totals: UsageTotals,
    pub days: Vec<UsageDay>,
    pub limits: UsageLimits,
    pub month: MonthUsage,
}

fn parse_day(field: &str, v: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::InvalidRequest(format!("{field} must be a date as YYYY-MM-DD, got '{v}'"))
    })
}

/// The calling key's usage per day, totals, limits and monthly quota.
#[utoipa::path(
    get,
    path = "/v1/usage",
    tag = "usage",
    params(UsageQuery),
    responses(
        (status = 200, body = UsageReport),
        (status = 400, description = "Bad date, `from` after `to`, or a range above 366 days", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, invalid or revoked key", body = crate::error::ErrorBody),
        (status = 404, description = "The server runs without API keys, so there is no usage per key", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn usage(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<UsageQuery>,
) -> Result<Response, ApiError> {
    let (Some(tenancy), Some(key)) = (st.tenancy.as_deref(), caller.key()) else {
        return Err(ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::NotFound,
            "usage is recorded per API key and this server runs without keys (--no-auth)",
        )));
    };
    let now = SystemTime::now();
    let month = utc_month(now);
    let from = match &q.from {
        Some(v) => parse_day("from", v)?,
        None => parse_day("from", &format!("{month}-01"))?,
    };
    let to = match &q.to {
        Some(v) => parse_day("to", v)?,
        None => parse_day("to", &utc_day(now))?,
    };
    if from > to {
        return Err(ApiError::InvalidRequest(format!(
            "from ({from}) must not be after to ({to})"
        )));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::InvalidRequest(format!(
            "from..to may span at most {MAX_DAYS} days"
        )));
    }
    let (from, to) = (from.to_string(), to.to_string());
    let days = tenancy
        .usage()
        .days(&key.id, &from, &to)
        .await
        .map_err(crate::jobs::infra)?;
    let month_chars = tenancy
        .usage()
        .month_chars(&key.id, &month)
        .await
        .map_err(crate::jobs::infra)?;
    let mut totals = UsageTotals::default();
    for d in &days {
        totals.requests += d.requests;
        totals.characters += d.characters;
        totals.audio_seconds += d.audio_seconds;
        totals.cache_hits += d.cache_hits;
    }
    let KeyLimits {
        requests_per_minute,
        chars_per_minute,
        monthly_chars,
        concurrent_syntheses,
    } = key.limits;
    let report = UsageReport {
        key_id: key.id.clone(),
        key_name: key.name.clone(),
        from,
        to,
        totals,
        days: days.into_iter().map(day_view).collect(),
        limits: UsageLimits {
            requests_per_minute,
            chars_per_minute,
            monthly_chars,
            concurrent_syntheses,
        },
        month: MonthUsage {
            month,
            characters: month_chars,
            quota: monthly_chars,
            remaining: monthly_chars.map(|q| q.saturating_sub(month_chars)),
        },
    };
    Ok(axum::Json(report).into_response())
}

fn day_view(d: DayUsage) -> UsageDay {
    UsageDay {
        day: d.day,
        requests: d.requests,
        characters: d.characters,
        audio_seconds: d.audio_seconds,
        cache_hits: d.cache_hits,
    }
}
