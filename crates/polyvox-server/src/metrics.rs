//! `/metrics` and the HTTP request metrics.
//!
//! Design: this crate only records, through the `metrics` facade; which exporter renders the text
//! is the binary's choice, handed in as an [`Exposition`] (a render function) in
//! [`ServerConfig::metrics`](crate::ServerConfig). Without one, `/metrics` is simply not routed.
//! Process CPU and memory have no event to hook, so they are read from `/proc` at scrape time,
//! just before rendering — one sample per scrape is exactly the resolution Prometheus keeps.
//!
//! [`track`] sits just inside the edge middleware and runs after routing, so it labels requests
//! with the route *template* (`/v1/jobs/{id}`), never the raw path: ids and probed junk paths
//! would otherwise create a series each. Its latency is time to the response head; streamed
//! audio bodies run on after it and are measured by the synthesis metrics.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use polyvox_core::metrics as m;
use tokio_util::sync::CancellationToken;

mod process;

/// Content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every recorded metric in the Prometheus text format (supplied by the binary, which
/// owns the exporter).
#[derive(Clone)]
pub struct Exposition(Arc<dyn Fn() -> String + Send + Sync>);

impl Exposition {
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self(Arc::new(render))
    }

    /// Samples the process gauges, then renders.
    pub fn render(&self) -> String {
        process::sample();
        (self.0)()
    }
}

impl fmt::Debug for Exposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Exposition(..)")
    }
}

/// Two configs are equal when they render through the same function.
impl PartialEq for Exposition {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(expo): State<Exposition>) -> Response {
    // Rendering walks every series and reads /proc: keep it off the async workers.
    match tokio::task::spawn_blocking(move || expo.render()).await {
        Ok(text) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            text,
        )
            .into_response(),
        Err(e) => {
            crate::error::ApiError::Internal(format!("metrics render failed: {e}")).into_response()
        }
    }
}

/// A router with only `/metrics` and `/health/live`, for processes without the API (workers).
pub fn metrics_router(expo: Exposition) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/health/live", get(|| async { "ok" }))
        .with_state(expo)
}

/// Serves [`metrics_router`] on `listener` until `shutdown`.
pub async fn serve_metrics(
    expo: Exposition,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics listening");
    }
    axum::serve(listener, metrics_router(expo))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// Decrements the in-flight gauge however the request ends (including a dropped future).
struct InFlight;

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(m::HTTP_REQUESTS_IN_FLIGHT).decrement(1.0);
    }
}

/// Counts every response by route template, method and status, and times its head.
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| m::UNMATCHED_ROUTE.to_owned());
    let method = method_label(req.method());
    metrics::gauge!(m::HTTP_REQUESTS_IN_FLIGHT).increment(1.0);
    let _in_flight = InFlight;
    let started = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::histogram!(m::HTTP_REQUEST_DURATION_SECONDS,
        m::label::ROUTE => route.clone(), m::label::METHOD => method)
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(m::HTTP_REQUESTS_TOTAL,
        m::label::ROUTE => route, m::label::METHOD => method, m::label::STATUS => status)
    .increment(1);
    res
}

/// Methods outside the standard set share one value, so a client cannot mint series.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Counts an error response by its stable code (called by the edge, which sees every error).
pub(crate) fn record_error(code: polyvox_core::ErrorCode) {
    metrics::counter!(m::HTTP_ERRORS_TOTAL, m::label::CODE => code.as_str()).increment(1);
}

/// Creates the refusal counters at 0 for every reason, so dashboards and alerts see a flat 0
/// rather than no series until the first refusal (and `rate()` counts that first one: a series'
/// first sample is only its baseline).
pub(crate) fn register_zeroes() {
    for reason in m::reason::ALL {
        metrics::counter!(m::REJECTIONS_TOTAL, m::label::REASON => reason).increment(0);
    }
    for reason in m::auth::ALL {
        metrics::counter!(m::AUTH_FAILURES_TOTAL, m::label::REASON => reason).increment(0);
    }
}

/// Counts a request turned away before any work, by reason.
pub(crate) fn record_rejection(reason: &'static str) {
    metrics::counter!(m::REJECTIONS_TOTAL, m::label::REASON => reason).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn unusual_methods_share_a_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(
            method_label(&Method::from_bytes(b"BREW").expect("method")),
            "OTHER"
        );
    }

    #[test]
    fn expositions_compare_by_identity() {
        let a = Exposition::new(|| "a".into());
        let b = Exposition::new(|| "a".into());
        assert_eq!(a, a.clone());
        assert_ne!(a, b);
        assert!(a.render().starts_with('a'));
    }
}
