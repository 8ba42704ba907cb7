//! The worker against the embedded twins (SQLite, in-process queue, filesystem, memory cache)
//! with a scripted renderer: success path, retry classification, cancellation, webhooks and the
//! shutdown hand-back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use polyvox_core::{
    ErrorCode, Lang, Progress, Readiness, SpeechService, SpeechStream, StreamOptions,
    SynthesisRequest,
};
use polyvox_infra::Lane;
use polyvox_infra::cache::{AudioCache, MemoryCache};
use polyvox_infra::db::{DbConfig, Job, JobStatus, NewJob, SqlJobStore};
use polyvox_infra::queue::{MemoryQueue, QueueConfig};
use polyvox_infra::relay::MemoryRelay;
use polyvox_infra::storage::FsAudioStore;
use polyvox_infra::tenancy::{SqlTenancy, UsageStore, utc_day};
use polyvox_worker::{Backends, WebhookConfig, Worker, WorkerConfig};
use tokio_util::sync::CancellationToken;

/// Renders `text` as its own bytes after `delay` per chunk (one chunk per word, one second of
/// audio each); fails the first `fail_first` calls with `fail_code`.
struct Scripted {
    delay: Duration,
    calls: AtomicUsize,
    fail_first: usize,
    fail_code: ErrorCode,
}

impl Scripted {
    fn new(delay: Duration) -> Self {
        Self {
            delay,
            calls: AtomicUsize::new(0),
            fail_first: 0,
            fail_code: ErrorCode::QueueFull,
        }
    }
}

impl SpeechService for Scripted {
    fn synthesize(
        &self,
        req: SynthesisRequest,
        _opts: StreamOptions,
    ) -> BoxFuture<'static, Result<SpeechStream, polyvox_core::Error>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let (fail, code, delay) = (n < self.fail_first, self.fail_code, self.delay);
        Box::pin(async move {
            if fail {
                return Err(polyvox_core::Error::new(code, "scripted failure"));
            }
            let words = req.text.split_whitespace().count();
            let progress = Arc::new(Progress::default());
            let p = Arc::clone(&progress);
            let body = Bytes::from(format!("AUDIO[{}|{}]", req.text, req.voice.canonical()));
            let bytes = futures::stream::once(async move {
                for i in 1..=words {
                    tokio::time::sleep(delay).await;
                    p.set(i, i as u64 * 1000);
                }
                Ok(body)
            })
            .boxed();
            Ok(SpeechStream {
                format: req.format,
                chunks: words,
                bytes,
                progress,
                file: None,
                head: None,
                words: Default::default(),
            })
        })
    }

    fn languages(&self) -> Vec<Lang> {
        vec![Lang::EnUs]
    }

    fn readiness(&self) -> Readiness {
        Readiness {
            ready: true,
            detail: "scripted".into(),
        }
    }
}

struct Env {
    backends: Backends,
    cache: Arc<MemoryCache>,
    /// The same database as `backends.store`, for usage reads.
    usage: Arc<SqlTenancy>,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
    let store = SqlJobStore::connect(&DbConfig::new(url))
        .await
        .expect("sqlite");
    store.migrate().await.expect("migrate");
    let queue = MemoryQueue::new(&QueueConfig {
        visibility_timeout: Duration::from_secs(5),
        ..QueueConfig::default()
    });
    let audio = FsAudioStore::open(dir.path().join("audio"), Duration::from_secs(5))
        .await
        .expect("fs");
    let cache = Arc::new(MemoryCache::new(100, None));
    let usage = Arc::new(SqlTenancy::new(&store));
    let backends = Backends {
        store: Arc::new(store),
        queue: Arc::new(queue),
        audio: Arc::new(audio),
        cache: cache.clone(),
        relay: Arc::new(MemoryRelay::default()),
    };
    Env {
        backends,
        cache,
        usage,
        _dir: dir,
    }
}

fn config(id: &str) -> WorkerConfig {
    WorkerConfig {
        id: id.into(),
        concurrency: 2,
        lease: Duration::from_secs(5),
        heartbeat: Duration::from_millis(50),
        receive_wait: Duration::from_millis(100),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        drain_timeout: Duration::from_millis(200),
        maintenance_every: Some(Duration::from_millis(200)),
        stale_after: Duration::from_secs(2),
        ..WorkerConfig::default()
    }
}

async fn submit(b: &Backends, text: &str, cache_key: Option<&str>, webhook: Option<String>) -> Job {
    let (job, _) = b
        .store
        .create(NewJob {
            owner: None,
            lane: Lane::Batch,
            request: serde_json::json!({"text": text, "voice": "af_bella", "lang": "en-us", "speed": 1.0, "format": "wav"}),
            cache_key: cache_key.map(str::to_string),
            idempotency_key: None,
            max_attempts: 3,
            max_crashes: 2,
            webhook_url: webhook,
            fingerprint: None,
        })
        .await
        .expect("create");
    b.queue.enqueue(job.lane, &job.id).await.expect("enqueue");
    job
}

async fn wait_terminal(b: &Backends, id: &str) -> Job {
    for _ in 0..400 {
        let j = b.store.get(id).await.expect("get").expect("exists");
        if j.status.is_terminal() {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {id} did not finish");
}

fn start(
    b: &Backends,
    cfg: WorkerConfig,
    render: Arc<dyn SpeechService>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let token = CancellationToken::new();
    let w = Worker::new(cfg, b.clone(), render);
    let handle = tokio::spawn(w.run(token.clone()));
    (token, handle)
}

#[tokio::test]
async fn a_job_is_rendered_stored_cached_and_reported() {
    let e = env().await;
    let render = Arc::new(Scripted::new(Duration::from_millis(80)));
    let (stop, handle) = start(&e.backends, config("w1"), render.clone());
    let job = submit(&e.backends, "one two three four", Some("key-1"), None).await;
    let done = wait_terminal(&e.backends, &job.id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.last_error);
    assert_eq!(
        (done.chunks_done, done.chunks_total),
        (4, Some(4)),
        "final progress recorded"
    );
    // Cached under the key derived from the payload, as the API derives it for lookups.
    let key = polyvox_core::SpeechJob::from_row(&done.request, done.lane, 100_000)
        .expect("payload")
        .cache_key();
    let audio = done.audio.expect("audio");
    let got = e
        .backends
        .audio
        .get(&audio.key, None)
        .await
        .expect("object")
        .bytes()
        .await
        .expect("body");
    assert_eq!(&got[..], b"AUDIO[one two three four|af_bella]");
    assert_eq!(audio.bytes, got.len() as u64);
    let cached = e.cache.get(&key).await.expect("cache").expect("entry");
    assert_eq!(cached.audio_key, audio.key);
    assert_eq!(render.calls.load(Ordering::SeqCst), 1);
    stop.cancel();
    handle.await.expect("worker exits");
}

#[tokio::test]
async fn retryable_failures_retry_and_input_failures_dead_letter() {
    let e = env().await;
    let flaky = Arc::new(Scripted {
        fail_first: 2,
        ..Scripted::new(Duration::ZERO)
    });
    let (stop, handle) = start(&e.backends, config("w1"), flaky.clone());
    let job = submit(&e.backends, "hello there", None, None).await;
    let done = wait_terminal(&e.backends, &job.id).await;
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.attempts, 3, "two failed attempts, then success");
    stop.cancel();
    handle.await.expect("worker exits");

    let bad = Arc::new(Scripted {
        fail_first: 10,
        fail_code: ErrorCode::UnsupportedLanguage,
        ..Scripted::new(Duration::ZERO)
    });
    let (stop, handle) = start(&e.backends, config("w2"), bad.clone());
    let job = submit(&e.backends, "hello again", None, None).await;
    let done = wait_terminal(&e.backends, &job.id).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.attempts, 1, "an input error is not retried");
    assert_eq!(done.last_error.expect("error").code, "unsupported_language");
    stop.cancel();
    handle.await.expect("worker exits");
}

/// The audio of a job is billed by its fenced `succeed`, once, however many attempts it took;
/// a job without an owner bills nobody.
#[tokio::test]
async fn a_retried_job_bills_its_audio_to_its_owner_once() {
    let e = env().await;
    let flaky = Arc::new(Scripted {
        fail_first: 1,
        ..Scripted::new(Duration::ZERO)
    });
    let stop = CancellationToken::new();
    let w = Worker::new(config("w1"), e.backends.clone(), flaky);
    let handle = tokio::spawn(w.run(stop.clone()));
    let (job, _) = e
        .backends
        .store
        .create(NewJob {
            owner: Some("key-a".into()),
            lane: Lane::Interactive,
            request: serde_json::json!({"text": "three words here", "voice": "af_bella", "lang": "en-us", "speed": 1.0, "format": "wav"}),
            cache_key: None,
            idempotency_key: None,
            max_attempts: 3,
            max_crashes: 2,
            webhook_url: None,
            fingerprint: None,
        })
        .await
        .expect("create");
    e.backends
        .queue
        .enqueue(job.lane, &job.id)
        .await
        .expect("enqueue");
    let done = wait_terminal(&e.backends, &job.id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.last_error);
    assert_eq!(done.attempts, 2, "one failed attempt, then success");
    // Submitted only now: the scripted failure must fall on the owned job, whichever job a
    // worker would otherwise have taken first.
    let anonymous = submit(&e.backends, "nobody pays", None, None).await;
    let other = wait_terminal(&e.backends, &anonymous.id).await;
    assert_eq!(other.status, JobStatus::Succeeded);
    stop.cancel();
    handle.await.expect("worker exits");
    let today = utc_day(std::time::SystemTime::now());
    let days = e.usage.days("key-a", &today, &today).await.expect("usage");
    assert_eq!(days.len(), 1, "{days:?}");
    assert_eq!(
        (days[0].requests, days[0].characters, days[0].audio_seconds),
        (0, 0, 3.0),
        "three words render as 3 s, billed once"
    );
}

#[tokio::test]
async fn a_cancelled_running_job_stops_at_the_next_heartbeat() {
    let e = env().await;
    let slow = Arc::new(Scripted::new(Duration::from_millis(300)));
    let (stop, handle) = start(&e.backends, config("w1"), slow);
    let words = vec!["word"; 40].join(" ");
    let job = submit(&e.backends, &words, None, None).await;
    for _ in 0..200 {
        if e.backends
            .store
            .get(&job.id)
            .await
            .expect("get")
            .expect("row")
            .status
            == JobStatus::Running
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cancelled = e.backends.store.cancel(&job.id).await.expect("cancel");
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    // The worker must stop well before the 12 s render would end, and leave the job cancelled.
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(3), handle)
        .await
        .expect("worker drains quickly")
        .expect("join");
    let after = e
        .backends
        .store
        .get(&job.id)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(after.status, JobStatus::Cancelled);
    assert!(after.audio.is_none());
}

#[tokio::test]
async fn shutdown_hands_unfinished_jobs_back_to_another_worker() {
    let e = env().await;
    let slow = Arc::new(Scripted::new(Duration::from_millis(200)));
    let (stop, handle) = start(&e.backends, config("leaving"), slow);
    let words = vec!["word"; 30].join(" ");
    let job = submit(&e.backends, &words, None, None).await;
    for _ in 0..200 {
        if e.backends
            .store
            .get(&job.id)
            .await
            .expect("get")
            .expect("row")
            .status
            == JobStatus::Running
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    handle.await.expect("worker exits");
    let handed = e
        .backends
        .store
        .get(&job.id)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(
        handed.status,
        JobStatus::Queued,
        "handed back, not left running"
    );

    let fast = Arc::new(Scripted::new(Duration::ZERO));
    let (stop, handle) = start(&e.backends, config("staying"), fast.clone());
    let done = wait_terminal(&e.backends, &job.id).await;
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(fast.calls.load(Ordering::SeqCst), 1);
    stop.cancel();
    handle.await.expect("worker exits");
}

#[tokio::test]
async fn the_reconciler_re_enqueues_jobs_the_queue_lost() {
    let e = env().await;
    // A job row with no queue message at all: what a Redis flush leaves behind.
    let (lost, _) = e
        .backends
        .store
        .create(NewJob {
            owner: None,
            lane: Lane::Batch,
            request: serde_json::json!({"text": "lost and found", "voice": "af_sky", "format": "wav"}),
            cache_key: None,
            idempotency_key: None,
            max_attempts: 3,
            max_crashes: 2,
            webhook_url: None,
            fingerprint: None,
        })
        .await
        .expect("create");
    let render = Arc::new(Scripted::new(Duration::ZERO));
    let (stop, handle) = start(&e.backends, config("w1"), render);
    let done = wait_terminal(&e.backends, &lost.id).await;
    assert_eq!(done.status, JobStatus::Succeeded);
    stop.cancel();
    handle.await.expect("worker exits");
}

#[tokio::test]
async fn every_ending_gets_its_signed_webhook_through_refusals() {
    use axum::http::{HeaderMap, StatusCode};
    type Hit = (String, String, String, Vec<u8>);
    let e = env().await;
    let hits = Arc::new(std::sync::Mutex::new(Vec::<Hit>::new()));
    let h2 = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let hits = h2.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let mut g = hits.lock().expect("lock");
                g.push((
                    header("webhook-id"),
                    header("webhook-timestamp"),
                    header("webhook-signature"),
                    body.to_vec(),
                ));
                // The first three deliveries are refused, so retries must come.
                if g.len() <= 3 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}/hook");
    // Cancelled while queued, before any worker runs: the API's path, no worker involved.
    let cancelled = submit(&e.backends, "never mind", None, Some(url.clone())).await;
    e.backends
        .store
        .cancel(&cancelled.id)
        .await
        .expect("cancel");
    let cfg = WorkerConfig {
        concurrency: 1,
        webhook: Some(WebhookConfig {
            secret: "topsecret".into(),
            backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            poll: Duration::from_millis(50),
            // The receiver is on loopback.
            allow_private: true,
            ..WebhookConfig::default()
        }),
        ..config("w1")
    };
    let render = Arc::new(Scripted {
        fail_first: 1,
        fail_code: ErrorCode::InvalidRequest,
        ..Scripted::new(Duration::ZERO)
    });
    let (stop, handle) = start(&e.backends, cfg, render);
    let failed = submit(&e.backends, "poison", None, Some(url.clone())).await;
    assert_eq!(
        wait_terminal(&e.backends, &failed.id).await.status,
        JobStatus::Failed
    );
    let ok = submit(&e.backends, "call me back", None, Some(url.clone())).await;
    assert_eq!(
        wait_terminal(&e.backends, &ok.id).await.status,
        JobStatus::Succeeded
    );

    let expected = [
        (&cancelled, "cancelled"),
        (&failed, "failed"),
        (&ok, "succeeded"),
    ];
    for _ in 0..300 {
        let mut delivered = 0;
        for (job, _) in expected {
            let rows = e.backends.store.webhooks_of(&job.id).await.expect("rows");
            delivered += rows
                .iter()
                .filter(|d| d.status == polyvox_infra::db::DeliveryStatus::Delivered)
                .count();
        }
        if delivered == expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = hits.lock().expect("lock").clone();
    assert_eq!(
        got.len(),
        6,
        "three refused sends and one accepted send per job"
    );
    for (job, status) in expected {
        let rows = e.backends.store.webhooks_of(&job.id).await.expect("rows");
        assert_eq!(rows.len(), 1, "{status}: one event");
        let row = &rows[0];
        assert_eq!(
            row.status,
            polyvox_infra::db::DeliveryStatus::Delivered,
            "{status}"
        );
        let sends: Vec<&Hit> = got.iter().filter(|h| h.0 == row.id).collect();
        assert_eq!(
            sends.len() as u32,
            row.attempts,
            "{status}: every try carried one id"
        );
        for (id, ts, sig, body) in sends {
            assert!(
                polyvox_worker::webhook::verify(
                    "topsecret",
                    id,
                    ts,
                    sig,
                    body,
                    std::time::SystemTime::now(),
                    Duration::from_secs(300),
                ),
                "bad signature {sig}"
            );
            let v: serde_json::Value = serde_json::from_slice(body).expect("json");
            assert_eq!(v["type"], format!("job.{status}"));
            assert_eq!(v["data"]["id"], job.id.as_str());
            assert_eq!(v["data"]["status"], status);
        }
    }
    stop.cancel();
    handle.await.expect("worker exits");
}

/// A render that never ends would keep its lease alive through its heartbeats; the deadline
/// derived from the text's size ends each attempt instead, and the job fails with `timeout`.
#[tokio::test]
async fn a_hung_render_is_ended_by_its_deadline() {
    let e = env().await;
    let cfg = WorkerConfig {
        render_base: Duration::from_millis(300),
        render_per_kchar: Duration::ZERO,
        ..config("w1")
    };
    let render = Arc::new(Scripted::new(Duration::from_secs(3600)));
    let (stop, handle) = start(&e.backends, cfg, render.clone());
    let job = submit(&e.backends, "this never finishes", None, None).await;
    let done = wait_terminal(&e.backends, &job.id).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.attempts, 3, "each attempt was ended and retried");
    let err = done.last_error.expect("error");
    assert_eq!(err.code, "timeout");
    assert!(
        err.message.contains("deadline of 0.3 s for 19 characters"),
        "{}",
        err.message
    );
    assert_eq!(render.calls.load(Ordering::SeqCst), 3);
    stop.cancel();
    handle.await.expect("worker exits");
}
