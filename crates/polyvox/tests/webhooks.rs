//! Webhooks owed by jobs on real services (PostgreSQL, Redis, SeaweedFS, real worker processes,
//! the real model), through refusals and killed workers: a receiver on loopback refuses the first
//! three sends of every event, and both workers are SIGKILLed right after one job succeeded
//! (its webhook still pending) while another job runs. A third worker started afterwards
//! dead-letters the orphaned job and sends everything still owed. Each of the five endings
//! (succeeded, failed on a poison input the real model fails on, dead-lettered, cancelled, born
//! from the cache) must arrive, signed, under one `webhook-id` per event. Counted by the
//! receiver, not in logs.
//!
//! Ignored by default like the other cluster tests (`crates/polyvox/tests/scale_out.rs`).

mod cluster;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, StatusCode};
use cluster::poison::{POISON, poisoned_assets};
use cluster::{Cluster, LOCK};
use serde_json::{Value, json};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Sends seen per `webhook-id`: (timestamp, signature, body, answered with).
type Seen = Arc<Mutex<HashMap<String, Vec<(String, String, Vec<u8>, u16)>>>>;

async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s2 = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = Arc::clone(&s2);
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let mut g = seen.lock().expect("lock");
                let sends = g.entry(h("webhook-id")).or_default();
                // Every event is refused three times before it is accepted.
                let status = if sends.len() < 3 { 503 } else { 204 };
                sends.push((
                    h("webhook-timestamp"),
                    h("webhook-signature"),
                    body.to_vec(),
                    status,
                ));
                StatusCode::from_u16(status).expect("status")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), seen)
}

async fn submit(c: &Cluster, body: Value) -> (Value, String) {
    let res = c
        .http
        .post(c.url("/v1/jobs"))
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 202, "{body}\n{}", c.logs());
    let cache = res.headers()["x-polyvox-cache"]
        .to_str()
        .expect("header")
        .to_string();
    (res.json().await.expect("json"), cache)
}

async fn wait_status(c: &Cluster, id: &str, want: &[&str], timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let job = c.job(id).await;
        if want.contains(&job["status"].as_str().unwrap_or("")) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never reached {want:?}: {job}\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn every_ending_gets_its_webhook_through_refusals_and_killed_workers() {
    let _serial = LOCK.lock().await;
    let (hook, seen) = receiver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let assets = poisoned_assets(dir.path());
    let env = [
        ("POLYVOX_WEBHOOK_SECRET", SECRET),
        ("POLYVOX_WEBHOOK_ALLOW_PRIVATE", "true"),
        // Real assets but for one voice the model fails on.
        ("POLYVOX_ASSETS_DIR", assets.to_str().expect("utf-8 path")),
        // A crash limit of one: a job whose worker dies is dead-lettered by the reaper, not
        // retried. Attempts stay at their default, so the poison input is retried as it would
        // be in production and must still owe exactly one webhook.
        ("POLYVOX_JOB_MAX_CRASHES", "1"),
    ];
    let mut c = Cluster::start_full(&[], &env).await;

    // Born from the cache: the same request again, this time with a webhook.
    let cached_text = "Answered from the cache.";
    let (first, _) = submit(&c, json!({"input": cached_text})).await;
    let first_id = first["id"].as_str().expect("id").to_string();
    wait_status(&c, &first_id, &["succeeded"], Duration::from_secs(120)).await;
    let (cached, cache) = submit(&c, json!({"input": cached_text, "webhook_url": hook})).await;
    assert_eq!(cache, "hit", "{cached}");
    assert_eq!(cached["status"], "succeeded");

    // Dead-lettered: a long job whose worker is killed under it. Submitted first so it runs
    // on one worker while the short one runs on the other.
    let long = "The keeper counted every step on the way up. ".repeat(40);
    let (dead, _) = submit(&c, json!({"input": long, "webhook_url": hook})).await;
    let dead_id = dead["id"].as_str().expect("id").to_string();
    wait_status(&c, &dead_id, &["running"], Duration::from_secs(60)).await;
    let (ok, _) = submit(&c, json!({"input": "Short and done.", "webhook_url": hook})).await;
    let ok_id = ok["id"].as_str().expect("id").to_string();
    wait_status(&c, &ok_id, &["succeeded"], Duration::from_secs(120)).await;
    for w in &mut c.workers {
        w.kill();
    }
    let killed_at = SystemTime::now();
    // The fault happened where it hurts: the success is recorded, its webhook not yet sent
    // (the receiver refuses the first three), and the long job is still running.
    let ok_view = c.job(&ok_id).await;
    assert_eq!(ok_view["webhooks"][0]["status"], "pending", "{ok_view}");
    assert_eq!(c.job(&dead_id).await["status"], "running");

    // Cancelled while no worker runs.
    let (gone, _) = submit(
        &c,
        json!({"input": "Never mind this one.", "webhook_url": hook}),
    )
    .await;
    let gone_id = gone["id"].as_str().expect("id").to_string();
    let res = c
        .http
        .delete(c.url(&format!("/v1/jobs/{gone_id}")))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);

    // Failed: an input the real model returns no signal for, on every attempt.
    let (poison, _) = submit(
        &c,
        json!({"input": "Every attempt at this sentence fails.", "voice": POISON, "webhook_url": hook}),
    )
    .await;
    let poison_id = poison["id"].as_str().expect("id").to_string();

    c.start_worker("worker-c");
    let w = c.workers.last_mut().expect("worker-c");
    w.wait_line("polyvox worker ready", Duration::from_secs(240));

    let endings = [
        (&ok_id, "succeeded"),
        (&dead_id, "failed"),
        (&gone_id, "cancelled"),
        (&poison_id, "failed"),
        (&cached["id"].as_str().expect("id").to_string(), "succeeded"),
    ];
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut views = Vec::new();
    loop {
        views.clear();
        for (id, _) in endings {
            views.push(c.job(id).await);
        }
        let delivered = views
            .iter()
            .filter(|v| v["webhooks"][0]["status"] == "delivered")
            .count();
        if delivered == endings.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} of {} webhooks delivered: {views:#?}\n{}",
            endings.len(),
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let seen = seen.lock().expect("lock").clone();
    // Five endings, five ids: no ending sent under a second id (a retry is the same message),
    // and nothing else was sent (the first, webhook-less job of the cached text owes none).
    assert_eq!(
        seen.len(),
        5,
        "distinct webhook-ids: {:?}",
        seen.keys().collect::<Vec<_>>()
    );
    for ((id, status), view) in endings.iter().zip(&views) {
        assert_eq!(view["status"], *status, "{view}");
        let hooks = view["webhooks"].as_array().expect("webhooks");
        assert_eq!(hooks.len(), 1, "one event per ending: {view}");
        let webhook_id = hooks[0]["id"].as_str().expect("id");
        let sends = seen
            .get(webhook_id)
            .unwrap_or_else(|| panic!("{status} {id}: no send"));
        // A worker killed between its POST and recording it sends again after its claim lapses
        // (at least once), so more than four sends are possible; never fewer.
        assert!(
            sends.len() >= 4,
            "{status}: three refusals, then accepted: {sends:?}"
        );
        assert!(
            sends[..3].iter().all(|s| s.3 == 503) && sends[3].3 == 204,
            "{sends:?}"
        );
        assert!(
            hooks[0]["attempts"].as_u64() >= Some(sends.len() as u64),
            "every send was a claimed attempt: {view}"
        );
        for (ts, sig, body, _) in sends {
            assert!(
                polyvox_worker::webhook::verify(
                    SECRET,
                    webhook_id,
                    ts,
                    sig,
                    body,
                    SystemTime::now(),
                    Duration::from_secs(600)
                ),
                "{status}: bad signature"
            );
            let v: Value = serde_json::from_slice(body).expect("json");
            assert_eq!(v["type"], format!("job.{status}"));
            assert_eq!(v["data"]["id"], id.as_str());
        }
    }
    // The succeeded job's webhook was delivered by the worker started after the kill.
    let delivered_ms = views[0]["webhooks"][0]["delivered_at_ms"]
        .as_u64()
        .expect("delivered");
    let killed_ms = killed_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    assert!(delivered_ms > killed_ms, "delivered before the kill");
    let dead_view = &views[1];
    assert_eq!(dead_view["error"]["code"], "worker_crashed", "{dead_view}");
    assert_eq!(dead_view["crashes"], 1, "{dead_view}");
    // The poison failed in the model on both attempts (retried once, as a model error is), and
    // its retry wrote no webhook of its own: the one event above is the final failure.
    let poison_view = &views[3];
    assert_eq!(
        poison_view["error"]["code"], "synthesis_failed",
        "{poison_view}"
    );
    assert_eq!(poison_view["attempts"], 2, "{poison_view}");
    assert_eq!(poison_view["crashes"], 0, "{poison_view}");
    let worker_c = c.workers.last().expect("worker-c").log_text();
    let failures = worker_c
        .lines()
        .filter(|l| l.contains(&poison_id) && l.contains("job attempt failed"))
        .count();
    assert_eq!(failures, 2, "{worker_c}");
    assert!(
        worker_c.contains("the model returned no signal"),
        "{worker_c}"
    );
}
