//! Server settings as one plain struct. The binary maps its clap flags onto it and tests build it
//! with struct-update syntax, so the server itself never parses arguments or environment.

use std::net::SocketAddr;
use std::time::Duration;

/// Everything the HTTP layer needs to know; audio encoding settings belong to the [`SpeechService`].
///
/// [`SpeechService`]: crate::SpeechService
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address the binary binds; [`run`](crate::run) takes an already bound listener instead.
    pub bind: SocketAddr,
    /// Largest request body accepted; bigger bodies get 413 `payload_too_large`.
    pub max_body_bytes: usize,
    /// Largest `input` of `/v1/audio/speech`, in characters; longer gets 413 `input_too_long`.
    pub max_input_chars: usize,
    /// Time allowed until a response's head is ready (queue wait included). Streamed audio bodies
    /// are not bounded by it: a long text may legitimately stream for minutes.
    pub request_timeout: Duration,
    /// Longest wait for the next byte of a request body; past it, 408 `request_timeout`.
    pub body_idle_timeout: Duration,
    /// Longest time to receive a whole request head; also how long a keep-alive connection may
    /// sit idle (see `listen`).
    pub header_read_timeout: Duration,
    /// Open connections at most; more are closed on accept.
    pub max_connections: usize,
    /// Longest a write to the client may make no progress before the connection is ended (the
    /// client stopped reading); a streamed synthesis then stops and frees its slots.
    pub send_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` names the client (for per-client limits); empty = the
    /// TCP peer is the client.
    pub trusted_proxies: polyvox_core::client_ip::TrustedProxies,
    /// Syntheses that may run at once.
    pub max_concurrent: usize,
    /// Requests that may wait for a synthesis slot; past that, 429 `queue_full` at once.
    pub max_queued: usize,
    /// Value of `Retry-After` on 429 answers.
    pub retry_after: Duration,
    /// Origins allowed by CORS; empty disables CORS, `*` allows any origin.
    pub cors_origins: Vec<String>,
    /// Renders `/metrics`; `None` leaves the route out (the binary installs the exporter).
    pub metrics: Option<crate::Exposition>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8880)),
            max_body_bytes: 256 * 1024,
            max_input_chars: 10_000,
            request_timeout: Duration::from_secs(60),
            body_idle_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(75),
            max_connections: 16_384,
            send_timeout: Duration::from_secs(30),
            trusted_proxies: polyvox_core::client_ip::TrustedProxies::default(),
            max_concurrent: 4,
            max_queued: 16,
            retry_after: Duration::from_secs(1),
            cors_origins: Vec::new(),
            metrics: None,
        }
    }
}
