//! Issue 22: the webhook client never goes through a proxy from the environment. The delivery is
//! pinned to the addresses the worker resolved and checked; a proxy named by `HTTP_PROXY`,
//! `HTTPS_PROXY` or `ALL_PROXY` would resolve the host again on its side, so an internal target
//! could be reached through it whatever the worker checked.
//!
//! A test binary of its own: the proxy variables are process-wide (and reqwest reads them once
//! per process), so no other test may share the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use polyvox_infra::Lane;
use polyvox_infra::cache::MemoryCache;
use polyvox_infra::db::{DbConfig, DeliveryStatus, NewJob, SqlJobStore};
use polyvox_infra::queue::{MemoryQueue, QueueConfig};
use polyvox_infra::relay::MemoryRelay;
use polyvox_infra::storage::FsAudioStore;
use polyvox_worker::{Backends, WebhookConfig};

/// A TCP listener that counts the connections made to it and closes each at once: any client
/// that goes through the "proxy" shows up here and gets nothing back.
async fn counting_proxy() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    (format!("http://{addr}"), count)
}

/// A loopback receiver counting the webhooks it accepts.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_body: Bytes| {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), hits)
}

async fn backends(dir: &std::path::Path) -> Backends {
    let url = format!("sqlite://{}?mode=rwc", dir.join("jobs.db").display());
    let store = SqlJobStore::connect(&DbConfig::new(url))
        .await
        .expect("sqlite");
    store.migrate().await.expect("migrate");
    let audio = FsAudioStore::open(dir.join("audio"), Duration::from_secs(5))
        .await
        .expect("fs");
    Backends {
        store: Arc::new(store),
        queue: Arc::new(MemoryQueue::new(&QueueConfig::default())),
        audio: Arc::new(audio),
        cache: Arc::new(MemoryCache::new(10, None)),
        relay: Arc::new(MemoryRelay::default()),
    }
}

/// With every proxy variable pointing at a counting listener (and nothing exempted by
/// `NO_PROXY`), a job's webhook reaches its loopback receiver directly: the receiver has it, the
/// proxy saw no connection. The control at the end shows the variables are live in this process
/// and would have caught a client that honoured them: a default reqwest client sending to the
/// same receiver goes to the proxy.
#[tokio::test]
async fn webhooks_ignore_proxy_variables() {
    let (proxy, proxied) = counting_proxy().await;
    // SAFETY: this binary's only test sets them before any client exists and before anything
    // else reads the environment; tokio's test runtime has no other threads reading it.
    unsafe {
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
            std::env::set_var(name, &proxy);
            std::env::set_var(name.to_ascii_lowercase(), &proxy);
        }
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
    }
    let (url, hits) = receiver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let b = backends(dir.path()).await;

    // A job cancelled while queued ends at once and leaves its webhook in the outbox.
    let (job, _) = b
        .store
        .create(NewJob {
            owner: None,
            lane: Lane::Batch,
            request: serde_json::json!({"text": "never mind", "voice": "af_bella", "lang": "en-us", "speed": 1.0, "format": "wav"}),
            cache_key: None,
            idempotency_key: None,
            max_attempts: 3,
            max_crashes: 2,
            webhook_url: Some(url.clone()),
            fingerprint: None,
        })
        .await
        .expect("create");
    b.store.cancel(&job.id).await.expect("cancel");
    let cfg = WebhookConfig {
        secret: "topsecret".into(),
        // The receiver is on loopback.
        allow_private: true,
        timeout: Duration::from_secs(5),
        ..WebhookConfig::default()
    };
    let claimed = polyvox_worker::webhook::pass(&b, &cfg, "proxy-test").await;
    assert_eq!(claimed, 1, "the cancelled job's webhook was due");
    let rows = b.store.webhooks_of(&job.id).await.expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].status,
        DeliveryStatus::Delivered,
        "{:?}",
        rows[0].last_error
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the receiver got it");
    assert_eq!(
        proxied.load(Ordering::SeqCst),
        0,
        "the webhook went through the proxy"
    );

    // The control: a client that honours the environment goes to the proxy, not the receiver.
    let control = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::Client::new().post(&url).body("{}").send(),
    )
    .await
    .expect("the control request ended");
    assert!(control.is_err(), "the proxy answers nothing: {control:?}");
    assert!(
        proxied.load(Ordering::SeqCst) >= 1,
        "the proxy variables are live"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the control never reached it"
    );
}
