//! The API's one error type and its wire shape.
//!
//! Design: a handler returns [`ApiError`]; turning it into a response sets the status and headers
//! and attaches an [`ErrorReport`] extension. The edge middleware, which owns the request id,
//! renders every report as `{"error":{"code","message","request_id"}}` and logs it, so the shape
//! and the "5xx details go to the log, never to the client" rule live in exactly one place.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use polyvox_core::ErrorCode;
use serde::Serialize;

/// Every way a request can fail, as seen by the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A validation or synthesis error from the domain; its code decides the status.
    #[error("{0}")]
    Domain(#[from] polyvox_core::Error),
    /// A field is missing, has the wrong type or an unknown value; the message names it.
    #[error("{0}")]
    InvalidRequest(String),
    /// The body is not syntactically valid JSON.
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("no route for {method} {path}; see /docs")]
    NotFound { method: String, path: String },
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("all synthesis slots and the waiting queue are full; retry after {} s", retry_after.as_secs().max(1))]
    QueueFull { retry_after: Duration },
    #[error("the request did not complete within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// Missing, malformed, unknown or revoked API key (401 with `WWW-Authenticate: Bearer`).
    #[error("{0}")]
    Unauthorized(String),
    /// A per-key rate limit or the monthly quota refused the request (429, `Retry-After` when
    /// waiting can help).
    #[error("{message}")]
    Limited {
        code: ErrorCode,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Something broke on our side; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The stable code clients match on.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Domain(e) => e.code,
            // polyvox-core has no dedicated code for 405; `invalid_request` is the closest stable one.
            Self::InvalidRequest(_) | Self::MethodNotAllowed { .. } => ErrorCode::InvalidRequest,
            Self::InvalidJson(_) => ErrorCode::InvalidJson,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::QueueFull { .. } => ErrorCode::QueueFull,
            Self::Timeout(_) => ErrorCode::Timeout,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Limited { code, .. } => *code,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        if let Self::MethodNotAllowed { .. } = self {
            return StatusCode::METHOD_NOT_ALLOWED;
        }
        StatusCode::from_u16(self.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::QueueFull { retry_after } => Some(*retry_after),
            Self::Limited { retry_after, .. } => *retry_after,
            _ if self.code() == ErrorCode::QueueFull => Some(Duration::from_secs(1)),
            _ if self.code() == ErrorCode::ServiceUnavailable => Some(Duration::from_secs(1)),
            _ => None,
        }
    }
}

/// What the client may read about a failure, plus what only the log may see.
#[derive(Debug, Clone)]
pub(crate) struct ErrorReport {
    pub code: ErrorCode,
    pub message: String,
    /// Full detail of a server-side failure, for the log only.
    pub detail: Option<String>,
}

impl ErrorReport {
    /// Builds the report for `code` from `detail`, hiding the detail when the fault is ours.
    ///
    /// `timeout` (504) is the one 5xx whose text is shown, because every such text is written
    /// for the client and names only its own limits: the head timeout, `--sync-wait-secs`, a
    /// job's own render deadline, and [`crate::jobs::infra`]'s fixed sentence for a backing
    /// service that timed out (whose own text, naming the system and operation, is logged
    /// there). Anything that turns an infrastructure error into a `timeout` must go through it.
    pub fn new(code: ErrorCode, detail: String) -> Self {
        if code.http_status() >= 500 && code != ErrorCode::Timeout {
            Self {
                code,
                message: public_message(code).to_string(),
                detail: Some(detail),
            }
        } else {
            Self {
                code,
                message: detail,
                detail: None,
            }
        }
    }

    /// A report for a bare error status that some layer produced without one.
    pub fn for_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            404 => ErrorCode::NotFound,
            408 | 504 => ErrorCode::Timeout,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            429 => ErrorCode::QueueFull,
            503 => ErrorCode::ModelUnavailable,
            s if s >= 500 => ErrorCode::Internal,
            _ => ErrorCode::InvalidRequest,
        };
        let reason = status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase();
        Self::new(code, reason)
    }

    /// The JSON body, with the request id the edge middleware assigned.
    pub fn to_body(&self, request_id: &str) -> ErrorBody {
        ErrorBody {
            error: ErrorObject {
                code: self.code.as_str().to_string(),
                message: self.message.clone(),
                request_id: request_id.to_string(),
            },
        }
    }
}

fn public_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ServiceUnavailable => {
            "a backing service (database, queue or storage) is unavailable for a moment; retry shortly"
        }
        ErrorCode::ModelUnavailable | ErrorCode::AssetMissing => {
            "speech synthesis is not available right now; try again later"
        }
        ErrorCode::SynthesisFailed => {
            "speech synthesis failed; the server log has details under this request id"
        }
        ErrorCode::LeaseExpired => {
            "the worker rendering this request stopped before it finished and no attempts are left; try again later"
        }
        ErrorCode::WorkerCrashed => {
            "the workers rendering this request died on it repeatedly, so it is not retried; the server log has details under this request id"
        }
        _ => "internal error; the server log has details under this request id",
    }
}

/// Wire shape of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorObject {
    /// Stable machine-readable code, e.g. `voice_not_found`, `queue_full`.
    pub code: String,
    /// Human-readable explanation naming the offending field and limit (generic for 5xx).
    pub message: String,
    /// Same as the `X-Request-Id` response header.
    pub request_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = self.retry_after();
        let report = ErrorReport::new(self.code(), self.to_string());
        // The body is filled in by the edge middleware; a placeholder keeps the response valid if
        // this is ever used outside the router.
        let body = serde_json::to_vec(&report.to_body("")).unwrap_or_default();
        let mut res = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(after) = retry_after {
            // Rounded up: a client that waits exactly this long must not be refused again.
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res.extensions_mut().insert(report);
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_faults_hide_their_detail() {
        let r = ErrorReport::new(ErrorCode::Internal, "db password wrong at /etc/x".into());
        assert!(!r.message.contains("password"));
        assert_eq!(r.detail.as_deref(), Some("db password wrong at /etc/x"));
        let r = ErrorReport::new(ErrorCode::VoiceNotFound, "voice: 'x' does not exist".into());
        assert_eq!(r.message, "voice: 'x' does not exist");
        assert!(r.detail.is_none());
    }

    #[test]
    fn dead_lettered_jobs_get_their_own_public_messages() {
        let stored = "the job's worker died or hung on 2 attempts (the crash limit)".to_string();
        let crashed = ErrorReport::new(ErrorCode::WorkerCrashed, stored.clone());
        assert_eq!(crashed.code.http_status(), 500);
        assert!(
            crashed.message.contains("died on it repeatedly"),
            "{}",
            crashed.message
        );
        assert_eq!(crashed.detail, Some(stored));
        let expired = ErrorReport::new(ErrorCode::LeaseExpired, "stopped heartbeating".into());
        assert_eq!(expired.code.http_status(), 503);
        assert!(
            expired.message.contains("try again later"),
            "{}",
            expired.message
        );
    }

    #[test]
    fn statuses_follow_the_core_table_except_405() {
        let e = ApiError::MethodNotAllowed {
            method: "GET".into(),
            path: "/v1/audio/speech".into(),
        };
        assert_eq!(e.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            ApiError::PayloadTooLarge { limit: 1 }.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let queue = ApiError::Domain(polyvox_core::Error::new(ErrorCode::QueueFull, "busy"));
        assert_eq!(queue.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            queue
                .into_response()
                .headers()
                .contains_key(header::RETRY_AFTER)
        );
    }
}
