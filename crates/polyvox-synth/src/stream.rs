//! The asynchronous half: encoded audio as a `Stream`, produced by one task per request.
//!
//! Errors that can be known before any audio exists (unsupported language, a full engine queue
//! for the first chunk) are returned by [`Synthesizer::stream`] itself, so an HTTP caller can
//! still answer with a status code. Later errors end the stream as its last item.
//!
//! Metrics are recorded here because this is the one path every synthesis takes (the API's
//! streams and the workers' renders alike): the producer task knows when the first audio came
//! out of the model, how much audio it made and how the request ended.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use futures::channel::oneshot;
use polyvox_core::metrics as m;
use polyvox_core::{AudioFormat, SAMPLE_RATE, SynthesisRequest};
use polyvox_engine::{EngineError, Priority};
use polyvox_text::Chunk;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::pipeline::PcmReceiver;
use crate::{ChunkKey, SynthError, Synthesizer};

/// How a caller wants its audio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Keep the first chunk short so the first audio leaves early.
    pub low_latency: bool,
    /// Emit one complete file at the end (exact headers) instead of encoding chunk by chunk.
    pub whole_file: bool,
    /// With a stream, also encode the complete file once the stream has ended
    /// ([`AudioStream::take_file`]), for storage and the cache.
    pub keep_file: bool,
    /// Batch work: its model calls wait behind every interactive one.
    pub background: bool,
}

impl Delivery {
    fn priority(self) -> Priority {
        if self.background {
            Priority::Background
        } else {
            Priority::Interactive
        }
    }
}

/// How far a synthesis has come: chunks rendered and samples produced (pauses included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub chunks_done: usize,
    pub samples: usize,
}

/// Encoded audio of one request, in order. Dropping it cancels the remaining synthesis.
pub struct AudioStream {
    pub format: AudioFormat,
    /// How many chunks the text was split into.
    pub chunks: usize,
    inner: ReceiverStream<Result<Bytes, SynthError>>,
    progress: watch::Receiver<Progress>,
    file: Option<oneshot::Receiver<Bytes>>,
}

impl AudioStream {
    /// With [`Delivery::keep_file`]: the complete file, sent after the stream's last piece if the
    /// synthesis finished (never sent otherwise).
    pub fn take_file(&mut self) -> Option<oneshot::Receiver<Bytes>> {
        self.file.take()
    }

    /// Updated after every chunk, also in whole-file mode where no bytes flow until the end.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }
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
        let started = Instant::now();
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
        // hears about it now (429) instead of through a stream that dies at once. A remembered
        // first chunk needs no admission.
        let first = match self.recall(&req, first_chunk).await {
            Some(pcm) => Pending::Cached(pcm),
            None => Pending::Model(self.submit(&req, first_chunk, delivery.priority()).inspect_err(|e| {
                if matches!(e, SynthError::Engine(EngineError::QueueFull { .. })) {
                    metrics::counter!(m::REJECTIONS_TOTAL, m::label::REASON => m::reason::ENGINE_QUEUE_FULL)
                        .increment(1);
                }
            })?),
        };
        let (tx, rx) = mpsc::channel(4);
        let (progress_tx, progress) = watch::channel(Progress::default());
        let format = req.format;
        let count = chunks.len();
        let (file_tx, file) = if delivery.keep_file && !delivery.whole_file {
            let (t, r) = oneshot::channel();
            (Some(t), Some(r))
        } else {
            (None, None)
        };
        tokio::spawn(produce(
            Arc::clone(self),
            req,
            chunks,
            first,
            (delivery, file_tx),
            tx,
            Tally {
                started,
                samples: 0,
                first_audio: false,
                finished: false,
                progress: progress_tx,
            },
        ));
        Ok(AudioStream {
            format,
            chunks: count,
            inner: ReceiverStream::new(rx),
            progress,
            file,
        })
    }

    /// The remembered PCM of `chunk`, when a sentence cache is plugged in and has it.
    async fn recall(&self, req: &SynthesisRequest, chunk: &Chunk) -> Option<Vec<f32>> {
        let memo = self.memo()?;
        let voice = req.voice.canonical();
        let key = ChunkKey {
            ids: &chunk.ids,
            voice: &voice,
            speed: req.speed,
        };
        let found = memo.lookup(key).await;
        let result = if found.is_some() { "hit" } else { "miss" };
        metrics::counter!(m::SENTENCE_CACHE_LOOKUPS_TOTAL, "result" => result).increment(1);
        found
    }

    /// Hands a fresh model output to the sentence cache without waiting for it.
    fn remember(&self, req: &SynthesisRequest, chunk: &Chunk, pcm: &[f32]) {
        if let Some(memo) = self.memo() {
            let voice = req.voice.canonical();
            let key = ChunkKey {
                ids: &chunk.ids,
                voice: &voice,
                speed: req.speed,
            };
            tokio::spawn(memo.remember(key, pcm));
        }
    }

    /// The next chunk's audio source: the sentence cache, else a model call.
    async fn next_pending(
        &self,
        req: &SynthesisRequest,
        chunk: &Chunk,
        priority: Priority,
    ) -> Result<Pending, SynthError> {
        if let Some(pcm) = self.recall(req, chunk).await {
            return Ok(Pending::Cached(pcm));
        }
        Ok(Pending::Model(
            self.submit_retry(req, chunk, priority).await?,
        ))
    }

    async fn submit_retry(
        &self,
        req: &SynthesisRequest,
        chunk: &Chunk,
        priority: Priority,
    ) -> Result<PcmReceiver, SynthError> {
        loop {
            match self.submit(req, chunk, priority) {
                Err(SynthError::Engine(EngineError::QueueFull { .. })) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                other => return other,
            }
        }
    }
}

/// Where a chunk's raw PCM comes from, in chunk order.
enum Pending {
    /// Queued on the model threads.
    Model(PcmReceiver),
    /// Remembered by the sentence cache: no model call.
    Cached(Vec<f32>),
}

/// What one synthesis produced, for its metrics.
struct Tally {
    started: Instant,
    samples: usize,
    first_audio: bool,
    /// Every chunk was produced and handed over (not cut short by a departed caller).
    finished: bool,
    progress: watch::Sender<Progress>,
}

impl Tally {
    fn chunk_done(&mut self, samples: usize) {
        self.samples += samples;
        let samples = self.samples;
        self.progress.send_modify(|p| {
            p.chunks_done += 1;
            p.samples = samples;
        });
    }

    fn first_audio(&mut self) {
        if !self.first_audio {
            self.first_audio = true;
            metrics::histogram!(m::TIME_TO_FIRST_AUDIO_SECONDS)
                .record(self.started.elapsed().as_secs_f64());
        }
    }

    fn record(&self, req: &SynthesisRequest, result: Result<(), &SynthError>) {
        let outcome = match result {
            Ok(()) if self.finished => m::outcome::OK,
            Ok(()) | Err(SynthError::Cancelled) => m::outcome::CANCELLED,
            Err(_) => m::outcome::FAILED,
        };
        metrics::counter!(m::SYNTHESES_TOTAL, m::label::OUTCOME => outcome).increment(1);
        if outcome != m::outcome::OK {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let audio = self.samples as f64 / f64::from(SAMPLE_RATE);
        metrics::histogram!(m::SYNTHESIS_SECONDS).record(elapsed);
        metrics::histogram!(m::SYNTHESIS_AUDIO_SECONDS).record(audio);
        metrics::counter!(m::SYNTHESIZED_CHARACTERS_TOTAL)
            .increment(req.text.chars().count() as u64);
        if audio > 0.0 {
            metrics::histogram!(m::SYNTHESIS_REAL_TIME_FACTOR).record(elapsed / audio);
        }
    }
}

async fn produce(
    this: Arc<Synthesizer>,
    req: SynthesisRequest,
    chunks: Vec<Chunk>,
    first: Pending,
    (delivery, file_tx): (Delivery, Option<oneshot::Sender<Bytes>>),
    tx: mpsc::Sender<Result<Bytes, SynthError>>,
    mut tally: Tally,
) {
    let delivery = Delivery {
        keep_file: file_tx.is_some(),
        ..delivery
    };
    let result = run(&this, &req, chunks, first, delivery, &tx, &mut tally).await;
    tally.record(&req, result.as_ref().map(|_| ()));
    match result {
        Err(e) => {
            if !matches!(e, SynthError::Cancelled) {
                tracing::warn!(error = %e, code = %e.code(), "synthesis failed mid-stream");
            }
            let _ = tx.send(Err(e)).await;
        }
        Ok(Some(pcm)) if tally.finished => {
            // The stream ends for its reader first; the file is encoded after.
            drop(tx);
            let Some(file_tx) = file_tx else { return };
            let (format, opts) = (req.format, this.config().encode);
            match tokio::task::spawn_blocking(move || polyvox_audio::encode(format, &pcm, &opts))
                .await
            {
                Ok(Ok(file)) => drop(file_tx.send(Bytes::from(file))),
                Ok(Err(e)) => tracing::warn!(error = %e, "encoding the kept file failed"),
                Err(e) => tracing::warn!(error = %e, "encoding the kept file panicked"),
            }
        }
        Ok(_) => {}
    }
}

async fn run(
    this: &Arc<Synthesizer>,
    req: &SynthesisRequest,
    chunks: Vec<Chunk>,
    first: Pending,
    delivery: Delivery,
    tx: &mpsc::Sender<Result<Bytes, SynthError>>,
    tally: &mut Tally,
) -> Result<Option<Vec<f32>>, SynthError> {
    let (whole_file, keep_file) = (delivery.whole_file, delivery.keep_file);
    let priority = delivery.priority();
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
    let mut pending: VecDeque<Pending> = VecDeque::from([first]);
    let mut next = 1;
    let chunks = Arc::new(chunks);
    for index in 0..chunks.len() {
        while next < chunks.len() && pending.len() < depth {
            pending.push_back(this.next_pending(req, &chunks[next], priority).await?);
            next += 1;
        }
        let next_up = pending
            .pop_front()
            .ok_or_else(|| SynthError::Task("pipeline queue empty".into()))?;
        let pcm = match next_up {
            Pending::Cached(pcm) => pcm,
            Pending::Model(rx) => {
                let pcm = tokio::select! {
                    r = rx => r.map_err(|_| SynthError::Cancelled)??,
                    // Client gone: returning drops `pending`, so the model threads skip those chunks.
                    () = tx.closed() => return Ok(None),
                };
                this.remember(req, &chunks[index], &pcm);
                pcm
            }
        };
        tally.first_audio();
        let Some(mut enc) = encoder.take() else {
            let pcm = this.finish_chunk(pcm, &chunks[index]);
            tally.chunk_done(pcm.len());
            whole.extend(pcm);
            continue;
        };
        let (this2, chunks2) = (Arc::clone(this), Arc::clone(&chunks));
        let (enc, bytes, pcm) = tokio::task::spawn_blocking(move || {
            let pcm = this2.finish_chunk(pcm, &chunks2[index]);
            let bytes = enc.push(&pcm);
            (enc, bytes, pcm)
        })
        .await
        .map_err(|e| SynthError::Task(e.to_string()))?;
        tally.chunk_done(pcm.len());
        if keep_file {
            whole.extend(pcm);
        }
        encoder = Some(enc);
        let bytes = bytes?;
        if !bytes.is_empty() && tx.send(Ok(Bytes::from(bytes))).await.is_err() {
            return Ok(None);
        }
    }
    let tail = match encoder {
        Some(mut enc) => enc.finish()?,
        None => {
            let (format, opts) = (req.format, this.config().encode);
            let pcm = std::mem::take(&mut whole);
            tokio::task::spawn_blocking(move || polyvox_audio::encode(format, &pcm, &opts))
                .await
                .map_err(|e| SynthError::Task(e.to_string()))??
        }
    };
    tally.finished = tail.is_empty() || tx.send(Ok(Bytes::from(tail))).await.is_ok();
    Ok(keep_file.then_some(whole))
}
