//! Tenancy acceptance on real services: two `polyvox serve` API instances on one PostgreSQL schema
//! and one Redis prefix, keys made with `polyvox keys`. A limit of 10 requests per minute and a
//! monthly quota hold across both instances; usage flushed by one instance is read on the other;
//! key A gets 404 for key B's job and audio; a revoked key gets 401; a key's cap of one speech
//! request in progress holds across both instances and its slot comes back when the client
//! goes away. Ten retries of one submission with one `Idempotency-Key`, sent to both instances at
//! once, make one job that usage and the quota count once.
//!
//! Ignored by default (needs PostgreSQL, Redis and the front-end assets); the project's test
//! command runs it.

mod cluster;

use std::process::Command;
use std::time::{Duration, Instant};

use cluster::{LOCK, Proc, pg_url, redis_url, unique};
use serde_json::{Value, json};

struct Deployment {
    dir: tempfile::TempDir,
    schema: String,
    prefix: String,
}

impl Deployment {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyvox"));
        cmd.args(args)
            .env("POLYVOX_LOG", "info")
            .env("DATABASE_URL", pg_url())
            .env("POLYVOX_DB_SCHEMA", &self.schema)
            .env("POLYVOX_DB_MAX_CONNECTIONS", "4")
            .env("REDIS_URL", redis_url())
            .env("POLYVOX_REDIS_PREFIX", &self.prefix)
            .env(
                "POLYVOX_STORAGE_URL",
                format!("file://{}", self.dir.path().join("audio").display()),
            )
            .env("POLYVOX_DATA_DIR", self.dir.path().join("data"))
            .env("POLYVOX_NO_FETCH", "true")
            .env("POLYVOX_KEY_CACHE_SECS", "1")
            .env("POLYVOX_USAGE_FLUSH_SECS", "1")
            .env_remove("POLYVOX_NO_AUTH");
        cmd
    }

    fn key(&self, name: &str, extra: &[&str]) -> Value {
        let mut args = vec!["keys", "create", "--name", name, "--json"];
        args.extend_from_slice(extra);
        let out = self.command(&args).output().expect("polyvox keys create");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    }

    fn serve(&self, name: &str) -> (Proc, String) {
        let mut p = Proc::spawn(
            name,
            self.command(&["serve", "--bind", "127.0.0.1:0"]),
            self.dir.path().join(format!("{name}.log")),
        );
        let line = p.wait_line("listening on http://", Duration::from_secs(120));
        let base = line.rsplit(' ').next().expect("url").to_string();
        (p, base)
    }
}

fn token(key: &Value) -> String {
    key["token"].as_str().expect("token").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, Redis and the assets; run with --ignored"]
async fn limits_isolation_and_revocation_across_two_api_instances() {
    let _serial = LOCK.lock().await;
    let d = Deployment {
        dir: tempfile::tempdir().expect("tempdir"),
        schema: unique("pvt"),
        prefix: unique("pvtenancy"),
    };
    let limited = d.key("limited", &["--requests-per-minute", "10"]);
    let a = d.key("tenant-a", &[]);
    let b = d.key("tenant-b", &[]);
    let quota = d.key("quota", &["--monthly-chars", "100"]);
    let (api1, base1) = d.serve("api-1");
    let (api2, base2) = d.serve("api-2");
    let http = reqwest::Client::new();

    // No key: 401 on both.
    for base in [&base1, &base2] {
        let r = http
            .get(format!("{base}/v1/usage"))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), 401);
    }

    // 30 requests, alternating instances, against one limit of 10 per minute.
    let mut ok = 0;
    let mut refused = 0;
    for i in 0..30 {
        let base = if i % 2 == 0 { &base1 } else { &base2 };
        let r = http
            .get(format!("{base}/v1/usage"))
            .bearer_auth(token(&limited))
            .send()
            .await
            .expect("sent");
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                assert!(r.headers().contains_key("retry-after"));
                assert_eq!(r.headers()["ratelimit-limit"], "10");
                let body: Value = r.json().await.expect("json");
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
                refused += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert!(
        (9..=11).contains(&ok),
        "{ok} of 30 passed a shared limit of 10/min"
    );
    assert_eq!(ok + refused, 30);

    // One monthly quota of 100 characters across both instances (a Redis counter): 60 pass on
    // api-1, the next 60 are refused on api-2. No worker runs, so the jobs stay queued.
    let submit = |base: &String, text: String| {
        http.post(format!("{base}/v1/jobs"))
            .bearer_auth(token(&quota))
            .json(&json!({ "input": text }))
            .send()
    };
    let first = submit(&base1, "q".repeat(60)).await.expect("sent");
    assert_eq!(first.status(), 202);
    let second = submit(&base2, "r".repeat(60)).await.expect("sent");
    assert_eq!(second.status(), 429);
    let body: Value = second.json().await.expect("json");
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("60 used"),
        "{body}"
    );
    // api-1 writes its usage within a flush interval (1 s here); api-2 then reads it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let usage: Value = http
            .get(format!("{base2}/v1/usage"))
            .bearer_auth(token(&quota))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        if usage["month"]["characters"] == 60 {
            assert_eq!(usage["totals"]["requests"], 1, "{usage}");
            break;
        }
        assert_eq!(usage["month"]["characters"], 0, "{usage}");
        assert!(Instant::now() < deadline, "usage never flushed: {usage}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A's job is invisible to B, on either instance (no worker runs: it stays queued).
    let acc: Value = http
        .post(format!("{base1}/v1/jobs"))
        .bearer_auth(token(&a))
        .json(&json!({"input": "Tenant A's private text."}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let id = acc["id"].as_str().expect("job id").to_string();
    for path in [format!("/v1/jobs/{id}"), format!("/v1/jobs/{id}/audio")] {
        let r = http
            .get(format!("{base2}{path}"))
            .bearer_auth(token(&b))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), 404, "{path}");
    }
    let mine = http
        .get(format!("{base2}/v1/jobs/{id}"))
        .bearer_auth(token(&a))
        .send()
        .await
        .expect("sent");
    assert_eq!(mine.status(), 200);

    // Revoked with the CLI: 401 on both instances once their key cache (1 s here) expires.
    let out = d
        .command(&["keys", "revoke", a["id"].as_str().expect("id")])
        .output()
        .expect("revoke");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    for base in [&base1, &base2] {
        loop {
            let r = http
                .get(format!("{base}/v1/jobs/{id}"))
                .bearer_auth(token(&a))
                .send()
                .await
                .expect("sent");
            if r.status() == 401 {
                let body: Value = r.json().await.expect("json");
                assert_eq!(body["error"]["code"], "unauthorized");
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap_or("")
                        .contains("revoked")
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "revoked key still accepted on {base}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let list = d
        .command(&["keys", "list", "--json"])
        .output()
        .expect("list");
    let keys: Value = serde_json::from_slice(&list.stdout).expect("json");
    let revoked: Vec<&Value> = keys
        .as_array()
        .expect("array")
        .iter()
        .filter(|k| !k["revoked_at"].is_null())
        .collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["id"], a["id"]);
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&token(&a)[21..]),
        "keys list must never print secrets"
    );

    // One cap of one speech request in progress, across both instances (leases in Redis). No
    // worker runs, so a speech request waits for one, holding its key's slot the while.
    let single = d.key("single", &["--max-concurrent", "1"]);
    let slots = format!("{}:slots:{}", d.prefix, single["id"].as_str().expect("id"));
    let held = || {
        let out = Command::new("redis-cli")
            .args(["-u", &redis_url(), "ZCARD", &slots])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u64>()
            .expect("ZCARD")
    };
    let speech = |base: &String| {
        http.post(format!("{base}/v1/audio/speech"))
            .bearer_auth(token(&single))
            .json(&json!({"input": "Waiting for a worker.", "voice": "af_bella"}))
    };
    let waiting = {
        let req = speech(&base1);
        tokio::spawn(async move { req.send().await })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while held() == 0 {
        assert!(Instant::now() < deadline, "api-1 never took the slot");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = speech(&base2).send().await.expect("sent");
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "concurrency_limited", "{body}");
    // The waiting client goes away: api-1 gives the slot back, and api-2 can take it.
    waiting.abort();
    let deadline = Instant::now() + Duration::from_secs(30);
    while held() != 0 {
        assert!(Instant::now() < deadline, "the slot was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let taken = speech(&base2).timeout(Duration::from_secs(2)).send().await;
    assert!(
        matches!(&taken, Err(e) if e.is_timeout()),
        "api-2's request waits for a worker with the slot: {taken:?}"
    );
    drop((api1, api2));
}

/// A client retrying one submission ten times (a lost 202), half of them on each API instance
/// and all at once: one job, counted once by `/v1/usage` and by the shared quota counter (the
/// racers that lost hand their quota back); the same key with another body is refused on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, Redis and the assets; run with --ignored"]
async fn ten_retries_across_two_api_instances_make_one_job_charged_once() {
    let _serial = LOCK.lock().await;
    let d = Deployment {
        dir: tempfile::tempdir().expect("tempdir"),
        schema: unique("pvt"),
        prefix: unique("pvtenancy"),
    };
    let quota: u64 = 1_000;
    let key = d.key("retrier", &["--monthly-chars", &quota.to_string()]);
    let (api1, base1) = d.serve("api-1");
    let (api2, base2) = d.serve("api-2");
    let http = reqwest::Client::new();
    let submit = |base: &String, idempotency: &str, text: &str| {
        http.post(format!("{base}/v1/jobs"))
            .bearer_auth(token(&key))
            .header("idempotency-key", idempotency)
            .json(&json!({ "input": text }))
            .send()
    };
    let text = "Sent ten times, made and billed once.";
    let chars = text.chars().count() as u64;
    let answers = futures::future::join_all((0..10).map(|i| {
        let base = if i % 2 == 0 { &base1 } else { &base2 };
        submit(base, "retry-ten", text)
    }))
    .await;
    let mut ids = Vec::new();
    for res in answers {
        let res = res.expect("sent");
        assert_eq!(res.status(), 202);
        let v: Value = res.json().await.expect("json");
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1, "one job for ten submissions: {ids:?}");

    for base in [&base1, &base2] {
        let reused = submit(base, "retry-ten", "Another text entirely.")
            .await
            .expect("sent");
        assert_eq!(reused.status(), 409, "{base}");
        let body: Value = reused.json().await.expect("json");
        assert_eq!(body["error"]["code"], "idempotency_key_reused", "{body}");
    }

    // Both instances flush within a second; the month never shows more than one charge.
    for base in [&base1, &base2] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let usage: Value = http
                .get(format!("{base}/v1/usage"))
                .bearer_auth(token(&key))
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("json");
            let seen = usage["month"]["characters"].as_u64().expect("characters");
            assert!(seen <= chars, "charged more than once: {usage}");
            // The month's counter is charged at once; the daily totals arrive with the flush.
            if seen == chars && usage["totals"]["requests"] != 0 {
                assert_eq!(usage["totals"]["requests"], 1, "{usage}");
                assert_eq!(usage["month"]["remaining"], quota - chars, "{usage}");
                break;
            }
            assert!(Instant::now() < deadline, "usage never flushed: {usage}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // The Redis quota counter decides these: exactly what is left fits only if it counted the
    // ten submissions as one.
    let words = usize::try_from(quota - chars - 1).expect("fits") / 3;
    let rest = format!(
        "{}{}",
        "la ".repeat(words),
        "a".repeat(usize::try_from(quota - chars).expect("fits") - 3 * words)
    );
    assert_eq!(rest.chars().count() as u64, quota - chars);
    let fits = submit(&base2, "the-rest", &rest).await.expect("sent");
    assert_eq!(
        fits.status(),
        202,
        "{}",
        fits.text().await.unwrap_or_default()
    );
    let over = submit(&base1, "one-more", "a").await.expect("sent");
    assert_eq!(over.status(), 429);
    let body: Value = over.json().await.expect("json");
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    drop((api1, api2));
}
