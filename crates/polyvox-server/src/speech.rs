//! The server's view of synthesis: one small object-safe trait. The binary wires the real pipeline
//! (text → engine → audio, in `polyvox-synth`) into it; tests use a fake. Keeping the trait here
//! means the API crate never links ONNX Runtime.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use polyvox_core::{AudioFormat, Error, Lang, SynthesisRequest};

/// How a caller wants the audio delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// Keep the first chunk short so the first audio byte leaves quickly (streamed responses).
    pub low_latency_start: bool,
    /// Deliver one complete file instead of a stream (`"stream": false`): headers carry exact
    /// sizes (WAV, FLAC) and MP3 gets its full gapless tag.
    pub whole_file: bool,
}

/// Encoded audio as it is produced. Dropping the stream cancels the remaining synthesis.
pub struct SpeechStream {
    pub format: AudioFormat,
    /// Number of text chunks that will be synthesized (known once the text is chunked).
    pub chunks: usize,
    pub bytes: BoxStream<'static, Result<Bytes, Error>>,
    /// Milliseconds of audio produced so far, kept current by the producer; read when the
    /// response ends to meter usage. Producers that cannot tell leave it at 0.
    pub audio_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Readiness of the synthesis side, for `/health/ready`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub detail: String,
}

/// Synthesis as the HTTP API needs it; implemented by the real pipeline and by test fakes.
pub trait SpeechService: Send + Sync + 'static {
    /// Starts synthesizing. Errors known before any audio exists (unsupported language, queue
    /// full, …) are returned here so the API can answer with a proper status instead of a broken
    /// stream; errors after that arrive as the stream's last item.
    fn synthesize(
        &self,
        req: SynthesisRequest,
        opts: StreamOptions,
    ) -> BoxFuture<'static, Result<SpeechStream, Error>>;

    /// Languages the loaded front ends can speak.
    fn languages(&self) -> Vec<Lang>;

    /// Whether synthesis can be served now; must be cheap (probes call it often).
    fn readiness(&self) -> Readiness;

    /// The model id reported by `/v1/models` (e.g. `kokoro-82m-int8`).
    fn model_id(&self) -> &str;
}
