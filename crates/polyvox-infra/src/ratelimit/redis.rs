//! [`RedisRateLimiter`]: GCRA buckets in Redis, one atomic script per check, shared by every API
//! instance connected to the same server and prefix.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{Decision, Rate, RateLimiter, period_us};
use crate::Result;
use crate::call::{instrumented, redis_manager};
use crate::names::system::REDIS;

/// KEYS[1] = bucket; ARGV = interval µs, period µs, cost, take (1) or only look (0). Returns
/// {allowed, used µs, over µs}.
/// The clock is Redis's own `TIME`, so instances with skewed clocks agree. Microseconds since the
/// epoch stay below 2^53, exact in Lua's doubles.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
local tat = stored
if tat < now then tat = now end
local new_tat = tat + tonumber(ARGV[1]) * tonumber(ARGV[3])
local used = new_tat - now
local period = tonumber(ARGV[2])
if used > period then
  return {0, tat - now, used - period}
end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(used / 1000) + 1)
end
return {1, used, 0}
";

/// Redis-backed [`RateLimiter`].
#[derive(Clone)]
pub struct RedisRateLimiter {
    conn: ConnectionManager,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisRateLimiter {
    /// Connects; buckets live under `{prefix}:rl:`.
    pub async fn connect(url: &str, prefix: &str, call_timeout: Duration) -> Result<Self> {
        let conn = redis_manager(redis::Client::open(url)?, call_timeout).await?;
        Ok(Self {
            conn,
            script: redis::Script::new(SCRIPT),
            prefix: format!("{prefix}:rl:"),
            timeout: call_timeout,
        })
    }
}

#[async_trait::async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(&self, bucket: &str, rate: Rate, cost: u64) -> Result<Decision> {
        self.step(bucket, rate, cost, true).await
    }

    async fn peek(&self, bucket: &str, rate: Rate, cost: u64) -> Result<Decision> {
        self.step(bucket, rate, cost, false).await
    }
}

impl RedisRateLimiter {
    async fn step(&self, bucket: &str, rate: Rate, cost: u64, take: bool) -> Result<Decision> {
        let mut conn = self.conn.clone();
        let mut inv = self.script.key(format!("{}{bucket}", self.prefix));
        inv.arg(rate.interval_us())
            .arg(period_us(rate.period))
            .arg(cost)
            .arg(u8::from(take));
        let op = if take {
            "rate_limit"
        } else {
            "rate_limit_peek"
        };
        let (allowed, used, over): (i64, i64, i64) =
            instrumented(REDIS, op, self.timeout, async move {
                Ok(inv.invoke_async(&mut conn).await?)
            })
            .await?;
        let us = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(Decision::from_occupancy(
            rate,
            cost,
            allowed == 1,
            us(used),
            us(over),
        ))
    }
}
