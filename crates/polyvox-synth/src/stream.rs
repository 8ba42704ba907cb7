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
    /// With a stream, also give the header that turns the streamed bytes into the whole file
    /// when written over their start ([`AudioStream::take_head`]): a job stores its file as it
    /// is encoded instead of keeping all its samples (as `keep_file` does) until the end.
    pub file_head: bool,
    /// Batch work: its model calls wait behind every interactive one.
    pub background: bool,
    /// Time the words ([`AudioStream::words`]); a chunk is then taken from the sentence cache only
    /// with its durations.
    pub timestamps: bool,
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
    head: Option<oneshot::Receiver<Bytes>>,
    /// Word timings, each chunk's appended before its audio is yielded.
    pub words: Arc<polyvox_core::Timeline>,
}

impl AudioStream {
    /// With [`Delivery::file_head`]: the whole file's header (empty when the stream is the file),
    /// sent after the stream's last piece if the synthesis finished (never sent otherwise).
    pub fn take_head(&mut self) -> Option<oneshot::Receiver<Bytes>> {
        self.head.take()
    }

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
        let first = match self.recall(&req, first_chunk, delivery).await {
            Some((pcm, durations)) => Pending::Cached(pcm, durations),
            None => Pending::Model(self.submit(&req, first_chunk, delivery.priority()).inspect_err(|e| {
                if matches!(e, SynthError::Engine(EngineError::QueueFull { .. })) {
                    metrics::counter!(m::REJECTIONS_TOTAL, m::label::REASON => m::reason::ENGINE_QUEUE_FULL)
                        .increment(1);
                }
            })?),
        };
        let words = Arc::new(polyvox_core::Timeline::default());
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
        let (head_tx, head) = if delivery.file_head && !delivery.whole_file {
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
            (delivery, file_tx, head_tx),
            (tx, Arc::clone(&words)),
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
            head,
            words,
        })
    }

    /// The remembered PCM of `chunk` (and its durations, for a timed synthesis), when a sentence
    /// cache is plugged in and has it.
    async fn recall(
        &self,
        req: &SynthesisRequest,
        chunk: &Chunk,
        delivery: Delivery,
    ) -> Option<(Vec<f32>, Option<Vec<u32>>)> {
        let memo = self.memo()?;
        let voice = req.voice.canonical();
        let key = ChunkKey {
            ids: &chunk.ids,
            voice: &voice,
            speed: crate::pipeline::chunk_speed(req, chunk),
        };
        let mut found = memo.lookup(key).await.map(|pcm| (pcm, None));
        // Timings and breaks place things by the model's durations.
        if (delivery.timestamps || !chunk.breaks.is_empty()) && found.is_some() {
            found = match memo.lookup_durations(key).await {
                Some(d) => found.map(|(pcm, _)| (pcm, Some(d))),
                None => None,
            };
        }
        let result = if found.is_some() { "hit" } else { "miss" };
        metrics::counter!(m::SENTENCE_CACHE_LOOKUPS_TOTAL, "result" => result).increment(1);
        found
    }

    /// Hands a fresh model output to the sentence cache without waiting for it.
    fn remember(&self, req: &SynthesisRequest, chunk: &Chunk, voiced: &polyvox_engine::Voiced) {
        if let Some(memo) = self.memo() {
            let voice = req.voice.canonical();
            let key = ChunkKey {
                ids: &chunk.ids,
                voice: &voice,
                speed: crate::pipeline::chunk_speed(req, chunk),
            };
            tokio::spawn(memo.remember(key, &voiced.pcm));
            if let Some(d) = &voiced.durations {
                tokio::spawn(memo.remember_durations(key, d));
            }
        }
    }

    /// The next chunk's audio source: the sentence cache, else a model call.
    async fn next_pending(
        &self,
        req: &SynthesisRequest,
        chunk: &Chunk,
        delivery: Delivery,
    ) -> Result<Pending, SynthError> {
        let priority = delivery.priority();
        if let Some((pcm, durations)) = self.recall(req, chunk, delivery).await {
            return Ok(Pending::Cached(pcm, durations));
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

/// Where a synthesis delivers: the audio pieces and the word timings.
struct Out<'a> {
    tx: &'a mpsc::Sender<Result<Bytes, SynthError>>,
    words: Arc<polyvox_core::Timeline>,
}

/// Where a chunk's raw PCM comes from, in chunk order.
enum Pending {
    /// Queued on the model threads.
    Model(PcmReceiver),
    /// Remembered by the sentence cache: no model call. Durations only for a timed synthesis.
    Cached(Vec<f32>, Option<Vec<u32>>),
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
    (delivery, file_tx, head_tx): FileSenders,
    (tx, words): (
        mpsc::Sender<Result<Bytes, SynthError>>,
        Arc<polyvox_core::Timeline>,
    ),
    mut tally: Tally,
) {
    let delivery = Delivery {
        keep_file: file_tx.is_some(),
        file_head: head_tx.is_some(),
        ..delivery
    };
    let out = Out { tx: &tx, words };
    let result = run(&this, &req, chunks, first, delivery, out, &mut tally).await;
    tally.record(&req, result.as_ref().map(|_| ()));
    let result = match result {
        Ok(r) => {
            if let (Some(head), Some(head_tx)) = (r.head, head_tx)
                && tally.finished
            {
                drop(head_tx.send(Bytes::from(head)));
            }
            Ok(r.pcm)
        }
        Err(e) => Err(e),
    };
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

/// The delivery, and where the complete file (`keep_file`) and the whole file's header
/// (`file_head`) go when asked for.
type FileSenders = (
    Delivery,
    Option<oneshot::Sender<Bytes>>,
    Option<oneshot::Sender<Bytes>>,
);

/// What a finished run leaves besides the streamed bytes.
struct Rendered {
    /// With `keep_file`: every sample, to encode the complete file from.
    pcm: Option<Vec<f32>>,
    /// With `file_head`: the whole file's header.
    head: Option<Vec<u8>>,
}

async fn run(
    this: &Arc<Synthesizer>,
    req: &SynthesisRequest,
    chunks: Vec<Chunk>,
    first: Pending,
    delivery: Delivery,
    out: Out<'_>,
    tally: &mut Tally,
) -> Result<Rendered, SynthError> {
    let tx = out.tx;
    let (whole_file, keep_file) = (delivery.whole_file, delivery.keep_file);
    let chars = polyvox_core::timing::CharOffsets::new(&req.text);
    let depth = this.config().inflight_per_request.max(1);
    let ended = |pcm: Option<Vec<f32>>| Rendered { pcm, head: None };
    // A whole file is encoded once at the end (exact headers); a stream chunk by chunk. The
    // file encoder streams the same bytes and also knows the whole file's header at the end.
    let mut encoder = if whole_file {
        None
    } else {
        Some(polyvox_audio::file_encoder(
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
            pending.push_back(this.next_pending(req, &chunks[next], delivery).await?);
            next += 1;
        }
        let next_up = pending
            .pop_front()
            .ok_or_else(|| SynthError::Task("pipeline queue empty".into()))?;
        let (pcm, durations) = match next_up {
            Pending::Cached(pcm, durations) => (pcm, durations),
            Pending::Model(rx) => {
                let voiced = tokio::select! {
                    r = rx => r.map_err(|_| SynthError::Cancelled)??,
                    // Client gone: returning drops `pending`, so the model threads skip those chunks.
                    () = tx.closed() => return Ok(ended(None)),
                };
                this.remember(req, &chunks[index], &voiced);
                (voiced.pcm, voiced.durations)
            }
        };
        tally.first_audio();
        let timed = delivery.timestamps;
        let Some(mut enc) = encoder.take() else {
            let finished = this.finish_chunk(pcm, durations.as_deref(), &chunks[index]);
            if timed {
                out.words
                    .push(finished.timings(&req.text, &chars, tally.samples));
            }
            tally.chunk_done(finished.pcm.len());
            whole.extend(finished.pcm);
            continue;
        };
        let (this2, chunks2) = (Arc::clone(this), Arc::clone(&chunks));
        let (enc, bytes, finished) = tokio::task::spawn_blocking(move || {
            let finished = this2.finish_chunk(pcm, durations.as_deref(), &chunks2[index]);
            let bytes = enc.push(&finished.pcm);
            (enc, bytes, finished)
        })
        .await
        .map_err(|e| SynthError::Task(e.to_string()))?;
        // Before the audio leaves, so no reader hears a word before it is announced.
        if timed {
            out.words
                .push(finished.timings(&req.text, &chars, tally.samples));
        }
        let pcm = finished.pcm;
        tally.chunk_done(pcm.len());
        if keep_file {
            whole.extend(pcm);
        }
        encoder = Some(enc);
        let bytes = bytes?;
        if !bytes.is_empty() && tx.send(Ok(Bytes::from(bytes))).await.is_err() {
            return Ok(ended(None));
        }
    }
    let mut head = None;
    let tail = match encoder {
        Some(mut enc) => {
            let tail = enc.finish()?;
            if delivery.file_head {
                head = Some(enc.file_header()?);
            }
            tail
        }
        None => {
            let (format, opts) = (req.format, this.config().encode);
            let pcm = std::mem::take(&mut whole);
            tokio::task::spawn_blocking(move || polyvox_audio::encode(format, &pcm, &opts))
                .await
                .map_err(|e| SynthError::Task(e.to_string()))??
        }
    };
    tally.finished = tail.is_empty() || tx.send(Ok(Bytes::from(tail))).await.is_ok();
    Ok(Rendered {
        pcm: keep_file.then_some(whole),
        head,
    })
}
