//! [`RedisQueue`]: one Redis stream per lane, one consumer group shared by all workers.
//!
//! - New work: `XREADGROUP ... >`. Stalled work: `XAUTOCLAIM` of entries idle longer than the
//!   visibility timeout, with the delivery count read back from `XPENDING`.
//! - Ack is `XACK` + `XDEL` so the streams stay as short as the backlog.
//! - Delayed ids live in a sorted set scored by due time (Redis' own clock, via `TIME` in Lua, so
//!   worker clocks do not matter); every `receive` promotes due ids atomically with a script.
//! - If Redis loses its data (flush, restart without persistence) reads fail with `NOGROUP`; the
//!   group is recreated at id `0` so entries added since are still delivered, and the job table's
//!   reconciler re-enqueues whatever was lost.
//! - Blocking reads hold their connection for the whole block, which would stall every other
//!   command multiplexed on it, so they use a small pool of dedicated connections.
//! - Keys share a hash tag (`{prefix}`) so the scripts' keys live in one Redis Cluster slot.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use redis::{FromRedisValue, Script};
use tokio::time::Instant;

use super::scripts::{ACK, NACK, PROMOTE};
use super::{Delivery, JobQueue, QueueConfig};
use crate::call::{instrumented, redis_manager};
use crate::names::{self, system::REDIS};
use crate::{InfraError, Lane, Result};

/// How many due ids one `receive` promotes at most.
const PROMOTE_BATCH: usize = 100;
/// Idle dedicated connections kept for blocking reads.
const MAX_IDLE_BLOCKING: usize = 16;

/// Redis Streams [`JobQueue`]. Cheap to share behind an `Arc`.
pub struct RedisQueue {
    client: redis::Client,
    conn: ConnectionManager,
    blocking: Mutex<Vec<MultiplexedConnection>>,
    cfg: QueueConfig,
    streams: [String; 2],
    delayed: String,
    promote: Script,
    ack: Script,
    nack: Script,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("streams", &self.streams)
            .field("cfg", &self.cfg)
            .finish()
    }
}

fn is_nogroup(e: &InfraError) -> bool {
    matches!(e, InfraError::Redis(r) if r.code() == Some("NOGROUP"))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RedisQueue {
    /// Connects and makes sure both lanes' streams and the consumer group exist.
    pub async fn connect(url: &str, cfg: QueueConfig) -> Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = redis_manager(client.clone(), cfg.call_timeout).await?;
        let base = format!("{{{}}}:queue", cfg.prefix);
        let queue = Self {
            client,
            conn,
            blocking: Mutex::new(Vec::new()),
            streams: Lane::BY_PRIORITY.map(|l| format!("{base}:{}", l.as_str())),
            delayed: format!("{base}:delayed"),
            cfg,
            promote: Script::new(PROMOTE),
            ack: Script::new(ACK),
            nack: Script::new(NACK),
        };
        for lane in Lane::BY_PRIORITY {
            queue.ensure_group(lane).await?;
        }
        Ok(queue)
    }

    /// The Redis keys this queue uses (streams, then the delayed set), for cleanup and tests.
    pub fn keys(&self) -> Vec<String> {
        let mut k = self.streams.to_vec();
        k.push(self.delayed.clone());
        k
    }

    fn stream(&self, lane: Lane) -> &str {
        match lane {
            Lane::Interactive => &self.streams[0],
            Lane::Batch => &self.streams[1],
        }
    }

    async fn query<T: FromRedisValue + Send>(
        &self,
        op: &'static str,
        cmd: redis::Cmd,
    ) -> Result<T> {
        let mut conn = self.conn.clone();
        instrumented(REDIS, op, self.cfg.call_timeout, async move {
            Ok(cmd.query_async(&mut conn).await?)
        })
        .await
    }

    async fn ensure_group(&self, lane: Lane) -> Result<()> {
        let mut cmd = redis::cmd("XGROUP");
        // From 0, not $: after a flush, entries added before the group came back must be seen.
        cmd.arg("CREATE")
            .arg(self.stream(lane))
            .arg(&self.cfg.group)
            .arg("0")
            .arg("MKSTREAM");
        match self.query::<()>("xgroup_create", cmd).await {
            Err(InfraError::Redis(e)) if e.code() == Some("BUSYGROUP") => Ok(()),
            r => r,
        }
    }

    /// Runs `op`; on NOGROUP recreates the lanes' groups and runs it once more.
    async fn with_group<T, F, Fut>(&self, lanes: &[Lane], op: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        match op().await {
            Err(e) if is_nogroup(&e) => {
                for &lane in lanes {
                    tracing::warn!(
                        lane = lane.as_str(),
                        "queue consumer group missing (Redis data lost?); recreating"
                    );
                    metrics::counter!(names::QUEUE_GROUP_RECREATED_TOTAL, "lane" => lane.as_str())
                        .increment(1);
                    self.ensure_group(lane).await?;
                }
                op().await
            }
            r => r,
        }
    }

    async fn promote_due(&self) -> Result<()> {
        let mut inv = self.promote.prepare_invoke();
        inv.key(&self.delayed)
            .key(&self.streams[0])
            .key(&self.streams[1])
            .arg(PROMOTE_BATCH);
        let mut conn = self.conn.clone();
        instrumented(REDIS, "promote", self.cfg.call_timeout, async move {
            let _moved: i64 = inv.invoke_async(&mut conn).await?;
            Ok(())
        })
        .await
    }

    fn to_delivery(
        &self,
        lane: Lane,
        consumer: &str,
        entry: &StreamId,
        deliveries: u64,
    ) -> Option<Delivery> {
        let job_id: String = entry.get("job")?;
        Some(Delivery {
            id: entry.id.clone(),
            lane,
            job_id,
            consumer: consumer.to_string(),
            deliveries,
        })
    }

    /// Takes over entries of this lane idle longer than the visibility timeout.
    async fn reclaim(&self, lane: Lane, consumer: &str, count: usize) -> Result<Vec<Delivery>> {
        let reply: StreamAutoClaimReply = self
            .with_group(&[lane], || {
                let mut cmd = redis::cmd("XAUTOCLAIM");
                cmd.arg(self.stream(lane))
                    .arg(&self.cfg.group)
                    .arg(consumer)
                    .arg(ms(self.cfg.visibility_timeout))
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(count);
                self.query("xautoclaim", cmd)
            })
            .await?;
        let mut out = Vec::with_capacity(reply.claimed.len());
        for entry in &reply.claimed {
            let mut cmd = redis::cmd("XPENDING");
            cmd.arg(self.stream(lane))
                .arg(&self.cfg.group)
                .arg(&entry.id)
                .arg(&entry.id)
                .arg(1);
            let pending: StreamPendingCountReply = self.query("xpending", cmd).await?;
            let deliveries = pending.ids.first().map_or(2, |p| p.times_delivered as u64);
            match self.to_delivery(lane, consumer, entry, deliveries) {
                Some(d) => out.push(d),
                None => self.drop_malformed(lane, &entry.id).await?,
            }
        }
        Ok(out)
    }

    /// An entry without a job id cannot be processed by anyone: remove it instead of letting
    /// it be redelivered forever.
    async fn drop_malformed(&self, lane: Lane, id: &str) -> Result<()> {
        tracing::warn!(
            lane = lane.as_str(),
            id,
            "dropping queue entry without a job id"
        );
        let mut inv = self.ack.prepare_invoke();
        inv.key(self.stream(lane)).arg(&self.cfg.group).arg(id);
        let mut conn = self.conn.clone();
        instrumented(REDIS, "ack", self.cfg.call_timeout, async move {
            let _: i64 = inv.invoke_async(&mut conn).await?;
            Ok(())
        })
        .await
    }

    /// New entries of `lanes` (in order). `block` waits on a dedicated connection.
    async fn read(
        &self,
        lanes: &[Lane],
        consumer: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Delivery>> {
        let reply: Option<StreamReadReply> = self
            .with_group(lanes, || {
                let mut cmd = redis::cmd("XREADGROUP");
                cmd.arg("GROUP")
                    .arg(&self.cfg.group)
                    .arg(consumer)
                    .arg("COUNT")
                    .arg(count);
                if let Some(b) = block {
                    // BLOCK 0 would mean "forever".
                    cmd.arg("BLOCK").arg(ms(b).max(1));
                }
                cmd.arg("STREAMS");
                for &lane in lanes {
                    cmd.arg(self.stream(lane));
                }
                for _ in lanes {
                    cmd.arg(">");
                }
                async move {
                    match block {
                        Some(b) => self.query_blocking("xreadgroup_block", cmd, b).await,
                        None => self.query("xreadgroup", cmd).await,
                    }
                }
            })
            .await?;
        let mut out = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            let Some(&lane) = lanes.iter().find(|&&l| self.stream(l) == key.key) else {
                continue;
            };
            for entry in &key.ids {
                match self.to_delivery(lane, consumer, entry, 1) {
                    Some(d) => out.push(d),
                    None => self.drop_malformed(lane, &entry.id).await?,
                }
            }
        }
        // Lanes come back in request order, but sort anyway: priority must not depend on it.
        out.sort_by_key(|d| d.lane != Lane::Interactive);
        Ok(out)
    }

    async fn query_blocking<T: FromRedisValue + Send>(
        &self,
        op: &'static str,
        cmd: redis::Cmd,
        block: Duration,
    ) -> Result<T> {
        let idle = self
            .blocking
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            Some(c) => c,
            None => {
                let client = self.client.clone();
                instrumented(REDIS, "connect", self.cfg.call_timeout, async move {
                    Ok(client.get_multiplexed_async_connection().await?)
                })
                .await?
            }
        };
        let result = instrumented(REDIS, op, self.cfg.call_timeout + block, async {
            Ok(cmd.query_async(&mut conn).await?)
        })
        .await;
        // Only a connection that answered is known to be idle again; a timed-out one may still
        // be blocked on the server.
        if result.is_ok() {
            let mut pool = self
                .blocking
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if pool.len() < MAX_IDLE_BLOCKING {
                pool.push(conn);
            }
        }
        result
    }

    async fn run_nack(
        &self,
        lane: Lane,
        entry_id: &str,
        job_id: &str,
        delay: Duration,
    ) -> Result<()> {
        let mut inv = self.nack.prepare_invoke();
        inv.key(self.stream(lane))
            .key(&self.delayed)
            .arg(&self.cfg.group)
            .arg(entry_id)
            .arg(ms(delay))
            .arg(format!("{}:{job_id}", lane.as_str()))
            .arg(job_id);
        let mut conn = self.conn.clone();
        instrumented(REDIS, "nack", self.cfg.call_timeout, async move {
            let _: i64 = inv.invoke_async(&mut conn).await?;
            Ok(())
        })
        .await
    }
}

#[async_trait::async_trait]
impl JobQueue for RedisQueue {
    async fn enqueue(&self, lane: Lane, job_id: &str) -> Result<()> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.stream(lane)).arg("*").arg("job").arg(job_id);
        let _id: String = self.query("xadd", cmd).await?;
        Ok(())
    }

    async fn enqueue_delayed(&self, lane: Lane, job_id: &str, delay: Duration) -> Result<()> {
        self.run_nack(lane, "", job_id, delay).await
    }

    async fn receive_from(
        &self,
        lanes: &[Lane],
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>> {
        let lanes: Vec<Lane> = Lane::by_priority(lanes).collect();
        if max == 0 || lanes.is_empty() {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + wait;
        loop {
            self.promote_due().await?;
            let mut out = Vec::new();
            for &lane in &lanes {
                if out.len() < max {
                    out.extend(self.reclaim(lane, consumer, max - out.len()).await?);
                }
                if out.len() < max {
                    out.extend(self.read(&[lane], consumer, max - out.len(), None).await?);
                }
            }
            let now = Instant::now();
            if !out.is_empty() || now >= deadline {
                return Ok(out);
            }
            // Block on both lanes, but wake every poll interval to look for stalled and due work.
            let block = (deadline - now).min(self.cfg.poll_interval);
            let mut got = self.read(&lanes, consumer, max, Some(block)).await?;
            if got.len() > max {
                // COUNT applies per stream; hand back what exceeds the caller's budget.
                for extra in got.split_off(max) {
                    self.nack(&extra, Duration::ZERO).await?;
                }
            }
            if !got.is_empty() {
                return Ok(got);
            }
        }
    }

    async fn ack(&self, d: &Delivery) -> Result<()> {
        let mut inv = self.ack.prepare_invoke();
        inv.key(self.stream(d.lane)).arg(&self.cfg.group).arg(&d.id);
        let mut conn = self.conn.clone();
        instrumented(REDIS, "ack", self.cfg.call_timeout, async move {
            let _: i64 = inv.invoke_async(&mut conn).await?;
            Ok(())
        })
        .await
    }

    async fn nack(&self, d: &Delivery, delay: Duration) -> Result<()> {
        self.run_nack(d.lane, &d.id, &d.job_id, delay).await
    }

    async fn touch(&self, d: &Delivery) -> Result<()> {
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(self.stream(d.lane))
            .arg(&self.cfg.group)
            .arg(&d.consumer)
            .arg(0)
            .arg(&d.id)
            .arg("JUSTID");
        match self.query::<Vec<String>>("xclaim", cmd).await {
            // Nothing to extend if Redis lost the group; the lease in the job table still holds.
            Err(e) if is_nogroup(&e) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    async fn ping(&self) -> Result<()> {
        let _: String = self.query("ping", redis::cmd("PING")).await?;
        Ok(())
    }
}
