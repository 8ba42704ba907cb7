//! The receive loop and the shutdown drain.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use polyvox_infra::tenancy::UsageStore;

use crate::job::{self, Ctx};
use crate::{Backends, Render, WorkerConfig, maintenance, retention};

/// A worker: `concurrency` job slots fed from the queue, plus the maintenance loops.
pub struct Worker {
    ctx: Ctx,
}

impl Worker {
    /// Builds a worker; nothing runs until [`Worker::run`].
    pub fn new(cfg: WorkerConfig, backends: Backends, render: Arc<dyn Render>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            ctx: Ctx {
                cfg,
                backends,
                render,
                http,
                usage: None,
            },
        }
    }

    /// Records each succeeded job's audio seconds to its owner's usage (without it, none is).
    pub fn with_usage(mut self, usage: Arc<dyn UsageStore>) -> Self {
        self.ctx.usage = Some(usage);
        self
    }

    /// Takes jobs until `shutdown` is cancelled, then drains (see the crate note) and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let ctx = Arc::new(self.ctx);
        let cfg = &ctx.cfg;
        let slots = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
        let jobs = TaskTracker::new();
        let hand_back = CancellationToken::new();
        let maint = cfg.maintenance_every.map(|every| {
            tokio::spawn(maintenance::run(
                ctx.backends.clone(),
                every,
                cfg.stale_after,
                shutdown.clone(),
            ))
        });
        let sweeper = cfg.sweep_every.map(|every| {
            tokio::spawn(retention::run(
                ctx.backends.clone(),
                cfg.id.clone(),
                every,
                shutdown.clone(),
            ))
        });
        tracing::info!(worker = %cfg.id, concurrency = cfg.concurrency, "worker taking jobs");
        loop {
            // Take a slot before receiving: a delivery we cannot start at once would sit out its
            // visibility timeout in our hands while another worker idles.
            let permit = tokio::select! {
                p = Arc::clone(&slots).acquire_many_owned(1) => match p { Ok(p) => p, Err(_) => break },
                () = shutdown.cancelled() => break,
            };
            let free = 1 + slots.available_permits();
            let got = tokio::select! {
                r = ctx.backends.queue.receive(&cfg.id, free, cfg.receive_wait) => r,
                () = shutdown.cancelled() => break,
            };
            let deliveries = match got {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "queue receive failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                        () = shutdown.cancelled() => break,
                    }
                    continue;
                }
            };
            let mut permit = Some(permit);
            for d in deliveries {
                // The first delivery uses the slot taken above; the others take free ones, which
                // `free` guaranteed a moment ago (only this loop takes slots).
                let p = match permit.take() {
                    Some(p) => p,
                    None => match Arc::clone(&slots).try_acquire_owned() {
                        Ok(p) => p,
                        Err(_) => {
                            let _ = ctx.backends.queue.nack(&d, Duration::ZERO).await;
                            continue;
                        }
                    },
                };
                let (ctx2, hb) = (Arc::clone(&ctx), hand_back.clone());
                jobs.spawn(async move {
                    job::handle(ctx2, d, hb).await;
                    drop(p);
                });
            }
        }
        tracing::info!(
            running = jobs.len(),
            "worker stopping; draining running jobs"
        );
        jobs.close();
        if tokio::time::timeout(cfg.drain_timeout, jobs.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                running = jobs.len(),
                "drain deadline passed; handing jobs back"
            );
            hand_back.cancel();
            jobs.wait().await;
        }
        if let Some(m) = maint {
            let _ = m.await;
        }
        if let Some(s) = sweeper {
            let _ = s.await;
        }
        tracing::info!("worker stopped");
    }
}
