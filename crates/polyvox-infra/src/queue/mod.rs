//! The work queue: it carries job ids only, the job row is the truth.
//!
//! Delivery is at-least-once. A delivery that is not acked within the visibility timeout (its
//! worker died or stalled) is handed to another consumer, so every consumer must treat a message
//! as a hint and decide with [`crate::db::JobStore::try_claim`]: if the claim fails because the
//! job is running under a live lease or is finished, ack the message and move on (the lease
//! reaper and the reconciler re-enqueue anything that truly needs it). Long jobs call
//! [`JobQueue::touch`] alongside their lease heartbeat so they are not redelivered needlessly.
//!
//! Lanes are read with strict priority (interactive before batch). Retries go through
//! [`JobQueue::nack`] with a delay: the id waits in a delayed set and consumers promote it when due.

mod memory;
mod redis;
mod scripts;

use std::time::Duration;

use crate::{Lane, Result};

pub use self::memory::MemoryQueue;
pub use self::redis::RedisQueue;

/// One delivery of a job id to a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Queue-internal id of this message (a stream entry id on Redis).
    pub id: String,
    pub lane: Lane,
    pub job_id: String,
    /// The consumer it was delivered to.
    pub consumer: String,
    /// How many times this message has been delivered, this time included. Retries after
    /// `nack` are new messages, so the job's `attempts` in the database is the retry budget.
    pub deliveries: u64,
}

/// Settings shared by both implementations.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// A delivery not acked (or touched) for this long is handed to another consumer.
    pub visibility_timeout: Duration,
    /// How often a waiting `receive` re-checks for stalled deliveries and due delayed ids.
    pub poll_interval: Duration,
    /// Bound on every call to Redis (a blocking read adds its block time).
    pub call_timeout: Duration,
    /// Key prefix (Redis); lets deployments and tests share a server.
    pub prefix: String,
    /// Consumer group name (Redis).
    pub group: String,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            call_timeout: Duration::from_secs(5),
            prefix: "polyvox".into(),
            group: "polyvox-workers".into(),
        }
    }
}

/// A queue of job ids with lanes, visibility timeout, ack and delayed nack.
#[async_trait::async_trait]
pub trait JobQueue: Send + Sync {
    /// Makes `job_id` available to consumers now.
    async fn enqueue(&self, lane: Lane, job_id: &str) -> Result<()>;

    /// Makes `job_id` available after `delay` (retries with backoff).
    async fn enqueue_delayed(&self, lane: Lane, job_id: &str, delay: Duration) -> Result<()>;

    /// Up to `max` deliveries for `consumer`, interactive first: stalled deliveries of other
    /// consumers, then new messages. Waits up to `wait` when there is nothing; returns an empty
    /// list when the wait ends.
    async fn receive(&self, consumer: &str, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        self.receive_from(&Lane::BY_PRIORITY, consumer, max, wait)
            .await
    }
    /// [`JobQueue::receive`] from `lanes` only (a worker keeps slots for interactive jobs that
    /// batch work cannot fill).
    async fn receive_from(
        &self,
        lanes: &[Lane],
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>>;

    /// Done with this delivery; it will not be delivered again. Acking a message the queue no
    /// longer knows (already acked, or lost with a Redis flush) succeeds.
    async fn ack(&self, delivery: &Delivery) -> Result<()>;

    /// Gives the delivery back: its job id becomes available again after `delay`.
    async fn nack(&self, delivery: &Delivery, delay: Duration) -> Result<()>;

    /// Restarts the visibility timeout of a delivery still being worked on.
    async fn touch(&self, delivery: &Delivery) -> Result<()>;

    /// A trivial round trip, for readiness checks.
    async fn ping(&self) -> Result<()>;
}
