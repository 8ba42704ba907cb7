//! Cross-origin access: off by default (same-origin only), `*` for any origin, or a list.
//!
//! Design: origins are checked when the server starts ([`parse_origins`]), because a mistyped
//! origin (`https://app.example.com/`, with a path; or no scheme) would never match what a browser
//! sends and would fail silently in the browser console. Methods and request headers are listed
//! explicitly rather than `*`: browsers never let `Access-Control-Allow-Headers: *` cover
//! `Authorization`, which OpenAI clients send. No credentials mode: the API authenticates with
//! bearer keys, never cookies, so a page on another origin gains nothing from the user's browser.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Request headers a cross-origin page may send.
pub const ALLOWED_HEADERS: [&str; 6] = [
    "authorization",
    "content-type",
    "idempotency-key",
    "x-request-id",
    "range",
    "openai-beta",
];

/// Response headers a cross-origin page may read.
pub const EXPOSED_HEADERS: [&str; 12] = [
    "x-request-id",
    "x-polyvox-cache",
    "retry-after",
    "location",
    "content-range",
    "accept-ranges",
    "content-length",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
];

/// How long a browser may cache a preflight answer.
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// What `--cors-origins` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsPolicy {
    /// No CORS headers: browsers allow same-origin requests only.
    Off,
    /// Any origin (`*`).
    Any,
    /// Exactly these origins (`scheme://host[:port]`, lower-case).
    List(Vec<String>),
}

/// Checks the configured origins: empty means off, `*` alone means any, otherwise each must be
/// an origin as browsers send it (`https://app.example.com`, `http://localhost:3000`). The error
/// names the bad entry and shows the fix.
pub fn parse_origins(origins: &[String]) -> Result<CorsPolicy, String> {
    let list: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if list.is_empty() {
        return Ok(CorsPolicy::Off);
    }
    if list.contains(&"*") {
        if list.len() > 1 {
            return Err(
                "CORS origins: '*' allows every origin and cannot be combined with a list; \
                 give either '*' or the origins"
                    .into(),
            );
        }
        return Ok(CorsPolicy::Any);
    }
    let mut out = Vec::with_capacity(list.len());
    for o in list {
        let (scheme, rest) = o
            .split_once("://")
            .ok_or_else(|| format!("CORS origin '{o}' has no scheme; write it as https://{o}"))?;
        let host_ok = !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        if !matches!(scheme, "http" | "https") || !host_ok {
            return Err(format!(
                "CORS origin '{o}' is not an origin; write scheme://host[:port] with no path, \
                 e.g. https://app.example.com"
            ));
        }
        out.push(o.to_ascii_lowercase());
    }
    Ok(CorsPolicy::List(out))
}

/// The layer for `origins`; `None` when CORS is off. Invalid entries (which `serve` refuses at
/// start) are dropped with a warning here, so an embedding caller cannot open more than it listed.
pub(crate) fn layer(origins: &[String]) -> Option<CorsLayer> {
    let policy = parse_origins(origins).unwrap_or_else(|why| {
        tracing::warn!(%why, "CORS configuration refused; cross-origin requests stay disabled");
        CorsPolicy::Off
    });
    let allow = match policy {
        CorsPolicy::Off => return None,
        CorsPolicy::Any => AllowOrigin::any(),
        CorsPolicy::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        ),
    };
    let names = |list: &[&'static str]| -> Vec<HeaderName> {
        list.iter().map(|h| HeaderName::from_static(h)).collect()
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers(names(&ALLOWED_HEADERS))
            .expose_headers(names(&EXPOSED_HEADERS))
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn origins_are_checked_at_start() {
        assert_eq!(parse_origins(&[]), Ok(CorsPolicy::Off));
        assert_eq!(parse_origins(&strings(&[" ", ""])), Ok(CorsPolicy::Off));
        assert_eq!(parse_origins(&strings(&["*"])), Ok(CorsPolicy::Any));
        assert_eq!(
            parse_origins(&strings(&[
                "https://App.example.com",
                " http://localhost:3000"
            ])),
            Ok(CorsPolicy::List(strings(&[
                "https://app.example.com",
                "http://localhost:3000"
            ])))
        );
        for (bad, needle) in [
            (&["*", "https://a.example"][..], "cannot be combined"),
            (
                &["app.example.com"][..],
                "write it as https://app.example.com",
            ),
            (&["https://app.example.com/"][..], "no path"),
            (&["ftp://x.example"][..], "scheme://host"),
            (&["https://"][..], "not an origin"),
            (&["https://a.example\r\nX: y"][..], "not an origin"),
        ] {
            let err = parse_origins(&strings(bad)).expect_err(bad[0]);
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }

    #[test]
    fn exposed_and_allowed_headers_are_valid_names() {
        for h in ALLOWED_HEADERS.iter().chain(EXPOSED_HEADERS.iter()) {
            assert!(HeaderName::from_bytes(h.as_bytes()).is_ok(), "{h}");
        }
        assert!(layer(&strings(&["bad origin"])).is_none());
        assert!(layer(&strings(&["*"])).is_some());
    }
}
