//! Connects the job backends from flags: the embedded twins by default, PostgreSQL / Redis / S3
//! when configured. Shared by `serve`, `worker` and `migrate`, so all three read the same
//! settings the same way.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use polyvox_infra::cache::{
    AudioCache, ChunkCache, DisabledCache, MemoryCache, MemoryChunkCache, RedisCache,
};
use polyvox_infra::db::{DbConfig, SqlJobStore};
use polyvox_infra::queue::{JobQueue, MemoryQueue, QueueConfig, RedisQueue};
use polyvox_infra::relay::{MemoryRelay, RedisRelay, Relay, RelayConfig};
use polyvox_infra::storage::{AudioStore, FsAudioStore, S3AudioStore, S3Config};

use crate::cli::{CacheArg, InfraArgs};

/// The connected backends.
pub struct Infra {
    pub store: Arc<SqlJobStore>,
    pub queue: Arc<dyn JobQueue>,
    pub audio: Arc<dyn AudioStore>,
    pub cache: Arc<dyn AudioCache>,
    /// Relayed jobs' audio and outcomes, worker → API (Redis with REDIS_URL, else in-process).
    pub relay: Arc<dyn Relay>,
    /// The sentence-level cache's store (same backend as `cache`).
    pub chunks: Arc<dyn ChunkCache>,
    /// Object key prefix for audio (from `s3://bucket/prefix`, default `audio`).
    pub key_prefix: String,
}

impl Infra {
    /// The bundle handed to the job API and to workers.
    pub fn backends(&self) -> polyvox_infra::Backends {
        polyvox_infra::Backends {
            store: self.store.clone(),
            queue: self.queue.clone(),
            audio: self.audio.clone(),
            cache: self.cache.clone(),
            relay: self.relay.clone(),
        }
    }
}

/// `$POLYVOX_DATA_DIR`, else `$XDG_DATA_HOME/polyvox`, else `~/.local/share/polyvox`.
pub fn data_dir(args: &InfraArgs) -> PathBuf {
    if let Some(d) = &args.data_dir {
        return d.clone();
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("polyvox");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/polyvox")
}

fn timeout(args: &InfraArgs) -> Duration {
    Duration::from_secs(args.infra_timeout_secs.max(1))
}

fn idle_timeout(args: &InfraArgs) -> Duration {
    Duration::from_secs(args.storage_idle_timeout_secs.max(1))
}

/// Opens the job database (creating the SQLite file's directory) without migrating.
pub async fn connect_db(args: &InfraArgs) -> anyhow::Result<SqlJobStore> {
    let url = match &args.database_url {
        Some(u) => u.clone(),
        None => {
            let dir = data_dir(args);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating the data directory {}", dir.display()))?;
            format!("sqlite://{}?mode=rwc", dir.join("polyvox.db").display())
        }
    };
    let mut cfg = DbConfig::new(url);
    cfg.max_connections = args.db_max_connections.max(1);
    cfg.call_timeout = timeout(args);
    cfg.schema = args.db_schema.clone();
    SqlJobStore::connect(&cfg)
        .await
        .context("connecting to the job database (DATABASE_URL)")
}

/// Connects everything and applies migrations (idempotent; PostgreSQL serializes concurrent runs).
pub async fn connect(args: &InfraArgs) -> anyhow::Result<Infra> {
    let store = connect_db(args).await?;
    store
        .migrate()
        .await
        .context("migrating the job database")?;
    let t = timeout(args);
    let queue: Arc<dyn JobQueue> = match &args.redis_url {
        Some(url) => {
            let cfg = QueueConfig {
                visibility_timeout: Duration::from_secs(args.visibility_secs.max(1)),
                call_timeout: t,
                prefix: args.redis_prefix.clone(),
                ..QueueConfig::default()
            };
            Arc::new(
                RedisQueue::connect(url, cfg)
                    .await
                    .context("connecting the queue to Redis (REDIS_URL)")?,
            )
        }
        None => Arc::new(MemoryQueue::new(&QueueConfig {
            visibility_timeout: Duration::from_secs(args.visibility_secs.max(1)),
            ..QueueConfig::default()
        })),
    };
    let ttl = Duration::from_secs(args.cache_ttl_secs.max(1));
    let chunk_budget = args.sentence_cache_mb.saturating_mul(1 << 20);
    let (cache, chunks): (Arc<dyn AudioCache>, Arc<dyn ChunkCache>) =
        match (args.cache, &args.redis_url) {
            (CacheArg::Off, _) => (Arc::new(DisabledCache), Arc::new(DisabledCache)),
            (CacheArg::Auto | CacheArg::Redis, Some(url)) => {
                let redis = RedisCache::connect(url, &args.redis_prefix, ttl, t)
                    .await
                    .context("connecting the cache to Redis")?
                    .with_chunk_limits(ttl, chunk_budget.min(4 << 20));
                let chunks: Arc<dyn ChunkCache> = if chunk_budget == 0 {
                    Arc::new(DisabledCache)
                } else {
                    Arc::new(redis.clone())
                };
                (Arc::new(redis), chunks)
            }
            (CacheArg::Redis, None) => {
                anyhow::bail!("--cache redis needs REDIS_URL; set it or use --cache memory")
            }
            (CacheArg::Auto | CacheArg::Memory, _) => (
                Arc::new(MemoryCache::new(args.cache_capacity.max(1), Some(ttl))),
                if chunk_budget == 0 {
                    Arc::new(DisabledCache)
                } else {
                    Arc::new(MemoryChunkCache::new(chunk_budget))
                },
            ),
        };
    let relay_cfg = RelayConfig {
        prefix: args.redis_prefix.clone(),
        call_timeout: t,
        ..RelayConfig::default()
    };
    let relay: Arc<dyn Relay> = match &args.redis_url {
        Some(url) => Arc::new(
            RedisRelay::connect(url, relay_cfg)
                .await
                .context("connecting the relay to Redis (REDIS_URL)")?,
        ),
        None => Arc::new(MemoryRelay::new(relay_cfg)),
    };
    let (audio, key_prefix) = storage(args, t).await?;
    Ok(Infra {
        store: Arc::new(store),
        queue,
        audio,
        cache,
        relay,
        chunks,
        key_prefix,
    })
}

async fn storage(args: &InfraArgs, t: Duration) -> anyhow::Result<(Arc<dyn AudioStore>, String)> {
    let url = args
        .storage_url
        .clone()
        .unwrap_or_else(|| format!("file://{}", data_dir(args).join("audio").display()));
    if let Some(path) = url.strip_prefix("file://") {
        let store = FsAudioStore::open(path, t)
            .await
            .with_context(|| format!("opening audio storage {path}"))?
            .with_idle_timeout(idle_timeout(args));
        return Ok((Arc::new(store), "audio".into()));
    }
    let Some(rest) = url.strip_prefix("s3://") else {
        anyhow::bail!(
            "POLYVOX_STORAGE_URL must be file:///dir or s3://bucket[/prefix], got '{url}'"
        );
    };
    let (bucket, prefix) = match rest.split_once('/') {
        Some((b, p)) if !p.trim_matches('/').is_empty() => (b, p.trim_matches('/').to_string()),
        Some((b, _)) => (b, "audio".to_string()),
        None => (rest, "audio".to_string()),
    };
    if bucket.is_empty() {
        anyhow::bail!("POLYVOX_STORAGE_URL s3:// needs a bucket name");
    }
    if args.s3_access_key_id.is_empty() || args.s3_secret_access_key.is_empty() {
        anyhow::bail!(
            "S3 storage needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or --s3-access-key-id / --s3-secret-access-key)"
        );
    }
    let cfg = S3Config {
        endpoint: args.s3_endpoint.clone(),
        region: args.s3_region.clone(),
        bucket: bucket.to_string(),
        access_key_id: args.s3_access_key_id.clone(),
        secret_access_key: args.s3_secret_access_key.clone(),
        path_style: !args.s3_virtual_hosted,
        call_timeout: t,
        idle_timeout: idle_timeout(args),
    };
    tracing::info!(?cfg, "audio storage on S3");
    Ok((
        Arc::new(S3AudioStore::new(&cfg).context("configuring S3 storage")?),
        prefix,
    ))
}

/// `polyvox migrate`.
pub fn migrate(args: &InfraArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = connect_db(args).await?;
        store
            .migrate()
            .await
            .context("migrating the job database")?;
        println!("job database migrated ({:?})", store.engine());
        anyhow::Ok(())
    })
}
