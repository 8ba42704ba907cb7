//! Retention through the job API (embedded twins, an in-process worker with a one-second
//! retention and a fast sweeper): GET job shows `expires_at_ms`; after it, GET audio is 410
//! `audio_expired`, the job says so and has no URL, the sweeper deletes the file, and the same
//! request is no longer a cache hit (it synthesizes again).

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::embedded::{Embedded, sqlite, twins};
use common::{FakeSpeech, error_of};
use polyvox_infra::cache::MemoryCache;
use polyvox_infra::queue::{MemoryQueue, QueueConfig};
use polyvox_server::{JobBackends, JobService, JobsConfig};
use serde_json::{Value, json};

fn files_under(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { files_under(&p) } else { 1 }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_audio_is_gone_with_410_and_swept() {
    let retention = Duration::from_secs(1);
    // The cache has no TTL: only the entry's own expiry can make it a miss.
    let stack = Embedded::builder(FakeSpeech::new(2, Duration::from_millis(10)))
        .worker(|w| {
            w.retention = Some(retention);
            w.sweep_every = Some(Duration::from_millis(200));
        })
        .start()
        .await;
    let (client, fake, audio_dir) = (&stack.client, &stack.fake, &stack.audio_dir);
    let body = json!({"input": "Short lived audio", "response_format": "mp3"});
    let submit = || async {
        client
            .post(stack.url("/v1/jobs"))
            .json(&body)
            .send()
            .await
            .expect("sent")
    };
    let accepted: Value = submit().await.json().await.expect("json");
    let id = accepted["id"].as_str().expect("id").to_string();
    let job = stack.wait(&id, None).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let finished = job["timings"]["finished_at_ms"].as_u64().expect("finished");
    let expires = job["expires_at_ms"]
        .as_u64()
        .expect("GET job shows expires_at_ms");
    // The worker stamps now + retention just before recording success.
    assert!(
        expires >= finished && expires <= finished + 1001,
        "expires {expires} should be the retention after finished {finished}"
    );
    assert_eq!(job["audio_expired"], false);
    let audio_url = stack.url(&format!("/v1/jobs/{id}/audio"));
    // Before expiry the audio serves (checked against the stored expiry, not a timer).
    let res = client.get(&audio_url).send().await.expect("sent");
    let served_at = polyvox_infra::db::unix_millis(std::time::SystemTime::now());
    if served_at < expires {
        assert_eq!(res.status(), 200);
    }
    // The object (and its content-type sidecar) are on disk.
    assert!(files_under(audio_dir) >= 1);

    // After expiry: 410 with a stable code, whether or not the sweeper ran yet.
    let mut gone = None;
    for _ in 0..300 {
        let res = client.get(&audio_url).send().await.expect("sent");
        if res.status() == 410 {
            gone = Some(res);
            break;
        }
        assert_eq!(res.status(), 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, code, message) = error_of(gone.expect("audio never expired")).await;
    assert_eq!((status, code.as_str()), (410, "audio_expired"));
    assert!(
        message.contains(&id) && message.contains("retention"),
        "{message}"
    );
    let job = stack.job(&id, None).await;
    assert_eq!(job["audio_expired"], true);
    assert!(job["audio_url"].is_null(), "{job}");
    assert_eq!(
        job["status"], "succeeded",
        "the job did succeed; only its audio is gone"
    );

    // The sweeper deletes the file.
    for _ in 0..300 {
        if files_under(audio_dir) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        files_under(audio_dir),
        0,
        "expired object swept from storage"
    );

    // The same request is no longer a cache hit: it synthesizes again.
    let before = fake.stats.started.load(Ordering::SeqCst);
    let res = submit().await;
    assert_eq!(
        res.headers()
            .get("x-polyvox-cache")
            .and_then(|v| v.to_str().ok()),
        Some("miss")
    );
    let again: Value = res.json().await.expect("json");
    assert_ne!(again["id"], accepted["id"]);
    let new_id = again["id"].as_str().expect("id").to_string();
    stack.wait(&new_id, None).await;
    assert_eq!(fake.stats.started.load(Ordering::SeqCst), before + 1);
}

/// Records the lifetime asked of every presigned URL.
#[derive(Default)]
struct Presigning(std::sync::Mutex<Vec<Duration>>);

#[async_trait::async_trait]
impl polyvox_infra::storage::AudioStore for Presigning {
    async fn put(&self, _: &str, _: Bytes, _: &str) -> polyvox_infra::Result<()> {
        Ok(())
    }
    async fn put_stream(
        &self,
        key: &str,
        _: &str,
    ) -> polyvox_infra::Result<Box<dyn polyvox_infra::storage::AudioWriter>> {
        Err(polyvox_infra::InfraError::NotFound {
            what: key.to_string(),
        })
    }
    async fn get(
        &self,
        key: &str,
        _: Option<std::ops::Range<u64>>,
    ) -> polyvox_infra::Result<polyvox_infra::storage::Fetched> {
        Err(polyvox_infra::InfraError::NotFound {
            what: key.to_string(),
        })
    }
    async fn head(&self, key: &str) -> polyvox_infra::Result<polyvox_infra::storage::ObjectInfo> {
        Err(polyvox_infra::InfraError::NotFound {
            what: key.to_string(),
        })
    }
    async fn delete(&self, _: &str) -> polyvox_infra::Result<()> {
        Ok(())
    }
    async fn presigned_get(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> polyvox_infra::Result<Option<String>> {
        self.0.lock().unwrap().push(expires_in);
        Ok(Some(format!("https://s3.invalid/{key}")))
    }
}

#[tokio::test]
async fn presigned_urls_never_outlive_the_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = Arc::new(Presigning::default());
    let jobs = JobService::new(
        JobBackends {
            store: Arc::new(sqlite(dir.path()).await),
            queue: Arc::new(MemoryQueue::new(&QueueConfig::default())),
            audio: audio.clone(),
            cache: Arc::new(MemoryCache::new(10, None)),
            relay: Arc::new(polyvox_infra::relay::MemoryRelay::default()),
        },
        JobsConfig {
            presign: Some(Duration::from_secs(3600)),
            ..JobsConfig::default()
        },
    );
    let now = std::time::SystemTime::now();
    assert!(jobs.presigned("a/b.mp3", None).await.is_some());
    assert!(
        jobs.presigned("a/b.mp3", Some(now + Duration::from_secs(86_400)))
            .await
            .is_some()
    );
    assert!(
        jobs.presigned("a/b.mp3", Some(now + Duration::from_secs(120)))
            .await
            .is_some()
    );
    assert!(
        jobs.presigned("a/b.mp3", Some(now - Duration::from_secs(1)))
            .await
            .is_none(),
        "no URL for expired audio"
    );
    assert!(
        jobs.presigned("a/b.mp3", Some(now + Duration::from_millis(400)))
            .await
            .is_none(),
        "under a second left: a whole-second URL would outlive the object"
    );
    let asked = audio.0.lock().unwrap().clone();
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert_eq!(
        asked[0],
        Duration::from_secs(3600),
        "no retention: the configured lifetime"
    );
    assert_eq!(
        asked[1],
        Duration::from_secs(3600),
        "retention far away: the configured lifetime"
    );
    assert!(
        asked[2] <= Duration::from_secs(120) && asked[2] >= Duration::from_secs(110),
        "capped at the time left: {:?}",
        asked[2]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronous_results_stored_by_the_api_are_swept_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audio_dir = dir.path().join("audio");
    let backends = twins(dir.path(), sqlite(dir.path()).await).await;
    let jobs = JobService::new(
        backends.clone(),
        JobsConfig {
            retention: Some(Duration::from_millis(300)),
            ..JobsConfig::default()
        },
    );
    jobs.remember(
        "sync-key",
        polyvox_core::AudioFormat::Mp3,
        Bytes::from_static(b"mp3!"),
        1.5,
    )
    .await;
    let entry = jobs
        .cached("sync-key")
        .await
        .expect("storage is healthy")
        .expect("cached while fresh");
    assert!(
        entry.expires_at_ms.is_some(),
        "the entry carries the object's expiry"
    );
    assert!(files_under(&audio_dir) >= 1);
    let mut swept = polyvox_worker::retention::Swept::default();
    for _ in 0..100 {
        swept =
            polyvox_worker::retention::sweep(&backends, "sweeper", Duration::from_secs(60)).await;
        if swept.expired > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        swept.expired, 1,
        "the API's own object was found through its job row"
    );
    assert_eq!(files_under(&audio_dir), 0);
    assert!(jobs.cached("sync-key").await.expect("healthy").is_none());
}
