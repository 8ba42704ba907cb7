//! Issue 22, over raw TCP on a port-0 server: a client that stops reading a streamed response
//! loses it (and its synthesis slot) after the send timeout, and keep-alive connections follow
//! the header-read timer: closed when idle that long, never while a request is in flight.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::embedded::Embedded;
use common::{FakeSpeech, error_of, start};
use polyvox_server::ServerConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().expect("address")
}

fn speech_request(addr: SocketAddr, text: &str) -> String {
    let body = json!({"input": text, "response_format": "pcm"}).to_string();
    format!(
        "POST /v1/audio/speech HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
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
async fn stalled_reader(addr: SocketAddr, text: &str) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let mut s = sock.connect(addr).await.expect("connect");
    s.write_all(speech_request(addr, text).as_bytes())
        .await
        .expect("request");
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    s
}

/// Two clients hold both synthesis slots of an embedded stack (jobs and result cache wired as
/// `polyvox serve` wires them) and stop reading their 16 MB streams. While they stall, a new
/// request is refused for lack of a slot (the fault is real); once the send timeout has passed,
/// their connections are ended, their syntheses stopped, and a new request is served.
#[tokio::test]
async fn stalled_stream_readers_give_back_their_slots() {
    let mut fake = FakeSpeech::new(64, Duration::ZERO);
    fake.chunks = vec![Bytes::from(vec![b'a'; 256 * 1024]); 64];
    let full = fake.expected_body().len();
    let cfg = ServerConfig {
        max_concurrent: 2,
        max_queued: 0,
        send_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    let e = Embedded::builder(fake).server(cfg).start().await;
    let addr = addr(&e.base);
    let stalled = [
        stalled_reader(addr, "First stalled reader.").await,
        stalled_reader(addr, "Second stalled reader.").await,
    ];

    let (status, code, _) = error_of(e.speech(json!({"input": "No slot for me."})).await).await;
    assert_eq!(
        (status, code.as_str()),
        (429, "queue_full"),
        "both slots are held by the stalled readers"
    );

    // Bounded at 20 times the send timeout: without it the slots are never given back.
    let mut served = None;
    for attempt in 0..100 {
        let res = e
            .speech(json!({"input": format!("Served after the stall, try {attempt}."), "response_format": "pcm"}))
            .await;
        if res.status() == 200 {
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

/// The keep-alive idle timeout is the header-read timeout (hyper runs one timer for both):
/// a connection serves several requests, a request in flight for longer than the timeout is
/// not cut off, and once the connection sits idle for the timeout it is closed.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed_and_busy_ones_are_not() {
    let cfg = ServerConfig {
        header_read_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    // Five chunks 600 ms apart: a stream of about three header-read timeouts.
    let srv = start(cfg, FakeSpeech::new(5, Duration::from_millis(600))).await;
    let addr = addr(&srv.base);
    let mut s = TcpStream::connect(addr).await.expect("connect");
    for _ in 0..2 {
        s.write_all(format!("GET /v1/voices HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .expect("request");
        let (status, _) = read_response(&mut s).await;
        assert_eq!(status, 200);
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
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut rest))
        .await
        .expect("the idle connection was closed")
        .expect("a clean close");
    assert_eq!(n, 0, "{}", String::from_utf8_lossy(&rest));
}
