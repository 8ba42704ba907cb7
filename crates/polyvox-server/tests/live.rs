//! The live text socket (`GET /v1/audio/speech/stream`) over a real WebSocket: text in small
//! deltas becomes audio in order, flush/idle gap/close speak what is buffered, every limit ends
//! the session with its documented error and close code, a client that stops reading is cut off
//! without harming the others, usage is metered exactly, the cluster shape (workers through the
//! relay) serves it too, and a session's lexicons reach every chunk's request. The fake echoes
//! each chunk's text as its "audio", so a test sees which text was spoken in which order. (With
//! the real model: `crates/polyvox/tests/live.rs`.)

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::embedded::Embedded;
use common::{FakeSpeech, Mode};
use futures::{SinkExt, StreamExt};
use polyvox_core::Lang;
use polyvox_infra::tenancy::{KeyLimits, KeyStore, UsageStore, utc_day};
use polyvox_server::{LiveConfig, ServerConfig, TenancyConfig};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const TEXT: &str = "Hello there, my friend. This is a live test of the socket, fed a few \
    characters at a time. It speaks sentence by sentence, in order. And the last words";

fn echo(pad: usize) -> FakeSpeech {
    FakeSpeech::new(0, Duration::from_millis(2)).with_mode(Mode::Echo { pad })
}

fn cfg(live: LiveConfig) -> ServerConfig {
    ServerConfig {
        max_concurrent: 64,
        max_queued: 256,
        live,
        ..ServerConfig::default()
    }
}

async fn connect(base: &str, token: Option<&str>) -> Ws {
    let url = format!(
        "{}/v1/audio/speech/stream",
        base.replace("http://", "ws://")
    );
    let mut req = url.into_client_request().expect("request");
    if let Some(t) = token {
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("header"),
        );
    }
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

/// Sends `text` as deltas of 3 to 8 characters (a fixed pattern), `gap` apart.
async fn send_deltas(ws: &mut Ws, text: &str, gap: Duration) {
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    let mut step = 3;
    while at < chars.len() {
        let end = (at + step).min(chars.len());
        let delta: String = chars[at..end].iter().collect();
        send(ws, json!({"type": "text", "text": delta})).await;
        at = end;
        step = if step == 8 { 3 } else { step + 1 };
        tokio::time::sleep(gap).await;
    }
}

/// What a session sent until it closed.
#[derive(Debug, Default)]
struct Received {
    audio: Vec<u8>,
    events: Vec<Value>,
    close: Option<u16>,
}

impl Received {
    fn event(&self, kind: &str) -> Option<&Value> {
        self.events.iter().find(|e| e["type"] == kind)
    }

    /// The texts the echo fake spoke, in order (silence and padding left out).
    fn spoken(&self) -> Vec<String> {
        let s = String::from_utf8_lossy(&self.audio);
        s.split('[')
            .skip(1)
            .map(|p| p.split(']').next().unwrap_or_default().to_string())
            .collect()
    }

    fn error(&self) -> (String, u16) {
        let e = self
            .event("error")
            .unwrap_or_else(|| panic!("no error: {self:?}"));
        (
            e["code"].as_str().expect("code").to_string(),
            self.close.expect("closed"),
        )
    }
}

/// Reads until the server closes (bounded: a hung session fails the test).
async fn collect(ws: &mut Ws) -> Received {
    let mut r = Received::default();
    let read = async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Binary(b)) => r.audio.extend_from_slice(&b),
                Ok(Message::Text(t)) => r.events.push(serde_json::from_str(&t).expect("json")),
                Ok(Message::Close(f)) => {
                    r.close = f.map(|f| u16::from(f.code));
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the session ended");
    r
}

async fn session(ws: &mut Ws, extra: Value) {
    let mut msg = json!({"type": "session", "voice": "af_heart", "format": "pcm"});
    if let (Some(m), Some(e)) = (msg.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    send(ws, msg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_become_audio_in_order_and_done_counts_every_character() {
    let server = common::start(cfg(LiveConfig::default()), echo(0)).await;
    let mut ws = connect(&server.base, None).await;
    session(&mut ws, json!({})).await;
    send_deltas(&mut ws, TEXT, Duration::from_millis(2)).await;
    send(&mut ws, json!({"type": "close"})).await;
    let r = collect(&mut ws).await;

    assert_eq!(r.events[0]["type"], "ready", "{:?}", r.events);
    assert_eq!(r.events[0]["format"], "pcm");
    assert_eq!(r.events[0]["sample_rate"], 24000);
    let spoken = r.spoken();
    // The first chunk at the first clause; then whole sentences once a chunk has its length
    // (40, then 80 characters), the rest at the close.
    assert_eq!(
        spoken,
        [
            "Hello there,",
            "my friend. This is a live test of the socket, fed a few characters at a time.",
            "It speaks sentence by sentence, in order. And the last words",
        ],
        "{r:?}"
    );
    let done = r.event("done").expect("done");
    assert_eq!(done["characters"], TEXT.chars().count());
    assert_eq!(done["chunks"], 3);
    assert_eq!(r.close, Some(1000));
    // The pauses between chunks are in the stream: a clause's, then a sentence's.
    let silence = r.audio.iter().filter(|b| **b == 0).count();
    assert_eq!(silence, 2 * (24_000 * (150 + 300) / 1000), "{silence}");
    let seconds = done["audio_seconds"].as_f64().expect("seconds");
    assert!(
        (seconds - r.audio.len() as f64 / 48_000.0).abs() < 0.002,
        "{seconds}"
    );
    // Every chunk was asked for as PCM, whatever the session's format.
    let last = server.stats().last_request.lock().expect("lock").clone();
    assert_eq!(
        last.expect("a request").0.format,
        polyvox_core::AudioFormat::Pcm
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_speaks_the_buffer_and_the_idle_gap_does_too() {
    let server = common::start(cfg(LiveConfig::default()), echo(0)).await;
    let mut ws = connect(&server.base, None).await;
    // A long idle gap: only the flush can speak these words.
    session(&mut ws, json!({"idle_ms": 10000, "first_chunk_words": 50})).await;
    send(&mut ws, json!({"type": "text", "text": "Just three words"})).await;
    send(&mut ws, json!({"type": "flush"})).await;
    let mut audio = Vec::new();
    while !String::from_utf8_lossy(&audio).contains("[Just three words]") {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => audio.extend_from_slice(&b),
            Ok(Some(Ok(_))) => {}
            other => panic!("no flushed audio: {other:?}"),
        }
    }
    send(&mut ws, json!({"type": "text", "text": " and more"})).await;
    send(&mut ws, json!({"type": "close"})).await;
    let r = collect(&mut ws).await;
    assert_eq!(r.spoken(), ["and more"]);
    assert_eq!(r.event("done").expect("done")["characters"], 25);
    assert_eq!(r.close, Some(1000));

    // With a short idle gap, a pause in the text speaks it without a flush.
    let mut ws = connect(&server.base, None).await;
    session(&mut ws, json!({"idle_ms": 100, "first_chunk_words": 50})).await;
    send(&mut ws, json!({"type": "text", "text": "Waiting for more"})).await;
    let mut audio = Vec::new();
    while !String::from_utf8_lossy(&audio).contains("[Waiting for more]") {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => audio.extend_from_slice(&b),
            Ok(Some(Ok(_))) => {}
            other => panic!("the idle gap spoke nothing: {other:?}"),
        }
    }
    send(&mut ws, json!({"type": "close"})).await;
    let r = collect(&mut ws).await;
    assert!(r.spoken().is_empty(), "{r:?}");
    assert_eq!(r.close, Some(1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_audio_and_an_mp3_session_are_one_stream() {
    let server = common::start(cfg(LiveConfig::default()), echo(4_800)).await;
    let mut ws = connect(&server.base, None).await;
    session(&mut ws, json!({"audio": "base64"})).await;
    send_deltas(&mut ws, "One. Two, three.", Duration::from_millis(1)).await;
    send(&mut ws, json!({"type": "close"})).await;
    let r = collect(&mut ws).await;
    assert!(r.audio.is_empty(), "no binary frames with base64");
    use base64::Engine as _;
    let audio: Vec<u8> = r
        .events
        .iter()
        .filter(|e| e["type"] == "audio")
        .flat_map(|e| {
            base64::engine::general_purpose::STANDARD
                .decode(e["audio"].as_str().expect("audio"))
                .expect("base64")
        })
        .collect();
    let r2 = Received {
        audio,
        ..Received::default()
    };
    assert_eq!(r2.spoken(), ["One.", "Two, three."]);

    // MP3: one encoder for the session, so one stream that decodes whole.
    let mut ws = connect(&server.base, None).await;
    session(&mut ws, json!({"format": "mp3"})).await;
    send_deltas(&mut ws, "One. Two, three.", Duration::from_millis(1)).await;
    send(&mut ws, json!({"type": "close"})).await;
    let r = collect(&mut ws).await;
    assert_eq!(r.events[0]["content_type"], "audio/mpeg");
    assert_eq!(r.close, Some(1000));
    let seconds = r.event("done").expect("done")["audio_seconds"]
        .as_f64()
        .expect("seconds");
    let decoded = polyvox_audio::probe::decode(polyvox_core::AudioFormat::Mp3, &r.audio)
        .expect("decodes")
        .duration_secs();
    assert!(
        (decoded - seconds).abs() < 0.1,
        "{decoded} s decoded, {seconds} s said"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_first_messages_malformed_json_and_binary_get_their_codes() {
    let server = common::start(cfg(LiveConfig::default()), echo(0)).await;
    let cases: [(Message, &str, u16); 7] = [
        (
            Message::text(json!({"type": "session", "speed": 9}).to_string()),
            "speed_out_of_range",
            4400,
        ),
        (
            Message::text(json!({"type": "session", "format": "wav"}).to_string()),
            "unsupported_format",
            4400,
        ),
        (
            Message::text(json!({"type": "session", "voice": "nobody"}).to_string()),
            "voice_not_found",
            4400,
        ),
        (
            Message::text(json!({"type": "text", "text": "Hi"}).to_string()),
            "invalid_request",
            4400,
        ),
        (
            Message::text(json!({"type": "session", "idle_ms": 1}).to_string()),
            "invalid_request",
            4400,
        ),
        (
            Message::text("{\"type\": \"session\""),
            "invalid_json",
            4400,
        ),
        (Message::binary(vec![1u8, 2, 3]), "invalid_request", 1003),
    ];
    for (first, code, close) in cases {
        let mut ws = connect(&server.base, None).await;
        ws.send(first.clone()).await.expect("send");
        let r = collect(&mut ws).await;
        let (got, got_close) = r.error();
        assert_eq!(got, code, "{first:?}: {r:?}");
        assert_eq!(got_close, close, "{first:?}");
    }
    // Mid-session too: malformed JSON and binary frames end it with their codes.
    for (bad, code, close) in [
        (Message::text("not json"), "invalid_json", 4400),
        (Message::binary(vec![0u8; 4]), "invalid_request", 1003),
    ] {
        let mut ws = connect(&server.base, None).await;
        session(&mut ws, json!({})).await;
        send(&mut ws, json!({"type": "text", "text": "Hello"})).await;
        ws.send(bad).await.expect("send");
        let r = collect(&mut ws).await;
        assert_eq!(r.error(), (code.to_string(), close));
    }
    // The server is unharmed.
    let res = server
        .client
        .get(server.url("/health/live"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_idle_and_buffer_limits_close_with_their_codes() {
    let live = LiveConfig {
        handshake_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(400),
        max_buffered_chars: 100,
        ..LiveConfig::default()
    };
    let server = common::start(cfg(live), echo(0)).await;

    // No session message in time.
    let mut ws = connect(&server.base, None).await;
    let r = collect(&mut ws).await;
    assert_eq!(r.error(), ("request_timeout".to_string(), 4408));

    // A session that goes quiet.
    let mut ws = connect(&server.base, None).await;
    session(&mut ws, json!({})).await;
    let r = collect(&mut ws).await;
    assert_eq!(r.error(), ("request_timeout".to_string(), 4408));

    // Text that never reaches a break fills the buffer.
    let mut ws = connect(&server.base, None).await;
    session(&mut ws, json!({})).await;
    for _ in 0..11 {
        send(&mut ws, json!({"type": "text", "text": "xxxxxxxxxx"})).await;
    }
    let r = collect(&mut ws).await;
    let (code, close) = r.error();
    assert_eq!((code.as_str(), close), ("input_too_long", 4413));
    let message = r.event("error").expect("error")["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert!(message.contains("100"), "{message}");
    // A control character is refused with its position.
    let mut ws = connect(&server.base, None).await;
    session(&mut ws, json!({})).await;
    send(&mut ws, json!({"type": "text", "text": "ab\u{7}"})).await;
    let r = collect(&mut ws).await;
    assert_eq!(r.error(), ("invalid_character".to_string(), 4400));
}

/// A client that stops reading: the server stops reading its text and rendering its chunks,
/// another session is served meanwhile, and once the send timeout passes the stalled session is
/// ended (the client's writes then fail) without `done` and without the rest rendered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_and_others_are_served() {
    let live = LiveConfig {
        send_queue: 2,
        ..LiveConfig::default()
    };
    let server = common::start(
        ServerConfig {
            send_timeout: Duration::from_secs(1),
            ..cfg(live)
        },
        // Each chunk's audio is 1 MiB: a few chunks fill the socket buffers.
        echo(1 << 20),
    )
    .await;
    let sentences = 60;
    let mut stalled = connect(&server.base, None).await;
    // One chunk per sentence.
    session(&mut stalled, json!({"chunk_chars": [1]})).await;
    for i in 0..sentences {
        let text = format!("Sentence number {i} is here. ");
        send(&mut stalled, json!({"type": "text", "text": text})).await;
    }

    // Meanwhile another session is served in full.
    let mut ws = connect(&server.base, None).await;
    session(&mut ws, json!({})).await;
    send_deltas(
        &mut ws,
        "Still here. Still served.",
        Duration::from_millis(1),
    )
    .await;
    send(&mut ws, json!({"type": "close"})).await;
    let r = collect(&mut ws).await;
    assert_eq!(r.spoken(), ["Still here.", "Still served."]);
    assert_eq!(r.close, Some(1000));

    // The stalled socket is ended by the server: a write eventually fails (bounded at 20 s,
    // 20 times the send timeout; without it the session would stay open for good).
    let mut cut = false;
    for _ in 0..200 {
        let m = Message::text(json!({"type": "text", "text": " "}).to_string());
        if stalled.send(m).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cut, "the stalled session was never ended");
    let started = server.stats().started.load(Ordering::SeqCst);
    assert!(
        started < sentences + 2,
        "rendered {started} chunks: the stalled session's were not all rendered"
    );
    let r = collect(&mut stalled).await;
    assert!(r.event("done").is_none(), "{:?}", r.events);
    let res = server
        .client
        .get(server.url("/health/live"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
}

async fn keyed() -> Embedded {
    Embedded::builder(echo(0))
        .server(cfg(LiveConfig::default()))
        .tenancy(TenancyConfig {
            key_cache_ttl: Duration::ZERO,
            ..TenancyConfig::default()
        })
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_on_the_upgrade_or_in_the_first_message() {
    let e = keyed().await;
    let key = e
        .keys
        .create_key("live", KeyLimits::default())
        .await
        .expect("key");

    // A wrong header is refused before the upgrade, as any data route.
    let url = format!(
        "{}/v1/audio/speech/stream",
        e.base.replace("http://", "ws://")
    );
    let mut req = url.clone().into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        "Bearer pvx_nope_nope".parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
    // Without a header: a wrong token in the auth message, or no auth message at all.
    for first in [
        json!({"type": "auth", "token": "pvx_nope_nope"}),
        json!({"type": "session", "format": "pcm"}),
    ] {
        let mut ws = connect(&e.base, None).await;
        send(&mut ws, first.clone()).await;
        let r = collect(&mut ws).await;
        assert_eq!(r.error(), ("unauthorized".to_string(), 4401), "{first}");
    }
    // The right token in the auth message opens the session.
    let mut ws = connect(&e.base, None).await;
    send(&mut ws, json!({"type": "auth", "token": key.token})).await;
    session(&mut ws, json!({})).await;
    send(&mut ws, json!({"type": "text", "text": "Let me in."})).await;
    send(&mut ws, json!({"type": "close"})).await;
    let r = collect(&mut ws).await;
    assert_eq!(r.spoken(), ["Let me in."]);
    assert_eq!(r.close, Some(1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_sockets_of_different_keys_are_metered_exactly() {
    let e = Arc::new(keyed().await);
    let mut keys = Vec::new();
    for i in 0..100 {
        let k = e
            .keys
            .create_key(&format!("k{i}"), KeyLimits::default())
            .await
            .expect("key");
        keys.push(k);
    }
    let mut tasks = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let (base, token) = (e.base.clone(), k.token.clone());
        // Different texts, so a mix-up between sessions would show in the counts.
        let text = format!("{TEXT} {}", "and again. ".repeat(i % 7));
        tasks.push(tokio::spawn(async move {
            let mut ws = connect(&base, Some(&token)).await;
            session(&mut ws, json!({})).await;
            send_deltas(&mut ws, &text, Duration::from_millis(1)).await;
            send(&mut ws, json!({"type": "close"})).await;
            let r = collect(&mut ws).await;
            let spoken = r.spoken().join(" ");
            assert_eq!(spoken, text.trim(), "each socket hears its own text");
            (r, text.chars().count())
        }));
    }
    let mut expected = Vec::new();
    for t in tasks {
        let (r, chars) = t.await.expect("session");
        assert_eq!(r.event("done").expect("done")["characters"], chars);
        expected.push((
            chars,
            r.event("done").expect("done")["audio_seconds"]
                .as_f64()
                .expect("s"),
        ));
    }
    e.meter.flush().await.expect("flush");
    let today = utc_day(std::time::SystemTime::now());
    for (k, (chars, seconds)) in keys.iter().zip(expected) {
        let days = e.keys.days(&k.key.id, &today, &today).await.expect("usage");
        assert_eq!(days.len(), 1);
        assert_eq!(
            (days[0].requests, days[0].characters),
            (1, chars as u64),
            "{}",
            k.key.id
        );
        assert!(
            (days[0].audio_seconds - seconds).abs() < 0.01,
            "{} vs {seconds}",
            days[0].audio_seconds
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_stops_a_session_as_its_text_arrives() {
    let e = keyed().await;
    let key = e
        .keys
        .create_key(
            "small",
            KeyLimits {
                monthly_chars: Some(30),
                ..KeyLimits::default()
            },
        )
        .await
        .expect("key");
    let mut ws = connect(&e.base, Some(&key.token)).await;
    session(&mut ws, json!({})).await;
    send_deltas(
        &mut ws,
        "First bit, fine. Then a great deal more text than the quota allows.",
        Duration::from_millis(1),
    )
    .await;
    let r = collect(&mut ws).await;
    // "First bit," fits the quota; the rest, cut at the idle gap, does not.
    assert_eq!(r.spoken(), ["First bit,"], "{r:?}");
    assert_eq!(r.error(), ("quota_exceeded".to_string(), 4429));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_shape_speaks_through_the_workers() {
    let stack = Embedded::builder(echo(0))
        .jobs(|j| j.cache_sync_results = false)
        .server(cfg(LiveConfig::default()))
        .remote(vec![Lang::EnUs])
        .start()
        .await;
    let mut ws = connect(&stack.base, None).await;
    session(&mut ws, json!({"lang": "en-us"})).await;
    send_deltas(&mut ws, TEXT, Duration::from_millis(1)).await;
    send(&mut ws, json!({"type": "close"})).await;
    let r = collect(&mut ws).await;
    assert_eq!(r.spoken().join(" "), TEXT, "{r:?}");
    assert_eq!(r.close, Some(1000));
    // Each chunk was rendered by the worker, through the queue and the relay.
    assert_eq!(stack.fake.stats.started.load(Ordering::SeqCst), 3);
}

/// A session names the key's lexicons as `/v1/audio/speech` does: every chunk's request carries
/// their entries (the pipeline applies them to the phonemes, `polyvox-text`'s lexicon tests), and
/// a bad list is refused with the speech route's codes before `ready`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_applies_the_keys_lexicons_and_refuses_bad_names() {
    let e = Embedded::builder(echo(0))
        .server(cfg(LiveConfig::default()))
        .start()
        .await;
    let lexicon =
        json!({"lang": "en-us", "entries": [{"grapheme": "Polyvox", "alias": "polly vox"}]});
    let res = e
        .client
        .put(e.url("/v1/lexicons/brand"))
        .json(&lexicon)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201);

    let mut ws = connect(&e.base, None).await;
    session(&mut ws, json!({"lexicons": ["brand"]})).await;
    send(&mut ws, json!({"type": "text", "text": "Polyvox is live."})).await;
    send(&mut ws, json!({"type": "close"})).await;
    let r = collect(&mut ws).await;
    assert_eq!(r.spoken(), ["Polyvox is live."], "{r:?}");
    assert_eq!(r.close, Some(1000));
    let last = e.fake.stats.last_request.lock().expect("lock").clone();
    let lexicons = last.expect("a request").0.lexicons;
    assert_eq!(lexicons.len(), 1);
    assert_eq!(
        (lexicons[0].name.as_str(), lexicons[0].version),
        ("brand", 1)
    );
    assert_eq!(
        lexicons[0].entries[0].reading,
        polyvox_core::lexicon::Reading::Alias("polly vox".into())
    );

    for (names, code, close) in [
        (json!(["missing"]), "lexicon_not_found", 4404),
        (json!(["Not a name"]), "invalid_lexicon", 4400),
        (json!(["a", "b", "c", "d", "e"]), "too_many_lexicons", 4400),
    ] {
        let mut ws = connect(&e.base, None).await;
        session(&mut ws, json!({"lexicons": names})).await;
        let r = collect(&mut ws).await;
        assert!(r.event("ready").is_none(), "{names}: {:?}", r.events);
        assert_eq!(r.error(), (code.to_string(), close), "{names}");
    }
}
