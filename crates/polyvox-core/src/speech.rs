//! The one synthesis interface: everything above it (the HTTP routes, the job worker) asks for
//! speech through [`SpeechService`]; below it sit the in-process pipeline (`polyvox-synth`) and,
//! in a cluster, the relay that streams a worker's audio to the API instance holding the client
//! (`polyvox-server`'s `RemoteSpeech`). It lives in this IO-free crate so the API never links
//! ONNX Runtime and the worker and the server share one contract.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use futures::channel::oneshot;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::{AudioFormat, Error, Lang, SynthesisRequest};

/// How a caller wants the audio delivered. Part of the job payload, and `low_latency_start` of
/// the cache key: it changes where the text is split, so it changes the audio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StreamOptions {
    /// Keep the first chunk short so the first audio byte leaves quickly (streamed responses).
    pub low_latency_start: bool,
    /// Deliver one complete file instead of a stream (`"stream": false`): headers carry exact
    /// sizes (WAV, FLAC) and MP3 gets its full gapless tag.
    pub whole_file: bool,
    /// With a stream, also produce the complete file (as `whole_file` would encode it) when the
    /// stream ends, for storage and the cache ([`SpeechStream::file`]).
    #[serde(default)]
    pub keep_file: bool,
    /// With a stream, also give the header that, written over the start of the streamed bytes,
    /// makes them the complete file ([`SpeechStream::head`]): how a job stores its file as it is
    /// encoded, never holding all of it.
    #[serde(default)]
    pub file_head: bool,
    /// Batch work: each of its model calls waits behind every interactive one, so a long job
    /// delays a waiting client by at most the call already running.
    #[serde(default)]
    pub background: bool,
    /// Time every word ([`SpeechStream::words`]). Needs the model's own durations, so a chunk is
    /// taken from the sentence cache only where it kept them too.
    #[serde(default)]
    pub timestamps: bool,
}

/// How far a synthesis has come, kept current by the producer and read by whoever meters or
/// reports progress (the usage meter, a job's heartbeat).
#[derive(Debug, Default)]
pub struct Progress {
    chunks_done: AtomicUsize,
    audio_ms: AtomicU64,
}

impl Progress {
    /// A progress that starts at `audio_ms` (a finished file read from storage).
    pub fn finished(chunks: usize, audio_ms: u64) -> Arc<Self> {
        let p = Self::default();
        p.set(chunks, audio_ms);
        Arc::new(p)
    }

    pub fn set(&self, chunks_done: usize, audio_ms: u64) {
        self.chunks_done.store(chunks_done, Ordering::Relaxed);
        self.audio_ms.store(audio_ms, Ordering::Relaxed);
    }

    pub fn chunks_done(&self) -> usize {
        self.chunks_done.load(Ordering::Relaxed)
    }

    /// Milliseconds of audio produced so far (pauses included).
    pub fn audio_ms(&self) -> u64 {
        self.audio_ms.load(Ordering::Relaxed)
    }
}

/// Encoded audio as it is produced. Dropping the stream cancels the remaining synthesis.
pub struct SpeechStream {
    pub format: AudioFormat,
    /// Number of text chunks that will be synthesized (known once the text is chunked).
    pub chunks: usize,
    pub bytes: BoxStream<'static, Result<Bytes, Error>>,
    /// Updated before each piece is yielded.
    pub progress: Arc<Progress>,
    /// With [`StreamOptions::keep_file`]: the complete file, sent once the stream has ended
    /// without error (dropped otherwise).
    pub file: Option<oneshot::Receiver<Bytes>>,
    /// With [`StreamOptions::file_head`]: the bytes to write over the start of the stream to get
    /// the complete file (empty when the stream already is the file), sent once the stream has
    /// ended without error (dropped otherwise). `None` from a service that cannot give one (a
    /// test double): the stream is stored as it is.
    pub head: Option<oneshot::Receiver<Bytes>>,
    /// With [`StreamOptions::timestamps`]: each chunk's word timings, appended before the chunk's
    /// audio is yielded. Empty otherwise.
    pub words: Arc<crate::Timeline>,
}

/// Readiness of the synthesis side, for `/health/ready`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub detail: String,
}

/// Synthesis as its callers need it; implemented by the pipeline, the cluster relay and fakes.
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

    /// Whether [`StreamOptions::timestamps`] is honoured (the words of [`SpeechStream::words`]).
    fn timestamps(&self) -> bool {
        false
    }

    /// The model id reported by `/v1/models`.
    fn model_id(&self) -> &str {
        crate::MODEL_ID
    }
}
