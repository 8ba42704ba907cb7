//! `/v1/audio/speech` through the workers ([`RemoteSpeech`]), on the embedded twins with an
//! in-process worker rendering through the fake: the API never synthesizes itself, identical
//! concurrent requests share one job, and readiness reflects the probed dependencies.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::FakeSpeech;
use futures::StreamExt;
use polyvox_core::{Lang, SynthesisRequest};
use polyvox_infra::cache::MemoryCache;
use polyvox_infra::db::{DbConfig, SqlJobStore};
use polyvox_infra::queue::{MemoryQueue, QueueConfig};
use polyvox_infra::storage::FsAudioStore;
use polyvox_server::{
    JobBackends, JobService, JobsConfig, RemoteSpeech, ServerConfig, SpeechService, StreamOptions,
};
use polyvox_worker::{Backends, ProgressSink, Render, RenderedAudio, Worker, WorkerConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct ViaSpeech(Arc<FakeSpeech>);

#[async_trait::async_trait]
impl Render for ViaSpeech {
    async fn render(
        &self,
        req: SynthesisRequest,
        _progress: Arc<ProgressSink>,
    ) -> Result<RenderedAudio, polyvox_core::Error> {
        let opts = StreamOptions {
            low_latency_start: false,
            whole_file: true,
        };
        let mut s = self.0.synthesize(req, opts).await?;
        let mut out = Vec::new();
        while let Some(b) = s.bytes.next().await {
            out.extend_from_slice(&b?);
        }
        Ok(RenderedAudio {
            bytes: Bytes::from(out),
            seconds: 1.0,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_runs_on_the_workers_and_identical_requests_share_one_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
    let store = SqlJobStore::connect(&DbConfig::new(url))
        .await
        .expect("sqlite");
    store.migrate().await.expect("migrate");
    let store = Arc::new(store);
    let queue = Arc::new(MemoryQueue::new(&QueueConfig::default()));
    let audio = Arc::new(
        FsAudioStore::open(dir.path().join("audio"), Duration::from_secs(5))
            .await
            .expect("fs"),
    );
    let cache = Arc::new(MemoryCache::new(100, None));
    let worker_fake = Arc::new(FakeSpeech::new(4, Duration::from_millis(50)));
    let stop = CancellationToken::new();
    let backends = Backends {
        store: store.clone(),
        queue: queue.clone(),
        audio: audio.clone(),
        cache: cache.clone(),
    };
    let cfg = WorkerConfig {
        id: "w".into(),
        heartbeat: Duration::from_millis(50),
        receive_wait: Duration::from_millis(100),
        ..WorkerConfig::default()
    };
    tokio::spawn(
        Worker::new(cfg, backends, Arc::new(ViaSpeech(worker_fake.clone()))).run(stop.clone()),
    );
    let jobs = Arc::new(JobService::new(
        JobBackends {
            store,
            queue,
            audio,
            cache,
        },
        JobsConfig {
            cache_sync_results: false,
            poll_interval: Duration::from_millis(20),
            ..JobsConfig::default()
        },
    ));
    let remote: Arc<dyn SpeechService> = Arc::new(RemoteSpeech::new(
        Arc::clone(&jobs),
        vec![Lang::EnUs],
        Duration::from_secs(30),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let cfg = ServerConfig {
        max_concurrent: 16,
        ..ServerConfig::default()
    };
    tokio::spawn(polyvox_server::run_with_jobs(
        cfg,
        remote,
        Some(jobs),
        listener,
        stop.clone(),
    ));
    let http = reqwest::Client::new();

    // Readiness comes from the dependency probe, not from a model.
    let mut ready = Value::Null;
    for _ in 0..100 {
        let res = http
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .expect("sent");
        if res.status() == 200 {
            ready = res.json().await.expect("json");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ready.to_string().contains("database ok, queue ok"),
        "{ready}"
    );

    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (http, base) = (http.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(format!("{base}/v1/audio/speech"))
                .json(&json!({"input": "Through the workers", "response_format": "wav"}))
                .send()
                .await
                .expect("sent");
            assert_eq!(res.status(), 200);
            res.bytes().await.expect("body")
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").to_vec(), worker_fake.expected_body());
    }
    assert_eq!(
        worker_fake.stats.started.load(Ordering::SeqCst),
        1,
        "ten requests, one synthesis"
    );
    // Now cached: a hit, still no new synthesis.
    let res = http
        .post(format!("{base}/v1/audio/speech"))
        .json(&json!({"input": "Through the workers", "response_format": "wav"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.headers()["x-polyvox-cache"], "hit");
    assert_eq!(worker_fake.stats.started.load(Ordering::SeqCst), 1);
    // A language the workers do not speak is refused before any job exists.
    let res = http
        .post(format!("{base}/v1/audio/speech"))
        .json(&json!({"input": "Bonjour", "lang": "fr"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unsupported_language");
    stop.cancel();
}
