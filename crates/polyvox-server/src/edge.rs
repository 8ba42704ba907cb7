//! Middleware at the edge of the router, outermost first: request id + tracing span + error
//! rendering ([`edge`]), then panics → 500, then the head timeout ([`head_timeout`]).
//!
//! Design: [`edge`] is the only place that knows the request id, so it renders every
//! [`ErrorReport`] into the JSON error body and logs it (5xx with detail at `error`, 4xx at
//! `info`). Responses that some layer produced as a bare error status (no report) are rendered in
//! the same shape, so no route can leak a plain-text or empty error.

use std::any::Any;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::{ApiError, ErrorReport};

/// Header carrying the request id, accepted from the client when sane and always echoed.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the current request, in request extensions for handlers that need it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Accepts a client-chosen id only if it is short and made of characters that are safe in logs
/// and headers; anything else is replaced so ids cannot inject log lines or grow unbounded.
pub(crate) fn sane_request_id(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| v.to_string())
}

pub(crate) async fn edge(mut req: Request, next: Next) -> Response {
    let id = sane_request_id(req.headers()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    // `job_id` is filled in by the job service once the request has one.
    let span = tracing::info_span!("http", request_id = %id, method = %req.method(), path = %req.uri().path(), job_id = tracing::field::Empty);
    async move {
        let started = Instant::now();
        let mut res = next.run(req).await;
        render_error(&mut res, &id);
        let headers = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&id) {
            headers.insert(REQUEST_ID_HEADER, v);
        }
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        tracing::info!(
            status = res.status().as_u16(),
            head_ms = started.elapsed().as_millis() as u64,
            "responded"
        );
        res
    }
    .instrument(span)
    .await
}

fn render_error(res: &mut Response, request_id: &str) {
    let status = res.status();
    let report = match res.extensions_mut().remove::<ErrorReport>() {
        Some(r) => r,
        None if status.is_client_error() || status.is_server_error() => {
            let is_json = res
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if is_json {
                // Already shaped by its handler (e.g. /health/ready).
                return;
            }
            ErrorReport::for_status(status)
        }
        None => return,
    };
    crate::metrics::record_error(report.code);
    match &report.detail {
        Some(detail) => tracing::error!(code = %report.code, detail = %detail, "request failed"),
        None => tracing::info!(code = %report.code, message = %report.message, "request rejected"),
    }
    let body = serde_json::to_vec(&report.to_body(request_id)).unwrap_or_default();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res.headers_mut().remove(header::CONTENT_LENGTH);
    *res.body_mut() = Body::from(body);
}

/// Bounds the time until the response head is ready. Streamed bodies are deliberately outside
/// it: they end when the audio does, and a disconnecting client cancels them.
pub(crate) async fn head_timeout(
    State(limit): State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::Timeout(limit).into_response(),
    }
}

pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}

pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}

/// Turns a handler panic into a plain 500; the panic message only reaches the log.
pub(crate) fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let detail = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "handler panicked".to_string());
    ApiError::Internal(format!("panic: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID_HEADER, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn request_ids_are_accepted_only_when_sane() {
        assert_eq!(
            sane_request_id(&with_id("abc-123_x.y:z")).as_deref(),
            Some("abc-123_x.y:z")
        );
        assert_eq!(sane_request_id(&with_id("has space")), None);
        assert_eq!(sane_request_id(&with_id("a\"b")), None);
        assert_eq!(sane_request_id(&with_id(&"a".repeat(129))), None);
        assert_eq!(
            sane_request_id(&with_id(&"a".repeat(128))).map(|s| s.len()),
            Some(128)
        );
        assert_eq!(sane_request_id(&HeaderMap::new()), None);
    }
}
