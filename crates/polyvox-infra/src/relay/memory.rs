//! [`MemoryRelay`]: the embedded twin, for one process holding both the API and the workers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{Relay, RelayConfig, RelayEvent, Subscription};
use crate::Result;

#[derive(Default)]
struct Log {
    events: Vec<RelayEvent>,
    /// Index in `events` of entry 0 of the original log (entries before were trimmed).
    trimmed: usize,
    touched: Option<Instant>,
    notify: Arc<Notify>,
}

/// In-process job logs; a log is forgotten `ttl` after its last append.
pub struct MemoryRelay {
    cfg: RelayConfig,
    logs: Arc<Mutex<HashMap<String, Log>>>,
}

impl MemoryRelay {
    pub fn new(cfg: RelayConfig) -> Self {
        Self {
            cfg,
            logs: Arc::default(),
        }
    }
}

impl Default for MemoryRelay {
    fn default() -> Self {
        Self::new(RelayConfig::default())
    }
}

#[async_trait::async_trait]
impl Relay for MemoryRelay {
    async fn publish(&self, job_id: &str, event: RelayEvent) -> Result<()> {
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        logs.retain(|_, l| l.touched.is_none_or(|t| now - t < self.cfg.ttl));
        let log = logs.entry(job_id.to_string()).or_default();
        log.events.push(event);
        if log.events.len() > self.cfg.max_entries {
            log.events.remove(0);
            log.trimmed += 1;
        }
        log.touched = Some(now);
        log.notify.notify_waiters();
        Ok(())
    }

    async fn subscribe(&self, job_id: &str) -> Result<Box<dyn Subscription>> {
        let notify = {
            let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
            let log = logs.entry(job_id.to_string()).or_default();
            // A log nobody ever appends to is forgotten like any other.
            log.touched.get_or_insert_with(Instant::now);
            Arc::clone(&log.notify)
        };
        Ok(Box::new(MemorySubscription {
            logs: Arc::clone(&self.logs),
            job_id: job_id.to_string(),
            seen: 0,
            notify,
        }))
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

struct MemorySubscription {
    logs: Arc<Mutex<HashMap<String, Log>>>,
    job_id: String,
    /// Entries of the original log already returned.
    seen: usize,
    notify: Arc<Notify>,
}

impl MemorySubscription {
    fn take(&mut self) -> Vec<RelayEvent> {
        let logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(log) = logs.get(&self.job_id) else {
            return Vec::new();
        };
        let from = self.seen.saturating_sub(log.trimmed);
        let out: Vec<RelayEvent> = log.events.iter().skip(from).cloned().collect();
        self.seen = log.trimmed + log.events.len();
        out
    }
}

#[async_trait::async_trait]
impl Subscription for MemorySubscription {
    async fn next(&mut self, wait: Duration) -> Result<Vec<RelayEvent>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so an append between the look and the wait still wakes us.
            let notify = Arc::clone(&self.notify);
            let notified = notify.notified();
            let got = self.take();
            if !got.is_empty() {
                return Ok(got);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }
}
