//! The receive loop and the shutdown drain.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::job::{self, Ctx};
use futures::FutureExt;
use polyvox_core::{Lane, SpeechService};

use crate::{Backends, WorkerConfig, maintenance, retention, webhook};

/// A worker: `concurrency` job slots fed from the queue, plus the maintenance loops.
pub struct Worker {
    ctx: Ctx,
}

impl Worker {
    /// Builds a worker; nothing runs until [`Worker::run`].
    pub fn new(cfg: WorkerConfig, backends: Backends, speech: Arc<dyn SpeechService>) -> Self {
        Self {
            ctx: Ctx {
                cfg,
                backends,
                speech,
                outbox: Arc::new(tokio::sync::Notify::new()),
            },
        }
    }

    /// Takes jobs until `shutdown` is cancelled, then drains (see the crate note) and returns.
    ///
    /// Two receive loops: one for interactive jobs with slots of their own, one for every lane
    /// with `concurrency` slots. A worker busy with batch work can still start a request someone
    /// is waiting on at once, and the engine's priority queue then runs its chunks before the
    /// batch job's next ones.
    pub async fn run(self, shutdown: CancellationToken) {
        let ctx = Arc::new(self.ctx);
        let cfg = &ctx.cfg;
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
        // Webhooks go out from whatever runs maintenance: the outbox is in the database, so
        // any such process may send any job's events.
        let outbox = match (&cfg.webhook, cfg.maintenance_every) {
            (Some(hooks), Some(_)) => Some(tokio::spawn(webhook::run_outbox(
                ctx.backends.clone(),
                hooks.clone(),
                cfg.id.clone(),
                Arc::clone(&ctx.outbox),
                shutdown.clone(),
            ))),
            _ => None,
        };
        let sweeper = cfg.sweep_every.map(|every| {
            tokio::spawn(retention::run(
                ctx.backends.clone(),
                cfg.id.clone(),
                every,
                shutdown.clone(),
            ))
        });
        tracing::info!(
            worker = %cfg.id,
            concurrency = cfg.concurrency,
            interactive_slots = cfg.interactive_slots,
            "worker taking jobs"
        );
        let mut loops = vec![
            receive_loop(
                Arc::clone(&ctx),
                &Lane::BY_PRIORITY,
                cfg.concurrency.max(1),
                &jobs,
                &hand_back,
                &shutdown,
            )
            .boxed(),
        ];
        if cfg.interactive_slots > 0 {
            loops.push(
                receive_loop(
                    Arc::clone(&ctx),
                    &[Lane::Interactive],
                    cfg.interactive_slots,
                    &jobs,
                    &hand_back,
                    &shutdown,
                )
                .boxed(),
            );
        }
        futures::future::join_all(loops).await;
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
        if let Some(o) = outbox {
            let _ = o.await;
        }
        tracing::info!("worker stopped");
    }
}

/// Receives deliveries from `lanes` into `slots` job slots until `shutdown`.
async fn receive_loop(
    ctx: Arc<Ctx>,
    lanes: &[Lane],
    slots: usize,
    jobs: &TaskTracker,
    hand_back: &CancellationToken,
    shutdown: &CancellationToken,
) {
    let cfg = &ctx.cfg;
    let slots = Arc::new(Semaphore::new(slots));
    loop {
        // Take a slot before receiving: a delivery we cannot start at once would sit out its
        // visibility timeout in our hands while another worker idles.
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_many_owned(1) => match p { Ok(p) => p, Err(_) => break },
            () = shutdown.cancelled() => break,
        };
        let free = 1 + slots.available_permits();
        let got = tokio::select! {
            r = ctx.backends.queue.receive_from(lanes, &cfg.id, free, cfg.receive_wait) => r,
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
            // `free` guaranteed a moment ago (only this loop takes these slots).
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
}
