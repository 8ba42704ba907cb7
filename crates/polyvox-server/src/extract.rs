//! A JSON body extractor whose every rejection is an [`ApiError`] with a stable code.
//!
//! axum's own `Json` answers with plain-text bodies and 422s; here a wrong content type is 415
//! `unsupported_media_type`, an oversized body 413 `payload_too_large`, broken JSON 400
//! `invalid_json`, and a well-formed body with a bad or missing field 400 `invalid_request` whose
//! message names the field (via `serde_path_to_error`).
//!
//! A refused oversized body is read and thrown away up to [`DRAIN_MAX`] bytes (and
//! [`DRAIN_TIME`]) before the 413 goes out, the lingering close nginx does: a client that sends
//! its whole body before reading (most do) would otherwise see the connection reset under it
//! instead of the error. A body past the bound is not read: its client may see a reset. Requests
//! refused before their body is read (401, 429) are drained the same way ([`discard`]).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::error::ApiError;

/// A JSON request body of type `T`.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            let got = if content_type.is_empty() {
                "no Content-Type".to_string()
            } else {
                format!("Content-Type '{content_type}'")
            };
            return Err(ApiError::UnsupportedMediaType(format!(
                "request body must be application/json, got {got}"
            )));
        }
        let limit = crate::hardening::json_body_limit(req.uri().path(), state);
        let bytes = read_body(req, limit, state.cfg.body_idle_timeout).await?;
        parse(&bytes).map(ApiJson)
    }
}

/// The whole body of `req`, at most `limit` bytes (413 beyond, refused up front when the
/// declared length says so), with the idle and minimum-rate bounds of [`read_limited`].
pub(crate) async fn read_body(
    req: Request,
    limit: usize,
    idle: Duration,
) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared
        && n > limit as u64
    {
        // Refused without parsing a byte of it; read (and dropped) only so the client can
        // finish sending and read the answer.
        if n <= DRAIN_MAX {
            drain(req.into_body(), DRAIN_MAX).await;
        }
        return Err(ApiError::PayloadTooLarge { limit });
    }
    read_limited(req.into_body(), limit, idle).await
}

/// Most bytes of a refused body read and discarded before answering 413.
pub(crate) const DRAIN_MAX: u64 = 8 * 1024 * 1024;
/// Longest time spent discarding a refused body.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Slowest average a request body may arrive at, after a grace of the idle timeout (Apache's
/// `mod_reqtimeout` `MinRate`): a client that keeps trickling a byte just inside the idle
/// timeout would otherwise hold its connection for as long as the body lasts (days, at a byte
/// every 25 s).
pub(crate) const MIN_BODY_RATE: u64 = 500;

/// The body, or 413 once it passes `limit` (a chunked body has no length to refuse it by
/// up front); the rest of a refused body is drained up to the bound. A body is 408 when its next
/// bytes take longer than `idle`, or when it falls below [`MIN_BODY_RATE`] bytes a second on
/// average after the first `idle`: the connection then closes (its body is unread), so a client
/// trickling a body holds it for about `idle` at most.
async fn read_limited(mut body: Body, limit: usize, idle: Duration) -> Result<Bytes, ApiError> {
    let started = tokio::time::Instant::now();
    let mut buf = BytesMut::new();
    loop {
        let allowed = idle + Duration::from_millis(buf.len() as u64 * 1000 / MIN_BODY_RATE);
        let wait = idle.min(allowed.saturating_sub(started.elapsed()));
        let Ok(next) = tokio::time::timeout(wait, body.frame()).await else {
            let message = if wait < idle {
                format!(
                    "request body: {} bytes in {} s, slower than the minimum of {MIN_BODY_RATE} \
                     bytes a second; send the body at once",
                    buf.len(),
                    started.elapsed().as_secs()
                )
            } else {
                format!(
                    "request body: no byte arrived for {} s after {} bytes; send the body at once",
                    idle.as_secs(),
                    buf.len()
                )
            };
            return Err(ApiError::Domain(polyvox_core::Error::new(
                polyvox_core::ErrorCode::RequestTimeout,
                message,
            )));
        };
        let Some(frame) = next else {
            break;
        };
        let frame = frame.map_err(|e| {
            ApiError::InvalidRequest(format!("could not read the request body: {e}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            drain(
                body,
                DRAIN_MAX.saturating_sub((buf.len() + data.len()) as u64),
            )
            .await;
            return Err(ApiError::PayloadTooLarge { limit });
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// Reads and drops the body of a request refused before its body was read (a failed
/// authentication, a rate limit), up to [`DRAIN_MAX`] bytes and [`DRAIN_TIME`], so a client still
/// sending it reads the refusal instead of a reset connection. A request without a body costs
/// nothing.
pub(crate) async fn discard(body: Body) {
    drain(body, DRAIN_MAX).await;
}

/// Reads and drops up to `max` more bytes of `body`, for at most [`DRAIN_TIME`].
async fn drain(mut body: Body, max: u64) {
    let mut left = max;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while left > 0 {
            match body.frame().await {
                Some(Ok(frame)) => {
                    let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                    left = left.saturating_sub(n);
                }
                _ => return,
            }
        }
    })
    .await;
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::InvalidJson(inner.to_string())
            }
            _ if path == "." => ApiError::InvalidRequest(inner.to_string()),
            _ => ApiError::InvalidRequest(format!("field '{path}': {inner}")),
        }
    })?;
    de.end().map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyvox_core::ErrorCode;

    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[allow(dead_code)]
        input: String,
        #[allow(dead_code)]
        speed: Option<f32>,
    }

    #[test]
    fn classifies_json_failures_and_names_fields() {
        let cases: [(&str, ErrorCode, &str); 5] = [
            (r#"{"input": "hi""#, ErrorCode::InvalidJson, "EOF"),
            (r#"{"input": hi}"#, ErrorCode::InvalidJson, "expected"),
            (r#"{"speed": 1}"#, ErrorCode::InvalidRequest, "input"),
            (
                r#"{"input": "hi", "speed": "fast"}"#,
                ErrorCode::InvalidRequest,
                "field 'speed'",
            ),
            (
                r#"{"input": "hi"} trailing"#,
                ErrorCode::InvalidJson,
                "trailing",
            ),
        ];
        for (body, code, needle) in cases {
            let err = parse::<Body>(body.as_bytes()).expect_err(body);
            assert_eq!(err.code(), code, "{body}: {err}");
            assert!(
                err.to_string().contains(needle),
                "{body}: '{err}' lacks '{needle}'"
            );
        }
        assert!(parse::<Body>(br#"{"input": "hi", "unknown": [1]}"#).is_ok());
    }

    #[test]
    fn accepts_json_content_types_only() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }
}
