//! Completion webhooks: a JSON POST per finished job, signed, retried a bounded number of times.
//!
//! Signature: header `X-Polyvox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<body>"` with the configured secret. Putting the timestamp under the MAC lets a receiver
//! reject replays of an old delivery. Delivery is at-least-once and best effort: it runs after
//! the job is recorded, in its own task, and a receiver that stays down past the retries misses
//! the event (the job's status is still there to poll).
//!
//! Targets: the URL comes from an API caller, so by default a delivery never goes to a loopback,
//! private, link-local or otherwise internal address (server-side request forgery against the
//! worker's own network, cloud metadata at 169.254.169.254 included). The host is resolved once,
//! checked, and the request is pinned to the checked addresses (no second lookup a rebinding DNS
//! server could answer differently); redirects are not followed. `allow_private` lifts the check
//! for deployments whose receivers live inside their own network.

use std::net::{IpAddr, SocketAddr};

use polyvox_core::net::is_internal_ip;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use polyvox_infra::db::Job;
use sha2::Sha256;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-polyvox-signature";

/// Webhook settings.
#[derive(Clone)]
pub struct WebhookConfig {
    /// HMAC key shared with receivers.
    pub secret: String,
    /// Deliveries tried in all (at least 1).
    pub max_attempts: u32,
    /// Delay before the second try; doubles after each.
    pub backoff: Duration,
    /// Deliver to internal addresses too (loopback, private ranges); off by default.
    pub allow_private: bool,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("secret", &"<redacted>")
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("allow_private", &self.allow_private)
            .finish()
    }
}

/// The event body for a finished job.
pub fn payload(job: &Job) -> Vec<u8> {
    let body = serde_json::json!({
        "type": "job.finished",
        "id": job.id,
        "status": job.status.as_str(),
        "audio_url": job.audio.as_ref().map(|_| format!("/v1/jobs/{}/audio", job.id)),
        "error": job.last_error.as_ref().filter(|_| job.status.as_str() == "failed").map(|e| serde_json::json!({"code": e.code, "message": e.message})),
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `t=<t>,v1=<hex>` for `body` sent at Unix second `t`.
pub fn sign(secret: &str, t: u64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        // HMAC accepts keys of any length; this branch cannot be taken.
        return String::new();
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header against `body` in constant time (for receivers and tests).
pub fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x.parse::<u64>().ok(),
            Some(("v1", x)) => v1 = hex::decode(x).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

/// POSTs `body` to `url` until a 2xx answer or the attempts run out. Returns whether it landed.
pub async fn deliver(
    http: reqwest::Client,
    cfg: WebhookConfig,
    url: String,
    body: Vec<u8>,
) -> bool {
    let http = if cfg.allow_private {
        http
    } else {
        match pinned_client(&url).await {
            Ok(client) => client,
            Err(why) => {
                tracing::warn!(%url, "webhook not sent: {why}");
                return false;
            }
        }
    };
    let mut delay = cfg.backoff;
    for attempt in 1..=cfg.max_attempts.max(1) {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let res = http
            .post(&url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, sign(&cfg.secret, t, &body))
            .body(body.clone())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => tracing::warn!(%url, attempt, status = r.status().as_u16(), "webhook refused"),
            Err(e) => tracing::warn!(%url, attempt, error = %e, "webhook delivery failed"),
        }
        if attempt < cfg.max_attempts {
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
    false
}

/// A client that can reach `url`'s host only at the addresses resolved and checked here.
async fn pinned_client(url: &str) -> Result<reqwest::Client, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    let host = parsed.host_str().ok_or("the URL has no host")?;
    let port = parsed
        .port_or_known_default()
        .ok_or("the URL has no port")?;
    // `host_str` keeps the brackets of an IPv6 literal.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((bare, port)),
        )
        .await
        .map_err(|_| format!("resolving {bare} timed out"))?
        .map_err(|e| format!("cannot resolve {bare}: {e}"))?
        .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{bare} resolves to no address"));
    }
    if let Some(bad) = addrs.iter().find(|a| is_internal_ip(a.ip())) {
        return Err(format!(
            "{bare} resolves to the internal address {}; set --webhook-allow-private to deliver there",
            bad.ip()
        ));
    }
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .resolve_to_addrs(bare, &addrs)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_detect_tampering() {
        let h = sign("s3cret", 1_700_000_000, br#"{"id":"a"}"#);
        assert!(h.starts_with("t=1700000000,v1="));
        assert!(verify("s3cret", &h, br#"{"id":"a"}"#));
        assert!(!verify("s3cret", &h, br#"{"id":"b"}"#));
        assert!(!verify("other", &h, br#"{"id":"a"}"#));
        let moved = h.replace("t=1700000000", "t=1700000001");
        assert!(!verify("s3cret", &moved, br#"{"id":"a"}"#));
        assert!(!verify("s3cret", "garbage", b""));
    }

    #[tokio::test]
    async fn internal_targets_are_refused_before_any_request() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        for url in [
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://localhost:{port}/hook"),
            format!("http://[::1]:{port}/hook"),
        ] {
            let err = pinned_client(&url).await.unwrap_err();
            assert!(
                err.contains("internal address") && err.contains("--webhook-allow-private"),
                "{url}: {err}"
            );
        }
        // A public address passes the check (building the client connects to nothing).
        assert!(pinned_client("http://93.184.216.34/hook").await.is_ok());
        let cfg = WebhookConfig {
            secret: "s".into(),
            max_attempts: 1,
            backoff: Duration::ZERO,
            allow_private: false,
        };
        let url = format!("http://127.0.0.1:{port}/hook");
        assert!(!deliver(reqwest::Client::new(), cfg, url, b"{}".to_vec()).await);
        // Nothing connected: the listener has no pending connection.
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "the refused delivery still connected");
    }
}
