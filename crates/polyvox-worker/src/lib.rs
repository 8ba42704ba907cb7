//! The job runner behind `polyvox worker` (and the in-process workers of `polyvox serve`).
//!
//! Synthesis comes through the one interface, [`polyvox_core::SpeechService`] (the pipeline's
//! `LocalSpeech` in production, fakes in tests). A job whose payload asks for a relay publishes
//! its encoded audio as it is rendered and its outcome to the relay, for the API instance that
//! holds the client; every job still stores its complete file and caches it.
//!
//! Design: the job row is the truth and a queue message is only a hint. For every delivery the
//! worker calls `try_claim`; only the claim winner renders. While it renders, a heartbeat task
//! extends the database lease, touches the queue delivery and reports progress — and learns of a
//! cancellation or a lost lease, which stops the render at once (dropping the render future
//! cancels the synthesis). Results go to the audio store first, then the row (`succeed`), then the
//! cache, then the queue is acked: a crash between any two steps leaves either a retried job or
//! an orphaned object, never a job that claims audio that does not exist. What a finished job
//! owes beyond its row is written by `succeed`'s own transaction (the owner's audio seconds, the
//! webhook outbox row), so nothing owed is lost to a crash after it; the steps after it are
//! each safe to skip or repeat.
//!
//! Failures are classified ([`WorkerError::is_retryable`]): retryable ones go back to `queued`
//! and are re-delivered after an exponential backoff; the rest (and anything past the attempt
//! budget) end `failed`. Two maintenance loops ([`maintenance`]) cover what a queue cannot: the
//! lease reaper requeues jobs whose worker died (counting a crash, and dead-lettering the job as
//! `worker_crashed` at its crash limit), the reconciler re-enqueues jobs the database says are
//! queued but the queue may have lost (Redis flushed or restarted).
//!
//! Shutdown ([`Worker::run`]'s token): stop receiving, let running jobs finish for up to the
//! drain deadline, then stop the rest and hand them back (a retryable failure: the job is queued
//! again and its delivery is nacked), so another worker picks them up without waiting for a lease
//! to expire.

mod error;
mod job;
pub mod maintenance;
pub mod retention;
mod run;
pub mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use polyvox_core::Progress;

pub use error::WorkerError;
pub use run::Worker;
pub use webhook::WebhookConfig;

/// Chunk progress of the current render, read by the heartbeat.
#[derive(Debug, Default)]
pub(crate) struct ProgressSink {
    total: AtomicU32,
    source: std::sync::Mutex<Option<Arc<Progress>>>,
}

impl ProgressSink {
    /// Follows `source`, a render of `total` chunks.
    pub(crate) fn follow(&self, source: Arc<Progress>, total: usize) {
        self.total
            .store(u32::try_from(total).unwrap_or(u32::MAX), Ordering::Relaxed);
        *self
            .source
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(source);
    }

    /// `(done, total)`; total is 0 until the text is chunked.
    pub(crate) fn get(&self) -> (u32, u32) {
        let total = self.total.load(Ordering::Relaxed);
        let done = self
            .source
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map_or(0, |p| u32::try_from(p.chunks_done()).unwrap_or(u32::MAX));
        (done.min(total), total)
    }
}

/// The external systems a worker talks to (the same bundle the job API uses).
pub use polyvox_infra::Backends;

/// Worker tuning. `Default` suits production; tests shorten the intervals.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Consumer name in the queue and lease owner in the database; unique per process.
    pub id: String,
    /// Jobs rendered at once.
    pub concurrency: usize,
    /// Further job slots only interactive jobs may fill, so a request someone waits on never
    /// queues behind batch work on this worker; 0 disables them.
    pub interactive_slots: usize,
    /// Lease taken by a claim and extended by every heartbeat.
    pub lease: Duration,
    /// Heartbeat period; well under `lease` so one slow heartbeat does not lose the job.
    pub heartbeat: Duration,
    /// How long one `receive` waits for work.
    pub receive_wait: Duration,
    /// First retry delay; doubles per attempt up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// On shutdown, how long running jobs may take to finish before they are handed back.
    pub drain_timeout: Duration,
    /// Period of the lease reaper and the reconciler; `None` disables both in this process.
    pub maintenance_every: Option<Duration>,
    /// A queued job older than this is re-enqueued by the reconciler (the queue may have lost it).
    pub stale_after: Duration,
    /// Longest input accepted when re-validating a stored request.
    pub max_input_chars: usize,
    /// Object key prefix of stored audio.
    pub key_prefix: String,
    /// Completion webhooks; `None` disables them.
    pub webhook: Option<WebhookConfig>,
    /// How long stored audio is kept after the job succeeds; `None` keeps it forever.
    pub retention: Option<Duration>,
    /// Period of the retention sweeper; `None` runs no sweeper in this process.
    pub sweep_every: Option<Duration>,
    /// Render deadline of a job: this much, plus `render_per_kchar` per 1,000 characters.
    pub render_base: Duration,
    pub render_per_kchar: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: format!("worker-{}", std::process::id()),
            concurrency: 1,
            interactive_slots: 1,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            receive_wait: Duration::from_secs(2),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(20),
            maintenance_every: Some(Duration::from_secs(5)),
            stale_after: Duration::from_secs(30),
            max_input_chars: 100_000,
            key_prefix: "audio".into(),
            webhook: None,
            retention: None,
            sweep_every: None,
            render_base: Duration::from_secs(120),
            render_per_kchar: Duration::from_secs(60),
        }
    }
}

impl WorkerConfig {
    /// How long one attempt at a job of `chars` characters may render before it fails with
    /// `timeout` (and is retried while attempts last).
    pub fn render_deadline(&self, chars: usize) -> Duration {
        let kchars = u32::try_from(chars.div_ceil(1000)).unwrap_or(u32::MAX);
        self.render_base
            .saturating_add(self.render_per_kchar.saturating_mul(kchars))
    }

    /// Delay before retry number `attempt` (1-based): base × 2^(attempt-1), capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(16);
        self.backoff_base
            .saturating_mul(1u32 << shift)
            .min(self.backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_render_deadline_grows_with_the_text() {
        let cfg = WorkerConfig::default();
        assert_eq!(cfg.render_deadline(0).as_secs(), 120);
        assert_eq!(cfg.render_deadline(1).as_secs(), 180);
        assert_eq!(cfg.render_deadline(100_000).as_secs(), 120 + 100 * 60);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let cfg = WorkerConfig {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(700),
            ..WorkerConfig::default()
        };
        let got: Vec<u128> = (1..=6).map(|a| cfg.backoff(a).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 700, 700, 700]);
        assert_eq!(cfg.backoff(0).as_millis(), 100);
        assert_eq!(cfg.backoff(u32::MAX).as_millis(), 700);
    }

    #[test]
    fn progress_follows_the_render_and_never_passes_the_total() {
        let p = ProgressSink::default();
        assert_eq!(p.get(), (0, 0));
        let source = Arc::new(Progress::default());
        p.follow(Arc::clone(&source), 7);
        source.set(3, 1500);
        assert_eq!(p.get(), (3, 7));
        source.set(9, 1500);
        assert_eq!(p.get(), (7, 7));
    }
}
