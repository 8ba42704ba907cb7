//! Polyvox's domain vocabulary: languages, voices and blends, audio formats, validated synthesis
//! requests and the stable error codes every other crate and the HTTP API speak.
//!
//! This crate does no IO, so it is cheap to depend on from every layer and fast to test.

pub mod cache_key;
pub mod client_ip;
pub mod detect;
pub mod error;
pub mod format;
pub mod job;
pub mod lang;
pub mod lexicon;
pub mod live;
pub mod metrics;
pub mod net;
pub mod request;
pub mod speech;
pub mod ssml;
pub mod text;
pub mod timing;
pub mod voice;

pub use cache_key::cache_key;
pub use error::{Error, ErrorCode};
pub use format::AudioFormat;
pub use job::{Lane, SpeechJob};
pub use lang::Lang;
pub use request::{Limits, RawSynthesisRequest, SynthesisRequest};
pub use speech::{Progress, Readiness, SpeechService, SpeechStream, StreamOptions};
pub use timing::{Timeline, WordTiming};
pub use voice::{Gender, VOICES, VoiceInfo, VoiceSpec};

/// Output sample rate of the Kokoro model (mono).
pub const SAMPLE_RATE: u32 = 24_000;
/// Hard limit of phoneme ids per model call, pads excluded (511 fails inside ONNX Runtime).
pub const MODEL_MAX_IDS: usize = 510;

/// The model id reported by `/v1/models` and part of every cache key: the one place it is named.
pub const MODEL_ID: &str = "kokoro-82m-int8";
/// Front-end version in cache keys: a new release may phonemize differently, so its audio differs.
pub const FRONTEND_VERSION: &str = concat!("polyvox-", env!("CARGO_PKG_VERSION"));
