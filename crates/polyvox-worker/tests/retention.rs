//! The retention sweeper against real backends: SQLite + filesystem (the embedded default) and
//! PostgreSQL + S3 (SeaweedFS). Expired objects leave storage and the cache, their jobs are
//! marked expired, unexpired audio stays, and concurrent sweepers never sweep a job twice.

#[path = "../../polyvox-infra/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::DbFixture;
use common::s3::S3Server;
use polyvox_core::AudioFormat;
use polyvox_infra::Lane;
use polyvox_infra::cache::{AudioCache, CachedAudio, MemoryCache};
use polyvox_infra::db::unix_millis;
use polyvox_infra::db::{AudioOutput, JobStore, NewJob};
use polyvox_infra::queue::{MemoryQueue, QueueConfig};
use polyvox_infra::storage::{AudioStore, FsAudioStore, S3AudioStore};
use polyvox_worker::Backends;
use polyvox_worker::retention::{Swept, sweep};

const LONG: Duration = Duration::from_secs(600);

/// A succeeded job with a stored object and a cache entry, expiring at `expires_at`.
async fn finished(b: &Backends, text: &str, expires_at: Option<SystemTime>) -> (String, String) {
    let cache_key = format!("ck-{text}-{}", uuid::Uuid::new_v4().simple());
    let new = NewJob {
        owner: None,
        lane: Lane::Batch,
        request: serde_json::json!({"text": text, "cache_key": cache_key}),
        cache_key: Some(cache_key.clone()),
        idempotency_key: None,
        max_attempts: 3,
        max_crashes: 2,
        webhook_url: None,
        fingerprint: None,
    };
    let (job, _) = b.store.create(new).await.unwrap();
    b.store
        .try_claim(&job.id, "w", LONG)
        .await
        .unwrap()
        .unwrap();
    let key = polyvox_infra::storage::new_object_key("audio", "mp3");
    b.audio
        .put(&key, Bytes::from(text.to_string()), "audio/mpeg")
        .await
        .unwrap();
    let audio = AudioOutput {
        key: key.clone(),
        bytes: text.len() as u64,
        seconds: 1.0,
        expires_at,
    };
    b.store.succeed(&job.id, "w", audio).await.unwrap();
    let entry = CachedAudio {
        audio_key: key.clone(),
        format: AudioFormat::Mp3,
        bytes: text.len() as u64,
        seconds: 1.0,
        expires_at_ms: expires_at.map(unix_millis),
    };
    b.cache.put(&cache_key, &entry).await.unwrap();
    (job.id, key)
}

async fn sweeps_expired_audio_only(b: Backends) {
    let now = SystemTime::now();
    let past = Some(now - Duration::from_secs(2));
    let (old_job, old_key) = finished(&b, "old", past).await;
    let (new_job, new_key) = finished(&b, "new", Some(now + Duration::from_secs(3600))).await;
    let (kept_job, kept_key) = finished(&b, "kept", None).await;
    let old_cache_key = b
        .store
        .get(&old_job)
        .await
        .unwrap()
        .unwrap()
        .cache_key
        .unwrap();

    let swept = sweep(&b, "sweeper-1", LONG).await;
    assert_eq!(
        swept,
        Swept {
            expired: 1,
            failed: 0
        }
    );
    assert!(
        b.audio.head(&old_key).await.is_err(),
        "the expired object is gone from storage"
    );
    assert!(
        b.cache.get(&old_cache_key).await.unwrap().is_none(),
        "and from the cache"
    );
    let job = b.store.get(&old_job).await.unwrap().unwrap();
    assert!(job.expired_at.is_some(), "the job is marked expired");
    for (id, key) in [(&new_job, &new_key), (&kept_job, &kept_key)] {
        assert!(b.audio.head(key).await.is_ok(), "unexpired audio stays");
        assert!(b.store.get(id).await.unwrap().unwrap().expired_at.is_none());
    }
    assert_eq!(
        sweep(&b, "sweeper-1", LONG).await,
        Swept::default(),
        "nothing twice"
    );

    // Several sweepers at once: every expired job is swept exactly once.
    let mut expected = Vec::new();
    for i in 0..8 {
        expected.push(finished(&b, &format!("batch{i}"), past).await);
    }
    let (x, y, z) = tokio::join!(
        sweep(&b, "sweeper-x", LONG),
        sweep(&b, "sweeper-y", LONG),
        sweep(&b, "sweeper-z", LONG),
    );
    assert_eq!(x.expired + y.expired + z.expired, 8, "{x:?} {y:?} {z:?}");
    assert_eq!(x.failed + y.failed + z.failed, 0);
    for (id, key) in expected {
        assert!(b.audio.head(&key).await.is_err(), "{key} deleted");
        assert!(
            b.store
                .get(&id)
                .await
                .unwrap()
                .unwrap()
                .expired_at
                .is_some()
        );
    }
}

fn backends(store: Arc<dyn JobStore>, audio: Arc<dyn AudioStore>) -> Backends {
    Backends {
        store,
        queue: Arc::new(MemoryQueue::new(&QueueConfig::default())),
        audio,
        cache: Arc::new(MemoryCache::new(100, None)) as Arc<dyn AudioCache>,
        relay: Arc::new(polyvox_infra::relay::MemoryRelay::default()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_filesystem() {
    let f = DbFixture::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let fs = FsAudioStore::open(dir.path(), Duration::from_secs(5))
        .await
        .unwrap();
    sweeps_expired_audio_only(backends(Arc::new(f.store.clone()), Arc::new(fs))).await;
    f.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_s3() {
    let f = DbFixture::postgres().await;
    let s3 = S3Server::start().await;
    let audio = S3AudioStore::new(&s3.config).unwrap();
    sweeps_expired_audio_only(backends(Arc::new(f.store.clone()), Arc::new(audio))).await;
    f.teardown().await;
}
