//! `/v1/audio/speech` through the workers ([`RemoteSpeech`]), on the embedded twins with an
//! in-process worker rendering through the fake and the in-process relay: the API never
//! synthesizes itself, streams arrive piece by piece before the job ends, identical whole-file
//! requests share one job, a client that leaves cancels its job, and readiness reflects the
//! probed dependencies. (The same paths over Redis, PostgreSQL, S3 and the real model:
//! `crates/polyvox/tests/relay.rs`.)

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::FakeSpeech;
use common::embedded::Embedded;
use polyvox_core::Lang;
use polyvox_server::ServerConfig;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_runs_on_the_workers_and_identical_requests_share_one_job() {
    let stack = Arc::new(
        Embedded::builder(FakeSpeech::new(4, Duration::from_millis(50)))
            .jobs(|j| j.cache_sync_results = false)
            .server(ServerConfig {
                max_concurrent: 16,
                ..ServerConfig::default()
            })
            .remote(vec![Lang::EnUs])
            .start()
            .await,
    );
    let worker_fake = &stack.fake;

    // Readiness comes from the dependency probe, not from a model.
    let mut ready = Value::Null;
    for _ in 0..100 {
        let res = stack
            .client
            .get(stack.url("/health/ready"))
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
        ready
            .to_string()
            .contains("database ok, queue ok, relay ok"),
        "{ready}"
    );

    let mut tasks = Vec::new();
    for _ in 0..10 {
        let stack = stack.clone();
        tasks.push(tokio::spawn(async move {
            let res = stack
                .speech(json!({"input": "Through the workers", "response_format": "wav", "stream": false}))
                .await;
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
    let res = stack
        .speech(json!({"input": "Through the workers", "response_format": "wav", "stream": false}))
        .await;
    assert_eq!(res.headers()["x-polyvox-cache"], "hit");
    assert_eq!(worker_fake.stats.started.load(Ordering::SeqCst), 1);
    // A language the workers do not speak is refused before any job exists.
    let res = stack
        .speech(json!({"input": "Bonjour", "lang": "fr"}))
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unsupported_language");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_through_the_workers_arrives_piece_by_piece_and_is_cached_whole() {
    let stack = Embedded::builder(FakeSpeech::new(5, Duration::from_millis(150)))
        .jobs(|j| j.cache_sync_results = false)
        .remote(vec![Lang::EnUs])
        .start()
        .await;
    let mut res = stack
        .speech(json!({"input": "Streamed through the relay", "response_format": "pcm"}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-polyvox-cache"], "miss");
    // The first piece is here while the worker is still rendering the rest.
    let first = res.chunk().await.expect("read").expect("a first piece");
    assert_eq!(first.as_ref(), b"<chunk 0:>");
    assert!(
        stack.fake.stats.produced.load(Ordering::SeqCst) < 5,
        "the first piece left before the render finished"
    );
    let mut body = first.to_vec();
    while let Some(piece) = res.chunk().await.expect("read") {
        body.extend_from_slice(&piece);
    }
    assert_eq!(body, stack.fake.expected_body());
    // The kept whole file was stored and cached under the stream's key: the repeat is a hit.
    let mut hit = None;
    for _ in 0..100 {
        let res = stack
            .speech(json!({"input": "Streamed through the relay", "response_format": "pcm"}))
            .await;
        if res.headers()["x-polyvox-cache"] == "hit" {
            hit = Some(res.bytes().await.expect("body"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        hit.expect("the repeat became a cache hit").to_vec(),
        stack.fake.expected_body()
    );
    assert_eq!(stack.fake.stats.started.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_a_stream_cancels_its_job() {
    let stack = Embedded::builder(FakeSpeech::new(40, Duration::from_millis(100)))
        .jobs(|j| j.cache_sync_results = false)
        .remote(vec![Lang::EnUs])
        .start()
        .await;
    let mut res = stack
        .speech(json!({"input": "Nobody will hear the end of this", "response_format": "pcm"}))
        .await;
    assert_eq!(res.status(), 200);
    res.chunk().await.expect("read").expect("a first piece");
    drop(res);
    // The job is cancelled, and the worker's heartbeat stops its render long before the end
    // (the job row's `cancelled` is checked against PostgreSQL in crates/polyvox/tests/relay.rs).
    for _ in 0..100 {
        if stack.fake.stats.cancelled.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stack.fake.stats.cancelled.load(Ordering::SeqCst), 1);
    assert!(stack.fake.stats.produced.load(Ordering::SeqCst) < 40);
    assert_eq!(stack.fake.stats.completed.load(Ordering::SeqCst), 0);
}
