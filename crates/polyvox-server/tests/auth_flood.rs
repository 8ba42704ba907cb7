//! Issue 22: authentication cannot be used to load the database. Over real HTTP on a port-0
//! server with the embedded twins (SQLite keys), a key store that counts its lookups, and the
//! per-client limit on failed authentications; plus which address a request is counted against
//! behind a trusted proxy.

mod common;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::FakeSpeech;
use common::embedded::Embedded;
use futures::StreamExt;
use polyvox_core::client_ip::TrustedProxies;
use polyvox_infra::ratelimit::Rate;
use polyvox_infra::tenancy::{ApiKey, CreatedKey, KeyLimits, KeyStore};
use polyvox_server::{ServerConfig, TenancyConfig};

/// Lookups that reach the store, split by whether the id was a key.
#[derive(Default)]
struct Lookups {
    found: AtomicUsize,
    missing: AtomicUsize,
}

/// The key store as the API sees it, counting every lookup: the database queries authentication
/// costs.
struct Counting {
    inner: Arc<dyn KeyStore>,
    lookups: Arc<Lookups>,
}

#[async_trait::async_trait]
impl KeyStore for Counting {
    async fn create_key(&self, name: &str, limits: KeyLimits) -> polyvox_infra::Result<CreatedKey> {
        self.inner.create_key(name, limits).await
    }

    async fn key(&self, id: &str) -> polyvox_infra::Result<Option<ApiKey>> {
        let key = self.inner.key(id).await?;
        let counter = match key {
            Some(_) => &self.lookups.found,
            None => &self.lookups.missing,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(key)
    }

    async fn list_keys(&self) -> polyvox_infra::Result<Vec<ApiKey>> {
        self.inner.list_keys().await
    }

    async fn revoke_key(&self, id: &str) -> polyvox_infra::Result<ApiKey> {
        self.inner.revoke_key(id).await
    }
}

/// An embedded stack whose key lookups are counted in the returned [`Lookups`].
async fn stack(tenancy: TenancyConfig, server: ServerConfig) -> (Embedded, Arc<Lookups>) {
    let lookups = Arc::new(Lookups::default());
    let counted = Arc::clone(&lookups);
    let e = Embedded::builder(FakeSpeech::new(1, Duration::ZERO))
        .tenancy(tenancy)
        .server(server)
        .wrap_keys(move |inner| {
            Arc::new(Counting {
                inner,
                lookups: counted,
            })
        })
        .start()
        .await;
    (e, lookups)
}

/// A well-formed token with a random id and secret: what a flood of guesses sends.
fn made_up_token() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    format!("pvx_{}_{secret}", &id[..16])
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address is local on Linux).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().expect("ip"))
        .build()
        .expect("client")
}

async fn usage_status(client: &reqwest::Client, base: &str, token: &str) -> u16 {
    client
        .get(format!("{base}/v1/usage"))
        .bearer_auth(token)
        .header("x-forwarded-for", "198.51.100.77")
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

/// What a flood's requests were answered.
struct Flood {
    valid_ok: usize,
    unauthorized: usize,
    refused: usize,
}

/// 10,000 requests, `concurrency` at a time, each with a made-up token except every 500th, which
/// carries the valid key (20 of them).
async fn flood(client: &reqwest::Client, base: &str, valid: &str, concurrency: usize) -> Flood {
    let mut tally = Flood {
        valid_ok: 0,
        unauthorized: 0,
        refused: 0,
    };
    let mut answers = futures::stream::iter(0..10_000)
        .map(|i| {
            let (client, base, valid) = (client.clone(), base.to_string(), valid.to_string());
            async move {
                // Every 500th request is the real key, mixed into the flood.
                let token = if i % 500 == 0 { valid } else { made_up_token() };
                (i % 500 == 0, usage_status(&client, &base, &token).await)
            }
        })
        .buffer_unordered(concurrency);
    while let Some((is_valid, status)) = answers.next().await {
        match (is_valid, status) {
            (true, 200) => tally.valid_ok += 1,
            (false, 401) => tally.unauthorized += 1,
            (false, 429) => tally.refused += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    tally
}

/// 10,000 requests with random well-formed tokens, 32 at a time, from one address: at most the
/// address's allowance of failed authentications (plus the requests already past the check when
/// it ran out) reaches the key store; every other guess is refused 429 without a lookup. A valid
/// key from the same address keeps working all along (its id is known, so it is looked up again
/// when its cache entry expires), another address still gets plain 401s, and a forged
/// `X-Forwarded-For` (no proxy is trusted here) changes nothing.
#[tokio::test]
async fn ten_thousand_made_up_tokens_cost_a_bounded_number_of_lookups() {
    const ALLOWANCE: u64 = 20;
    const CONCURRENCY: usize = 32;
    let tenancy = TenancyConfig {
        // An hour's period: the allowance does not refill noticeably during the test.
        auth_failures: Rate {
            limit: ALLOWANCE,
            period: Duration::from_secs(3600),
        },
        key_cache_ttl: Duration::from_millis(100),
        ..TenancyConfig::default()
    };
    let (e, lookups) = stack(tenancy, ServerConfig::default()).await;
    let valid = e
        .keys
        .create_key("real", KeyLimits::default())
        .await
        .expect("key")
        .token;
    let client = client_from("127.0.0.1");
    assert_eq!(usage_status(&client, &e.base, &valid).await, 200);

    let Flood {
        valid_ok,
        unauthorized,
        refused,
    } = flood(&client, &e.base, &valid, CONCURRENCY).await;
    assert_eq!(valid_ok, 20, "the valid key was served throughout");
    let missing = lookups.missing.load(Ordering::SeqCst);
    let bound = ALLOWANCE as usize + CONCURRENCY;
    assert!(
        missing <= bound,
        "{missing} lookups of made-up ids; the bound is {bound}"
    );
    assert!(missing >= 1, "the store was asked at all");
    assert_eq!(unauthorized + refused, 9_980);
    assert!(unauthorized <= bound, "{unauthorized} plain 401s");
    // The valid key's lookups: at most one per request (its cache entry lives 100 ms).
    assert!(lookups.found.load(Ordering::SeqCst) <= 21);

    // The refusal: 429 with the standard body and a Retry-After.
    let res = client
        .get(format!("{}/v1/usage", e.base))
        .bearer_auth(made_up_token())
        .send()
        .await
        .expect("sent");
    assert!(res.headers().contains_key("retry-after"));
    let (status, code, msg) = common::error_of(res).await;
    assert_eq!((status, code.as_str()), (429, "too_many_auth_failures"));
    assert!(msg.contains("failed authentications"), "{msg}");

    // Another address has its own allowance.
    let other = client_from("127.0.0.2");
    assert_eq!(usage_status(&other, &e.base, &made_up_token()).await, 401);
}

/// The same flood with the failure limit off (`--auth-failures-per-minute 0`): every made-up
/// token costs a lookup, 9,980 of 9,980, so the bound above is the limit's doing and not, say,
/// the negative cache's (each made-up id is new, so it never hits).
#[tokio::test]
async fn without_the_failure_limit_every_made_up_token_costs_a_lookup() {
    let tenancy = TenancyConfig {
        auth_failures: Rate {
            limit: 0,
            period: Duration::from_secs(3600),
        },
        ..TenancyConfig::default()
    };
    let (e, lookups) = stack(tenancy, ServerConfig::default()).await;
    let valid = e
        .keys
        .create_key("real", KeyLimits::default())
        .await
        .expect("key")
        .token;
    let client = client_from("127.0.0.1");
    let tally = flood(&client, &e.base, &valid, 32).await;
    assert_eq!(tally.valid_ok, 20);
    assert_eq!(tally.refused, 0, "nothing limits failures");
    assert_eq!(tally.unauthorized, 9_980);
    assert_eq!(lookups.missing.load(Ordering::SeqCst), 9_980);
}

/// Behind a trusted proxy the client is the address the proxy appended to `X-Forwarded-For`:
/// each forwarded client has its own allowance, and a client-forged left part of the header is
/// not read.
#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_counted() {
    let tenancy = TenancyConfig {
        auth_failures: Rate {
            limit: 3,
            period: Duration::from_secs(3600),
        },
        ..TenancyConfig::default()
    };
    let server = ServerConfig {
        trusted_proxies: TrustedProxies::parse(&["127.0.0.1"]).expect("proxies"),
        ..ServerConfig::default()
    };
    let (e, lookups) = stack(tenancy, server).await;
    let send = |forwarded: &'static str| {
        let req = e
            .client
            .get(format!("{}/v1/usage", e.base))
            .bearer_auth(made_up_token())
            .header("x-forwarded-for", forwarded);
        async move { req.send().await.expect("sent").status().as_u16() }
    };
    for _ in 0..3 {
        assert_eq!(send("198.51.100.1").await, 401);
    }
    assert_eq!(send("198.51.100.1").await, 429);
    assert_eq!(
        send("6.6.6.6, 198.51.100.1").await,
        429,
        "forged part ignored"
    );
    assert_eq!(send("198.51.100.2").await, 401, "another client");
    assert_eq!(lookups.missing.load(Ordering::SeqCst), 4);
}

/// Without trusted proxies `X-Forwarded-For` is never read: a client cannot escape its limit by
/// naming another address.
#[tokio::test]
async fn without_trusted_proxies_forwarded_for_is_ignored() {
    let tenancy = TenancyConfig {
        auth_failures: Rate {
            limit: 3,
            period: Duration::from_secs(3600),
        },
        ..TenancyConfig::default()
    };
    let (e, lookups) = stack(tenancy, ServerConfig::default()).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let status = e
            .client
            .get(format!("{}/v1/usage", e.base))
            .bearer_auth(made_up_token())
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16();
        statuses.push(status);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
    assert_eq!(lookups.missing.load(Ordering::SeqCst), 3);
}

/// A request refused before its body is read (here: no key) has that body read and dropped, up
/// to the drain bound, so a client that sends all of it before reading gets its 401 instead of
/// a connection reset under its feet (4 MB: beyond what loopback's socket buffers absorb).
#[tokio::test]
async fn a_refused_request_s_body_is_drained_so_its_client_reads_the_401() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (e, _) = stack(TenancyConfig::default(), ServerConfig::default()).await;
    let addr = e.base.trim_start_matches("http://").to_string();
    let body = format!(r#"{{"input": "{}"}}"#, "a".repeat(4 * 1024 * 1024));
    for i in 0..5 {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let head = format!(
            "POST /v1/jobs HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.expect("head");
        s.write_all(body.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("run {i}: the body could not be sent: {e}"));
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .expect("answer within 10 s")
            .unwrap_or_else(|e| panic!("run {i}: no answer read: {e}"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 401"), "run {i}: {text}");
        assert!(text.contains("\"unauthorized\""), "run {i}: {text}");
    }
}

/// A key store whose database does not answer: every lookup times out, as `PgTenancy`'s call
/// wrapper reports it.
struct TimingOut {
    inner: Arc<dyn KeyStore>,
    lookups: Arc<Lookups>,
}

#[async_trait::async_trait]
impl KeyStore for TimingOut {
    async fn create_key(&self, name: &str, limits: KeyLimits) -> polyvox_infra::Result<CreatedKey> {
        self.inner.create_key(name, limits).await
    }

    async fn key(&self, _id: &str) -> polyvox_infra::Result<Option<ApiKey>> {
        self.lookups.missing.fetch_add(1, Ordering::SeqCst);
        Err(polyvox_infra::InfraError::Timeout {
            system: "postgres",
            op: "key_get",
            after_ms: 10_000,
        })
    }

    async fn list_keys(&self) -> polyvox_infra::Result<Vec<ApiKey>> {
        self.inner.list_keys().await
    }

    async fn revoke_key(&self, id: &str) -> polyvox_infra::Result<ApiKey> {
        self.inner.revoke_key(id).await
    }
}

/// A key lookup that times out answers 504 with the stable `timeout` code and a sentence of our
/// own: the store, the operation and its limit (`postgres key_get timed out after 10000 ms`) stay
/// in the log, under the request id the body carries. Both a real key (not cached yet) and a
/// made-up one ask the store, so both see it.
#[tokio::test]
async fn a_key_lookup_that_times_out_answers_504_without_its_internals() {
    let lookups = Arc::new(Lookups::default());
    let counted = Arc::clone(&lookups);
    let e = Embedded::builder(FakeSpeech::new(1, Duration::ZERO))
        .tenancy(TenancyConfig::default())
        .wrap_keys(move |inner| {
            Arc::new(TimingOut {
                inner,
                lookups: counted,
            })
        })
        .start()
        .await;
    let real = e
        .keys
        .create_key("real", KeyLimits::default())
        .await
        .expect("key")
        .token;
    for token in [real, made_up_token()] {
        let res = e
            .client
            .post(format!("{}/v1/audio/speech", e.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({"input": "Hello."}))
            .send()
            .await
            .expect("sent");
        let (status, code, message) = common::error_of(res).await;
        assert_eq!((status, code.as_str()), (504, "timeout"), "{message}");
        assert!(message.contains("did not answer in time"), "{message}");
        for internal in ["key_get", "postgres", "10000", "timed out after", "sqlite"] {
            assert!(
                !message.to_ascii_lowercase().contains(internal),
                "'{internal}' reached the client: {message}"
            );
        }
    }
    assert_eq!(
        lookups.missing.load(Ordering::SeqCst),
        2,
        "both requests reached the timing-out store"
    );
}
