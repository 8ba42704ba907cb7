//! Polyvox's HTTP API: an OpenAI-compatible `POST /v1/audio/speech` that streams audio as it is
//! synthesized, the voice/language/model catalogue, health probes, a generated OpenAPI document
//! with an offline docs page, and a small web page to try it.
//!
//! The crate knows synthesis only through the [`SpeechService`] trait, so it never links ONNX
//! Runtime; the binary passes the real pipeline, tests pass a fake. Entry points: [`router`] for
//! tests and embedding, [`run`] for the server loop with graceful shutdown.

mod admission;
mod app;
mod catalog;
mod config;
mod edge;
mod error;
mod extract;
mod openapi;
pub mod speech;
mod speech_api;
mod streaming;
mod web;

pub use app::{router, run};
pub use config::ServerConfig;
pub use edge::{REQUEST_ID_HEADER, RequestId};
pub use error::{ApiError, ErrorBody, ErrorObject};
pub use openapi::ApiDoc;
pub use speech::{Readiness, SpeechService, SpeechStream, StreamOptions};
pub use speech_api::{MODEL_ALIASES, SpeechRequest};
