//! Load shedding: a full queue answers 429 + Retry-After at once; admitted requests still finish.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{FakeSpeech, eventually, start};
use polyvox_server::ServerConfig;
use serde_json::json;
use tokio::sync::mpsc;

struct Outcome {
    status: u16,
    retry_after: Option<String>,
    body: Vec<u8>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_slots_and_queue_is_shed_with_429_and_admitted_ones_finish() {
    const REQUESTS: usize = 200;
    const SLOTS: usize = 2;
    const QUEUE: usize = 4;
    let cfg = ServerConfig {
        max_concurrent: SLOTS,
        max_queued: QUEUE,
        retry_after: Duration::from_secs(2),
        ..ServerConfig::default()
    };
    let srv = Arc::new(start(cfg, FakeSpeech::new(3, Duration::ZERO).gated()).await);

    let (tx, mut rx) = mpsc::channel::<Outcome>(REQUESTS);
    for i in 0..REQUESTS {
        let (srv, tx) = (Arc::clone(&srv), tx.clone());
        tokio::spawn(async move {
            let res = srv.speech(json!({"input": format!("Request {i}.")})).await;
            let status = res.status().as_u16();
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = res.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            let _ = tx
                .send(Outcome {
                    status,
                    retry_after,
                    body,
                })
                .await;
        });
    }
    drop(tx);

    // While the admitted ones are blocked inside synthesis, everyone else must be answered.
    let shed = REQUESTS - SLOTS - QUEUE;
    let early = tokio::time::timeout(Duration::from_secs(60), async {
        let mut got = Vec::new();
        while got.len() < shed {
            got.push(rx.recv().await.expect("a result"));
        }
        got
    })
    .await
    .expect("the excess requests were not refused promptly: they hang");
    for o in &early {
        assert_eq!(
            o.status, 429,
            "only refusals may finish while the fake is blocked"
        );
        assert_eq!(o.retry_after.as_deref(), Some("2"));
        let body: serde_json::Value = serde_json::from_slice(&o.body).expect("JSON error");
        assert_eq!(body["error"]["code"], "queue_full");
    }
    eventually("both slots taken", || {
        srv.stats().started.load(Ordering::SeqCst) == SLOTS
    })
    .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(50), rx.recv())
            .await
            .is_err(),
        "admitted requests must still be waiting"
    );

    srv.fake.release();
    let rest = tokio::time::timeout(Duration::from_secs(60), async {
        let mut got = Vec::new();
        while let Some(o) = rx.recv().await {
            got.push(o);
        }
        got
    })
    .await
    .expect("admitted requests finish once released");
    assert_eq!(rest.len(), SLOTS + QUEUE);
    for o in rest {
        assert_eq!(o.status, 200);
        assert_eq!(o.body, srv.fake.expected_body());
    }
    assert_eq!(srv.stats().started.load(Ordering::SeqCst), SLOTS + QUEUE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_requests_all_succeed_with_defaults() {
    let srv = Arc::new(
        start(
            ServerConfig::default(),
            FakeSpeech::new(8, Duration::from_millis(5)),
        )
        .await,
    );
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let srv = Arc::clone(&srv);
            tokio::spawn(async move {
                let res = srv
                    .speech(json!({"input": format!("Sentence number {i}."), "voice": "onyx"}))
                    .await;
                (res.status().as_u16(), res.bytes().await.map(|b| b.to_vec()))
            })
        })
        .collect();
    for t in tasks {
        let (status, body) = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("finishes")
            .expect("task");
        assert_eq!(status, 200);
        assert_eq!(body.expect("body"), srv.fake.expected_body());
    }
    assert_eq!(srv.stats().completed.load(Ordering::SeqCst), 8);
}
