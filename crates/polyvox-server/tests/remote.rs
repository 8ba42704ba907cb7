//! `/v1/audio/speech` through the workers ([`RemoteSpeech`]), on the embedded twins with an
//! in-process worker rendering through the fake and the in-process relay: the API never
//! synthesizes itself, streams arrive piece by piece before the job ends, identical whole-file
//! requests share one job, a client that leaves cancels its job, and readiness reflects the
//! probed dependencies. (The same paths over Redis, PostgreSQL, S3 and the real model:
//! `crates/polyvox/tests/relay.rs`.)

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::FakeSpeech;
use common::embedded::Embedded;
use polyvox_core::Lang;
use polyvox_server::ServerConfig;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_runs_on_the_workers_and_identical_requests_share_one_job() {
    let stack = Arc::new(
        Embedded::builder(FakeSpeech::new(4, Duration::from_millis(50)))
            .jobs(|j| j.cache_sync_results = false)
            .server(ServerConfig {
                max_concurrent: 16,
                ..ServerConfig::default()
            })
            .remote(vec![Lang::EnUs])
            .start()
            .await,
    );
    let worker_fake = &stack.fake;

    // Readiness comes from the dependency probe, not from a model.
    let mut ready = Value::Null;
    for _ in 0..100 {
        let res = stack
            .client
            .get(stack.url("/health/ready"))
            .send()
            .await
            .expect("sent");
        if res.status() == 200 {
            ready = res.json().await.expect("json");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ready
            .to_string()
            .contains("database ok, queue ok, relay ok"),
        "{ready}"
    );

    let mut tasks = Vec::new();
    for _ in 0..10 {
        let stack = stack.clone();
        tasks.push(tokio::spawn(async move {
            let res = stack
                .speech(json!({"input": "Through the workers", "response_format": "wav", "stream": false}))
                .await;
            assert_eq!(res.status(), 200);
            res.bytes().await.expect("body")
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").to_vec(), worker_fake.expected_body());
    }
    assert_eq!(
        worker_fake.stats.started.load(Ordering::SeqCst),
        1,
        "ten requests, one synthesis"
    );
    // Now cached: a hit, still no new synthesis.
    let res = stack
        .speech(json!({"input": "Through the workers", "response_format": "wav", "stream": false}))
        .await;
    assert_eq!(res.headers()["x-polyvox-cache"], "hit");
    assert_eq!(worker_fake.stats.started.load(Ordering::SeqCst), 1);
    // A language the workers do not speak is refused before any job exists.
    let res = stack
        .speech(json!({"input": "Bonjour", "lang": "fr"}))
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unsupported_language");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_through_the_workers_arrives_piece_by_piece_and_is_cached_whole() {
    let stack = Embedded::builder(FakeSpeech::new(5, Duration::from_millis(150)))
        .jobs(|j| j.cache_sync_results = false)
        .remote(vec![Lang::EnUs])
        .start()
        .await;
    let mut res = stack
        .speech(json!({"input": "Streamed through the relay", "response_format": "pcm"}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-polyvox-cache"], "miss");
    // The first piece is here while the worker is still rendering the rest.
    let first = res.chunk().await.expect("read").expect("a first piece");
    assert_eq!(first.as_ref(), b"<chunk 0:>");
    assert!(
        stack.fake.stats.produced.load(Ordering::SeqCst) < 5,
        "the first piece left before the render finished"
    );
    let mut body = first.to_vec();
    while let Some(piece) = res.chunk().await.expect("read") {
        body.extend_from_slice(&piece);
    }
    assert_eq!(body, stack.fake.expected_body());
    // The stream ends with its last piece; the worker stores the whole file just after.
    wait_for_stored_file(&stack).await;
    // The kept whole file was stored and cached under the stream's key: the repeat is a hit.
    // (The cache entry follows the stored file by a moment: a repeat in between is a miss that
    // renders again, so renders are counted against the misses seen.)
    let (mut hit, mut misses) = (None, 0);
    for _ in 0..100 {
        let res = stack
            .speech(json!({"input": "Streamed through the relay", "response_format": "pcm"}))
            .await;
        if res.headers()["x-polyvox-cache"] == "hit" {
            hit = Some(res.bytes().await.expect("body"));
            break;
        }
        misses += 1;
        let _ = res.bytes().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        hit.expect("the repeat became a cache hit").to_vec(),
        stack.fake.expected_body()
    );
    assert_eq!(stack.fake.stats.started.load(Ordering::SeqCst), 1 + misses);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_a_stream_cancels_its_job() {
    let stack = Embedded::builder(FakeSpeech::new(40, Duration::from_millis(100)))
        .jobs(|j| j.cache_sync_results = false)
        .remote(vec![Lang::EnUs])
        .start()
        .await;
    let mut res = stack
        .speech(json!({"input": "Nobody will hear the end of this", "response_format": "pcm"}))
        .await;
    assert_eq!(res.status(), 200);
    res.chunk().await.expect("read").expect("a first piece");
    drop(res);
    // The job is cancelled, and the worker's heartbeat stops its render long before the end
    // (the job row's `cancelled` is checked against PostgreSQL in crates/polyvox/tests/relay.rs).
    for _ in 0..100 {
        if stack.fake.stats.cancelled.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stack.fake.stats.cancelled.load(Ordering::SeqCst), 1);
    assert!(stack.fake.stats.produced.load(Ordering::SeqCst) < 40);
    assert_eq!(stack.fake.stats.completed.load(Ordering::SeqCst), 0);
}

/// A live stream is complete once its last piece is relayed: an object store that is down when
/// the worker stores the whole file (the cluster gate's S3 stop) does not cut the client's
/// stream; the job stores the file on its retry, once storage is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_down_at_the_end_of_a_render_does_not_cut_the_stream() {
    let faults = common::faulty_store::Faults::default();
    faults.finish_down.store(true, Ordering::SeqCst);
    let (down, refused) = (Arc::clone(&faults.finish_down), Arc::clone(&faults.refused));
    let stack = Embedded::builder(FakeSpeech::new(4, Duration::from_millis(20)))
        .jobs(|j| j.cache_sync_results = false)
        .remote(vec![Lang::EnUs])
        .wrap_audio(move |inner| faults.around(inner))
        .start()
        .await;
    let body = json!({"input": "Stored while the store is down", "response_format": "pcm"});
    let res = stack.speech(body.clone()).await;
    assert_eq!(res.status(), 200);
    let audio = res.bytes().await.expect("the whole stream, not a cut one");
    assert_eq!(audio.to_vec(), stack.fake.expected_body());
    // The worker reaches the store after the last piece went out.
    for _ in 0..200 {
        if refused.load(Ordering::SeqCst) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refused.load(Ordering::SeqCst) >= 1,
        "the store refused the file of the stream that was answered whole"
    );
    // Storage comes back: the job's retry stores and caches the file.
    down.store(false, Ordering::SeqCst);
    let mut hit = false;
    for _ in 0..300 {
        let res = stack.speech(body.clone()).await;
        hit = res.headers()["x-polyvox-cache"] == "hit";
        let _ = res.bytes().await;
        if hit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hit, "the retry stored the file once storage was back");
}

/// Waits until the worker has stored a file under the stack's audio directory.
async fn wait_for_stored_file(stack: &Embedded) {
    fn files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    // A hidden file is an object still being written.
                    let hidden = e.file_name().to_string_lossy().starts_with('.');
                    if path.is_dir() {
                        files(&path)
                    } else {
                        usize::from(!hidden)
                    }
                })
                .sum()
        })
    }
    for _ in 0..250 {
        if files(&stack.audio_dir) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no file was stored in {}", stack.audio_dir.display());
}

/// Timed speech through the workers: a stream's words ride on the relay's pieces, each before
/// its audio; a JSON answer takes the timings the job stored beside its file. Both give every
/// word the fake timed, at its offsets in the input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_timings_come_through_the_relay_and_from_the_stored_file() {
    let stack = Embedded::builder(FakeSpeech::new(3, Duration::from_millis(30)))
        .jobs(|j| j.cache_sync_results = false)
        .remote(vec![Lang::EnUs])
        .start()
        .await;
    let text = "one two three four";
    let expect = [
        ("one", 0, 0.0),
        ("two", 4, 0.5),
        ("three", 8, 1.0),
        ("four", 14, 1.0),
    ];
    let check = |words: &[Value]| {
        let got: Vec<(&str, u64, f64)> = words
            .iter()
            .map(|w| {
                (
                    w["text"].as_str().expect("text"),
                    w["char_start"].as_u64().expect("char_start"),
                    w["start"].as_f64().expect("start"),
                )
            })
            .collect();
        let want: Vec<(&str, u64, f64)> = expect.to_vec();
        assert_eq!(got, want);
    };

    let res = stack
        .speech(json!({"input": text, "response_format": "pcm", "stream_format": "sse", "timestamps": "word"}))
        .await;
    assert_eq!(res.status(), 200);
    let sse = res.text().await.expect("events");
    let (mut words, mut deltas, mut late) = (Vec::new(), 0usize, false);
    for line in sse.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let v: Value = serde_json::from_str(line).expect("json event");
        match v["type"].as_str().expect("type") {
            // Chunk i's word arrives with chunk i's audio, before it.
            "speech.words" => {
                let batch = v["words"].as_array().expect("words");
                late |= batch
                    .iter()
                    .any(|w| ((w["start"].as_f64().unwrap_or(0.0) / 0.5) as usize) < deltas);
                words.extend(batch.iter().cloned());
            }
            "speech.audio.delta" => deltas += 1,
            _ => {}
        }
    }
    assert_eq!(deltas, 3, "{sse}");
    assert!(!late, "a word came after its audio: {sse}");
    check(&words);

    let res = stack
        .speech(json!({"input": text, "response_format": "pcm", "timestamps": "word"}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    check(body["words"].as_array().expect("words"));
}
