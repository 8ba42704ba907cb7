//! `polyvox worker`: a separate process that renders jobs from the shared queue. It loads and
//! warms the model first and announces readiness only then (stdout line `polyvox worker ready`),
//! and on SIGTERM/Ctrl-C stops taking work, drains, and hands back what it still holds.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use polyvox_worker::{WebhookConfig, Worker, WorkerConfig};
use tokio_util::sync::CancellationToken;

use crate::cli::{JobArgs, WorkerArgs};
use crate::{infra, runtime, serve};
use polyvox_synth::LocalSpeech;

/// Worker settings from the shared job flags.
pub fn worker_config(
    jobs: &JobArgs,
    id: String,
    concurrency: usize,
    drain: Duration,
    key_prefix: String,
) -> WorkerConfig {
    let lease = Duration::from_secs(jobs.job_lease_secs.max(1));
    WorkerConfig {
        id,
        concurrency: concurrency.max(1),
        interactive_slots: jobs.interactive_slots,
        lease,
        // Three heartbeats per lease: one slow or lost beat does not cost the job.
        heartbeat: lease / 3,
        drain_timeout: drain,
        maintenance_every: Some(Duration::from_secs(jobs.job_maintenance_secs.max(1))),
        stale_after: Duration::from_secs(jobs.job_stale_secs.max(1)),
        max_input_chars: jobs.job_max_input_chars,
        key_prefix,
        retention: jobs.retention(),
        sweep_every: Some(Duration::from_secs(jobs.retention_sweep_secs.max(1))),
        render_per_kchar: Duration::from_secs(jobs.job_render_secs_per_kchar.max(1)),
        webhook: jobs.webhook_secret.clone().map(|secret| WebhookConfig {
            secret,
            max_age: Duration::from_secs(jobs.webhook_max_age_secs.max(1)),
            allow_private: jobs.webhook_allow_private,
            ..WebhookConfig::default()
        }),
        ..WorkerConfig::default()
    }
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    if args.infra.redis_url.is_none() || args.infra.database_url.is_none() {
        anyhow::bail!(
            "polyvox worker needs a shared queue and database: set REDIS_URL and DATABASE_URL \
             (without them, `polyvox serve` runs its workers in-process)"
        );
    }
    let synth = runtime::build_synthesizer(&args.engine)?;
    let sessions = runtime::sessions(&args.engine);
    let concurrency = if args.concurrency == 0 {
        sessions
    } else {
        args.concurrency
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let infra = infra::connect(&args.infra).await?;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
        let id = args
            .worker_id
            .clone()
            .unwrap_or_else(|| format!("{host}-{}", std::process::id()));
        let cfg = worker_config(
            &args.jobs,
            id.clone(),
            concurrency,
            Duration::from_secs(args.drain_secs),
            infra.key_prefix.clone(),
        );
        synth.set_chunk_memo(Arc::new(crate::sentence_cache::SentenceCache::new(
            infra.chunks.clone(),
        )));
        let backends = infra.backends();
        let shutdown = CancellationToken::new();
        tokio::spawn(polyvox_worker::retention::queue_length_loop(
            backends.clone(),
            Duration::from_secs(args.jobs.queue_gauge_secs.max(1)),
            shutdown.clone(),
        ));
        // A job's audio seconds are billed by the job store in the transaction of its success.
        let worker = Worker::new(cfg, backends, Arc::new(LocalSpeech::new(synth)));
        if let Some(bind) = &args.metrics_bind {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("binding the metrics listener on {bind}"))?;
            // Scripts and tests parse this line to find the port when binding :0.
            println!(
                "polyvox worker metrics on http://{}",
                listener.local_addr()?
            );
            // Scrapes keep working through the drain; the task ends with the process.
            tokio::spawn(polyvox_server::metrics::serve_metrics(
                crate::telemetry::install()?,
                listener,
                CancellationToken::new(),
            ));
        }
        let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(bind) = &args.health_bind {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("binding the health listener on {bind}"))?;
            println!("polyvox worker health on http://{}", listener.local_addr()?);
            // Probes keep answering through the drain (ready = false); the task ends with the process.
            tokio::spawn(crate::health::serve(
                listener,
                Arc::clone(&ready),
                CancellationToken::new(),
            ));
        }
        let signal = shutdown.clone();
        let draining = Arc::clone(&ready);
        tokio::spawn(async move {
            serve::shutdown_signal().await;
            tracing::info!("shutdown requested; draining jobs");
            // Not ready from the first moment of the drain, so balancers and probes stop counting on us.
            draining.store(false, std::sync::atomic::Ordering::Release);
            signal.cancel();
        });
        ready.store(true, std::sync::atomic::Ordering::Release);
        // Scripts and tests wait for this line: the model is loaded and warm, the queue connected.
        println!("polyvox worker ready: {id} ({concurrency} concurrent jobs)");
        worker.run(shutdown).await;
        infra.store.close().await;
        anyhow::Ok(())
    })
}
