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
    /// Longest time to receive a whole request head, from its first byte.
    pub header_read_timeout: Duration,
    /// How long a connection may sit with no request in flight before it is closed (see
    /// `listen`); keep it above the idle timeout of any proxy in front.
    pub keep_alive_timeout: Duration,
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
    /// Limits of the live text socket (`/v1/audio/speech/stream`).
    pub live: LiveConfig,
}

/// Limits of one live text session (docs/live.md).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveConfig {
    /// Time for a socket without an `Authorization` header to send its `auth` message, and for
    /// every socket to send its `session` message.
    pub handshake_timeout: Duration,
    /// A session that receives no message for this long while nothing is being spoken is closed.
    pub idle_timeout: Duration,
    /// Longest a session may stay open.
    pub max_session: Duration,
    /// Most characters received and not yet spoken; more is an error (`input_too_long`).
    pub max_buffered_chars: usize,
    /// Largest message a client may send, in bytes.
    pub max_message_bytes: usize,
    /// Messages to the client (audio frames, events) queued at most; when full, the session stops
    /// reading from the client until it reads its audio.
    pub send_queue: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_session: Duration::from_secs(30 * 60),
            max_buffered_chars: 2_000,
            max_message_bytes: 64 * 1024,
            send_queue: 32,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8880)),
            max_body_bytes: 256 * 1024,
            max_input_chars: 10_000,
            request_timeout: Duration::from_secs(60),
            body_idle_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(75),
            max_connections: 16_384,
            send_timeout: Duration::from_secs(30),
            trusted_proxies: polyvox_core::client_ip::TrustedProxies::default(),
            max_concurrent: 4,
            max_queued: 16,
            retry_after: Duration::from_secs(1),
            cors_origins: Vec::new(),
            metrics: None,
            live: LiveConfig::default(),
        }
    }
}
