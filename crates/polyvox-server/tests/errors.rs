//! Every way a request can be wrong gets an exact status, a stable code, a message naming the
//! field, and the standard body — never a 5xx.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{FakeSpeech, Mode, error_of, start};
use polyvox_core::{Error, ErrorCode};
use polyvox_server::ServerConfig;
use serde_json::json;

/// (what, content type, body, expected status, expected code, text the message must contain)
type Case = (
    &'static str,
    Option<&'static str>,
    String,
    u16,
    &'static str,
    &'static str,
);

fn small_limits() -> ServerConfig {
    ServerConfig {
        max_input_chars: 50,
        max_body_bytes: 2048,
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn bad_requests_get_exact_status_code_and_field() {
    let srv = start(small_limits(), FakeSpeech::new(2, Duration::ZERO)).await;
    let ok = || json!({"model": "tts-1", "input": "Hello there.", "voice": "alloy"});
    let with = |key: &str, value: serde_json::Value| {
        let mut v = ok();
        v[key] = value;
        v.to_string()
    };
    let with_all = |pairs: &[(&str, serde_json::Value)]| {
        let mut v = ok();
        for (k, val) in pairs {
            v[*k] = val.clone();
        }
        v.to_string()
    };
    const JSON: &str = "application/json";
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("empty input", Some(JSON), with("input", json!("   \n ")), 400, "empty_input", "input"),
        ("input over the limit", Some(JSON), with("input", json!("a".repeat(51))), 413, "input_too_long", "limit is 50"),
        ("unknown voice", Some(JSON), with("voice", json!("nobody")), 400, "voice_not_found", "voice"),
        ("bad blend syntax", Some(JSON), with("voice", json!("af_bella(2+af_sky")), 400, "invalid_voice_blend", "voice"),
        ("bad blend weight", Some(JSON), with("voice", json!("af_bella(0)+af_sky")), 400, "invalid_voice_blend", "weight"),
        ("bad format", Some(JSON), with("response_format", json!("aac")), 400, "unsupported_format", "response_format"),
        ("speed too high", Some(JSON), with("speed", json!(9.0)), 400, "speed_out_of_range", "speed"),
        ("speed too low", Some(JSON), with("speed", json!(0.1)), 400, "speed_out_of_range", "speed"),
        ("speed not a number", Some(JSON), with("speed", json!("fast")), 400, "invalid_request", "speed"),
        ("unknown language", Some(JSON), with("lang", json!("klingon")), 400, "unknown_language", "lang"),
        ("unknown model", Some(JSON), with("model", json!("whisper-1")), 400, "invalid_request", "model"),
        ("bad stream_format", Some(JSON), with("stream_format", json!("ws")), 400, "invalid_request", "stream_format"),
        ("bad timestamps", Some(JSON), with("timestamps", json!("phoneme")), 400, "invalid_request", "timestamps 'phoneme'"),
        ("malformed SSML", Some(JSON), with("input", json!("<speak>Hi <b>x</b></speak>")), 400, "invalid_ssml", "line 1, column 11"),
        ("SSML asked, unclosed", Some(JSON), with_all(&[("input", json!("<p>Hi")), ("input_format", json!("ssml"))]), 400, "invalid_ssml", "column"),
        ("SSML with an unknown xml:lang", Some(JSON), with("input", json!("<speak><lang xml:lang=\"tlh\">Hi</lang></speak>")), 400, "invalid_ssml", "xml:lang"),
        ("bad input_format", Some(JSON), with("input_format", json!("html")), 400, "invalid_request", "input_format"),
        ("timestamps not a string", Some(JSON), with("timestamps", json!(true)), 400, "invalid_request", "timestamps"),
        // The fake cannot time words: refused before synthesis.
        ("timestamps unavailable", Some(JSON), with("timestamps", json!("word")), 422, "timestamps_unavailable", "timestamps"),
        ("missing input", Some(JSON), json!({"model": "tts-1", "voice": "alloy"}).to_string(), 400, "invalid_request", "input"),
        ("input not a string", Some(JSON), with("input", json!(42)), 400, "invalid_request", "input"),
        ("body not an object", Some(JSON), "[1, 2]".into(), 400, "invalid_request", "expected"),
        ("malformed JSON", Some(JSON), r#"{"input": "hi", "voice": }"#.into(), 400, "invalid_json", "JSON"),
        ("truncated JSON", Some(JSON), r#"{"input": "hi""#.into(), 400, "invalid_json", "JSON"),
        ("wrong content type", Some("text/plain"), ok().to_string(), 415, "unsupported_media_type", "application/json"),
        ("form content type", Some("application/x-www-form-urlencoded"), "input=hi".into(), 415, "unsupported_media_type", "application/json"),
        ("no content type", None, ok().to_string(), 415, "unsupported_media_type", "Content-Type"),
        ("oversized body", Some(JSON), with("padding", json!("p".repeat(4000))), 413, "payload_too_large", "2048 bytes"),
    ];
    for (what, content_type, body, status, code, needle) in cases {
        let mut req = srv.client.post(srv.url("/v1/audio/speech")).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.expect("sent");
        let (got_status, got_code, message) = error_of(res).await;
        assert_eq!(
            (got_status, got_code.as_str()),
            (status, code),
            "{what}: {message}"
        );
        assert!(
            message.contains(needle),
            "{what}: message '{message}' does not mention '{needle}'"
        );
    }
    assert_eq!(
        srv.stats().started.load(Ordering::SeqCst),
        0,
        "invalid requests must never reach synthesis"
    );
}

#[tokio::test]
async fn service_refusals_map_to_their_status() {
    // Japanese-only fake: English requests are refused by the service itself, before any audio.
    let mut fake = FakeSpeech::new(2, Duration::ZERO);
    fake.languages = vec![polyvox_core::Lang::Ja];
    let srv = start(ServerConfig::default(), fake).await;
    let (status, code, message) = error_of(
        srv.speech(json!({"input": "Hello", "voice": "af_bella"}))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (400, "unsupported_language"),
        "{message}"
    );

    let busy = FakeSpeech::new(2, Duration::ZERO).with_mode(Mode::FailAtStart(Error::new(
        ErrorCode::QueueFull,
        "engine queue full",
    )));
    let cfg = ServerConfig {
        retry_after: Duration::from_secs(7),
        ..ServerConfig::default()
    };
    let srv = start(cfg, busy).await;
    let res = srv.speech(json!({"input": "Hello"})).await;
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    let (status, code, _) = error_of(res).await;
    assert_eq!((status, code.as_str()), (429, "queue_full"));
}

#[tokio::test]
async fn server_faults_are_5xx_with_generic_messages() {
    let secret = "ONNX session at /root/.cache/polyvox/secret.onnx exploded";
    let fake = FakeSpeech::new(2, Duration::ZERO).with_mode(Mode::FailAtStart(Error::new(
        ErrorCode::SynthesisFailed,
        secret,
    )));
    let srv = start(ServerConfig::default(), fake).await;
    let (status, code, message) = error_of(srv.speech(json!({"input": "Hello"})).await).await;
    assert_eq!((status, code.as_str()), (500, "synthesis_failed"));
    assert!(
        !message.contains("secret") && !message.contains("/root"),
        "detail leaked: {message}"
    );

    // An error as the very first stream item still gets a real status, not a 200 with no audio.
    let fake = FakeSpeech::new(3, Duration::ZERO).with_mode(Mode::FailAfter(
        0,
        Error::new(ErrorCode::SynthesisFailed, secret),
    ));
    let srv = start(ServerConfig::default(), fake).await;
    let (status, code, message) = error_of(srv.speech(json!({"input": "Hello"})).await).await;
    assert_eq!((status, code.as_str()), (500, "synthesis_failed"));
    assert!(!message.contains("secret"), "detail leaked: {message}");

    let srv = start(
        ServerConfig::default(),
        FakeSpeech::new(1, Duration::ZERO).with_mode(Mode::Panic),
    )
    .await;
    let (status, code, message) = error_of(srv.speech(json!({"input": "Hello"})).await).await;
    assert_eq!((status, code.as_str()), (500, "internal"));
    assert!(
        !message.contains("panicked"),
        "panic text leaked: {message}"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_error_shape() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(1, Duration::ZERO)).await;
    let res = srv
        .client
        .get(srv.url("/v2/nothing/here"))
        .send()
        .await
        .expect("sent");
    let (status, code, message) = error_of(res).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert!(message.contains("/v2/nothing/here"), "{message}");

    let res = srv
        .client
        .get(srv.url("/v1/audio/speech"))
        .send()
        .await
        .expect("sent");
    let allow = res
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (status, code, message) = error_of(res).await;
    assert_eq!((status, code.as_str()), (405, "invalid_request"));
    assert!(message.contains("GET"), "{message}");
    assert!(allow.contains("POST"), "Allow header: '{allow}'");

    let res = srv
        .client
        .delete(srv.url("/v1/voices"))
        .send()
        .await
        .expect("sent");
    assert_eq!(error_of(res).await.0, 405);
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(1, Duration::ZERO)).await;
    let res = srv
        .client
        .get(srv.url("/health/live"))
        .header("x-request-id", "client-id-42")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.headers()["x-request-id"], "client-id-42");

    let res = srv
        .client
        .get(srv.url("/nope"))
        .header("x-request-id", "client-id-43")
        .send()
        .await
        .expect("sent");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["error"]["request_id"], "client-id-43");

    let mut ids = Vec::new();
    for _ in 0..2 {
        let res = srv
            .client
            .get(srv.url("/health/live"))
            .header("x-request-id", "has spaces; and junk")
            .send()
            .await
            .expect("sent");
        let id = res.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(
            !id.is_empty() && !id.contains(' '),
            "insane id must be replaced: {id}"
        );
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "generated ids are unique");
}

#[tokio::test]
async fn a_request_that_cannot_start_in_time_gets_504_and_frees_its_slot() {
    let cfg = ServerConfig {
        request_timeout: Duration::from_millis(300),
        max_concurrent: 1,
        max_queued: 0,
        ..ServerConfig::default()
    };
    let srv = start(cfg, FakeSpeech::new(1, Duration::ZERO).gated()).await;
    for attempt in 0..2 {
        // Were the first slot leaked, the second attempt would be refused with 429, not time out.
        let (status, code, _) = error_of(srv.speech(json!({"input": "Hello"})).await).await;
        assert_eq!(
            (status, code.as_str()),
            (504, "timeout"),
            "attempt {attempt}"
        );
    }
    assert_eq!(srv.stats().started.load(Ordering::SeqCst), 2);
}
