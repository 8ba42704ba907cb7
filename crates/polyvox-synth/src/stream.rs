//! The asynchronous half: encoded audio as a `Stream`, produced by one task per request.
//!
//! Errors that can be known before any audio exists (unsupported language, a full engine queue
//! for the first chunk) are returned by [`Synthesizer::stream`] itself, so an HTTP caller can
//! still answer with a status code. Later errors end the stream as its last item.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use polyvox_core::{AudioFormat, SynthesisRequest};
use polyvox_engine::EngineError;
use polyvox_text::Chunk;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use crate::{SynthError, Synthesizer};

type PcmReceiver = oneshot::Receiver<Result<Vec<f32>, EngineError>>;

/// How a caller wants its audio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Keep the first chunk short so the first audio leaves early.
    pub low_latency: bool,
    /// Emit one complete file at the end (exact headers) instead of encoding chunk by chunk.
    pub whole_file: bool,
}

/// Encoded audio of one request, in order. Dropping it cancels the remaining synthesis.
pub struct AudioStream {
    pub format: AudioFormat,
    /// How many chunks the text was split into.
    pub chunks: usize,
    inner: ReceiverStream<Result<Bytes, SynthError>>,
}

impl Stream for AudioStream {
    type Item = Result<Bytes, SynthError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

impl Synthesizer {
    /// Starts synthesizing `req`, delivered as `delivery` asks.
    pub async fn stream(
        self: &Arc<Self>,
        req: SynthesisRequest,
        delivery: Delivery,
    ) -> Result<AudioStream, SynthError> {
        let low_latency = delivery.low_latency;
        let this = Arc::clone(self);
        let planned = req.clone();
        let chunks = tokio::task::spawn_blocking(move || this.plan(&planned, low_latency))
            .await
            .map_err(|e| SynthError::Task(e.to_string()))??;
        let Some(first_chunk) = chunks.first() else {
            return Err(SynthError::NothingToSay);
        };
        // Admission happens here: if the engine cannot take even the first chunk, the caller
        // hears about it now (429) instead of through a stream that dies at once.
        let first = self.submit(&req, first_chunk)?;
        let (tx, rx) = mpsc::channel(4);
        let format = req.format;
        let count = chunks.len();
        tokio::spawn(produce(
            Arc::clone(self),
            req,
            chunks,
            first,
            delivery.whole_file,
            tx,
        ));
        Ok(AudioStream {
            format,
            chunks: count,
            inner: ReceiverStream::new(rx),
        })
    }

    async fn submit_retry(
        &self,
        req: &SynthesisRequest,
        chunk: &Chunk,
    ) -> Result<PcmReceiver, SynthError> {
        loop {
            match self.submit(req, chunk) {
                Err(SynthError::Engine(EngineError::QueueFull { .. })) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                other => return other,
            }
        }
    }
}

async fn produce(
    this: Arc<Synthesizer>,
    req: SynthesisRequest,
    chunks: Vec<Chunk>,
    first: PcmReceiver,
    whole_file: bool,
    tx: mpsc::Sender<Result<Bytes, SynthError>>,
) {
    if let Err(e) = run(&this, &req, chunks, first, whole_file, &tx).await {
        if !matches!(e, SynthError::Cancelled) {
            tracing::warn!(error = %e, code = %e.code(), "synthesis failed mid-stream");
        }
        let _ = tx.send(Err(e)).await;
    }
}

async fn run(
    this: &Arc<Synthesizer>,
    req: &SynthesisRequest,
    chunks: Vec<Chunk>,
    first: PcmReceiver,
    whole_file: bool,
    tx: &mpsc::Sender<Result<Bytes, SynthError>>,
) -> Result<(), SynthError> {
    let depth = this.config().inflight_per_request.max(1);
    // A whole file is encoded once at the end (exact headers); a stream chunk by chunk.
    let mut encoder = if whole_file {
        None
    } else {
        Some(polyvox_audio::stream_encoder(
            req.format,
            &this.config().encode,
        )?)
    };
    let mut whole: Vec<f32> = Vec::new();
    let mut pending: VecDeque<PcmReceiver> = VecDeque::from([first]);
    let mut next = 1;
    let chunks = Arc::new(chunks);
    for index in 0..chunks.len() {
        while next < chunks.len() && pending.len() < depth {
            pending.push_back(this.submit_retry(req, &chunks[next]).await?);
            next += 1;
        }
        let rx = pending
            .pop_front()
            .ok_or_else(|| SynthError::Task("pipeline queue empty".into()))?;
        let pcm = tokio::select! {
            r = rx => r.map_err(|_| SynthError::Cancelled)??,
            // Client gone: returning drops `pending`, so the model threads skip those chunks.
            () = tx.closed() => return Ok(()),
        };
        let Some(mut enc) = encoder.take() else {
            whole.extend(this.finish_chunk(pcm, &chunks[index]));
            continue;
        };
        let (this2, chunks2) = (Arc::clone(this), Arc::clone(&chunks));
        let (enc, bytes) = tokio::task::spawn_blocking(move || {
            let pcm = this2.finish_chunk(pcm, &chunks2[index]);
            let bytes = enc.push(&pcm);
            (enc, bytes)
        })
        .await
        .map_err(|e| SynthError::Task(e.to_string()))?;
        encoder = Some(enc);
        let bytes = bytes?;
        if !bytes.is_empty() && tx.send(Ok(Bytes::from(bytes))).await.is_err() {
            return Ok(());
        }
    }
    let tail = match encoder {
        Some(mut enc) => enc.finish()?,
        None => {
            let (format, opts) = (req.format, this.config().encode);
            tokio::task::spawn_blocking(move || polyvox_audio::encode(format, &whole, &opts))
                .await
                .map_err(|e| SynthError::Task(e.to_string()))??
        }
    };
    if !tail.is_empty() {
        let _ = tx.send(Ok(Bytes::from(tail))).await;
    }
    Ok(())
}
