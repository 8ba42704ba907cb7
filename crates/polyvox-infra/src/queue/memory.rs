//! The in-process queue for the single-binary default: the same semantics as the Redis one
//! (lanes by priority, visibility timeout with redelivery, delayed nack), held in a mutex.
//! Nothing survives a restart; the job table's reconciler re-enqueues what was queued.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Delivery, JobQueue, QueueConfig};
use crate::{Lane, Result};

/// In-process [`JobQueue`].
#[derive(Debug)]
pub struct MemoryQueue {
    visibility: Duration,
    state: Mutex<State>,
    /// Wakes waiting receivers when something becomes available.
    notify: Notify,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    ready: [VecDeque<(u64, String)>; 2],
    /// Delivered, not yet acked; keyed by message id so redelivery goes oldest first.
    pending: BTreeMap<u64, Pending>,
    delayed: Vec<(Instant, Lane, String)>,
}

#[derive(Debug)]
struct Pending {
    lane: Lane,
    job_id: String,
    consumer: String,
    visible_at: Instant,
    deliveries: u64,
}

fn slot(lane: Lane) -> usize {
    match lane {
        Lane::Interactive => 0,
        Lane::Batch => 1,
    }
}

impl State {
    fn push(&mut self, lane: Lane, job_id: String) {
        self.next_id += 1;
        let id = self.next_id;
        self.ready[slot(lane)].push_back((id, job_id));
    }

    fn take(
        &mut self,
        lanes: &[Lane],
        consumer: &str,
        max: usize,
        now: Instant,
        visibility: Duration,
    ) -> Vec<Delivery> {
        let due: Vec<_> = self
            .delayed
            .iter()
            .filter(|d| d.0 <= now)
            .cloned()
            .collect();
        self.delayed.retain(|d| d.0 > now);
        for (_, lane, job) in due {
            self.push(lane, job);
        }
        let mut out = Vec::new();
        for lane in Lane::by_priority(lanes) {
            // Within a lane, stalled deliveries first (like XAUTOCLAIM before XREADGROUP).
            let stalled: Vec<u64> = self
                .pending
                .iter()
                .filter(|(_, p)| p.lane == lane && p.visible_at <= now)
                .map(|(id, _)| *id)
                .take(max.saturating_sub(out.len()))
                .collect();
            for id in stalled {
                if let Some(p) = self.pending.get_mut(&id) {
                    p.consumer = consumer.to_string();
                    p.visible_at = now + visibility;
                    p.deliveries += 1;
                    out.push(delivery(id, p));
                }
            }
            while out.len() < max {
                let Some((id, job_id)) = self.ready[slot(lane)].pop_front() else {
                    break;
                };
                let p = Pending {
                    lane,
                    job_id,
                    consumer: consumer.to_string(),
                    visible_at: now + visibility,
                    deliveries: 1,
                };
                out.push(delivery(id, &p));
                self.pending.insert(id, p);
            }
        }
        out
    }

    /// When something not ready now may become ready without an enqueue.
    fn next_change(&self) -> Option<Instant> {
        let pending = self.pending.values().map(|p| p.visible_at).min();
        let delayed = self.delayed.iter().map(|d| d.0).min();
        pending.into_iter().chain(delayed).min()
    }

    fn delay(&mut self, lane: Lane, job_id: &str, at: Instant) {
        // One delayed entry per job, like the Redis sorted set.
        self.delayed.retain(|d| !(d.1 == lane && d.2 == job_id));
        self.delayed.push((at, lane, job_id.to_string()));
    }
}

fn delivery(id: u64, p: &Pending) -> Delivery {
    Delivery {
        id: id.to_string(),
        lane: p.lane,
        job_id: p.job_id.clone(),
        consumer: p.consumer.clone(),
        deliveries: p.deliveries,
    }
}

impl MemoryQueue {
    /// A new empty queue; only `visibility_timeout` of the config applies.
    pub fn new(cfg: &QueueConfig) -> Self {
        Self {
            visibility: cfg.visibility_timeout,
            state: Mutex::new(State::default()),
            notify: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated in a way that matters
        // more than losing the queue, so keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl JobQueue for MemoryQueue {
    async fn enqueue(&self, lane: Lane, job_id: &str) -> Result<()> {
        self.state().push(lane, job_id.to_string());
        self.notify.notify_waiters();
        Ok(())
    }

    async fn enqueue_delayed(&self, lane: Lane, job_id: &str, delay: Duration) -> Result<()> {
        self.state().delay(lane, job_id, Instant::now() + delay);
        self.notify.notify_waiters();
        Ok(())
    }

    async fn receive_from(
        &self,
        lanes: &[Lane],
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>> {
        let deadline = Instant::now() + wait;
        loop {
            // Register interest before looking, so an enqueue between the look and the wait
            // still wakes us.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            let (out, next) = {
                let mut st = self.state();
                (
                    st.take(lanes, consumer, max, now, self.visibility),
                    st.next_change(),
                )
            };
            if !out.is_empty() || max == 0 || now >= deadline {
                return Ok(out);
            }
            let until = next.map_or(deadline, |n| n.min(deadline));
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }

    async fn ack(&self, d: &Delivery) -> Result<()> {
        if let Ok(id) = d.id.parse::<u64>() {
            self.state().pending.remove(&id);
        }
        Ok(())
    }

    async fn nack(&self, d: &Delivery, delay: Duration) -> Result<()> {
        let id = d.id.parse::<u64>().ok();
        {
            let mut st = self.state();
            if let Some(id) = id {
                st.pending.remove(&id);
            }
            if delay.is_zero() {
                st.push(d.lane, d.job_id.clone());
            } else {
                st.delay(d.lane, &d.job_id, Instant::now() + delay);
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn touch(&self, d: &Delivery) -> Result<()> {
        if let Ok(id) = d.id.parse::<u64>()
            && let Some(p) = self.state().pending.get_mut(&id)
        {
            p.consumer = d.consumer.clone();
            p.visible_at = Instant::now() + self.visibility;
        }
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
