//! `/metrics` after known traffic: a real server on port 0 with the job API on the embedded twins
//! and an in-process worker, a real Prometheus recorder, and counters compared before and after.
//!
//! This file is its own test binary on purpose: the recorder is process-global, so no other
//! test's traffic may move these counters. It holds a single test for the same reason.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::FakeSpeech;
use common::embedded::Embedded;
use futures::future::BoxFuture;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use polyvox_core::metrics as m;
use polyvox_core::{Error, ErrorCode, Lang, SynthesisRequest};
use polyvox_infra::tenancy::{KeyLimits, KeyStore};
use polyvox_server::{
    Exposition, Readiness, ServerConfig, SpeechService, SpeechStream, StreamOptions, TenancyConfig,
};
use serde_json::{Value, json};

/// Renders a few bytes, or fails for good when the text asks for it.
struct Scripted;

impl SpeechService for Scripted {
    fn synthesize(
        &self,
        req: SynthesisRequest,
        _opts: StreamOptions,
    ) -> BoxFuture<'static, Result<SpeechStream, Error>> {
        Box::pin(async move {
            if req.text.contains("fail") {
                // A code the worker does not retry: the job is dead-lettered on its first attempt.
                return Err(Error::new(ErrorCode::VoiceNotFound, "scripted failure"));
            }
            Ok(common::one_piece(
                req.format,
                Bytes::from_static(b"RIFF-fake-audio"),
                1_000,
            ))
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

/// Parses the text format into `name{sorted labels}` → value; comments and blanks skipped.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        out.insert(normalize(series), value);
    }
    out
}

/// `name{b="2",a="1"}` → `name{a="1",b="2"}`, so tests need not know the exporter's label order.
fn normalize(series: &str) -> String {
    match series.split_once('{') {
        None => series.to_string(),
        Some((name, rest)) => {
            let mut labels: Vec<&str> = rest.trim_end_matches('}').split(',').collect();
            labels.sort_unstable();
            format!("{name}{{{}}}", labels.join(","))
        }
    }
}

struct Env {
    /// Its client sends the main test key with every request.
    stack: Embedded,
    /// A key allowed one request per minute.
    limited: String,
}

impl std::ops::Deref for Env {
    type Target = Embedded;

    fn deref(&self) -> &Embedded {
        &self.stack
    }
}

impl Env {
    async fn scrape(&self) -> HashMap<String, f64> {
        let res = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("scrape");
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/plain; version=0.0.4")
        );
        parse(&res.text().await.expect("body"))
    }

    async fn submit(&self, text: &str) -> reqwest::Response {
        self.client
            .post(self.url("/v1/jobs"))
            .json(&json!({"input": text, "voice": "af_bella", "response_format": "wav"}))
            .send()
            .await
            .expect("sent")
    }

    /// Waits until `series` reaches `want`: the worker records an outcome after the row is
    /// final (cache write and ack come in between), so the API can show a job done first.
    async fn settle(&self, series: &str, want: f64) {
        for _ in 0..500 {
            if self.scrape().await.get(series).copied().unwrap_or(0.0) >= want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{series} never reached {want}");
    }
}

async fn env() -> Env {
    let mut builder = PrometheusBuilder::new();
    for d in m::ALL.iter().filter(|d| d.kind == m::Kind::Histogram) {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(d.name.into()), d.buckets)
            .expect("buckets");
    }
    let handle = builder.install_recorder().expect("the only recorder here");
    // One slot and no waiting room: a second concurrent speech request is shed with 429.
    let cfg = ServerConfig {
        max_concurrent: 1,
        max_queued: 0,
        metrics: Some(Exposition::new(move || handle.render())),
        ..ServerConfig::default()
    };
    let mut stack = Embedded::builder(FakeSpeech::new(2, Duration::from_millis(5)).gated())
        .render(Arc::new(Scripted))
        .worker(|w| {
            w.receive_wait = Duration::from_millis(50);
            w.maintenance_every = None;
        })
        .server(cfg)
        .tenancy(TenancyConfig::default())
        .start()
        .await;
    let main_key = stack
        .keys
        .create_key("metrics", KeyLimits::default())
        .await
        .expect("key");
    let limited = stack
        .keys
        .create_key(
            "limited",
            KeyLimits {
                requests_per_minute: Some(1),
                ..KeyLimits::default()
            },
        )
        .await
        .expect("key");
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", main_key.token)
            .parse()
            .expect("header"),
    );
    stack.client = reqwest::Client::builder()
        .default_headers(auth)
        .build()
        .expect("client");
    Env {
        stack,
        limited: limited.token,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_traffic_moves_the_counters_by_known_amounts() {
    let e = env().await;
    let before = e.scrape().await;
    // Before any refusal, every reason already has its series at 0: a dashboard shows a flat
    // 0 rather than "no data", and rate() counts the first refusal (a first sample is a baseline).
    for series in [
        r#"polyvox_rejections_total{reason="queue_full"}"#,
        r#"polyvox_rejections_total{reason="engine_queue_full"}"#,
        r#"polyvox_rejections_total{reason="rate_limited"}"#,
        r#"polyvox_rejections_total{reason="chars_rate_limited"}"#,
        r#"polyvox_rejections_total{reason="quota_exceeded"}"#,
        r#"polyvox_auth_failures_total{reason="missing"}"#,
        r#"polyvox_auth_failures_total{reason="invalid"}"#,
        r#"polyvox_auth_failures_total{reason="revoked"}"#,
    ] {
        assert_eq!(
            before.get(series),
            Some(&0.0),
            "{series} is not exported at 0"
        );
    }

    // A job, then the identical request again: the second is answered from the cache.
    let first = e.submit("Metrics, please.").await;
    assert_eq!(first.status(), 202);
    let id = first.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(e.wait(&id, None).await["status"], "succeeded");
    let ok = r#"polyvox_job_outcomes_total{lane="batch",outcome="succeeded"}"#;
    e.settle(ok, before.get(ok).copied().unwrap_or(0.0) + 1.0)
        .await;
    let again = e.submit("Metrics, please.").await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["x-polyvox-cache"], "hit");

    // A job the worker fails for good.
    let failing = e.submit("This one will fail.").await;
    let fid = failing.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(e.wait(&fid, None).await["status"], "failed");
    let dead = r#"polyvox_job_outcomes_total{lane="batch",outcome="dead"}"#;
    e.settle(dead, before.get(dead).copied().unwrap_or(0.0) + 1.0)
        .await;

    // One speech request holds the only slot; a second one is shed at once.
    let holder = {
        let (client, url) = (e.client.clone(), e.url("/v1/audio/speech"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"model": "tts-1", "input": "Holding the slot.", "voice": "af_bella"}))
                .send()
                .await
                .expect("sent")
        })
    };
    while e.fake.stats.started.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let shed = e
        .speech(json!({"model": "tts-1", "input": "Shed me.", "voice": "af_bella"}))
        .await;
    assert_eq!(shed.status(), 429);
    e.fake.release();
    let held = holder.await.expect("task");
    assert_eq!(held.status(), 200);
    held.bytes().await.expect("body");

    // A request that fails validation, and a path no route knows.
    let bad = e
        .speech(json!({"model": "tts-1", "input": "Hi", "voice": "no_such_voice"}))
        .await;
    assert_eq!(bad.status(), 400);
    let missing = e.client.get(e.url("/nope/123")).send().await.expect("sent");
    assert_eq!(missing.status(), 404);

    // A key allowed one request per minute: its second request is rate-limited. A made-up key
    // is refused.
    let anon = reqwest::Client::new();
    for want in [200, 429] {
        let r = anon
            .get(e.url("/v1/usage"))
            .bearer_auth(&e.limited)
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), want);
    }
    let r = anon
        .get(e.url("/v1/usage"))
        .bearer_auth("sk-not-ours")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 401);

    let after = e.scrape().await;
    let moved = |series: &str| {
        let key = normalize(series);
        after.get(&key).copied().unwrap_or(0.0) - before.get(&key).copied().unwrap_or(0.0)
    };
    let expect = [
        // HTTP: every response by route template and status.
        (
            r#"polyvox_http_requests_total{route="/v1/jobs",method="POST",status="202"}"#,
            3.0,
        ),
        (
            r#"polyvox_http_requests_total{route="/v1/audio/speech",method="POST",status="200"}"#,
            1.0,
        ),
        (
            r#"polyvox_http_requests_total{route="/v1/audio/speech",method="POST",status="429"}"#,
            1.0,
        ),
        (
            r#"polyvox_http_requests_total{route="/v1/audio/speech",method="POST",status="400"}"#,
            1.0,
        ),
        (
            r#"polyvox_http_requests_total{route="unmatched",method="GET",status="404"}"#,
            1.0,
        ),
        (
            r#"polyvox_http_request_duration_seconds_count{route="/v1/audio/speech",method="POST"}"#,
            3.0,
        ),
        // Errors by stable code and the load-shedding rejection.
        (r#"polyvox_http_errors_total{code="queue_full"}"#, 1.0),
        (r#"polyvox_http_errors_total{code="voice_not_found"}"#, 1.0),
        (r#"polyvox_http_errors_total{code="not_found"}"#, 1.0),
        (r#"polyvox_rejections_total{reason="queue_full"}"#, 1.0),
        // Tenancy: the rate-limited request and the refused key.
        (r#"polyvox_rejections_total{reason="rate_limited"}"#, 1.0),
        (r#"polyvox_http_errors_total{code="rate_limited"}"#, 1.0),
        (r#"polyvox_auth_failures_total{reason="invalid"}"#, 1.0),
        (r#"polyvox_http_errors_total{code="unauthorized"}"#, 1.0),
        (
            r#"polyvox_http_requests_total{route="/v1/usage",method="GET",status="429"}"#,
            1.0,
        ),
        // Jobs: two enqueued, one answered from the cache; one succeeded, one dead-lettered.
        (
            r#"polyvox_job_submissions_total{lane="batch",outcome="enqueued"}"#,
            2.0,
        ),
        (
            r#"polyvox_job_submissions_total{lane="batch",outcome="cache_hit"}"#,
            1.0,
        ),
        (
            r#"polyvox_job_outcomes_total{lane="batch",outcome="succeeded"}"#,
            1.0,
        ),
        (
            r#"polyvox_job_outcomes_total{lane="batch",outcome="dead"}"#,
            1.0,
        ),
        (
            r#"polyvox_job_errors_total{lane="batch",code="voice_not_found"}"#,
            1.0,
        ),
        (r#"polyvox_job_queue_wait_seconds_count{lane="batch"}"#, 2.0),
        (r#"polyvox_job_run_seconds_count{lane="batch"}"#, 2.0),
        // Cache: the repeated job hit; the two other jobs and both speech requests missed
        // (the bad-voice request fails validation before any lookup).
        (
            r#"polyvox_infra_cache_lookups_total{backend="memory",result="hit"}"#,
            1.0,
        ),
        (
            // Streamed requests that miss look up two keys: their own chunk plan's, then the
            // whole-file one of the same request (docs/scale-out.md, "Cache and sharing").
            r#"polyvox_infra_cache_lookups_total{backend="memory",result="miss"}"#,
            6.0,
        ),
    ];
    let wrong: Vec<String> = expect
        .iter()
        .filter(|(s, want)| (moved(s) - want).abs() > 1e-9)
        .map(|(s, want)| format!("{s}: moved {} (want {want})", moved(s)))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");

    // Nothing is left running or in flight but this scrape itself.
    assert_eq!(
        after.get(&normalize(r#"polyvox_jobs_running{lane="batch"}"#)),
        Some(&0.0)
    );
    assert_eq!(after.get("polyvox_http_requests_in_flight"), Some(&1.0));
    // Process gauges come from /proc at scrape time.
    assert!(
        after
            .get("process_resident_memory_bytes")
            .is_some_and(|v| *v > 0.0)
    );
    assert!(
        after
            .get("process_cpu_seconds_total")
            .is_some_and(|v| *v > 0.0)
    );
    // Histograms render as real histograms (buckets), not summaries.
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("polyvox_http_request_duration_seconds_bucket{")),
        "no buckets"
    );
}
