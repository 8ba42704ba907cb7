//! Rate limits shared by every API instance: GCRA (the generic cell rate algorithm, a token bucket
//! that stores one timestamp per bucket) on Redis, or in memory for the single-process default.
//!
//! Design:
//! - A bucket allows `limit` units per `period` with a burst of `limit`: each unit pushes the
//!   bucket's "theoretical arrival time" (TAT) forward by `period / limit`; a request is refused
//!   when that would put the TAT more than one period ahead of now. One number per bucket, no
//!   sweeping of old counters, and exact `remaining`/`reset` values for the `RateLimit-*` headers.
//! - On Redis the whole check-and-update is one Lua script using the server's clock (`TIME`), so
//!   N API instances share one limit and their clocks never matter.
//! - A cost larger than the whole burst can never pass; that is reported as such instead of as a
//!   retry, so the client gets a clear error instead of waiting forever.
//! - Caps on things held at once (a key's syntheses in progress) are leases, not rates: see
//!   [`SlotLimiter`].

mod memory;
mod redis;
mod slots;

use std::time::Duration;

use crate::Result;

pub use memory::MemoryRateLimiter;
pub use redis::RedisRateLimiter;
pub use slots::{MemorySlots, RedisSlots, SlotLimiter};

/// `limit` units per `period`, with bursts of up to `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub limit: u64,
    pub period: Duration,
}

impl Rate {
    pub const fn per_minute(limit: u64) -> Self {
        Self {
            limit,
            period: Duration::from_secs(60),
        }
    }

    /// Microseconds one unit occupies (at least 1).
    fn interval_us(self) -> u64 {
        (period_us(self.period) / self.limit.max(1)).max(1)
    }
}

fn period_us(p: Duration) -> u64 {
    u64::try_from(p.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The bucket's limit (for `RateLimit-Limit`).
    pub limit: u64,
    /// Units that could still pass right now after this request.
    pub remaining: u64,
    /// Time until the bucket is completely full again (for `RateLimit-Reset`).
    pub reset: Duration,
    /// When refused: how long until this request's cost would pass. `None` if it never can
    /// (cost above the limit) or the request was allowed.
    pub retry_after: Option<Duration>,
}

impl Decision {
    /// Builds the decision from the bucket's occupancy after (allowed) or before (refused) the
    /// request, both in microseconds ahead of now.
    fn from_occupancy(rate: Rate, cost: u64, allowed: bool, used_us: u64, over_us: u64) -> Self {
        let interval = rate.interval_us();
        let remaining = period_us(rate.period).saturating_sub(used_us) / interval;
        Self {
            allowed,
            limit: rate.limit,
            remaining,
            reset: Duration::from_micros(used_us),
            retry_after: match (allowed, cost > rate.limit) {
                (true, _) => None,
                (false, true) => None,
                (false, false) => Some(Duration::from_micros(over_us)),
            },
        }
    }
}

/// A shared rate limiter.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes `cost` units from `bucket` if the rate allows it now.
    async fn acquire(&self, bucket: &str, rate: Rate, cost: u64) -> Result<Decision>;
    /// Whether `cost` units would pass `bucket` now, taking nothing: for limits on outcomes
    /// known only afterwards (a failed authentication), checked before the work they limit.
    async fn peek(&self, bucket: &str, rate: Rate, cost: u64) -> Result<Decision>;
}

/// The GCRA step on plain numbers (microseconds): `(allowed, new_tat, used, over)`.
fn gcra(now: u64, stored_tat: u64, rate: Rate, cost: u64) -> (bool, u64, u64, u64) {
    let tat = stored_tat.max(now);
    let new_tat = tat.saturating_add(rate.interval_us().saturating_mul(cost));
    let used = new_tat - now;
    let period = period_us(rate.period);
    if used > period {
        (false, stored_tat, tat - now, used - period)
    } else {
        (true, new_tat, used, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Rate = Rate::per_minute(10);

    #[test]
    fn a_burst_of_limit_passes_then_one_per_interval() {
        let mut tat = 0;
        let now = 1_000_000_000;
        for i in 0..10 {
            let (ok, t, _, _) = gcra(now, tat, MIN, 1);
            assert!(ok, "request {i} of the burst");
            tat = t;
        }
        let (ok, _, _, over) = gcra(now, tat, MIN, 1);
        assert!(!ok);
        assert_eq!(over, 6_000_000, "one unit frees up after period/limit");
        let (ok, _, _, _) = gcra(now + 6_000_000, tat, MIN, 1);
        assert!(ok);
    }

    #[test]
    fn decisions_report_remaining_and_reset() {
        let (ok, _, used, over) = gcra(0, 0, MIN, 3);
        let d = Decision::from_occupancy(MIN, 3, ok, used, over);
        assert_eq!(
            (d.allowed, d.remaining, d.reset, d.retry_after),
            (true, 7, Duration::from_secs(18), None)
        );
        let (ok, _, used, over) = gcra(0, 60_000_000, MIN, 1);
        let d = Decision::from_occupancy(MIN, 1, ok, used, over);
        assert_eq!(
            (d.allowed, d.remaining, d.retry_after),
            (false, 0, Some(Duration::from_secs(6)))
        );
    }

    #[test]
    fn a_cost_above_the_limit_never_passes_and_has_no_retry() {
        let (ok, _, used, over) = gcra(0, 0, MIN, 11);
        assert!(!ok);
        let d = Decision::from_occupancy(MIN, 11, ok, used, over);
        assert_eq!(d.retry_after, None);
        assert_eq!(d.remaining, 10);
    }
}
