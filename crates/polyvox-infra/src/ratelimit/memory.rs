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

#[async_trait::async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn acquire(&self, bucket: &str, rate: Rate, cost: u64) -> Result<Decision> {
        let now = self.now_us();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, tat| *tat > now);
        }
        let stored = map.get(bucket).copied().unwrap_or(0);
        let (allowed, tat, used, over) = gcra(now, stored, rate, cost);
        if allowed {
            map.insert(bucket.to_string(), tat);
        }
        Ok(Decision::from_occupancy(rate, cost, allowed, used, over))
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
}
