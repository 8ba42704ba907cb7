//! The embedded web page (`/`), the offline API docs (`/docs`) and the OpenAPI document.
//!
//! Everything is compiled in with `include_str!`; no CDN, no external asset. Scripts are separate
//! files rather than inline so the Content-Security-Policy can forbid inline script entirely.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

/// Only same-origin resources; `blob:` media for the streamed/downloaded audio.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   media-src 'self' blob:; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Assets change with the binary; revalidating is cheap and avoids stale scripts after upgrades.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// The speech web page: text, language, voice, speed, format, play and download.
#[utoipa::path(get, path = "/", tag = "web", responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub(crate) async fn index() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("../../assets/index.html"),
    )
}

/// Script of the web page.
#[utoipa::path(get, path = "/static/app.js", tag = "web", responses((status = 200, description = "Script", content_type = "text/javascript")))]
pub(crate) async fn app_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    )
}

/// Stylesheet shared by the web page and the docs.
#[utoipa::path(get, path = "/static/style.css", tag = "web", responses((status = 200, description = "Stylesheet", content_type = "text/css")))]
pub(crate) async fn style_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/style.css"),
    )
}

/// API documentation rendered from `/openapi.json`, working offline.
#[utoipa::path(get, path = "/docs", tag = "web", responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub(crate) async fn docs() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("../../assets/docs.html"),
    )
}

/// Script of the docs page.
#[utoipa::path(get, path = "/static/docs.js", tag = "web", responses((status = 200, description = "Script", content_type = "text/javascript")))]
pub(crate) async fn docs_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/docs.js"),
    )
}

/// The OpenAPI 3.1 description of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "web", responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn openapi_json(State(st): State<AppState>) -> Response {
    let mut res = st.openapi.clone().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
