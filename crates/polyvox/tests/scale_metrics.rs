//! The real `polyvox serve` (model included, embedded mode, one in-process worker):
//! - the per-lane queue-length gauge rises while jobs wait and falls back to 0 when they are done;
//! - the sentence cache: the same text in another format makes no model call at all and yields
//!   the same samples; a longer text that shares paragraphs makes fewer model calls than it has
//!   chunks.
//!
//! Needs the model assets, hence `#[ignore]` (the project's test command runs it).

mod common;

use std::time::Duration;

use serde_json::{Value, json};

/// The value of one series (`name{labels}` exactly as exported, or a bare name), 0 if absent.
async fn metric(client: &reqwest::Client, base: &str, series: &str) -> f64 {
    let text = common::scrape(client, base).await;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(s, _)| *s == series)
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

async fn submit(client: &reqwest::Client, base: &str, body: Value) -> String {
    let res = client
        .post(format!("{base}/v1/jobs"))
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 202);
    res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn audio(client: &reqwest::Client, base: &str, id: &str) -> Vec<u8> {
    let res = client
        .get(format!("{base}/v1/jobs/{id}/audio"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    res.bytes().await.expect("body").to_vec()
}

/// The sample bytes of a WAV file's `data` chunk.
fn wav_data(wav: &[u8]) -> &[u8] {
    let at = wav
        .windows(4)
        .position(|w| w == b"data")
        .expect("data chunk");
    &wav[at + 8..]
}

const INFER: &str = "polyvox_engine_infer_seconds_count";
const HITS: &str = "polyvox_sentence_cache_lookups_total{result=\"hit\"}";

fn paragraphs(range: std::ops::Range<usize>) -> String {
    range
        .map(|i| {
            format!(
                "Paragraph {i} is about the lighthouse keeper and the {} boats that passed at night.",
                i * 2 + 3
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real model"]
async fn queue_length_moves_and_the_sentence_cache_skips_the_model() {
    let data = common::tempdir();
    let server = common::serve(
        data.path(),
        &[],
        // About queues and the sentence cache, not keys (tests/tenancy.rs covers those).
        &["--no-auth", "--embedded-workers", "1"],
        &[("POLYVOX_QUEUE_GAUGE_SECS", "1")],
        false,
    );
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let batch = "polyvox_job_queue_length{lane=\"batch\"}";

    // Queue length: four jobs for one worker; the later ones wait, the gauge sees them.
    let mut ids = Vec::new();
    for i in 0..4 {
        let text = format!("Queued job number {i} waits its turn behind the others, patiently.");
        ids.push(submit(&client, &base, json!({"input": text})).await);
    }
    let mut peak = 0.0_f64;
    for _ in 0..200 {
        peak = peak.max(metric(&client, &base, batch).await);
        if peak >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(peak >= 1.0, "the gauge never saw a queued batch job");
    for id in &ids {
        assert_eq!(
            common::wait_job(&client, &base, id).await["status"],
            "succeeded"
        );
    }
    let mut now = peak;
    for _ in 0..100 {
        now = metric(&client, &base, batch).await;
        if now == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        now, 0.0,
        "the gauge falls back to 0 once the queue is empty"
    );

    // Sentence cache: the same text as raw PCM, then as WAV (another result-cache key).
    let text = paragraphs(0..6);
    let a = submit(
        &client,
        &base,
        json!({"input": text, "response_format": "pcm"}),
    )
    .await;
    let job_a = common::wait_job(&client, &base, &a).await;
    assert_eq!(job_a["status"], "succeeded");
    let chunks_a = job_a["chunks_total"].as_u64().expect("chunks");
    let pcm = audio(&client, &base, &a).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // cache writes are fire-and-forget
    let (infer0, hits0) = (
        metric(&client, &base, INFER).await,
        metric(&client, &base, HITS).await,
    );
    let b = submit(
        &client,
        &base,
        json!({"input": text, "response_format": "wav"}),
    )
    .await;
    assert_eq!(
        common::wait_job(&client, &base, &b).await["status"],
        "succeeded"
    );
    let wav = audio(&client, &base, &b).await;
    let (infer1, hits1) = (
        metric(&client, &base, INFER).await,
        metric(&client, &base, HITS).await,
    );
    assert_eq!(
        infer1 - infer0,
        0.0,
        "every chunk came from the sentence cache"
    );
    assert_eq!(hits1 - hits0, chunks_a as f64);
    assert_eq!(
        wav_data(&wav),
        pcm.as_slice(),
        "same samples as the fresh synthesis"
    );

    // A longer text sharing the first paragraphs: fewer model calls than chunks.
    let c = submit(
        &client,
        &base,
        json!({"input": paragraphs(0..9), "response_format": "mp3"}),
    )
    .await;
    let job_c = common::wait_job(&client, &base, &c).await;
    assert_eq!(job_c["status"], "succeeded");
    let chunks_c = job_c["chunks_total"].as_u64().expect("chunks") as f64;
    let calls_c = metric(&client, &base, INFER).await - infer1;
    assert!(calls_c >= 1.0, "the new paragraphs needed the model");
    assert!(
        calls_c < chunks_c,
        "{calls_c} model calls for {chunks_c} chunks: shared paragraphs were not reused"
    );
    println!(
        "sentence cache: job C made {calls_c} model calls for {chunks_c} chunks; job B 0 for {chunks_a}"
    );
}
