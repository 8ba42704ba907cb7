//! Job webhooks, sent from the outbox the database fills when a job ends (see
//! `polyvox_infra::db::WebhookDelivery`): every terminal state, however it was reached, is
//! delivered at least once, with exponential backoff that survives restarts because the schedule
//! lives in the row, for a bounded time (`max_age`), then marked failed.
//!
//! Signing follows the Standard Webhooks specification: headers `webhook-id` (the same on every
//! retry of one event, for deduplication), `webhook-timestamp` (Unix seconds of this attempt) and
//! `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`. A secret written
//! `whsec_<base64>` is used as the spec's key (the base64-decoded bytes); any other secret is used
//! as its UTF-8 bytes. Receivers verify with [`verify`] or any Standard Webhooks library, and
//! reject timestamps outside a tolerance (5 minutes is the spec's suggestion) to refuse replays.
//!
//! Targets: the URL comes from an API caller, so by default a delivery never goes to a loopback,
//! private, link-local or otherwise internal address (server-side request forgery against the
//! worker's own network, cloud metadata at 169.254.169.254 included). The URL is judged by the
//! same function as at submission ([`polyvox_core::net::webhook_target`]), a name is resolved once
//! and every address judged, and the request is pinned to the checked addresses (no second lookup
//! a rebinding DNS server could answer differently), never through a proxy (`HTTP_PROXY` would
//! bypass the pinning), and without following redirects.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use polyvox_core::metrics as m;
use polyvox_core::net::{is_internal_ip, webhook_target};
use polyvox_infra::db::{Job, JobStatus, SendOutcome, WebhookDelivery};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::Backends;

/// Webhook settings.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Signing secret shared with receivers (`whsec_<base64>` or any string).
    pub secret: String,
    /// How long an event is retried before its delivery is marked failed.
    pub max_age: Duration,
    /// Delay before the second try; doubles after each, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Deliver to internal addresses too (loopback, private ranges); off by default.
    pub allow_private: bool,
    /// Period of the outbox scan; a job ending in this process wakes the sender at once.
    pub poll: Duration,
    /// Time allowed for one POST, connection included.
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            secret: String::new(),
            max_age: Duration::from_secs(24 * 3600),
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3600),
            allow_private: false,
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("secret", &"<redacted>")
            .field("max_age", &self.max_age)
            .field("backoff", &self.backoff)
            .field("max_backoff", &self.max_backoff)
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    /// Delay after failed try number `attempt` (1-based): backoff × 2^(attempt-1), capped.
    pub fn retry_in(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(20);
        self.backoff
            .saturating_mul(1u32 << shift)
            .min(self.max_backoff)
    }
}

/// Header names of the Standard Webhooks specification.
pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The event body for a finished job. Built from the terminal row, which no longer changes, so
/// every retry carries the same body.
pub fn payload(job: &Job, event: &str) -> Vec<u8> {
    let finished = job
        .finished_at
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64);
    let error = job
        .last_error
        .as_ref()
        .filter(|_| job.status == JobStatus::Failed)
        .map(|e| serde_json::json!({"code": e.code, "message": e.message}));
    let body = serde_json::json!({
        "type": event,
        "timestamp_ms": finished,
        "data": {
            "id": job.id,
            "status": job.status.as_str(),
            "status_url": format!("/v1/jobs/{}", job.id),
            "audio_url": job.audio.as_ref().map(|_| format!("/v1/jobs/{}/audio", job.id)),
            "audio_seconds": job.audio.as_ref().map(|a| a.seconds),
            "error": error,
        },
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

fn key_bytes(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b| B64.decode(b).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

fn mac(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key_bytes(secret)).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The `webhook-signature` value for one attempt.
pub fn sign(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so `mac` is always Some.
    mac(secret, id, timestamp, body)
        .map(|m| format!("v1,{}", B64.encode(m.finalize().into_bytes())))
        .unwrap_or_default()
}

/// Checks a delivery as a receiver should: one of the space-separated `v1,` signatures matches
/// (constant-time), and the timestamp is within `tolerance` of `now`.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> bool {
    let Ok(ts) = timestamp.trim().parse::<u64>() else {
        return false;
    };
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if now.abs_diff(ts) > tolerance.as_secs() {
        return false;
    }
    signatures.split_whitespace().any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let (Ok(expected), Some(m)) = (B64.decode(b64), mac(secret, id, ts, body)) else {
            return false;
        };
        m.verify_slice(&expected).is_ok()
    })
}

/// Sends due outbox rows until `shutdown`: every `cfg.poll`, or at once when `wake` is notified
/// (a job ended in this process).
pub async fn run_outbox(
    b: Backends,
    cfg: WebhookConfig,
    sender: String,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        let sent = pass(&b, &cfg, &sender).await;
        if sent > 0 {
            // There may be more due rows than one batch.
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(cfg.poll) => {}
            () = wake.notified() => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Rows claimed per pass; each is sent concurrently with the others.
const BATCH: u32 = 32;

/// One pass: claims due deliveries, sends them concurrently, records each outcome. Returns how
/// many it claimed.
pub async fn pass(b: &Backends, cfg: &WebhookConfig, sender: &str) -> usize {
    // The claim outlives one send's timeout, so a slow receiver is not sent to twice.
    let lease = cfg.timeout * 3;
    let due = match b.store.claim_webhooks(sender, lease, BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "webhook outbox scan failed");
            return 0;
        }
    };
    let n = due.len();
    futures::future::join_all(due.into_iter().map(|d| send_and_record(b, cfg, sender, d))).await;
    n
}

async fn send_and_record(b: &Backends, cfg: &WebhookConfig, sender: &str, d: WebhookDelivery) {
    let outcome = match b.store.get(&d.job_id).await {
        Ok(Some(job)) => send(cfg, &d, &payload(&job, &d.event)).await,
        Ok(None) => Err((None, format!("job {} no longer exists", d.job_id))),
        Err(e) => {
            // The database blinked: not the receiver's fault; try again soon.
            tracing::warn!(job = %d.job_id, error = %e, "webhook job read failed");
            Err((None, "job read failed".to_string()))
        }
    };
    let result = match &outcome {
        Ok(_) => m::outcome::OK,
        Err(_) => m::outcome::FAILED,
    };
    metrics::counter!(m::WEBHOOK_ATTEMPTS_TOTAL, m::label::OUTCOME => result).increment(1);
    let record = match outcome {
        Ok(status) => SendOutcome::Delivered { status },
        Err((status, error)) => {
            tracing::warn!(
                job = %d.job_id,
                webhook_id = %d.id,
                attempt = d.attempts,
                status,
                error = %error,
                "webhook delivery refused; will retry"
            );
            SendOutcome::Refused {
                status,
                error,
                retry_in: cfg.retry_in(d.attempts),
                max_age: cfg.max_age,
            }
        }
    };
    match b.store.record_webhook(&d.id, sender, record).await {
        Ok(true) => {}
        Ok(false) => tracing::debug!(webhook_id = %d.id, "webhook claim lapsed before recording"),
        Err(e) => tracing::warn!(webhook_id = %d.id, error = %e, "webhook outcome not recorded"),
    }
}

/// One signed POST. `Ok(status)` on 2xx; otherwise the status (if any) and why.
async fn send(
    cfg: &WebhookConfig,
    d: &WebhookDelivery,
    body: &[u8],
) -> Result<u16, (Option<u16>, String)> {
    let client = pinned_client(&d.url, cfg).await.map_err(|e| (None, e))?;
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let res = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header(ID_HEADER, &d.id)
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, sign(&cfg.secret, &d.id, ts, body))
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| (None, format!("request failed: {}", without_url(&e))))?;
    let status = res.status().as_u16();
    if res.status().is_success() {
        Ok(status)
    } else {
        Err((Some(status), format!("the receiver answered {status}")))
    }
}

/// reqwest's error text names the URL, which may carry the receiver's token: keep it out of
/// rows and logs.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    kind.to_string()
}

/// A client that reaches `url`'s host only at the addresses resolved and checked here.
async fn pinned_client(url: &str, cfg: &WebhookConfig) -> Result<reqwest::Client, String> {
    let target = webhook_target(url, cfg.allow_private)?;
    let addrs: Vec<SocketAddr> = match target.ip {
        Some(ip) => vec![SocketAddr::new(ip, target.port)],
        None => tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| format!("resolving {} timed out", target.host))?
        .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
        .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{} resolves to no address", target.host));
    }
    if !cfg.allow_private
        && let Some(bad) = addrs.iter().find(|a| is_internal_ip(a.ip()))
    {
        return Err(format!(
            "{} resolves to the internal address {}; set --webhook-allow-private to deliver there",
            target.host,
            bad.ip()
        ));
    }
    let mut builder = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none());
    if target.ip.is_none() {
        builder = builder.resolve_to_addrs(&target.host, &addrs);
    }
    builder.build().map_err(|e| format!("HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks_and_detect_tampering() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let tol = Duration::from_secs(300);
        let sig = sign("s3cret", "msg_1", 1_700_000_000, br#"{"id":"a"}"#);
        assert!(sig.starts_with("v1,"));
        let ok =
            |id, ts, sigs: &str, body: &[u8], secret| verify(secret, id, ts, sigs, body, now, tol);
        assert!(ok("msg_1", "1700000000", &sig, br#"{"id":"a"}"#, "s3cret"));
        assert!(!ok("msg_1", "1700000000", &sig, br#"{"id":"b"}"#, "s3cret"));
        assert!(!ok("msg_2", "1700000000", &sig, br#"{"id":"a"}"#, "s3cret"));
        assert!(!ok("msg_1", "1700000001", &sig, br#"{"id":"a"}"#, "s3cret"));
        assert!(!ok("msg_1", "1700000000", &sig, br#"{"id":"a"}"#, "other"));
        assert!(!ok("msg_1", "1700000000", "garbage", b"", "s3cret"));
        // Several signatures (a key rotation): one match is enough.
        let both = format!("v1,AAAA {sig}");
        assert!(ok("msg_1", "1700000000", &both, br#"{"id":"a"}"#, "s3cret"));
        // Outside the tolerance: a replay.
        let late = UNIX_EPOCH + Duration::from_secs(1_700_000_301);
        assert!(!verify(
            "s3cret",
            "msg_1",
            "1700000000",
            &sig,
            br#"{"id":"a"}"#,
            late,
            tol
        ));
    }

    #[test]
    fn a_whsec_secret_is_the_spec_key_and_matches_its_test_vector() {
        // The Standard Webhooks specification's example secret, id, timestamp and payload.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn retries_double_and_cap() {
        let cfg = WebhookConfig {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            ..WebhookConfig::default()
        };
        let got: Vec<u64> = (1..=5).map(|a| cfg.retry_in(a).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 5, 5]);
        assert_eq!(cfg.retry_in(u32::MAX).as_secs(), 5);
    }

    #[tokio::test]
    async fn internal_targets_are_refused_before_any_request() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cfg = WebhookConfig::default();
        for url in [
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://2130706433:{port}/hook"),
            format!("http://localhost:{port}/hook"),
            format!("http://[::1]:{port}/hook"),
        ] {
            let err = pinned_client(&url, &cfg).await.unwrap_err();
            assert!(
                err.contains("internal") && err.contains("--webhook-allow-private"),
                "{url}: {err}"
            );
        }
        // A public address passes the check (building the client connects to nothing).
        assert!(
            pinned_client("http://93.184.216.34/hook", &cfg)
                .await
                .is_ok()
        );
        // Nothing connected: the listener has no pending connection.
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "the refused delivery still connected");
    }
}
