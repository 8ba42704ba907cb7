//! Issue 22, over raw TCP on a port-0 server: a client that stops reading a streamed response
//! loses it (its synthesis slot and its key's slot) within the send timeout, and keep-alive
//! connections have their own idle timeout: closed when idle that long, never while a request is
//! in flight, and independent of the header-read timeout.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::embedded::Embedded;
use common::{FakeSpeech, error_of, start};
use polyvox_infra::tenancy::{KeyLimits, KeyStore};
use polyvox_server::{ServerConfig, TenancyConfig};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().expect("address")
}

/// What a timeout may overrun by on a loaded test machine before it counts as not enforced.
const SLACK: Duration = Duration::from_secs(2);

fn speech_request(addr: SocketAddr, text: &str) -> String {
    speech_request_as(addr, text, None)
}

fn speech_request_as(addr: SocketAddr, text: &str, token: Option<&str>) -> String {
    let body = json!({"input": text, "response_format": "pcm"}).to_string();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /v1/audio/speech HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         {auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads up to the end of a response head; returns it (and whatever body bytes came along).
async fn read_head(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
            .await
            .expect("a response head within 20 s")
            .expect("read");
        assert!(
            n > 0,
            "closed before a head: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A client that sends a speech request, reads the response head and then nothing more: its
/// receive buffer is kept small so the server's writes block soon.
async fn stalled_reader(addr: SocketAddr, text: &str, token: Option<&str>) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let mut s = sock.connect(addr).await.expect("connect");
    s.write_all(speech_request_as(addr, text, token).as_bytes())
        .await
        .expect("request");
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    s
}

/// A fake whose streams are 16 MB, produced at once: far more than loopback's socket buffers,
/// so a client that stops reading stalls the server's writes within milliseconds.
fn big_streams() -> FakeSpeech {
    let mut fake = FakeSpeech::new(64, Duration::ZERO);
    fake.chunks = vec![Bytes::from(vec![b'a'; 256 * 1024]); 64];
    fake
}

/// Two clients hold both synthesis slots of an embedded stack (jobs and result cache wired as
/// `polyvox serve` wires them) and stop reading their 16 MB streams. While they stall, a new
/// request is refused for lack of a slot (the fault is real); within the send timeout (plus
/// slack) of the moment they stopped reading, their connections are ended, their syntheses
/// stopped, and a new request is served.
#[tokio::test]
async fn stalled_stream_readers_give_back_their_slots() {
    const SEND_TIMEOUT: Duration = Duration::from_secs(1);
    let fake = big_streams();
    let full = fake.expected_body().len();
    let cfg = ServerConfig {
        max_concurrent: 2,
        max_queued: 0,
        send_timeout: SEND_TIMEOUT,
        ..ServerConfig::default()
    };
    let e = Embedded::builder(fake).server(cfg).start().await;
    let addr = addr(&e.base);
    let stalled = [
        stalled_reader(addr, "First stalled reader.", None).await,
        stalled_reader(addr, "Second stalled reader.", None).await,
    ];
    // Both have read their heads and nothing more: the later of the two moments they stopped.
    let stalled_at = Instant::now();

    let (status, code, _) = error_of(e.speech(json!({"input": "No slot for me."})).await).await;
    assert_eq!(
        (status, code.as_str()),
        (429, "queue_full"),
        "both slots are held by the stalled readers"
    );

    // Bounded at 20 times the send timeout: without it the slots are never given back.
    let mut served = None;
    let mut slot_back_after = Duration::MAX;
    for attempt in 0..100 {
        let res = e
            .speech(json!({"input": format!("Served after the stall, try {attempt}."), "response_format": "pcm"}))
            .await;
        if res.status() == 200 {
            // The slot came back when this answer began; reading 16 MB takes a while more.
            slot_back_after = stalled_at.elapsed();
            assert_eq!(res.headers()["x-polyvox-cache"], "miss", "a real synthesis");
            served = Some(res.bytes().await.expect("body"));
            break;
        }
        assert_eq!(res.status(), 429);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let served = served.expect("a new request was served once the stalled readers were cut off");
    assert_eq!(served.len(), full, "the new request got its whole stream");
    assert!(
        slot_back_after <= SEND_TIMEOUT + SLACK,
        "a slot came back {slot_back_after:?} after the readers stalled; the send timeout is \
         {SEND_TIMEOUT:?}"
    );
    assert!(
        e.fake.stats.cancelled.load(Ordering::SeqCst) >= 2,
        "the stalled syntheses were stopped, not run to the end"
    );
    for (i, mut s) in stalled.into_iter().enumerate() {
        let mut rest = Vec::new();
        // Whatever was buffered, then the end (EOF or a reset): never the whole stream.
        let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut rest))
            .await
            .unwrap_or_else(|_| panic!("stalled connection {i} still open"));
        assert!(
            rest.len() < full,
            "stalled connection {i} got the whole stream"
        );
    }
}

/// With keys on, a key whose cap is one synthesis at a time stalls its one stream. While it
/// stalls, the key's next request is refused 429 `concurrency_limited` (its slot is held: the
/// fault is real); within the send timeout (plus slack) of the stall the key is served again,
/// so the stalled response gave back the key's slot, not only the server's.
#[tokio::test]
async fn a_stalled_reader_gives_back_its_key_s_slot() {
    const SEND_TIMEOUT: Duration = Duration::from_secs(1);
    let fake = big_streams();
    let full = fake.expected_body().len();
    let cfg = ServerConfig {
        // Server slots to spare: only the key's cap can refuse.
        max_concurrent: 4,
        send_timeout: SEND_TIMEOUT,
        ..ServerConfig::default()
    };
    let e = Embedded::builder(fake)
        .server(cfg)
        .tenancy(TenancyConfig::default())
        .start()
        .await;
    let limits = KeyLimits {
        concurrent_syntheses: Some(1),
        ..KeyLimits::default()
    };
    let token = e
        .keys
        .create_key("one at a time", limits)
        .await
        .expect("key")
        .token;
    let addr = addr(&e.base);
    let mut stalled = stalled_reader(addr, "The key's stalled reader.", Some(&token)).await;
    let stalled_at = Instant::now();
    let speak = |text: String| {
        e.client
            .post(e.url("/v1/audio/speech"))
            .bearer_auth(&token)
            .json(&json!({"input": text, "response_format": "pcm"}))
            .send()
    };

    let res = speak("Refused while the key's slot is held.".into())
        .await
        .expect("sent");
    let (status, code, _) = error_of(res).await;
    assert_eq!(
        (status, code.as_str()),
        (429, "concurrency_limited"),
        "the stalled reader holds the key's only slot"
    );

    let mut served = None;
    for attempt in 0.. {
        let res = speak(format!("The key's next request, try {attempt}."))
            .await
            .expect("sent");
        if res.status() == 200 {
            let after = stalled_at.elapsed();
            served = Some((after, res.bytes().await.expect("body")));
            break;
        }
        let (status, code, _) = error_of(res).await;
        assert_eq!((status, code.as_str()), (429, "concurrency_limited"));
        if stalled_at.elapsed() > SEND_TIMEOUT + SLACK {
            break;
        }
        // 4 a second: well inside the key's default 600 requests a minute.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (after, body) = served.unwrap_or_else(|| {
        panic!(
            "the key was still refused {:?} after its reader stalled (send timeout {SEND_TIMEOUT:?})",
            stalled_at.elapsed()
        )
    });
    assert!(
        after <= SEND_TIMEOUT + SLACK,
        "served only {after:?} after the stall"
    );
    assert_eq!(
        body.len(),
        full,
        "the key's next request got its whole stream"
    );
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stalled.read_to_end(&mut rest))
        .await
        .expect("the stalled connection was ended");
    assert!(rest.len() < full, "the stalled reader got the whole stream");
}

/// Reads one response: its status and body (Content-Length or chunked).
async fn read_response(s: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let status = head[9..12].parse().expect("status");
            let body_start = end + 4;
            let done = if let Some(len) = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
            {
                let len: usize = len.trim().parse().expect("length");
                (got.len() >= body_start + len).then(|| got[body_start..body_start + len].to_vec())
            } else {
                assert!(head.contains("transfer-encoding: chunked"), "{head}");
                got.ends_with(b"0\r\n\r\n")
                    .then(|| got[body_start..].to_vec())
            };
            if let Some(body) = done {
                return (status, body);
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
            .await
            .expect("response within 20 s")
            .expect("read");
        assert!(n > 0, "closed mid-response");
        got.extend_from_slice(&buf[..n]);
    }
}

/// The keep-alive idle timeout is its own timer: a connection serves several requests, a
/// request in flight for three times the timeout (a slow stream) is not cut off, and once the
/// connection sits idle it is closed within the timeout plus slack, not before it. The
/// header-read timeout is far longer here, so it cannot be what closed it.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed_and_busy_ones_are_not() {
    const KEEP_ALIVE: Duration = Duration::from_secs(1);
    let cfg = ServerConfig {
        keep_alive_timeout: KEEP_ALIVE,
        header_read_timeout: Duration::from_secs(60),
        ..ServerConfig::default()
    };
    // Five chunks 600 ms apart: a stream of about three keep-alive timeouts.
    let srv = start(cfg, FakeSpeech::new(5, Duration::from_millis(600))).await;
    let addr = addr(&srv.base);
    let mut s = TcpStream::connect(addr).await.expect("connect");
    for _ in 0..2 {
        s.write_all(format!("GET /v1/voices HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .expect("request");
        let (status, _) = read_response(&mut s).await;
        assert_eq!(status, 200);
        // Idle for most of the timeout between requests: each request starts the wait anew.
        tokio::time::sleep(KEEP_ALIVE / 2).await;
    }
    s.write_all(speech_request(addr, "A slow stream on a kept-alive connection.").as_bytes())
        .await
        .expect("request");
    let (status, body) = read_response(&mut s).await;
    assert_eq!(status, 200);
    assert!(
        body.ends_with(b"0\r\n\r\n") && body.len() > srv.fake.expected_body().len(),
        "the whole chunked stream arrived"
    );
    assert_eq!(srv.stats().completed.load(Ordering::SeqCst), 1);
    // Now idle: closed by the server (EOF), with nothing more sent.
    let idle_from = Instant::now();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(KEEP_ALIVE + SLACK, s.read_to_end(&mut rest))
        .await
        .expect("the idle connection was closed within the keep-alive timeout")
        .expect("a clean close");
    let idle_for = idle_from.elapsed();
    assert_eq!(n, 0, "{}", String::from_utf8_lossy(&rest));
    // The idle wait began when the stream's body ended on the server, a little before its last
    // bytes were read here (more on a loaded machine): hence the margin.
    assert!(
        idle_for + Duration::from_millis(500) >= KEEP_ALIVE,
        "closed after {idle_for:?}, before the keep-alive timeout"
    );
}

/// A short header-read timeout does not shorten keep-alive: a connection idle for three
/// header-read timeouts (and one that never sent anything) stays open and serves its next
/// request; a head that has begun and does not finish is cut within the header-read timeout
/// plus slack.
#[tokio::test]
async fn the_header_read_timeout_times_heads_not_idle_connections() {
    const HEADER_READ: Duration = Duration::from_secs(1);
    let cfg = ServerConfig {
        header_read_timeout: HEADER_READ,
        keep_alive_timeout: Duration::from_secs(60),
        ..ServerConfig::default()
    };
    let srv = start(cfg, FakeSpeech::new(1, Duration::ZERO)).await;
    let addr = addr(&srv.base);
    let voices = format!("GET /v1/voices HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut used = TcpStream::connect(addr).await.expect("connect");
    used.write_all(voices.as_bytes()).await.expect("request");
    assert_eq!(read_response(&mut used).await.0, 200);
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    tokio::time::sleep(HEADER_READ * 3).await;
    for s in [&mut used, &mut silent] {
        s.write_all(voices.as_bytes()).await.expect("request");
        assert_eq!(read_response(s).await.0, 200, "an idle connection was kept");
    }

    used.write_all(b"GET /v1/voices HTTP/1.1\r\nHo")
        .await
        .expect("part of a head");
    let begun = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(HEADER_READ + SLACK, used.read_to_end(&mut rest))
        .await
        .expect("the unfinished head was cut within the header-read timeout");
    let after = begun.elapsed();
    if read.is_ok() {
        let text = String::from_utf8_lossy(&rest);
        assert!(
            !text.contains("200 OK"),
            "the unfinished head was served: {text}"
        );
    }
    assert!(
        after + Duration::from_millis(200) >= HEADER_READ,
        "cut after {after:?}, before the header-read timeout"
    );
}
