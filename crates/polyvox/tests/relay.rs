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

/// The words of a timed answer, each checked against the input it points into.
fn words_of(input: &str, words: &[Value]) -> Vec<(usize, f64)> {
    let chars: Vec<char> = input.chars().collect();
    assert!(!words.is_empty(), "no words for {input}");
    words
        .iter()
        .map(|w| {
            let (a, b) = (
                w["char_start"].as_u64().expect("char_start") as usize,
                w["char_end"].as_u64().expect("char_end") as usize,
            );
            let written: String = chars[a..b].iter().collect();
            assert_eq!(w["text"].as_str().expect("text"), written, "{w}");
            (a, w["start"].as_f64().expect("start"))
        })
        .collect()
}

/// Word timestamps through the workers: the JSON answer takes them from the timings the job
/// stored beside its audio, the SSE stream from the relay's pieces; the two ways agree, and a
/// word never arrives after its audio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn word_timestamps_travel_through_the_workers() {
    let _serial = LOCK.lock().await;
    let c = Cluster::start().await;
    let text = "At 9:45 the ferry left. It cost $12.50, and Dr. Okafor paid for everyone.";
    let body =
        json!({"input": text, "voice": "af_heart", "response_format": "wav", "timestamps": "word"});
    let whole: Value = {
        let res = c
            .http
            .post(c.url("/v1/audio/speech"))
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200, "{}", c.logs());
        res.json().await.expect("json")
    };
    let whole_words = words_of(text, whole["words"].as_array().expect("words"));
    assert!(
        whole_words
            .iter()
            .any(|&(a, _)| text[a..].starts_with("$12.50")),
        "money is one written token: {whole}"
    );

    let mut sse_body = body.clone();
    sse_body["stream_format"] = json!("sse");
    sse_body["response_format"] = json!("mp3");
    let sse = c
        .http
        .post(c.url("/v1/audio/speech"))
        .json(&sse_body)
        .send()
        .await
        .expect("sent");
    assert_eq!(sse.status(), 200, "{}", c.logs());
    let sse = sse.text().await.expect("events");
    let (mut streamed, mut deltas, mut words_after_audio) = (Vec::new(), 0, false);
    for line in sse.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let v: Value = serde_json::from_str(line).expect("event json");
        match v["type"].as_str().expect("type") {
            "speech.words" => {
                words_after_audio |= deltas > 0 && streamed.is_empty();
                streamed.extend(v["words"].as_array().expect("words").iter().cloned());
            }
            "speech.audio.delta" => deltas += 1,
            "speech.audio.done" => {}
            other => panic!("unexpected event {other}: {line}"),
        }
    }
    assert!(
        deltas > 0 && !words_after_audio,
        "words before their audio: {sse}"
    );
    let streamed = words_of(text, &streamed);
    assert_eq!(streamed.len(), whole_words.len(), "{sse}");
    for (s, w) in streamed.iter().zip(&whole_words) {
        assert_eq!(s.0, w.0);
        assert!((s.1 - w.1).abs() <= 0.025, "streamed {s:?} vs stored {w:?}");
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

/// The live text socket on the cluster: each chunk a job rendered by a worker and relayed back
/// through Redis; the session's audio is one PCM stream as long as it says, and its words are
/// timed on the session's text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn the_live_socket_speaks_through_the_workers() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let _serial = LOCK.lock().await;
    let c = Cluster::start().await;
    let url = c.url("/v1/audio/speech/stream").replace("http://", "ws://");
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    let (mut tx, mut rx) = ws.split();
    let session = json!({"type": "session", "voice": "af_heart", "lang": "en-us", "format": "pcm", "timestamps": true});
    tx.send(Message::text(session.to_string()))
        .await
        .expect("session");
    let text =
        "Through the workers, live. Each clause is a job of its own, relayed back as it renders.";
    for piece in text.as_bytes().chunks(6) {
        let delta = std::str::from_utf8(piece).expect("ascii");
        let m = json!({"type": "text", "text": delta}).to_string();
        tx.send(Message::text(m)).await.expect("delta");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    tx.send(Message::text(json!({"type": "close"}).to_string()))
        .await
        .expect("close");
    let (mut audio, mut events, mut close) = (Vec::new(), Vec::new(), None);
    let read = async {
        while let Some(m) = rx.next().await {
            match m.expect("frame") {
                Message::Binary(b) => audio.extend_from_slice(&b),
                Message::Text(t) => events.push(serde_json::from_str::<Value>(&t).expect("json")),
                Message::Close(f) => {
                    close = f.map(|f| u16::from(f.code));
                    break;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(300), read)
        .await
        .expect("the session ended");
    assert_eq!(close, Some(1000), "{events:?}\n{}", c.logs());
    let done = events.iter().find(|e| e["type"] == "done").expect("done");
    assert_eq!(done["characters"], text.chars().count());
    assert!(done["chunks"].as_u64().expect("chunks") >= 2, "{done}");
    let seconds = audio.len() as f64 / 48_000.0;
    assert!(seconds > 3.0, "{seconds} s");
    assert!((done["audio_seconds"].as_f64().expect("s") - seconds).abs() < 0.01);
    let words: Vec<Value> = events
        .iter()
        .filter(|e| e["type"] == "words")
        .flat_map(|e| e["words"].as_array().expect("words").clone())
        .collect();
    let timed = words_of(text, &words);
    assert!(timed.len() >= 14, "{} words", timed.len());
    assert!(timed.windows(2).all(|w| w[0].1 <= w[1].1), "{timed:?}");
}
