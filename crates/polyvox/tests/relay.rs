//! `/v1/audio/speech` streamed through the workers on real services: `polyvox serve` (API only)
//! and two `polyvox worker` processes on PostgreSQL, Redis (the relay and the queue) and SeaweedFS,
//! with the real model.
//!
//! - every format streams (the first piece arrives while the job still runs) and decodes to the
//!   duration of the whole file the job stored, within 2 %;
//! - a client that leaves mid-stream ends its job `cancelled` and frees the worker;
//! - 20 clients streaming at once cost the database no reads for completion beyond one per
//!   request (the relay's fallback), counted from the API's own call metrics.
//!
//! Ignored by default like the other cluster tests (`crates/polyvox/tests/scale_out.rs`).

mod cluster;

use std::time::{Duration, Instant};

use cluster::{Cluster, LOCK};
use polyvox_core::AudioFormat;
use serde_json::{Value, json};

const PARAGRAPH: &str = "The lighthouse keeper climbed the stairs every evening, counting the steps \
    as his father had before him. At the top he wiped the glass, trimmed the wick, and watched the \
    first ships turn toward the harbour.";

/// Sum of the API's Prometheus samples whose series line starts with `prefix` and contains every
/// one of `labels`.
async fn metric(c: &Cluster, prefix: &str, labels: &[&str]) -> f64 {
    let text = c
        .http
        .get(c.url("/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    text.lines()
        .filter(|l| l.starts_with(prefix) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// The id of the job whose payload holds `text` (relayed jobs are not listed anywhere else).
fn job_of(c: &Cluster, text: &str) -> String {
    let needle = text.replace('\'', "''");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let id = c.sql(&format!(
            "SELECT id FROM jobs WHERE request::text LIKE '%{needle}%' ORDER BY created_at DESC LIMIT 1"
        ));
        if !id.trim().is_empty() {
            return id.trim().to_string();
        }
        assert!(Instant::now() < deadline, "no job holds {text:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn finished(c: &Cluster, id: &str) -> Value {
    c.wait_all(&[id.to_string()], Duration::from_secs(300))
        .await
        .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn streams_through_the_workers_in_every_format_and_match_the_stored_file() {
    let _serial = LOCK.lock().await;
    let c = Cluster::start().await;
    for (n, format) in AudioFormat::ALL.into_iter().enumerate() {
        let text = format!("Relay check number {n}. {PARAGRAPH}");
        let mut res = c
            .http
            .post(c.url("/v1/audio/speech"))
            .json(&json!({"input": text, "voice": "af_heart", "response_format": format.as_str()}))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200, "{format:?}\n{}", c.logs());
        assert_eq!(res.headers()["x-polyvox-cache"], "miss");
        let first = res.chunk().await.expect("read").expect("first piece");
        // Streamed, not relayed whole: the job is still rendering when its first audio is here.
        let id = job_of(&c, &text);
        let status_at_first_piece = c.sql(&format!("SELECT status FROM jobs WHERE id = '{id}'"));
        assert_eq!(
            status_at_first_piece.trim(),
            "running",
            "{format:?}: the first piece arrived only after the job ended"
        );
        let mut streamed = first.to_vec();
        while let Some(piece) = res.chunk().await.expect("read") {
            streamed.extend_from_slice(&piece);
        }
        let job = finished(&c, &id).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let stored = c
            .http
            .get(c.url(job["audio_url"].as_str().expect("audio_url")))
            .send()
            .await
            .expect("sent")
            .bytes()
            .await
            .expect("body");
        let live = polyvox_audio::probe::decode(format, &streamed)
            .unwrap_or_else(|e| panic!("{format:?} stream does not decode: {e}"));
        let whole = polyvox_audio::probe::decode(format, &stored)
            .unwrap_or_else(|e| panic!("{format:?} stored file does not decode: {e}"));
        let (a, b) = (live.duration_secs(), whole.duration_secs());
        eprintln!("{format:?}: streamed {a:.3} s, stored {b:.3} s");
        assert!(b > 3.0, "{format:?}: stored file is {b} s");
        assert!(
            (a - b).abs() / b <= 0.02,
            "{format:?}: streamed {a:.3} s vs stored {b:.3} s"
        );
        // The stored whole file is cached under the stream's key: the repeat is a hit.
        let again = c
            .http
            .post(c.url("/v1/audio/speech"))
            .json(&json!({"input": text, "voice": "af_heart", "response_format": format.as_str()}))
            .send()
            .await
            .expect("sent");
        assert_eq!(again.headers()["x-polyvox-cache"], "hit", "{format:?}");
        assert_eq!(again.bytes().await.expect("body"), stored);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn a_client_leaving_mid_stream_cancels_the_job_and_frees_the_worker() {
    let _serial = LOCK.lock().await;
    let c = Cluster::start().await;
    let text = format!("Nobody stays to hear this. {}", PARAGRAPH.repeat(6));
    let mut res = c
        .http
        .post(c.url("/v1/audio/speech"))
        .json(&json!({"input": text, "response_format": "pcm"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200, "{}", c.logs());
    res.chunk().await.expect("read").expect("first piece");
    let id = job_of(&c, &text);
    drop(res);
    let job = finished(&c, &id).await;
    assert_eq!(job["status"], "cancelled", "{job}\n{}", c.logs());
    assert_eq!(job["attempts"], 1, "{job}");
    // The render stopped early: nothing was stored, and where a heartbeat recorded progress
    // before the cancel (it may not have, when the client leaves within the first beat), it
    // shows fewer chunks done than planned.
    assert!(job["audio_url"].is_null(), "{job}");
    if let Some(total) = job["chunks_total"].as_u64() {
        let done = job["chunks_done"].as_u64().unwrap_or(0);
        assert!(
            done < total,
            "the render stopped early: {done} of {total} chunks"
        );
    }
    // The worker that held it stopped rendering and let go of it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !c.workers.iter().any(|w| {
        w.log_text()
            .contains("job stopped: cancelled or taken over")
    }) {
        assert!(
            Instant::now() < deadline,
            "no worker stopped:\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And both workers still serve: two streams at once both finish.
    let (a, b) = tokio::join!(
        c.http
            .post(c.url("/v1/audio/speech"))
            .json(
                &json!({"input": "Still here, first.", "response_format": "wav", "stream": false})
            )
            .send(),
        c.http
            .post(c.url("/v1/audio/speech"))
            .json(
                &json!({"input": "Still here, second.", "response_format": "wav", "stream": false})
            )
            .send(),
    );
    for r in [a, b] {
        let r = r.expect("sent");
        assert_eq!(r.status(), 200);
        let body = r.bytes().await.expect("body");
        let d = polyvox_audio::probe::decode(AudioFormat::Wav, &body).expect("wav");
        assert!(d.duration_secs() > 0.5);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn twenty_waiting_streams_read_the_database_at_most_once_each() {
    let _serial = LOCK.lock().await;
    let c = Cluster::start().await;
    let gets = "polyvox_infra_call_seconds_count";
    let pg_get = ["system=\"postgres\"", "op=\"get\""];
    let before = metric(&c, gets, &pg_get).await;
    let fallback_before = metric(&c, "polyvox_relay_fallback_reads_total", &[]).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (http, url) = (c.http.clone(), c.url("/v1/audio/speech"));
        tasks.push(tokio::spawn(async move {
            let text = format!("Waiting client number {i} hears its own sentence.");
            let res = http
                .post(url)
                .json(&json!({"input": text, "response_format": "mp3"}))
                .send()
                .await
                .expect("sent");
            assert_eq!(res.status(), 200);
            let body = res.bytes().await.expect("body");
            polyvox_audio::probe::decode(AudioFormat::Mp3, &body)
                .expect("decodes")
                .duration_secs()
        }));
    }
    for t in tasks {
        assert!(t.await.expect("task") > 0.5);
    }
    let reads = metric(&c, gets, &pg_get).await - before;
    let fallbacks = metric(&c, "polyvox_relay_fallback_reads_total", &[]).await - fallback_before;
    eprintln!(
        "20 streamed requests: {reads} job-row reads on the API, {fallbacks} relay fallbacks"
    );
    assert!(
        reads <= 20.0,
        "{reads} job-row reads for 20 requests (fallbacks: {fallbacks})"
    );
    // The counter is live: the API did count its calls (the probe's pings are another op).
    assert!(metric(&c, gets, &["system=\"postgres\""]).await > 0.0);
}
