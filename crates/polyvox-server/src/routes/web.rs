//! The embedded web studio (`/`), the offline API docs (`/docs`), their scripts and stylesheet
//! (`/static/{asset}`) and the OpenAPI document.
//!
//! Everything is compiled in with `include_str!`; no CDN, no external asset. Scripts are separate
//! files (ES modules) rather than inline so the Content-Security-Policy can forbid inline script
//! entirely. The one thing the studio must know before its first request — whether this server
//! wants an API key — is written into the page as a `<meta>` tag, so it need not probe a protected
//! route (which would count as a refused key on every page load).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::error::ApiError;

/// Only same-origin resources; `blob:` media for the streamed/downloaded audio.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   media-src 'self' blob:; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

const JS: &str = "text/javascript; charset=utf-8";

/// Files under `/static/`: name, content type, contents.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/style.css"),
    ),
    ("app.js", JS, include_str!("../../assets/app.js")),
    ("api.js", JS, include_str!("../../assets/api.js")),
    ("compose.js", JS, include_str!("../../assets/compose.js")),
    ("gallery.js", JS, include_str!("../../assets/gallery.js")),
    ("blend.js", JS, include_str!("../../assets/blend.js")),
    ("history.js", JS, include_str!("../../assets/history.js")),
    ("words.js", JS, include_str!("../../assets/words.js")),
    ("live.js", JS, include_str!("../../assets/live.js")),
    ("docs.js", JS, include_str!("../../assets/docs.js")),
    ("markdown.js", JS, include_str!("../../assets/markdown.js")),
];

fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
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

/// The web studio: voice gallery with previews, blend builder, text or `.txt` upload (long texts
/// as jobs with progress), streaming playback, downloads and this tab's history.
#[utoipa::path(get, path = "/", tag = "web", security(()), responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub(crate) async fn index(State(st): State<AppState>) -> Response {
    let auth = if st.tenancy.is_some() {
        "required"
    } else {
        "off"
    };
    asset(
        "text/html; charset=utf-8",
        include_str!("../../assets/index.html").replace("@AUTH@", auth),
    )
}

/// Scripts and the stylesheet of the studio and the docs.
#[utoipa::path(get, path = "/static/{asset}", tag = "web", security(()),
    params(("asset" = String, Path, description = "`style.css`, `app.js`, `docs.js`, ... (the pages reference them)")),
    responses(
        (status = 200, description = "Script or stylesheet", content_type = "text/javascript"),
        (status = 404, description = "No such asset", body = crate::error::ErrorBody),
    ))]
pub(crate) async fn static_asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    match ASSETS.iter().find(|a| a.0 == name) {
        Some(&(_, content_type, body)) => Ok(asset(content_type, body)),
        None => Err(ApiError::NotFound {
            method: "GET".into(),
            path: format!("/static/{}", name.chars().take(64).collect::<String>()),
        }),
    }
}

/// API documentation rendered from `/openapi.json`, working offline.
#[utoipa::path(get, path = "/docs", tag = "web", security(()), responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub(crate) async fn docs() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("../../assets/docs.html"),
    )
}

/// The OpenAPI 3.1 description of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "web", security(()), responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn openapi_json(State(st): State<AppState>) -> Response {
    let mut res = st.openapi.clone().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
