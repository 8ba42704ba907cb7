//! Issue 4 point 4, over real HTTP on a port-0 server: input limits per endpoint, the rule for
//! control, zero-width and bidirectional characters, markup read as text, no path traversal,
//! security headers, and CORS (off by default, `*`, or a list, with preflight).

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::embedded::Embedded;
use common::{FakeSpeech, TestServer, error_of, start};
use polyvox_server::ServerConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fake() -> FakeSpeech {
    FakeSpeech::new(2, Duration::ZERO)
}

/// The text the fake synthesizer was last asked to speak.
fn spoken(srv: &TestServer) -> String {
    let last = srv.stats().last_request.lock().expect("lock");
    last.as_ref().expect("a synthesis happened").0.text.clone()
}

/// What a timeout may overrun by on a loaded test machine before it counts as not enforced.
const SLACK: Duration = Duration::from_secs(2);

/// How a slow connection ended: how long after `sent` the server closed it, and what it said.
struct Closed {
    after: Duration,
    answer: String,
    /// EOF (possibly after an answer), not a reset.
    clean: bool,
}

/// Watches a slow connection's read side from the moment its slow part was `sent` until the
/// server closes it (bounded at 20 s for the test; a server that never closes fails there).
fn watch_close(
    mut read: tokio::net::tcp::OwnedReadHalf,
    sent: Instant,
) -> tokio::task::JoinHandle<Closed> {
    tokio::spawn(async move {
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), read.read_to_end(&mut out))
            .await
            .expect("the slow connection was still open after 20 s");
        Closed {
            after: sent.elapsed(),
            answer: String::from_utf8_lossy(&out).into_owned(),
            clean: read.is_ok(),
        }
    })
}

/// Sends `head` verbatim (no URL normalization by a client library) and returns status and body.
async fn raw(base: &str, head: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answer within 10 s")
        .expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

/// POSTs `body` as JSON exactly as given, so a test can send what serde_json would never write.
async fn post_raw(
    client: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent")
}

/// GETs `path` as a page served from `origin` would.
async fn get_from_origin(srv: &TestServer, path: &str, origin: &str) -> reqwest::Response {
    srv.client
        .get(srv.url(path))
        .header("origin", origin)
        .send()
        .await
        .expect("sent")
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn control_zero_width_and_bidi_characters_follow_the_rule() {
    let srv = start(ServerConfig::default(), fake()).await;
    // Rejected classes: C0 controls, DEL/C1, bidi overrides.
    for (text, needle) in [
        ("hello\u{0}world", "U+0000"),
        ("hello\u{1b}[31mred", "U+001B"),
        ("hello\u{7f}", "U+007F"),
        ("hello\u{9b}", "U+009B"),
        ("pay \u{202e}0001$", "U+202E"),
        ("a\u{202d}b", "U+202D"),
    ] {
        let (status, code, message) = error_of(srv.speech(json!({"input": text})).await).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_character"),
            "{text:?}: {message}"
        );
        assert!(
            message.contains("input") && message.contains(needle),
            "{text:?}: {message}"
        );
    }
    // Removed classes reach synthesis without the invisible characters; separators become breaks.
    let res = srv
        .speech(json!({"input": "\u{feff}he\u{200b}l\u{200d}lo \u{2066}world\u{2069}\u{200e}\u{ad}\u{2028}again\u{c}end"}))
        .await;
    assert_eq!(res.status(), 200);
    let _ = res.bytes().await;
    assert_eq!(spoken(&srv), "hello world\nagain\nend");
    // Only invisible characters: nothing to speak.
    let (status, code, _) = error_of(
        srv.speech(json!({"input": "\u{200b}\u{feff}\u{2060}"}))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "empty_input"));
    // JSON escapes of lone surrogates cannot become a Rust string: a clean 400, not a panic.
    for body in [
        r#"{"input": "a\ud800b"}"#,
        r#"{"input": "\udc00"}"#,
        r#"{"input": "\ud800\u0041"}"#,
    ] {
        let res = post_raw(&srv.client, &srv.url("/v1/audio/speech"), body).await;
        let (status, code, message) = error_of(res).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_json"),
            "{body}: {message}"
        );
        assert!(
            message.contains("escape") && message.contains("column"),
            "{message}"
        );
    }
    // A proper surrogate pair is an ordinary character.
    let res = post_raw(
        &srv.client,
        &srv.url("/v1/audio/speech"),
        r#"{"input": "smile \ud83d\ude00 please"}"#,
    )
    .await;
    assert_eq!(res.status(), 200);
    let _ = res.bytes().await;
    assert_eq!(spoken(&srv), "smile 😀 please");
}

#[tokio::test]
async fn markup_is_spoken_as_text_unless_it_is_ssml() {
    let srv = start(ServerConfig::default(), fake()).await;
    // Plain text stays literal: SSML only when asked, or when the input starts with <speak.
    for (text, format) in [
        (
            "<speak>Hello <break time=\"1s\"/> there</speak>",
            Some("text"),
        ),
        ("<script>alert(1)</script> &amp; &lt;b&gt; &#x41;", None),
        ("Say <speak> aloud", None),
    ] {
        let mut body = json!({"input": text});
        if let Some(f) = format {
            body["input_format"] = json!(f);
        }
        let res = srv.speech(body).await;
        assert_eq!(res.status(), 200, "{text}");
        let _ = res.bytes().await;
        assert_eq!(
            spoken(&srv),
            text,
            "markup must reach the front end unchanged"
        );
    }
    // Sniffed or asked for, SSML is parsed at the boundary: markup never reaches the reader as
    // text, and a bad document never reaches synthesis.
    for (text, format) in [
        ("  <speak>Hello <break time=\"1s\"/> there</speak>", None),
        ("Hello <break time=\"1s\"/> there", Some("ssml")),
    ] {
        let mut body = json!({"input": text});
        if let Some(f) = format {
            body["input_format"] = json!(f);
        }
        let res = srv.speech(body).await;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        match format {
            None => {
                assert_eq!(status, 200, "{text}: {body}");
                let last = srv.stats().last_request.lock().expect("lock").clone();
                assert!(
                    last.expect("a synthesis").0.ssml.is_some(),
                    "parsed as SSML"
                );
            }
            Some(_) => {
                assert_eq!(status, 400, "{text}");
                assert_eq!(body["error"]["code"], "invalid_ssml", "{body}");
            }
        }
    }
}

#[tokio::test]
async fn every_speech_field_has_a_limit_named_in_its_error() {
    let cfg = ServerConfig {
        max_input_chars: 50,
        max_body_bytes: 16 * 1024,
        ..ServerConfig::default()
    };
    let srv = start(cfg, fake()).await;
    let base = || json!({"input": "Hello.", "voice": "alloy"});
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    #[rustfmt::skip]
    let cases = [
        (with("input", json!("a".repeat(51))), 413, "input_too_long", "input has 51 characters; the limit is 50"),
        (with("voice", json!("af_bella+".repeat(30))), 400, "invalid_request", "voice has 270 characters; the limit is 256"),
        (with("voice", json!("af_bella\ninjected")), 400, "invalid_character", "voice contains"),
        (with("lang", json!("x".repeat(33))), 400, "invalid_request", "lang has 33 characters; the limit is 32"),
        (with("response_format", json!("m".repeat(17))), 400, "invalid_request", "response_format has 17 characters; the limit is 16"),
        (with("model", json!("m".repeat(129))), 400, "invalid_request", "model has 129 characters; the limit is 128"),
        (with("stream_format", json!("s".repeat(17))), 400, "invalid_request", "stream_format has 17 characters; the limit is 16"),
        (with("instructions", json!("i".repeat(4097))), 400, "invalid_request", "instructions has 4097 characters; the limit is 4096"),
        (with("voice", json!("../../../etc/passwd")), 400, "voice_not_found", "voice"),
        (with("voice", json!("/etc/passwd")), 400, "voice_not_found", "voice"),
        (with("padding", json!("p".repeat(20_000))), 413, "payload_too_large", "limit of 16384 bytes"),
    ];
    for (body, status, code, needle) in cases {
        let (got, got_code, message) = error_of(srv.speech(body.clone()).await).await;
        assert_eq!(
            (got, got_code.as_str()),
            (status, code),
            "{body}: {message}"
        );
        assert!(message.contains(needle), "'{message}' lacks '{needle}'");
    }
    // A body without Content-Length (chunked) is cut off at the same limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(br#"{"input": "hi", "padding": ""#.to_vec()),
        Ok(vec![b'p'; 20_000]),
        Ok(br#""}"#.to_vec()),
    ];
    let res = post_raw(
        &srv.client,
        &srv.url("/v1/audio/speech"),
        reqwest::Body::wrap_stream(futures::stream::iter(chunks)),
    )
    .await;
    let (status, code, message) = error_of(res).await;
    assert_eq!(
        (status, code.as_str()),
        (413, "payload_too_large"),
        "{message}"
    );
    // Known fields are scalars: a nested value is a type error at its first bracket.
    let res = srv.speech(with("voice", json!([[["af_bella"]]]))).await;
    let (status, code, message) = error_of(res).await;
    assert_eq!(
        (status, code.as_str()),
        (400, "invalid_request"),
        "{message}"
    );
    assert!(message.contains("field 'voice'"), "{message}");
    assert_eq!(
        srv.stats().started.load(Ordering::SeqCst),
        0,
        "nothing reached synthesis"
    );
    // Unknown fields are ignored, as OpenAI's SDKs may send new ones; serde_json skips them
    // without recursion, so even 7 000 levels of nesting (within the body limit) cost no stack.
    let res = srv.speech(with("future_field", json!({"a": [1, 2]}))).await;
    assert_eq!(res.status(), 200);
    let _ = res.bytes().await;
    let deep = format!(
        r#"{{"input": "hi", "x": {}{}}}"#,
        "[".repeat(7000),
        "]".repeat(7000)
    );
    let res = post_raw(&srv.client, &srv.url("/v1/audio/speech"), deep).await;
    assert_eq!(res.status(), 200);
    let _ = res.bytes().await;
    // Unbalanced nesting is broken JSON.
    let broken = format!(r#"{{"input": "hi", "x": {}}}"#, "[".repeat(7000));
    let res = post_raw(&srv.client, &srv.url("/v1/audio/speech"), broken).await;
    let (status, code, _) = error_of(res).await;
    assert_eq!((status, code.as_str()), (400, "invalid_json"));
}

#[tokio::test]
async fn headers_are_bounded() {
    let srv = start(ServerConfig::default(), fake()).await;
    // A hostile request id is replaced, never echoed.
    let res = srv
        .client
        .get(srv.url("/v1/voices"))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["x-request-id"].len(),
        36,
        "a fresh UUID replaces it"
    );
    // More than 100 header fields: hyper refuses the request head itself.
    let mut head =
        String::from("GET /v1/voices HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for i in 0..120 {
        head.push_str(&format!("X-Pad-{i}: {i}\r\n"));
    }
    head.push_str("\r\n");
    let (status, _) = raw(&srv.base, &head).await;
    assert_eq!(status, 431);
    // A request target above 2048 bytes.
    let (status, body) = raw(
        &srv.base,
        &get(&format!("/v1/voices?q={}", "a".repeat(3000))),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("limit is 2048") && body.contains("invalid_request"),
        "{body}"
    );
}

#[tokio::test]
async fn no_path_reaches_outside_a_route() {
    let srv = start(ServerConfig::default(), fake()).await;
    for path in [
        "/static/../Cargo.toml",
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2f..%2fetc%2fpasswd",
        "/static/%2E%2E%5C%2E%2E%5Cwin.ini",
        "/v1/jobs/..%2F..%2Fetc%2Fpasswd/audio",
        "/v1/jobs/%00",
        "/static/app.js%00.png",
        "/./static/app.js",
    ] {
        let (status, body) = raw(&srv.base, &get(path)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body.contains("\"invalid_request\"") && body.contains("'..'"),
            "{path}: {body}"
        );
        assert!(!body.contains("root:"), "{path}");
    }
    // Absolute-looking paths match no route.
    for path in ["//etc/passwd", "/etc/passwd", "/static//etc/passwd"] {
        let (status, body) = raw(&srv.base, &get(path)).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.contains("\"not_found\""), "{path}: {body}");
    }
    // An absolute-form target with a dot segment is refused like its path.
    let (status, _) = raw(
        &srv.base,
        "GET http://localhost/static/../Cargo.toml HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400);
}

/// The job API on the embedded twins, without a worker (submissions stay queued).
async fn jobs_env(job_max_chars: usize) -> Embedded {
    Embedded::builder(fake())
        .without_worker()
        .jobs(|j| j.max_input_chars = job_max_chars)
        .server(ServerConfig {
            max_body_bytes: 64 * 1024,
            ..ServerConfig::default()
        })
        .start()
        .await
}

/// A webhook to loopback written as a bare decimal number (or octal, hex, IPv4-mapped IPv6) is
/// refused at submission like `127.0.0.1` itself, on a server that does send webhooks; a public
/// address on the same server is accepted, so the refusal is the address's.
#[tokio::test]
async fn loopback_webhooks_in_any_notation_are_refused_at_submission() {
    let e = Embedded::builder(fake())
        .without_worker()
        .jobs(|j| j.webhooks_enabled = true)
        .start()
        .await;
    let url = e.url("/v1/jobs");
    for hook in [
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f000001/",
        "http://[::ffff:127.0.0.1]/",
    ] {
        let res = e
            .client
            .post(&url)
            .json(&json!({"input": "hi", "webhook_url": hook}))
            .send()
            .await
            .expect("sent");
        let (status, code, message) = error_of(res).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_request"),
            "{hook}: {message}"
        );
        assert!(
            message.contains("webhook_url")
                && message.contains("internal host")
                && message.contains("--webhook-allow-private"),
            "{hook}: {message}"
        );
    }
    let res = e
        .client
        .post(&url)
        .json(&json!({"input": "hi", "webhook_url": "https://hooks.example.com/x"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 202);
}

#[tokio::test]
async fn job_endpoints_have_their_own_limits() {
    let e = jobs_env(20_000).await;
    let url = e.url("/v1/jobs");
    // 20 000 CJK characters escaped as \uXXXX (Python's default) are 120 kB, above the 64 KiB
    // body limit of /v1/audio/speech, yet a job at its character limit must fit.
    let cjk: String = std::iter::repeat_n('語', 20_000).collect();
    let escaped = format!(
        r#"{{"input": "{}", "voice": "af_bella", "lang": "ja"}}"#,
        "\\u8a9e".repeat(20_000)
    );
    assert!(escaped.len() > 120_000);
    let res = post_raw(&e.client, &url, escaped).await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let over = format!("{cjk}語");
    let (status, code, message) = error_of(
        e.client
            .post(&url)
            .json(&json!({"input": over}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (413, "input_too_long"),
        "{message}"
    );
    assert!(message.contains("limit is 20000"), "{message}");
    let huge = json!({"input": "hi", "pad": "p".repeat(200_000)});
    let (status, code, message) =
        error_of(e.client.post(&url).json(&huge).send().await.expect("sent")).await;
    assert_eq!(
        (status, code.as_str()),
        (413, "payload_too_large"),
        "{message}"
    );
    assert!(message.contains("136384 bytes"), "{message}");

    // Idempotency-Key: 1 to 255 visible ASCII characters.
    for (key, needle) in [
        ("k".repeat(256), "256 bytes"),
        ("has space".to_string(), "visible ASCII"),
    ] {
        let res = e
            .client
            .post(&url)
            .header("idempotency-key", key.as_str())
            .json(&json!({"input": "hi"}))
            .send()
            .await
            .expect("sent");
        let (status, code, message) = error_of(res).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_request"),
            "{message}"
        );
        assert!(
            message.contains("Idempotency-Key") && message.contains(needle),
            "{message}"
        );
    }
    let res = e
        .client
        .post(&url)
        .header("idempotency-key", "k".repeat(255))
        .json(&json!({"input": "hi"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 202);
    // webhook_url and the legacy alias's fields.
    for (path, body, needle) in [
        (
            "/v1/jobs",
            json!({"input": "hi", "webhook_url": "http://x/a b"}),
            "webhook_url",
        ),
        (
            "/v1/jobs",
            json!({"input": "hi", "model": "m".repeat(200)}),
            "model has 200",
        ),
        (
            "/tts/generate",
            json!({"text": "hi", "voice_id": "9".repeat(40)}),
            "voice_id has 40",
        ),
        (
            "/tts/generate",
            json!({"text": "hi", "language": "l".repeat(40)}),
            "language has 40",
        ),
        ("/tts/generate", json!({"text": "a\u{0}b"}), "text contains"),
    ] {
        let res = e
            .client
            .post(e.url(path))
            .json(&body)
            .send()
            .await
            .expect("sent");
        let (status, _, message) = error_of(res).await;
        assert_eq!(status, 400, "{path} {body}: {message}");
        assert!(message.contains(needle), "{message}");
    }
    // Ids that are not UUIDs name no job and are not echoed back.
    for id in [
        "nope",
        "..",
        "0190c0de-0000-7000-8000-00000000abcg",
        "%3Cscript%3E",
    ] {
        for suffix in ["", "/audio"] {
            let res = e
                .client
                .get(e.url(&format!("/v1/jobs/{id}{suffix}")))
                .send()
                .await
                .expect("sent");
            let (status, code, message) = error_of(res).await;
            assert_eq!(
                (status, code.as_str()),
                (404, "not_found"),
                "{id}: {message}"
            );
            assert!(!message.contains("script"), "{message}");
        }
    }
}

#[tokio::test]
async fn security_headers_on_page_api_and_errors() {
    let srv = start(ServerConfig::default(), fake()).await;
    for path in [
        "/",
        "/docs",
        "/static/app.js",
        "/v1/voices",
        "/openapi.json",
        "/nope",
    ] {
        let res = srv.client.get(srv.url(path)).send().await.expect("sent");
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().expect("ascii");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{path}: {csp}"
        );
    }
    // The page keeps its own policy, which allows its same-origin scripts and audio blobs.
    let page = srv.client.get(srv.url("/")).send().await.expect("sent");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("media-src 'self' blob:"),
        "{csp}"
    );
}

const ORIGIN: &str = "https://app.example.com";

async fn preflight(srv: &TestServer, origin: &str) -> reqwest::Response {
    srv.client
        .request(reqwest::Method::OPTIONS, srv.url("/v1/audio/speech"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let srv = start(ServerConfig::default(), fake()).await;
    let res = preflight(&srv, ORIGIN).await;
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_eq!(res.status(), 405, "no CORS layer: OPTIONS is not a route");
    let res = get_from_origin(&srv, "/v1/voices", ORIGIN).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_list_allows_exactly_the_listed_origins() {
    let cfg = ServerConfig {
        cors_origins: vec![ORIGIN.into(), "http://localhost:3000".into()],
        ..ServerConfig::default()
    };
    let srv = start(cfg, fake()).await;
    let res = preflight(&srv, ORIGIN).await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], ORIGIN);
    let methods = h["access-control-allow-methods"].to_str().expect("ascii");
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let allowed = h["access-control-allow-headers"].to_str().expect("ascii");
    assert!(
        allowed.contains("authorization") && allowed.contains("idempotency-key"),
        "{allowed}"
    );
    assert_eq!(h["access-control-max-age"], "600");
    assert!(h.get("access-control-allow-credentials").is_none());

    let res = preflight(&srv, "https://evil.example").await;
    assert!(res.headers().get("access-control-allow-origin").is_none());

    let res = srv
        .client
        .post(srv.url("/v1/audio/speech"))
        .header("origin", "http://localhost:3000")
        .json(&json!({"input": "hi"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("retry-after"),
        "{exposed}"
    );
    let _ = res.bytes().await;
}

#[tokio::test]
async fn cors_star_allows_any_origin() {
    let cfg = ServerConfig {
        cors_origins: vec!["*".into()],
        ..ServerConfig::default()
    };
    let srv = start(cfg, fake()).await;
    let res = preflight(&srv, "https://anyone.example").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let res = get_from_origin(&srv, "/v1/voices", "https://anyone.example").await;
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}

/// A client that sends a whole oversized body before reading (as Python's urllib does) reads
/// the 413 and its JSON error, every time, instead of a connection reset: the server drains the
/// refused body up to a bound before answering. Both with a declared length and chunked. The
/// body is 4 MB: a 1 MB one fits in loopback's socket buffers, so it passed even without the
/// drain; at 4 MB the undrained server made every send fail with a broken pipe.
#[tokio::test]
async fn oversized_bodies_are_answered_not_reset() {
    let srv = start(ServerConfig::default(), fake()).await;
    let addr = srv.base.trim_start_matches("http://").to_string();
    let body = format!(r#"{{"input": "{}"}}"#, "a".repeat(4 * 1024 * 1024));
    for i in 0..20 {
        let chunked = i % 5 == 4;
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let head = if chunked {
            format!(
                "POST /v1/audio/speech HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            )
        } else {
            format!(
                "POST /v1/audio/speech HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
        };
        s.write_all(head.as_bytes()).await.expect("head");
        if chunked {
            for piece in body.as_bytes().chunks(64 * 1024) {
                s.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .await
                    .expect("chunk size");
                s.write_all(piece).await.expect("chunk");
                s.write_all(b"\r\n").await.expect("chunk end");
            }
            s.write_all(b"0\r\n\r\n").await.expect("last chunk");
        } else {
            s.write_all(body.as_bytes())
                .await
                .unwrap_or_else(|e| panic!("run {i}: the body could not be sent: {e}"));
        }
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .expect("answer within 10 s")
            .unwrap_or_else(|e| panic!("run {i} (chunked: {chunked}): no answer read: {e}"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 413"), "run {i}: {text}");
        assert!(text.contains("\"payload_too_large\""), "run {i}: {text}");
    }
}

/// Clients that send their headers and then trickle nothing of their body (slowloris on the
/// body) are answered 408 and disconnected within the body idle timeout (plus slack) of their
/// last byte, while a good request is served meanwhile.
#[tokio::test]
async fn stalled_bodies_are_cut_off_and_do_not_block_others() {
    const BODY_IDLE: Duration = Duration::from_secs(1);
    let cfg = ServerConfig {
        body_idle_timeout: BODY_IDLE,
        ..ServerConfig::default()
    };
    let srv = start(cfg, fake()).await;
    let addr = srv.base.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let head = format!(
            "POST /v1/audio/speech HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: 100000\r\n\r\n{{"
        );
        s.write_all(head.as_bytes()).await.expect("head");
        let sent = Instant::now();
        let (read, write) = s.into_split();
        slow.push(watch_close(read, sent));
        // Kept open: the client never closes its side.
        writers.push(write);
    }
    let good = reqwest::Client::new()
        .post(format!("{}/v1/audio/speech", srv.base))
        .json(&json!({"input": "Served while others stall.", "response_format": "wav"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(good.status(), 200);
    good.bytes().await.expect("body");
    for (i, watch) in slow.into_iter().enumerate() {
        let closed = watch.await.expect("watcher");
        let text = &closed.answer;
        assert!(closed.clean, "connection {i} was reset: {text}");
        assert!(text.starts_with("HTTP/1.1 408"), "connection {i}: {text}");
        assert!(
            text.contains("\"request_timeout\""),
            "connection {i}: {text}"
        );
        assert!(
            closed.after <= BODY_IDLE + SLACK,
            "connection {i} closed {:?} after its last byte; the body idle timeout is {BODY_IDLE:?}",
            closed.after
        );
    }
    drop(writers);
}

/// Slowloris on the head: clients that trickle header bytes are disconnected within the header
/// read timeout (plus slack) of their first byte, while a good request is served; and past the
/// connection cap a new connection is closed at once instead of queueing.
#[tokio::test]
async fn trickled_heads_are_cut_off_and_connections_are_capped() {
    const HEADER_READ: Duration = Duration::from_secs(1);
    let cfg = ServerConfig {
        header_read_timeout: HEADER_READ,
        max_connections: 24,
        ..ServerConfig::default()
    };
    let srv = start(cfg, fake()).await;
    let addr = srv.base.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    let mut watches = Vec::new();
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        s.write_all(b"POST /v1/audio/speech HTTP/1.1\r\nHo")
            .await
            .expect("head");
        let sent = Instant::now();
        let (read, write) = s.into_split();
        watches.push(watch_close(read, sent));
        slow.push(write);
    }
    let good = reqwest::Client::new()
        .get(format!("{}/v1/voices", srv.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(good.status(), 200);
    // Keep trickling: a byte every 300 ms does not extend the deadline of a head.
    let trickle = async {
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for s in &mut slow {
                let _ = s.write_all(b"s").await;
            }
        }
    };
    trickle.await;
    for (i, watch) in watches.into_iter().enumerate() {
        let closed = watch.await.expect("watcher");
        // Closed: EOF or a reset; never a served request.
        assert!(
            !closed.answer.contains("200 OK"),
            "connection {i} was served: {}",
            closed.answer
        );
        assert!(
            closed.after <= HEADER_READ + SLACK,
            "connection {i} closed {:?} after its first head byte; the header-read timeout is \
             {HEADER_READ:?}",
            closed.after
        );
    }
    drop(slow);
    // The cap: hold 24 idle connections, then a 25th is closed without an answer.
    let mut held = Vec::new();
    for _ in 0..24 {
        held.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect"),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let _ = extra
        .write_all(format!("GET /v1/voices HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), extra.read_to_end(&mut out))
        .await
        .expect("the connection past the cap was closed");
    assert!(
        out.is_empty(),
        "served past the cap: {}",
        String::from_utf8_lossy(&out)
    );
    drop(held);
}

/// Slowloris on the body, done right: 20 clients each send a body byte every 300 ms, well inside
/// the 1 s idle timeout, so only the minimum average rate (500 bytes a second after the first
/// idle timeout) can end them. Each is answered 408 and closed within seconds, while a good
/// request is served; without the minimum rate they would hold their connections for the 100,000
/// bytes' 8 hours.
#[tokio::test]
async fn trickled_bodies_are_cut_off_at_the_minimum_rate() {
    const BODY_IDLE: Duration = Duration::from_secs(1);
    let cfg = ServerConfig {
        body_idle_timeout: BODY_IDLE,
        ..ServerConfig::default()
    };
    let srv = start(cfg, fake()).await;
    let addr = srv.base.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    let mut watches = Vec::new();
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let head = format!(
            "POST /v1/audio/speech HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: 100000\r\n\r\n{{"
        );
        s.write_all(head.as_bytes()).await.expect("head");
        let sent = Instant::now();
        let (read, write) = s.into_split();
        watches.push(watch_close(read, sent));
        slow.push(write);
    }
    let trickle = async {
        // At most 30 rounds (9 s): a bound for the test, far past when the server must answer.
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut open = 0;
            for s in &mut slow {
                open += usize::from(s.write_all(b" ").await.is_ok());
            }
            if open == 0 {
                break;
            }
        }
    };
    let good = async {
        let res = reqwest::Client::new()
            .post(format!("{}/v1/audio/speech", srv.base))
            .json(&json!({"input": "Served while others trickle.", "response_format": "wav"}))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        res.bytes().await.expect("body");
    };
    tokio::join!(trickle, good);
    for (i, watch) in watches.into_iter().enumerate() {
        let closed = watch.await.expect("watcher");
        let text = &closed.answer;
        assert!(text.starts_with("HTTP/1.1 408"), "connection {i}: {text}");
        assert!(
            text.contains("slower than the minimum of 500 bytes a second"),
            "connection {i}: {text}"
        );
        // The rate is judged once the idle timeout has passed since the body began.
        assert!(
            closed.after <= BODY_IDLE + SLACK,
            "connection {i} closed {:?} after its body began; the body idle timeout is \
             {BODY_IDLE:?}",
            closed.after
        );
    }
}
