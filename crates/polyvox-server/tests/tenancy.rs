//! API keys, per-key limits, quotas, usage and isolation, on the embedded twins (SQLite keys and
//! usage, in-memory rate limiter, in-process queue and worker rendering through the fake).

mod common;

use std::time::Duration;

use common::embedded::Embedded;
use common::{FakeSpeech, error_of};
use polyvox_infra::tenancy::{KeyLimits, KeyStore, UsageDelta, UsageStore, utc_day};
use polyvox_server::TenancyConfig;
use serde_json::{Value, json};

type Env = Embedded;

/// `open` runs without keys; otherwise keys are required, looked up fresh on every request
/// (`key_cache_ttl` 0) so revocation is visible at once. Every job claims 2 s of audio.
async fn env(open: bool) -> Env {
    env_scoped(open, false).await
}

/// [`env`] with the result cache per key (`--cache-scope key`) or shared.
async fn env_scoped(open: bool, per_key: bool) -> Env {
    let b = Embedded::builder(FakeSpeech::new(2, Duration::from_millis(1)))
        .jobs(move |j| j.cache_per_key = per_key)
        .audio_seconds(2.0)
        .worker(|w| w.receive_wait = Duration::from_millis(50));
    let b = if open {
        b
    } else {
        b.tenancy(TenancyConfig {
            key_cache_ttl: Duration::ZERO,
            ..TenancyConfig::default()
        })
    };
    b.start().await
}

impl Env {
    async fn key(&self, limits: KeyLimits) -> (String, String) {
        let k = self.keys.create_key("test", limits).await.expect("key");
        (k.key.id, k.token)
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut r = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("sent")
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut r = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("sent")
    }

    async fn wait_job(&self, id: &str, token: &str) -> Value {
        self.wait(id, Some(token)).await
    }

    /// The key's `/v1/usage` answer.
    async fn usage(&self, token: &str) -> Value {
        self.get("/v1/usage", Some(token))
            .await
            .json()
            .await
            .expect("json")
    }
}

fn speech(text: &str) -> Value {
    json!({"input": text, "voice": "af_bella", "response_format": "wav", "stream": false})
}

#[tokio::test]
async fn synthesis_needs_a_valid_unrevoked_key_and_the_catalogue_does_not() {
    let e = env(false).await;
    let (id, token) = e.key(KeyLimits::default()).await;

    let res = e.post("/v1/audio/speech", None, speech("Hi")).await;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let (status, code, msg) = error_of(res).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    assert!(msg.contains("Authorization: Bearer"), "{msg}");

    let wrong_secret = format!("pvx_{id}_{}", "0".repeat(64));
    let unknown_id = format!("pvx_{}_{}", "a".repeat(16), "0".repeat(64));
    for bad in [
        "sk-openai-style",
        wrong_secret.as_str(),
        unknown_id.as_str(),
    ] {
        let (status, code, msg) =
            error_of(e.post("/v1/audio/speech", Some(bad), speech("Hi")).await).await;
        assert_eq!(
            (status, code.as_str(), msg.as_str()),
            (401, "unauthorized", "invalid API key"),
            "{bad}"
        );
    }
    let res = e
        .client
        .post(format!("{}/v1/jobs", e.base))
        .header("authorization", format!("Basic {token}"))
        .json(&speech("Hi"))
        .send()
        .await
        .expect("sent");
    let (status, _, msg) = error_of(res).await;
    assert_eq!(status, 401);
    assert!(msg.contains("Bearer"), "{msg}");

    let ok = e.post("/v1/audio/speech", Some(&token), speech("Hi")).await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().contains_key("ratelimit-remaining"));

    for public in [
        "/v1/voices",
        "/v1/voices/af_bella/preview",
        "/v1/models",
        "/health/live",
        "/openapi.json",
        "/",
    ] {
        assert_eq!(e.get(public, None).await.status(), 200, "{public}");
    }
    // The studio learns from the page itself that it must ask for a key.
    let page = e.get("/", None).await.text().await.expect("html");
    assert!(
        page.contains(r#"<meta name="polyvox-auth" content="required">"#),
        "the page does not say a key is required"
    );

    e.keys.revoke_key(&id).await.expect("revoke");
    let (status, code, msg) =
        error_of(e.post("/v1/audio/speech", Some(&token), speech("Hi")).await).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    assert!(msg.contains("revoked"), "{msg}");
}

#[tokio::test]
async fn the_requests_per_minute_limit_answers_429_with_ratelimit_headers() {
    let e = env(false).await;
    let (_, token) = e
        .key(KeyLimits {
            requests_per_minute: Some(3),
            ..KeyLimits::default()
        })
        .await;
    for left in [2, 1, 0] {
        let res = e.get("/v1/usage", Some(&token)).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["ratelimit-limit"], "3");
        assert_eq!(
            res.headers()["ratelimit-remaining"],
            left.to_string().as_str()
        );
        assert_eq!(res.headers()["ratelimit-policy"], "3;w=60");
    }
    let res = e.get("/v1/usage", Some(&token)).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=20).contains(&retry),
        "one request frees up after 20 s: {retry}"
    );
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    let reset: u64 = res.headers()["ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((40..=60).contains(&reset), "{reset}");
    let (status, code, msg) = error_of(res).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    assert!(msg.contains("3 requests per minute"), "{msg}");

    // Another key has its own bucket.
    let (_, other) = e.key(KeyLimits::default()).await;
    assert_eq!(e.get("/v1/usage", Some(&other)).await.status(), 200);
}

#[tokio::test]
async fn characters_per_minute_and_the_monthly_quota_are_enforced() {
    let e = env(false).await;
    let (_, token) = e
        .key(KeyLimits {
            chars_per_minute: Some(100),
            ..KeyLimits::default()
        })
        .await;
    let sixty = "x".repeat(60);
    assert_eq!(
        e.post("/v1/audio/speech", Some(&token), speech(&sixty))
            .await
            .status(),
        200
    );
    let res = e
        .post("/v1/audio/speech", Some(&token), speech(&sixty))
        .await;
    assert!(res.headers().contains_key("retry-after"));
    let (status, code, msg) = error_of(res).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    assert!(
        msg.contains("100 characters per minute") && msg.starts_with("input:"),
        "{msg}"
    );
    // More than the whole limit can never pass: no Retry-After, a hint instead.
    let res = e
        .post("/v1/jobs", Some(&token), json!({"input": "y".repeat(101)}))
        .await;
    assert!(!res.headers().contains_key("retry-after"));
    let (status, code, msg) = error_of(res).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    assert!(msg.contains("split the text"), "{msg}");

    let (_, quota) = e
        .key(KeyLimits {
            monthly_chars: Some(100),
            chars_per_minute: Some(0),
            ..KeyLimits::default()
        })
        .await;
    assert_eq!(
        e.post("/v1/audio/speech", Some(&quota), speech(&sixty))
            .await
            .status(),
        200
    );
    let res = e
        .post("/v1/audio/speech", Some(&quota), speech(&sixty))
        .await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=31 * 86_400).contains(&retry), "{retry}");
    let (status, code, msg) = error_of(res).await;
    assert_eq!((status, code.as_str()), (429, "quota_exceeded"));
    assert!(
        msg.contains("monthly quota of 100 characters") && msg.contains("60 used"),
        "{msg}"
    );
    // The refused request used nothing.
    let usage: Value = e.usage(&quota).await;
    assert_eq!(usage["month"]["characters"], 60, "{usage}");
    assert_eq!(usage["month"]["remaining"], 40, "{usage}");
}

/// The quota counter starts from what the database already holds for the month, once.
#[tokio::test]
async fn the_monthly_quota_counts_usage_stored_before_the_first_request() {
    let e = env(false).await;
    let (id, token) = e
        .key(KeyLimits {
            monthly_chars: Some(100),
            chars_per_minute: Some(0),
            ..KeyLimits::default()
        })
        .await;
    e.keys
        .record(
            &id,
            UsageDelta {
                requests: 3,
                characters: 90,
                ..UsageDelta::default()
            },
        )
        .await
        .expect("earlier usage");
    let (status, code, msg) = error_of(
        e.post("/v1/jobs", Some(&token), json!({"input": "x".repeat(11)}))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (429, "quota_exceeded"), "{msg}");
    assert!(msg.contains("90 used"), "{msg}");
    let ten = e
        .post("/v1/jobs", Some(&token), json!({"input": "y".repeat(10)}))
        .await;
    assert_eq!(ten.status(), 202);
    let (status, _, msg) = error_of(
        e.post("/v1/jobs", Some(&token), json!({"input": "z"}))
            .await,
    )
    .await;
    assert_eq!(status, 429, "the quota is used up: {msg}");
    assert!(msg.contains("100 used"), "{msg}");
    let usage: Value = e.usage(&token).await;
    assert_eq!(usage["month"]["characters"], 100, "{usage}");
    assert_eq!(usage["totals"]["requests"], 4, "{usage}");
}

#[tokio::test]
async fn usage_counts_requests_characters_audio_and_cache_hits() {
    let e = env(false).await;
    let (id, token) = e.key(KeyLimits::default()).await;
    let text = "Metered speech.";
    // Whole-file speech is cached; the second identical request is a hit.
    let first = e.post("/v1/audio/speech", Some(&token), speech(text)).await;
    assert_eq!(first.headers()["x-polyvox-cache"], "miss");
    first.bytes().await.expect("body");
    let mut hit = false;
    for _ in 0..100 {
        let again = e.post("/v1/audio/speech", Some(&token), speech(text)).await;
        let is_hit = again.headers()["x-polyvox-cache"] == "hit";
        again.bytes().await.expect("body");
        if is_hit {
            hit = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(hit, "the repeated request never hit the cache");
    let acc: Value = e
        .post("/v1/jobs", Some(&token), json!({"input": "A metered job."}))
        .await
        .json()
        .await
        .expect("json");
    let job = e.wait_job(acc["id"].as_str().expect("id"), &token).await;
    assert_eq!(job["status"], "succeeded");

    let mut usage = Value::Null;
    // Audio of a streamed response is recorded when its body ends, just after the client has it.
    for _ in 0..100 {
        usage = e.usage(&token).await;
        if usage["totals"]["audio_seconds"].as_f64().unwrap_or(0.0) >= 3.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t = &usage["totals"];
    let requests = t["requests"].as_u64().expect("requests");
    assert!(requests >= 3, "{usage}");
    assert_eq!(
        t["characters"].as_u64(),
        Some((requests - 1) * text.len() as u64 + "A metered job.".len() as u64),
        "{usage}"
    );
    assert!(t["cache_hits"].as_u64() >= Some(1), "{usage}");
    // Fake speech: 2 chunks × 0.5 s per response (miss and hit); the job's render says 2 s.
    assert!(t["audio_seconds"].as_f64().unwrap_or(0.0) >= 3.0, "{usage}");
    assert_eq!(usage["key_id"], id.as_str());
    assert_eq!(usage["days"].as_array().map(Vec::len), Some(1), "{usage}");

    // What the API showed (stored rows plus what the meter still held) is what gets stored.
    e.meter.flush().await.expect("flush");
    assert_eq!(e.meter.pending_rows(), 0);
    let today = utc_day(std::time::SystemTime::now());
    let stored = e.keys.days(&id, &today, &today).await.expect("stored");
    let day = &usage["days"][0];
    assert_eq!(
        (
            stored[0].requests,
            stored[0].characters,
            stored[0].cache_hits
        ),
        (
            day["requests"].as_u64().expect("requests"),
            day["characters"].as_u64().expect("characters"),
            day["cache_hits"].as_u64().expect("cache hits"),
        ),
        "{usage}"
    );
    assert!(
        (stored[0].audio_seconds - day["audio_seconds"].as_f64().expect("audio")).abs() < 1e-9,
        "{stored:?} vs {usage}"
    );

    for (query, field) in [
        ("?from=yesterday", "from must be a date"),
        ("?to=2026-13-01", "to must be a date"),
        ("?from=2026-02-01&to=2026-01-01", "must not be after"),
        ("?from=2020-01-01&to=2026-01-01", "at most 366 days"),
    ] {
        let (status, code, msg) =
            error_of(e.get(&format!("/v1/usage{query}"), Some(&token)).await).await;
        assert_eq!((status, code.as_str()), (400, "invalid_request"), "{query}");
        assert!(msg.contains(field), "{query}: {msg}");
    }
}

#[tokio::test]
async fn a_key_cannot_see_or_touch_another_keys_jobs() {
    let e = env(false).await;
    let (_, a) = e.key(KeyLimits::default()).await;
    let (_, b) = e.key(KeyLimits::default()).await;
    let acc: Value = e
        .post("/v1/jobs", Some(&a), json!({"input": "Only for A."}))
        .await
        .json()
        .await
        .expect("json");
    let id = acc["id"].as_str().expect("id").to_string();
    let job = e.wait_job(&id, &a).await;
    assert_eq!(job["status"], "succeeded");
    let audio_url = job["audio_url"].as_str().expect("audio url").to_string();
    assert_eq!(e.get(&audio_url, Some(&a)).await.status(), 200);

    let missing = format!("/v1/jobs/{}", uuid_like());
    let (_, _, not_there) = error_of(e.get(&missing, Some(&b)).await).await;
    for path in [format!("/v1/jobs/{id}"), audio_url.clone()] {
        let (status, code, msg) = error_of(e.get(&path, Some(&b)).await).await;
        assert_eq!((status, code.as_str()), (404, "not_found"), "{path}");
        // Same wording as a job that does not exist: B learns nothing about A's ids.
        assert_eq!(
            msg.replace(&id, "ID"),
            not_there.replace(&missing[9..], "ID")
        );
    }
    let del = e
        .client
        .delete(format!("{}/v1/jobs/{id}", e.base))
        .bearer_auth(&b)
        .send()
        .await
        .expect("sent");
    assert_eq!(del.status(), 404);
    // The same request by B is B's own job (the result cache is shared, jobs are not).
    let mine: Value = e
        .post("/v1/jobs", Some(&b), json!({"input": "Only for A."}))
        .await
        .json()
        .await
        .expect("json");
    assert_ne!(mine["id"], acc["id"]);
    assert_eq!(
        e.get(&format!("/v1/jobs/{id}"), Some(&a)).await.status(),
        200
    );
}

fn uuid_like() -> String {
    "0190a4a0-0000-7000-8000-000000000000".to_string()
}

#[tokio::test]
async fn without_keys_everything_is_open_and_usage_is_absent() {
    let e = env(true).await;
    assert_eq!(
        e.post("/v1/audio/speech", None, speech("Open."))
            .await
            .status(),
        200
    );
    let (status, code, msg) = error_of(e.get("/v1/usage", None).await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert!(msg.contains("without keys"), "{msg}");
}

/// A client that retries a submission (a lost 202) with its `Idempotency-Key` gets the first
/// job back every time and pays once: rate tokens, the monthly quota and usage count one job.
#[tokio::test]
async fn retries_with_an_idempotency_key_are_charged_once() {
    let e = env(false).await;
    let (_, token) = e
        .key(KeyLimits {
            monthly_chars: Some(1_000),
            chars_per_minute: Some(50),
            ..KeyLimits::default()
        })
        .await;
    let text = "Charged exactly once.";
    let chars = text.chars().count() as u64;
    let submit = |body: Value| {
        let r = e
            .client
            .post(format!("{}/v1/jobs", e.base))
            .bearer_auth(&token)
            .header("idempotency-key", "retry-1")
            .json(&body);
        async move { r.send().await.expect("sent") }
    };
    let mut ids = Vec::new();
    for _ in 0..10 {
        let res = submit(json!({"input": text})).await;
        // Ten times 21 characters exceed the 50 per minute: only a charge per retry would 429.
        assert_eq!(res.status(), 202);
        let v: Value = res.json().await.expect("json");
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one job for ten retries: {ids:?}");
    let reused = submit(json!({"input": "Another text entirely."})).await;
    let (status, code, _) = error_of(reused).await;
    assert_eq!((status, code.as_str()), (409, "idempotency_key_reused"));
    assert_eq!(e.wait_job(&ids[0], &token).await["status"], "succeeded");
    let usage: Value = e.usage(&token).await;
    assert_eq!(
        usage["month"]["characters"].as_u64(),
        Some(chars),
        "{usage}"
    );
    assert_eq!(
        usage["month"]["remaining"].as_u64(),
        Some(1_000 - chars),
        "{usage}"
    );
    assert_eq!(usage["totals"]["requests"].as_u64(), Some(1), "{usage}");
}

/// Words making exactly `n` (at least 1) characters.
fn text_of(n: u64) -> String {
    let n = usize::try_from(n).expect("fits");
    let words = (n - 1) / 3;
    format!("{}{}", "la ".repeat(words), "a".repeat(n - 3 * words))
}

/// Ten first submissions with one `Idempotency-Key` and body, all at once: the lookup that answers
/// retries before any charge finds nothing for any of them, yet they make one job and pay once
/// (usage and the quota counter), the racers that lost handing their quota back.
#[tokio::test]
async fn concurrent_first_submissions_with_one_key_are_charged_once() {
    let e = env(false).await;
    let quota = 1_000;
    let (_, token) = e
        .key(KeyLimits {
            monthly_chars: Some(quota),
            ..KeyLimits::default()
        })
        .await;
    let text = "Raced, and still charged exactly once.";
    let chars = text.chars().count() as u64;
    let send = |key: &str, body: Value| {
        e.client
            .post(format!("{}/v1/jobs", e.base))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let answers =
        futures::future::join_all((0..10).map(|_| send("race-1", json!({"input": text})))).await;
    let mut ids = Vec::new();
    for res in answers {
        let res = res.expect("sent");
        assert_eq!(res.status(), 202);
        let v: Value = res.json().await.expect("json");
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1, "one job for ten racing submissions: {ids:?}");
    assert_eq!(e.wait_job(&ids[0], &token).await["status"], "succeeded");
    let usage: Value = e.usage(&token).await;
    assert_eq!(usage["totals"]["requests"].as_u64(), Some(1), "{usage}");
    assert_eq!(
        usage["month"]["characters"].as_u64(),
        Some(chars),
        "{usage}"
    );
    assert_eq!(
        usage["totals"]["audio_seconds"].as_f64(),
        Some(2.0),
        "{usage}"
    );
    // The quota counter (not the usage rows) decides this one: exactly what is left fits only
    // if the race was counted once.
    let rest = text_of(quota - chars);
    let res = send("race-2", json!({"input": rest})).await.expect("sent");
    assert_eq!(
        res.status(),
        202,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let (status, code, _) =
        error_of(send("race-3", json!({"input": "y"})).await.expect("sent")).await;
    assert_eq!((status, code.as_str()), (429, "quota_exceeded"));
}

/// The same owner's identical request while the first is still queued joins that job and is
/// charged once per job: one request and its characters, the second's quota handed back.
#[tokio::test]
async fn joining_ones_own_inflight_job_is_charged_once() {
    let e = Embedded::builder(FakeSpeech::new(2, Duration::from_millis(1)))
        .without_worker()
        .tenancy(TenancyConfig {
            key_cache_ttl: Duration::ZERO,
            ..TenancyConfig::default()
        })
        .start()
        .await;
    let quota = 100;
    let (_, token) = e
        .key(KeyLimits {
            monthly_chars: Some(quota),
            ..KeyLimits::default()
        })
        .await;
    let text = "Wait for me, I am the same request.";
    let chars = text.chars().count() as u64;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let res = e
            .post("/v1/jobs", Some(&token), json!({"input": text}))
            .await;
        assert_eq!(res.status(), 202);
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["status"], "queued");
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    assert_eq!(ids[0], ids[1], "the second joined the first");
    let usage: Value = e.usage(&token).await;
    assert_eq!(usage["totals"]["requests"].as_u64(), Some(1), "{usage}");
    assert_eq!(
        usage["month"]["characters"].as_u64(),
        Some(chars),
        "{usage}"
    );
    let rest = text_of(quota - chars);
    let res = e
        .post("/v1/jobs", Some(&token), json!({"input": rest}))
        .await;
    assert_eq!(res.status(), 202, "the quota counted the joined job once");
}

/// With a per-key cache, key B's request identical to key A's cached one is a miss, synthesized
/// for B (speech and jobs alike); with a shared cache the same request is a hit for B.
#[tokio::test]
async fn a_per_key_cache_keeps_one_keys_results_from_another() {
    use std::sync::atomic::Ordering;
    for per_key in [true, false] {
        let e = env_scoped(false, per_key).await;
        let (_, a) = e.key(KeyLimits::default()).await;
        let (_, b) = e.key(KeyLimits::default()).await;
        let text = "Only for key A.";
        let cache_of = |res: &reqwest::Response| {
            res.headers()["x-polyvox-cache"]
                .to_str()
                .expect("header")
                .to_string()
        };
        let first = e.post("/v1/audio/speech", Some(&a), speech(text)).await;
        assert_eq!(cache_of(&first), "miss");
        first.bytes().await.expect("body");
        let mut cached = false;
        for _ in 0..100 {
            let again = e.post("/v1/audio/speech", Some(&a), speech(text)).await;
            cached = cache_of(&again) == "hit";
            again.bytes().await.expect("body");
            if cached {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(cached, "key A's repeat never hit its cache");
        let before = e.fake.stats.started.load(Ordering::SeqCst);
        let other = e.post("/v1/audio/speech", Some(&b), speech(text)).await;
        let answer = cache_of(&other);
        other.bytes().await.expect("body");
        let job = e
            .post(
                "/v1/jobs",
                Some(&b),
                json!({"input": text, "response_format": "wav"}),
            )
            .await;
        let job_answer = cache_of(&job);
        let after = e.fake.stats.started.load(Ordering::SeqCst);
        if per_key {
            assert_eq!((answer.as_str(), job_answer.as_str()), ("miss", "miss"));
            assert!(after > before, "key B's request was synthesized for B");
        } else {
            assert_eq!(
                answer, "hit",
                "a shared cache answers key B from key A's result"
            );
            assert_eq!(after, before, "no synthesis for B's speech request");
        }
    }
}

/// Polls until the fake has been asked for `n` syntheses in all.
async fn started(e: &Env, n: usize) {
    let stats = std::sync::Arc::clone(&e.fake.stats);
    common::eventually(&format!("{n} syntheses started"), move || {
        stats.started.load(std::sync::atomic::Ordering::SeqCst) >= n
    })
    .await;
}

/// The per-key cap on speech requests in progress: a key at its cap gets 429
/// `concurrency_limited` with `Retry-After` (and is not billed for it), other keys are not
/// affected, the server default applies to keys without their own cap, 0 is unlimited, and a
/// slot is free again once its response has ended.
#[tokio::test]
async fn a_key_has_at_most_its_cap_of_syntheses_in_progress() {
    let e = Embedded::builder(FakeSpeech::new(2, Duration::from_millis(1)).gated())
        .server(polyvox_server::ServerConfig {
            max_concurrent: 8,
            ..polyvox_server::ServerConfig::default()
        })
        .tenancy(TenancyConfig {
            default_concurrent_syntheses: 2,
            ..TenancyConfig::default()
        })
        .start()
        .await;
    let cap = |n| KeyLimits {
        concurrent_syntheses: n,
        ..KeyLimits::default()
    };
    let (one_id, one) = e.key(cap(Some(1))).await;
    let (_, default) = e.key(cap(None)).await;
    let (_, unlimited) = e.key(cap(Some(0))).await;
    let body = |text: &str| json!({"input": text, "voice": "af_bella", "response_format": "pcm"});
    let spawn = |token: &str, text: &str| {
        let req = e
            .client
            .post(format!("{}/v1/audio/speech", e.base))
            .bearer_auth(token)
            .json(&body(text));
        tokio::spawn(async move { req.send().await.expect("sent") })
    };

    // Each request below blocks in the (gated) synthesis, holding its slot.
    let mut running = vec![spawn(&one, "One, first.")];
    started(&e, 1).await;
    let refused = e
        .post("/v1/audio/speech", Some(&one), body("One, second."))
        .await;
    assert_eq!(refused.headers()["retry-after"], "1");
    let (status, code, msg) = error_of(refused).await;
    assert_eq!((status, code.as_str()), (429, "concurrency_limited"));
    assert!(msg.contains("1 speech requests in progress"), "{msg}");

    running.push(spawn(&default, "Default, first."));
    running.push(spawn(&default, "Default, second."));
    started(&e, 3).await;
    let (status, code, _) = error_of(
        e.post("/v1/audio/speech", Some(&default), body("Default, third."))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (429, "concurrency_limited"));
    for i in 0..3 {
        running.push(spawn(&unlimited, &format!("Unlimited {i}.")));
    }
    started(&e, 6).await;

    e.fake.release();
    for r in running {
        let res = r.await.expect("task");
        assert_eq!(res.status(), 200);
        res.bytes().await.expect("body");
    }
    // Every response has ended: the slot is free, at once.
    let again = e
        .post("/v1/audio/speech", Some(&one), body("One, third."))
        .await;
    assert_eq!(again.status(), 200);
    again.bytes().await.expect("body");
    e.meter.flush().await.expect("flush");
    let today = utc_day(std::time::SystemTime::now());
    let usage = e.keys.days(&one_id, &today, &today).await.expect("usage");
    assert_eq!(usage[0].requests, 2, "the refused request was not billed");
}
