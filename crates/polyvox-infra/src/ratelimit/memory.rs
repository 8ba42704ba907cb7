//! [`MemoryRateLimiter`]: GCRA buckets in this process (the embedded default, one instance).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::{Decision, Rate, RateLimiter, gcra};
use crate::Result;

/// Buckets kept before expired ones are swept (an expired bucket is the same as no bucket).
const SWEEP_AT: usize = 10_000;

/// In-process [`RateLimiter`].
#[derive(Debug)]
pub struct MemoryRateLimiter {
    origin: Instant,
    buckets: Mutex<HashMap<String, u64>>,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRateLimiter {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn now_us(&self) -> u64 {
        // +1 s so that "no bucket" (TAT 0) is always in the past.
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX) + 1_000_000
    }
}

impl MemoryRateLimiter {
    fn step(&self, bucket: &str, rate: Rate, cost: u64, take: bool) -> Decision {
        let now = self.now_us();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, tat| *tat > now);
        }
        let stored = map.get(bucket).copied().unwrap_or(0);
        let (allowed, tat, used, over) = gcra(now, stored, rate, cost);
        if allowed && take {
            map.insert(bucket.to_string(), tat);
        }
        Decision::from_occupancy(rate, cost, allowed, used, over)
    }
}

#[async_trait::async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn acquire(&self, bucket: &str, rate: Rate, cost: u64) -> Result<Decision> {
        Ok(self.step(bucket, rate, cost, true))
    }

    async fn peek(&self, bucket: &str, rate: Rate, cost: u64) -> Result<Decision> {
        Ok(self.step(bucket, rate, cost, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn buckets_are_independent_and_refill() {
        let rl = MemoryRateLimiter::new();
        let rate = Rate {
            limit: 2,
            period: Duration::from_millis(200),
        };
        assert!(rl.acquire("a", rate, 1).await.unwrap().allowed);
        assert!(rl.acquire("a", rate, 1).await.unwrap().allowed);
        let refused = rl.acquire("a", rate, 1).await.unwrap();
        assert!(!refused.allowed && refused.retry_after.is_some());
        assert!(rl.acquire("b", rate, 2).await.unwrap().allowed);
        tokio::time::sleep(refused.retry_after.unwrap() + Duration::from_millis(5)).await;
        assert!(rl.acquire("a", rate, 1).await.unwrap().allowed);
    }

    #[tokio::test]
    async fn a_peek_answers_without_taking() {
        let rl = MemoryRateLimiter::new();
        let rate = Rate::per_minute(2);
        for _ in 0..5 {
            assert!(rl.peek("a", rate, 1).await.unwrap().allowed);
        }
        assert!(rl.acquire("a", rate, 1).await.unwrap().allowed);
        assert!(rl.acquire("a", rate, 1).await.unwrap().allowed);
        let full = rl.peek("a", rate, 1).await.unwrap();
        assert!(!full.allowed && full.retry_after.is_some());
    }
}
