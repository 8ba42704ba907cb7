//! The real `polyvox serve` (model included) after some traffic: every metric the Grafana
//! dashboard queries exists in its `/metrics`, and the JSON logs correlate a request with the job
//! it created. Needs the model assets, hence `#[ignore]` (the project's test command runs it).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

/// Creates an API key in the server's data directory; returns its token.
fn create_key(data: &std::path::Path, extra: &[&str]) -> String {
    let out = common::polyvox()
        .args(["keys", "create", "--name", "dashboard", "--json"])
        .args(extra)
        .env("POLYVOX_DATA_DIR", data)
        .output()
        .expect("polyvox keys create");
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    v["token"].as_str().expect("token").to_string()
}

/// Every `polyvox_*` / `process_*` name in a PromQL expression.
fn metric_names(expr: &str, out: &mut BTreeSet<String>) {
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let rest = &expr[i..];
        if starts_word && (rest.starts_with("polyvox_") || rest.starts_with("process_")) {
            let len = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            out.insert(rest[..len].to_string());
            i += len;
        } else {
            i += 1;
        }
    }
}

fn dashboard_names() -> BTreeSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/polyvox-dashboard.json"
    );
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard file"))
        .expect("json");
    let mut names = BTreeSet::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            metric_names(t["expr"].as_str().expect("expr"), &mut names);
        }
    }
    names
}

/// Series names (without labels) present in an exposition.
fn scraped_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

#[test]
fn metric_names_are_found_in_promql() {
    let mut n = BTreeSet::new();
    metric_names(
        r#"histogram_quantile(0.95, sum by (le) (rate(polyvox_synthesis_seconds_bucket[5m]))) / rate(process_cpu_seconds_total{job="x_polyvox_y"}[1m])"#,
        &mut n,
    );
    assert_eq!(
        n.into_iter().collect::<Vec<_>>(),
        [
            "polyvox_synthesis_seconds_bucket",
            "process_cpu_seconds_total"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real model"]
async fn every_dashboard_metric_is_exported_and_logs_correlate() {
    let data = common::tempdir();
    let token = create_key(data.path(), &[]);
    let limited = create_key(data.path(), &["--requests-per-minute", "1"]);
    let server = common::serve(
        data.path(),
        &["--log-format", "json"],
        // One slot, no waiting room: a second concurrent speech request is shed with 429.
        &["--max-concurrent", "1", "--max-queued", "0"],
        &[("POLYVOX_LOG", "info,ort=warn")],
        true,
    );
    let base = server.base.clone();
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    let client = reqwest::Client::builder()
        .default_headers(auth)
        .build()
        .expect("client");

    // A key allowed one request per minute: the second is rate-limited; a bad key is refused.
    let anon = reqwest::Client::new();
    for expected in [200, 429] {
        let r = anon
            .get(format!("{base}/v1/usage"))
            .bearer_auth(&limited)
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), expected);
    }
    let r = anon
        .get(format!("{base}/v1/usage"))
        .bearer_auth("pvx_not_a_key")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 401);

    // A job, then the same request again: a cache hit.
    let job = json!({"input": "The dashboard test renders this.", "voice": "af_bella"});
    let res = client
        .post(format!("{base}/v1/jobs"))
        .header("x-request-id", "dash-job-1")
        .json(&job)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        common::wait_job(&client, &base, &id).await["status"],
        "succeeded"
    );
    let mut hit = false;
    for _ in 0..100 {
        // The worker writes the cache just after the job row; retry until it has.
        let again = client
            .post(format!("{base}/v1/jobs"))
            .json(&job)
            .send()
            .await
            .expect("sent");
        if again.headers()["x-polyvox-cache"] == "hit" {
            hit = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hit, "the repeated job never hit the cache");

    // A long speech request holds the only slot; a second is shed with 429.
    let long = "Observability means seeing what the service does without guessing. ".repeat(4);
    let holder = {
        let (client, url) = (client.clone(), format!("{base}/v1/audio/speech"));
        tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&json!({"model": "tts-1", "input": long, "voice": "af_bella"}))
                .send()
                .await
                .expect("sent");
            let status = r.status();
            r.bytes().await.expect("body");
            status
        })
    };
    let mut shed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let r = client
            .post(format!("{base}/v1/audio/speech"))
            .json(&json!({"model": "tts-1", "input": "Am I shed?", "voice": "af_bella"}))
            .send()
            .await
            .expect("sent");
        let status = r.status();
        r.bytes().await.expect("body");
        if status == 429 {
            shed = true;
            break;
        }
    }
    assert!(shed, "no request was shed while the slot was held");
    assert_eq!(holder.await.expect("task"), 200);

    // A request that fails validation.
    let bad = client
        .post(format!("{base}/v1/audio/speech"))
        .json(&json!({"model": "tts-1", "input": "Hi", "voice": "no_such_voice"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(bad.status(), 400);

    let text = common::scrape(&client, &base).await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("polyvox_rejections_total{")
                && l.contains("reason=\"rate_limited\"")
                && l.ends_with(" 1")),
        "the rate-limited request is not counted:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("polyvox_auth_failures_total{")
                && l.contains("reason=\"invalid\"")),
        "the refused key is not counted"
    );
    let scraped = scraped_names(&text);
    let wanted = dashboard_names();
    // The six signals of the scaling plan must be on the dashboard.
    for must in [
        "polyvox_http_requests_total",
        "polyvox_synthesis_seconds_bucket",
        "polyvox_engine_queue_length",
        "polyvox_infra_cache_lookups_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ] {
        assert!(wanted.contains(must), "dashboard lacks {must}");
    }
    let missing: Vec<&String> = wanted.iter().filter(|n| !scraped.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "dashboard queries metrics /metrics lacks: {missing:?}"
    );

    // Logs: the API line for the job request carries both ids; the worker's lines the job id.
    let logs = server.stop();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "no JSON log lines:\n{logs}");
    let api = lines.iter().any(|l| {
        l["span"]["request_id"] == "dash-job-1"
            && l["span"]["job_id"] == id.as_str()
            && l["fields"]["message"] == "responded"
    });
    assert!(api, "no API log line with request_id and job_id:\n{logs}");
    let worker = lines
        .iter()
        .any(|l| l["span"]["job_id"] == id.as_str() && l["fields"]["message"] == "job succeeded");
    assert!(worker, "no worker log line with the job id:\n{logs}");
}
