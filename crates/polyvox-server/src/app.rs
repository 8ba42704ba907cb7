//! Router assembly and the server loop.
//!
//! Layers, outermost first: edge (request id, span, error rendering, common security headers) →
//! hardening guard (URI checks, security headers) → CORS (only when origins are configured) →
//! panic catcher → head timeout → body limit → routes. Synthesis, job and usage routes add a route
//! layer of their own (lexicon routes too): authentication and the requests-per-minute limit
//! ([`crate::tenancy::authenticate`]); catalogue, health, docs and the page stay public.
//! The edge sits outside everything so that even a timeout or a caught panic leaves with the
//! request id and the standard error body. Request metrics sit just inside it, so they see the
//! final status of every routed request, timeouts and panics included.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use polyvox_core::Limits;
use polyvox_infra::db::LexiconStore;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;

use crate::admission::Admission;
use crate::config::ServerConfig;
use crate::jobs::JobService;
use crate::routes::{catalog, jobs, lexicons, speech, usage, web};
use crate::speech::SpeechService;
use crate::tenancy::Tenancy;
use crate::{edge, metrics, openapi, tenancy};

/// Shared by all handlers; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    pub cfg: Arc<ServerConfig>,
    pub speech: Arc<dyn SpeechService>,
    pub admission: Arc<Admission>,
    pub limits: Limits,
    pub openapi: Bytes,
    /// The job API; `None` when the server runs without one.
    pub jobs: Option<Arc<JobService>>,
    /// API keys, limits and usage; `None` = open mode (no keys).
    pub tenancy: Option<Arc<Tenancy>>,
    /// Pronunciation lexicons; `None`: the lexicon routes answer 503.
    pub lexicons: Option<Arc<dyn LexiconStore>>,
    /// Voice previews made so far (`/v1/voices/{voice}/preview`).
    pub previews: Arc<catalog::preview::Previews>,
}

/// What the router serves besides its own routes.
#[derive(Clone)]
pub struct Services {
    pub speech: Arc<dyn SpeechService>,
    /// Enables `/v1/jobs`, `/tts/generate` and the result cache.
    pub jobs: Option<Arc<JobService>>,
    /// Requires API keys on synthesis, job and usage routes; `None` runs open.
    pub tenancy: Option<Arc<Tenancy>>,
    /// Enables `/v1/lexicons` and the `lexicons` field of speech and job requests.
    pub lexicons: Option<Arc<dyn LexiconStore>>,
}

/// Builds the complete router without a job backend. Tests serve it on a port-0 listener.
pub fn router(cfg: ServerConfig, speech: Arc<dyn SpeechService>) -> Router {
    router_with_jobs(cfg, speech, None)
}

/// Builds the router without API keys; `jobs` enables `/v1/jobs`, `/tts/generate` and the cache.
pub fn router_with_jobs(
    cfg: ServerConfig,
    speech: Arc<dyn SpeechService>,
    jobs: Option<Arc<JobService>>,
) -> Router {
    app(
        cfg,
        Services {
            speech,
            jobs,
            tenancy: None,
            lexicons: None,
        },
    )
}

/// Builds the complete router.
pub fn app(cfg: ServerConfig, services: Services) -> Router {
    let Services {
        speech,
        jobs,
        tenancy,
        lexicons,
    } = services;
    let limits = Limits {
        max_input_chars: cfg.max_input_chars,
        ..Limits::default()
    };
    let admission = Arc::new(Admission::new(
        cfg.max_concurrent,
        cfg.max_queued,
        cfg.retry_after,
    ));
    let cors = crate::cors::layer(&cfg.cors_origins);
    let (timeout, body_limit) = (cfg.request_timeout, cfg.max_body_bytes);
    let exposition = cfg.metrics.clone();
    let state = AppState {
        cfg: Arc::new(cfg),
        speech,
        admission,
        limits,
        openapi: Bytes::from(openapi::document()),
        jobs,
        tenancy,
        lexicons,
        previews: Arc::default(),
    };
    metrics::register_zeroes();

    let protected = Router::new()
        .route("/v1/audio/speech", post(speech::create_speech))
        .route("/v1/jobs", post(jobs::create_job))
        .route("/v1/jobs/{id}", get(jobs::get_job).delete(jobs::cancel_job))
        .route("/v1/jobs/{id}/audio", get(jobs::audio::job_audio))
        .route(
            "/v1/jobs/{id}/timestamps",
            get(jobs::timestamps::job_timestamps),
        )
        .route(
            "/v1/jobs/{id}/captions",
            get(jobs::timestamps::job_captions),
        )
        .route("/tts/generate", post(jobs::compat::generate))
        .route("/v1/usage", get(usage::usage))
        .route("/v1/lexicons", get(lexicons::list_lexicons))
        .route(
            "/v1/lexicons/{name}",
            get(lexicons::get_lexicon)
                .put(lexicons::put_lexicon)
                .delete(lexicons::delete_lexicon),
        )
        .route_layer(from_fn_with_state(state.clone(), tenancy::authenticate));
    let mut app = Router::new()
        .merge(protected)
        // Authenticates itself: by header before the upgrade, or by its first message.
        .route("/v1/audio/speech/stream", get(speech::live::live_speech))
        .route("/v1/voices", get(catalog::list_voices))
        .route(
            "/v1/voices/{voice}/preview",
            get(catalog::preview::voice_preview),
        )
        .route("/v1/languages", get(catalog::list_languages))
        .route("/v1/models", get(catalog::list_models))
        .route("/health/live", get(catalog::live))
        .route("/health/ready", get(catalog::ready))
        .route("/", get(web::index))
        .route("/static/{asset}", get(web::static_asset))
        .route("/docs", get(web::docs))
        .route("/openapi.json", get(web::openapi_json));
    if let Some(expo) = exposition {
        app = app.route(
            "/metrics",
            get(metrics::scrape).with_state::<AppState>(expo),
        );
    }
    let mut app = app
        .fallback(edge::not_found)
        .method_not_allowed_fallback(edge::method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(timeout, edge::head_timeout))
        .layer(CatchPanicLayer::custom(edge::panic_response));
    if let Some(cors) = cors {
        app = app.layer(cors);
    }
    crate::hardening::layer(app)
        .layer(from_fn(metrics::track))
        .layer(from_fn(edge::edge))
}

/// Serves the API on `listener` until `shutdown` is cancelled, then stops accepting connections
/// and waits for in-flight responses, streamed ones included (the caller bounds that drain).
pub async fn run(
    cfg: ServerConfig,
    speech: Arc<dyn SpeechService>,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    run_with_jobs(cfg, speech, None, listener, shutdown).await
}

/// Serves [`app`] on `listener` until `shutdown` is cancelled (see [`run`]).
pub async fn serve(
    cfg: ServerConfig,
    services: Services,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let limits = crate::listen::ConnectionLimits {
        max_connections: cfg.max_connections,
        header_read_timeout: cfg.header_read_timeout,
        keep_alive_timeout: cfg.keep_alive_timeout,
        send_timeout: cfg.send_timeout,
    };
    let app = app(cfg, services);
    match listener.local_addr() {
        Ok(addr) => tracing::info!(%addr, "polyvox API listening"),
        Err(e) => tracing::warn!(error = %e, "polyvox API listening on an unknown address"),
    }
    crate::listen::serve(listener, app, limits, shutdown).await
}

/// [`run`] with a job backend (see [`router_with_jobs`]).
pub async fn run_with_jobs(
    cfg: ServerConfig,
    speech: Arc<dyn SpeechService>,
    jobs: Option<Arc<JobService>>,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let services = Services {
        speech,
        jobs,
        tenancy: None,
        lexicons: None,
    };
    serve(cfg, services, listener, shutdown).await
}
