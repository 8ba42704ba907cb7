//! Request hardening that applies to every route: URI shape and size, security headers, and the
//! per-endpoint JSON body limits. The rules are listed in `docs/security.md`.
//!
//! Design: one middleware ([`guard`]) runs before routing, so a hostile path never reaches a
//! handler or a path extractor, and stamps the security headers on every response on the way
//! out (a handler that sets its own, like the web page's CSP, keeps them). Body limits are
//! computed here rather than by a router layer because the job endpoints must admit a text at
//! their own, larger character limit even when every character arrives `\uXXXX`-escaped.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::error::ApiError;

/// Longest request target (path and query) accepted, in bytes.
pub const MAX_URI_BYTES: usize = 2048;

/// Policy for API responses (JSON, audio): nothing may be loaded or framed from them.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the guard around `app` (inside the edge, so its refusals get the standard error body).
pub(crate) fn layer(app: Router) -> Router {
    app.layer(from_fn(guard))
}

async fn guard(req: Request, next: Next) -> Response {
    let mut res = match check_uri(req.uri()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CSP),
        );
    }
    h.entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    h.entry("cross-origin-opener-policy")
        .or_insert(HeaderValue::from_static("same-origin"));
    res
}

/// Refuses request targets that are too long or whose path could name something outside a
/// route: dot segments (plain or percent-encoded), encoded slashes or backslashes, NUL and other
/// controls. No route serves files, so this is defence in depth: it keeps such strings out of
/// path parameters, logs and storage lookups altogether.
pub(crate) fn check_uri(uri: &axum::http::Uri) -> Result<(), ApiError> {
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if target.len() > MAX_URI_BYTES {
        return Err(ApiError::InvalidRequest(format!(
            "the request target has {} bytes; the limit is {MAX_URI_BYTES}",
            target.len()
        )));
    }
    let path = uri.path();
    let lower = path.to_ascii_lowercase();
    let encoded_bad = ["%2e", "%2f", "%5c", "%00"]
        .iter()
        .any(|enc| lower.contains(enc));
    let dot_segment = path.split('/').any(|seg| seg == "." || seg == "..");
    let raw_bad = path.bytes().any(|b| b == b'\\' || b < 0x20 || b == 0x7f);
    if encoded_bad || dot_segment || raw_bad {
        return Err(ApiError::InvalidRequest(
            "the request path must not contain '.' or '..' segments, encoded dots, slashes or \
             backslashes (%2e, %2f, %5c), backslashes, NUL or other control characters"
                .into(),
        ));
    }
    Ok(())
}

/// Bytes a JSON body needs to carry `chars` characters of text when each is `\uXXXX`-escaped (as
/// Python's `json.dumps` does by default), plus room for the other fields.
pub(crate) const fn json_room(chars: usize) -> usize {
    chars.saturating_mul(6).saturating_add(16 * 1024)
}

/// The largest JSON body accepted on `path`: the configured body limit, except that the job
/// endpoints always admit a text at their own (larger) character limit. `/v1/audio/speech` keeps
/// the configured limit exactly: its default (256 KiB) holds 10 000 escaped characters.
pub(crate) fn json_body_limit(path: &str, st: &AppState) -> usize {
    let base = st.cfg.max_body_bytes;
    match (path, &st.jobs) {
        ("/v1/jobs" | "/tts/generate", Some(jobs)) => {
            base.max(json_room(jobs.config().max_input_chars))
        }
        _ => base,
    }
}

/// Longest `model` accepted, in characters.
pub const MAX_MODEL_CHARS: usize = 128;
/// Longest `stream_format` accepted, in characters.
pub const MAX_STREAM_FORMAT_CHARS: usize = 16;
/// Longest `instructions` accepted, in characters (OpenAI's limit; the text is ignored anyway).
pub const MAX_INSTRUCTIONS_CHARS: usize = 4096;

/// Bounds optional short fields (value, field name, limit) that handlers quote back in errors.
pub(crate) fn check_fields(fields: &[(Option<&str>, &str, usize)]) -> Result<(), ApiError> {
    for (value, field, max) in fields {
        if let Some(v) = value {
            polyvox_core::request::check_short_field(v, field, *max)?;
        }
    }
    Ok(())
}

/// Longest `Idempotency-Key` accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

/// An `Idempotency-Key` must be 1 to 255 visible ASCII characters (no spaces): it is echoed into
/// logs and stored in a unique index, and UUIDs, ULIDs and hashes all fit.
pub(crate) fn check_idempotency_key(raw: &[u8]) -> Result<String, ApiError> {
    if raw.is_empty() || raw.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        return Err(ApiError::InvalidRequest(format!(
            "Idempotency-Key has {} bytes; it must have 1 to {MAX_IDEMPOTENCY_KEY_BYTES}",
            raw.len()
        )));
    }
    if let Some(pos) = raw.iter().position(|b| !(0x21..=0x7e).contains(b)) {
        return Err(ApiError::InvalidRequest(format!(
            "Idempotency-Key may contain only visible ASCII characters (no spaces); byte {} is \
             0x{:02x}",
            pos + 1,
            raw[pos]
        )));
    }
    Ok(String::from_utf8_lossy(raw).into_owned())
}

/// Job ids are UUIDs (36 characters of hex digits and dashes); anything else cannot name a job.
pub(crate) fn is_job_id(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_shaped_paths_are_refused() {
        for bad in [
            "/static/../Cargo.toml",
            "/static/./app.js",
            "/v1/jobs/..",
            "/v1/jobs/%2e%2e/audio",
            "/v1/jobs/%2E%2E%2Fetc%2Fpasswd",
            "/static/..%2f..%2fetc%2fpasswd",
            "/static/..%5c..%5cwin.ini",
            "/v1/jobs/a%00b",
            "/v1/jobs/a\\b",
        ] {
            let uri: axum::http::Uri = bad.parse().expect(bad);
            let err = check_uri(&uri).expect_err(bad);
            assert!(err.to_string().contains("'..'"), "{bad}: {err}");
        }
        for good in [
            "/",
            "/v1/jobs/0190c0de-0000-7000-8000-000000000000/audio",
            "/static/app.js",
            "/v1/voices?x=1",
        ] {
            assert!(check_uri(&good.parse().unwrap()).is_ok(), "{good}");
        }
        let long: axum::http::Uri = format!("/v1/voices?q={}", "a".repeat(MAX_URI_BYTES))
            .parse()
            .unwrap();
        assert!(
            check_uri(&long)
                .unwrap_err()
                .to_string()
                .contains("limit is 2048")
        );
    }

    #[test]
    fn idempotency_keys_are_short_visible_ascii() {
        assert_eq!(check_idempotency_key(b"order-42:A").unwrap(), "order-42:A");
        assert!(check_idempotency_key(&[b'k'; 255]).is_ok());
        for (bad, needle) in [
            (&b""[..], "0 bytes"),
            (&[b'k'; 256][..], "256 bytes"),
            (&b"has space"[..], "byte 4 is 0x20"),
            (&b"tab\tx"[..], "0x09"),
            ("caf\u{e9}".as_bytes(), "0xc3"),
        ] {
            let err = check_idempotency_key(bad).unwrap_err();
            assert!(err.to_string().contains("Idempotency-Key"), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn job_ids_are_uuids() {
        assert!(is_job_id("0190c0de-0000-7000-8000-00000000abcd"));
        for bad in [
            "",
            "..",
            "../../etc/passwd",
            "0190c0de00007000800000000000abcd",
            "0190c0de-0000-7000-8000-00000000abcg",
        ] {
            assert!(!is_job_id(bad), "{bad}");
        }
    }

    #[test]
    fn json_room_fits_escaped_text() {
        assert_eq!(json_room(10), 60 + 16384);
        assert_eq!(json_room(usize::MAX), usize::MAX);
    }
}
