//! Streamed audio and SSE: bodies are exactly the service's chunks, in order; errors end streams
//! visibly; a client that goes away cancels the synthesis and frees its slot.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use common::{FakeSpeech, Mode, eventually, start};
use futures::StreamExt;
use polyvox_core::{AudioFormat, Error, ErrorCode, Lang};
use polyvox_server::ServerConfig;
use serde_json::{Value, json};

#[tokio::test]
async fn audio_body_is_the_concatenation_of_chunks_streamed_chunked() {
    let srv = start(
        ServerConfig::default(),
        FakeSpeech::new(12, Duration::from_millis(2)),
    )
    .await;
    for format in AudioFormat::ALL {
        let res = srv.speech(json!({"model": "tts-1", "input": "Hello there.", "voice": "alloy", "response_format": format.as_str()})).await;
        assert_eq!(res.status(), 200, "{format:?}");
        let h = res.headers();
        assert_eq!(h["content-type"], format.content_type());
        assert_eq!(h["x-accel-buffering"], "no");
        assert_eq!(
            h.get("transfer-encoding").map(|v| v.as_bytes()),
            Some(&b"chunked"[..]),
            "{format:?} must be streamed"
        );
        assert!(h.get("content-length").is_none());
        let body = res.bytes().await.expect("complete body");
        assert_eq!(
            body.as_ref(),
            srv.fake.expected_body().as_slice(),
            "{format:?}"
        );
    }
    let (_, opts) = srv
        .stats()
        .last_request
        .lock()
        .expect("lock")
        .clone()
        .expect("a request reached the fake");
    assert!(
        opts.low_latency_start,
        "streamed responses ask for a short first chunk"
    );
}

#[tokio::test]
async fn openai_fields_reach_the_service_validated() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(1, Duration::ZERO)).await;
    let res = srv
        .speech(json!({
            "model": "gpt-4o-mini-tts", "input": "  Good morning.  ", "voice": "af_bella(2)+af_sky(1)",
            "response_format": "WAV", "speed": 1.5, "lang": "en_GB", "instructions": "sound cheerful",
            "some_future_field": {"x": 1}
        }))
        .await;
    assert_eq!(res.status(), 200);
    let (req, _) = srv
        .stats()
        .last_request
        .lock()
        .expect("lock")
        .clone()
        .expect("request");
    assert_eq!(req.text, "Good morning.");
    assert_eq!(req.voice.canonical(), "af_bella(0.6667)+af_sky(0.3333)");
    assert_eq!(req.format, AudioFormat::Wav);
    assert_eq!(req.lang, Lang::EnGb);
    assert!((req.speed - 1.5).abs() < 1e-6);

    // OpenAI voice names and defaults: mp3, the voice's own language.
    let res = srv
        .speech(json!({"model": "tts-1", "input": "Hi", "voice": "fable"}))
        .await;
    assert_eq!(res.headers()["content-type"], "audio/mpeg");
    let (req, _) = srv
        .stats()
        .last_request
        .lock()
        .expect("lock")
        .clone()
        .expect("request");
    assert_eq!(
        (req.voice.canonical().as_str(), req.lang, req.format),
        ("bm_fable", Lang::EnGb, AudioFormat::Mp3)
    );
}

fn sse_events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|block| {
            let data: Vec<&str> = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            (!data.is_empty())
                .then(|| serde_json::from_str(&data.join("\n")).expect("event data is JSON"))
        })
        .collect()
}

#[tokio::test]
async fn sse_sends_deltas_then_done() {
    let srv = start(
        ServerConfig::default(),
        FakeSpeech::new(5, Duration::from_millis(1)),
    )
    .await;
    let input = "Ünïcode counts as characters.";
    let res = srv
        .speech(json!({"input": input, "voice": "nova", "stream_format": "sse"}))
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    let events = sse_events(&res.text().await.expect("body"));
    let (last, deltas) = events.split_last().expect("some events");
    assert_eq!(deltas.len(), 5);
    let mut audio = Vec::new();
    for d in deltas {
        assert_eq!(d["type"], "speech.audio.delta");
        let b64 = d["audio"].as_str().expect("audio is a string");
        audio.extend(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("valid base64"),
        );
    }
    assert_eq!(audio, srv.fake.expected_body());
    assert_eq!(last["type"], "speech.audio.done");
    assert_eq!(last["usage"]["input_tokens"], input.chars().count());
    assert_eq!(last["usage"]["total_tokens"], input.chars().count());
    assert_eq!(last["usage"]["audio_bytes"], audio.len());
}

#[tokio::test]
async fn sse_ends_with_an_error_event_when_synthesis_fails_mid_stream() {
    let failure = Error::new(
        ErrorCode::SynthesisFailed,
        "tensor shape mismatch in /secret/path",
    );
    let srv = start(
        ServerConfig::default(),
        FakeSpeech::new(6, Duration::ZERO).with_mode(Mode::FailAfter(2, failure)),
    )
    .await;
    let res = srv
        .speech(json!({"input": "Hello", "stream_format": "sse"}))
        .await;
    assert_eq!(res.status(), 200);
    let events = sse_events(&res.text().await.expect("body"));
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(types, ["speech.audio.delta", "speech.audio.delta", "error"]);
    let err = &events[2]["error"];
    assert_eq!(err["code"], "synthesis_failed");
    assert!(
        !err["message"].as_str().unwrap_or("").contains("secret"),
        "detail leaked: {err}"
    );
}

#[tokio::test]
async fn audio_failing_mid_stream_aborts_the_body_instead_of_ending_it_cleanly() {
    let failure = Error::new(ErrorCode::SynthesisFailed, "boom");
    let srv = start(
        ServerConfig::default(),
        FakeSpeech::new(6, Duration::ZERO).with_mode(Mode::FailAfter(3, failure)),
    )
    .await;
    let res = srv.speech(json!({"input": "Hello"})).await;
    assert_eq!(res.status(), 200, "audio had already started");
    assert!(
        res.bytes().await.is_err(),
        "a truncated stream must not look like a complete file"
    );
}

#[tokio::test]
async fn client_disconnect_cancels_synthesis_and_frees_the_slot() {
    let cfg = ServerConfig {
        max_concurrent: 1,
        max_queued: 0,
        ..ServerConfig::default()
    };
    let total = 200;
    let srv = start(cfg, FakeSpeech::new(total, Duration::from_millis(10))).await;
    for stream_format in ["audio", "sse"] {
        let cancelled_before = srv.stats().cancelled.load(Ordering::SeqCst);
        let res = srv
            .speech(json!({"input": "A long text.", "stream_format": stream_format}))
            .await;
        assert_eq!(res.status(), 200);
        let mut body = res.bytes_stream();
        let first = body.next().await.expect("a first piece").expect("readable");
        assert!(!first.is_empty());
        drop(body);

        eventually("the fake sees the stream dropped", || {
            srv.stats().cancelled.load(Ordering::SeqCst) > cancelled_before
        })
        .await;
        assert_eq!(
            srv.stats().completed.load(Ordering::SeqCst),
            0,
            "nobody may keep draining an abandoned stream"
        );
        assert!(srv.stats().produced.load(Ordering::SeqCst) < total);
    }

    // With one slot and no queue, a new request is admitted only if the abandoned ones let go.
    let mut admitted = None;
    let deadline = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let res = srv
                .speech(json!({"input": "Next one.", "stream_format": "sse"}))
                .await;
            if res.status() != 429 {
                admitted = Some(res.status());
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        deadline.is_ok(),
        "the slot of the cancelled streams was never released"
    );
    assert_eq!(admitted.map(|s| s.as_u16()), Some(200));
}
