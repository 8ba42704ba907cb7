//! Polyvox's HTTP API: an OpenAI-compatible `POST /v1/audio/speech` that streams audio as it is
//! synthesized, the voice/language/model catalogue, health probes, a generated OpenAPI document
//! with an offline docs page, and a small web page to try it.
//!
//! The crate knows synthesis only through the [`SpeechService`] trait, so it never links ONNX
//! Runtime; the binary passes the real pipeline, tests pass a fake. Entry points: [`router`] for
//! tests and embedding, [`run`] for the server loop with graceful shutdown. With a
//! [`JobService`] (`router_with_jobs`/`run_with_jobs`) the asynchronous job API, the
//! `/tts/generate` alias and the result cache are live; without one those routes answer 503.

mod admission;
mod app;
mod config;
pub mod cors;
mod edge;
mod error;
mod extract;
pub mod hardening;
pub mod jobs;
mod jobs_sync;
mod key_slots;
mod listen;
pub mod metrics;
mod openapi;
mod remote;
mod routes;
pub mod speech;
pub mod tenancy;

pub use app::{Services, app, router, router_with_jobs, run, run_with_jobs, serve};
pub use config::{LiveConfig, ServerConfig};
pub use edge::{REQUEST_ID_HEADER, RequestId};
pub use error::{ApiError, ErrorBody, ErrorObject};
pub use jobs::{JobBackends, JobService, JobsConfig};
pub use metrics::Exposition;
pub use openapi::ApiDoc;
pub use remote::RemoteSpeech;
pub use routes::jobs::CACHE_HEADER;
pub use routes::speech::{MODEL_ALIASES, SpeechRequest};
pub use speech::{Readiness, SpeechService, SpeechStream, StreamOptions};
pub use tenancy::{Caller, Tenancy, TenancyBackends, TenancyConfig};
