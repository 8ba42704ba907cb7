//! `/v1/audio/speech` through the workers ([`RemoteSpeech`]), on the embedded twins with an
//! in-process worker rendering through the fake: the API never synthesizes itself, identical
//! concurrent requests share one job, and readiness reflects the probed dependencies.

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
        ready.to_string().contains("database ok, queue ok"),
        "{ready}"
    );

    let mut tasks = Vec::new();
    for _ in 0..10 {
        let stack = stack.clone();
        tasks.push(tokio::spawn(async move {
            let res = stack
                .speech(json!({"input": "Through the workers", "response_format": "wav"}))
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
        .speech(json!({"input": "Through the workers", "response_format": "wav"}))
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
