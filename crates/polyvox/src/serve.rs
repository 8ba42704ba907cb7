//! `polyvox serve`. Without REDIS_URL, the embedded default: one process with the HTTP API, the
//! model threads, the in-process pipeline for `/v1/audio/speech` and in-process job workers over
//! SQLite / an in-process queue / files / a memory cache. With REDIS_URL, an API-only process:
//! no model is loaded, `/v1/audio/speech` and jobs are rendered by `polyvox worker` processes and
//! relayed back. Either way the server gets one `SpeechService`: the pipeline's `LocalSpeech` or
//! the relay's `RemoteSpeech`; this file only chooses and wires them.

use std::sync::Arc;
use std::time::Duration;

use polyvox_core::Lang;
use polyvox_server::ServerConfig;
use polyvox_server::speech::SpeechService;
use polyvox_synth::LocalSpeech;
use tokio_util::sync::CancellationToken;

use anyhow::Context;
use polyvox_infra::ratelimit::{
    MemoryRateLimiter, MemorySlots, RateLimiter, RedisRateLimiter, RedisSlots, SlotLimiter,
};
use polyvox_infra::tenancy::{
    KeyStore, MemoryQuota, MeterConfig, QuotaCounter, RedisQuota, SqlTenancy, UsageMeter,
};
use polyvox_server::{
    JobService, JobsConfig, RemoteSpeech, Services, Tenancy, TenancyBackends, TenancyConfig,
};
use polyvox_worker::Worker;

use crate::cli::ServeArgs;
use crate::{infra, runtime, worker};

/// Loads only the text front end (no model) to learn which languages the deployment speaks.
fn frontend_languages(args: &crate::cli::EngineArgs) -> anyhow::Result<Vec<Lang>> {
    let assets = runtime::ensure_assets(args)?;
    // espeak-ng as the workers will run it: it decides whether es, fr, hi, it and pt-br are spoken.
    let resources = polyvox_text::Resources {
        espeak: match args.espeak {
            crate::cli::EspeakArg::Auto => polyvox_text::EspeakMode::Auto,
            crate::cli::EspeakArg::Off => polyvox_text::EspeakMode::Off,
        },
        ..polyvox_text::Resources::from_assets_dir(assets.root())
    };
    let frontend =
        polyvox_text::Frontend::load(&resources).context("loading the text front end")?;
    Ok(Lang::ALL
        .into_iter()
        .filter(|l| frontend.supports(*l))
        .collect())
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    // A mistyped origin would fail silently in browsers; refuse it before loading anything.
    polyvox_server::cors::parse_origins(&args.cors_origins).map_err(anyhow::Error::msg)?;
    let trusted_proxies = polyvox_core::client_ip::TrustedProxies::parse(&args.trusted_proxies)
        .map_err(|e| anyhow::anyhow!("--trusted-proxies / POLYVOX_TRUSTED_PROXIES: {e}"))?;
    let distributed = args.infra.redis_url.is_some();
    let (local, languages) = if distributed {
        (None, frontend_languages(&args.engine)?)
    } else {
        let local = LocalSpeech::new(runtime::build_synthesizer(&args.engine)?);
        let languages = local.languages();
        (Some(Arc::new(local)), languages)
    };
    let sessions = runtime::sessions(&args.engine);
    let max_concurrent = match (args.max_concurrent, distributed) {
        (0, false) => 2 * sessions,
        // An API-only process just waits on jobs; the workers' queue is the real limit.
        (0, true) => 64,
        (n, _) => n,
    };
    let cfg = ServerConfig {
        max_body_bytes: args.max_body_bytes,
        max_input_chars: args.max_input_chars,
        max_concurrent,
        max_queued: args.max_queued,
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        body_idle_timeout: Duration::from_secs(args.body_idle_timeout_secs.max(1)),
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs.max(1)),
        keep_alive_timeout: Duration::from_secs(args.keep_alive_timeout_secs.max(1)),
        max_connections: args.max_connections.max(1),
        send_timeout: Duration::from_secs(args.send_timeout_secs.max(1)),
        trusted_proxies,
        cors_origins: args.cors_origins.clone(),
        metrics: Some(crate::telemetry::install()?),
        live: args.live.config(),
        ..ServerConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let infra = infra::connect(&args.infra).await?;
        let jobs_cfg = JobsConfig {
            max_input_chars: args.jobs.job_max_input_chars,
            max_attempts: args.jobs.job_max_attempts.max(1),
            max_crashes: args.jobs.job_max_crashes.max(1),
            presign: (args.jobs.presign_secs > 0)
                .then(|| Duration::from_secs(args.jobs.presign_secs)),
            cache_sync_results: !distributed,
            key_prefix: infra.key_prefix.clone(),
            retention: args.jobs.retention(),
            webhook_allow_private: args.jobs.webhook_allow_private,
            webhooks_enabled: args.jobs.webhook_secret.is_some(),
            // Without keys every caller is one tenant: nothing to keep apart.
            cache_per_key: args.infra.cache_scope == crate::cli::CacheScopeArg::Key
                && !args.auth.no_auth,
        };
        let backends = infra.backends();
        let jobs = Arc::new(JobService::new(backends, jobs_cfg));
        let shutdown = CancellationToken::new();
        // Usage is written in the background; its task stops last, after the server (whose
        // draining requests still record usage), with a final flush. Jobs' audio seconds do not
        // pass through it: the job store bills them as each job succeeds.
        let meter = (!args.auth.no_auth).then(|| {
            Arc::new(UsageMeter::new(
                Arc::new(SqlTenancy::new(&infra.store)),
                MeterConfig::default(),
            ))
        });
        let meter_stop = CancellationToken::new();
        let meter_task = meter.clone().map(|m| {
            let every = Duration::from_secs(args.auth.usage_flush_secs.max(1));
            tokio::spawn(m.run(every, meter_stop.clone().cancelled_owned()))
        });
        tokio::spawn(polyvox_worker::retention::queue_length_loop(
            infra.backends(),
            Duration::from_secs(args.jobs.queue_gauge_secs.max(1)),
            shutdown.clone(),
        ));
        let (speech, worker): (Arc<dyn SpeechService>, _) = match local {
            Some(local) => {
                local.synthesizer().set_chunk_memo(Arc::new(
                    crate::sentence_cache::SentenceCache::new(infra.chunks.clone()),
                ));
                let concurrency = if args.embedded_workers == 0 {
                    sessions
                } else {
                    args.embedded_workers
                };
                let wcfg = worker::worker_config(
                    &args.jobs,
                    "embedded".into(),
                    concurrency,
                    Duration::from_secs(10),
                    infra.key_prefix.clone(),
                );
                // Its jobs' audio seconds are billed by the job store as they succeed.
                let w = Worker::new(wcfg, infra.backends(), local.clone());
                let handle = tokio::spawn(w.run(shutdown.clone()));
                (local, Some(handle))
            }
            None => {
                let remote = RemoteSpeech::new(
                    Arc::clone(&jobs),
                    languages,
                    Duration::from_secs(args.sync_wait_secs.max(1)),
                );
                (Arc::new(remote), None)
            }
        };
        let listener = tokio::net::TcpListener::bind(&args.bind).await?;
        let addr = listener.local_addr()?;
        // Scripts and tests parse this line to find the port when binding :0.
        println!("polyvox listening on http://{addr}");
        tracing::info!(%addr, "listening");
        let signal = shutdown.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested; draining");
            signal.cancel();
        });
        let tenancy = match &meter {
            Some(m) => Some(tenancy(&args, &infra, m.clone()).await?),
            None => {
                tracing::warn!(
                    bind = %args.bind,
                    "API keys are OFF (--no-auth): anyone who can reach this address may \
                     synthesize, with no per-key limits and no usage records"
                );
                None
            }
        };
        let services = Services {
            speech,
            jobs: Some(jobs),
            tenancy,
            lexicons: Some(Arc::new(polyvox_infra::db::SqlLexicons::new(&infra.store))),
        };
        polyvox_server::serve(cfg, services, listener, shutdown).await?;
        if let Some(w) = worker {
            let _ = w.await;
        }
        meter_stop.cancel();
        if let Some(t) = meter_task {
            let _ = t.await;
        }
        infra.store.close().await;
        anyhow::Ok(())
    })
}

/// API keys and limits. Limits and quota counters live in Redis when it is configured, so they
/// hold across every API instance; in memory otherwise.
async fn tenancy(
    args: &ServeArgs,
    infra: &infra::Infra,
    usage: Arc<UsageMeter>,
) -> anyhow::Result<Arc<Tenancy>> {
    let store = Arc::new(SqlTenancy::new(&infra.store));
    let call_timeout = Duration::from_secs(args.infra.infra_timeout_secs.max(1));
    let limiter: Arc<dyn RateLimiter> = match &args.infra.redis_url {
        Some(url) => Arc::new(
            RedisRateLimiter::connect(url, &args.infra.redis_prefix, call_timeout)
                .await
                .context("connecting the rate limiter to Redis (REDIS_URL)")?,
        ),
        None => Arc::new(MemoryRateLimiter::new()),
    };
    let slots: Arc<dyn SlotLimiter> = match &args.infra.redis_url {
        Some(url) => Arc::new(
            RedisSlots::connect(url, &args.infra.redis_prefix, call_timeout)
                .await
                .context("connecting the per-key synthesis slots to Redis (REDIS_URL)")?,
        ),
        None => Arc::new(MemorySlots::new()),
    };
    let quota: Arc<dyn QuotaCounter> = match &args.infra.redis_url {
        Some(url) => Arc::new(
            RedisQuota::connect(url, &args.infra.redis_prefix, call_timeout, usage.clone())
                .await
                .context("connecting the quota counters to Redis (REDIS_URL)")?,
        ),
        None => Arc::new(MemoryQuota::new(usage.clone())),
    };
    let active = store
        .list_keys()
        .await
        .context("reading API keys")?
        .iter()
        .filter(|k| !k.is_revoked())
        .count();
    if active == 0 {
        tracing::warn!(
            "no active API key exists: synthesis requests will get 401; create one with \
             `polyvox keys create --name NAME`, or run with --no-auth on a trusted machine"
        );
    } else {
        tracing::info!(active, "API keys required");
    }
    let cfg = TenancyConfig {
        default_requests_per_minute: args.auth.default_requests_per_minute,
        default_chars_per_minute: args.auth.default_chars_per_minute,
        default_concurrent_syntheses: args.auth.max_concurrent_per_key,
        auth_failures: polyvox_infra::ratelimit::Rate::per_minute(
            args.auth.auth_failures_per_minute,
        ),
        key_cache_ttl: Duration::from_secs(args.auth.key_cache_secs),
    };
    let backends = TenancyBackends {
        keys: store,
        usage,
        quota,
        limiter,
        slots,
    };
    Ok(Arc::new(Tenancy::new(backends, cfg)))
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
