//! The synchronous half of the pipeline: planning (normalize → G2P → chunks) and the blocking
//! renderer used by `polyvox say`.

use std::collections::VecDeque;
use std::sync::Arc;

use polyvox_audio::EncodeOptions;
use polyvox_core::SynthesisRequest;
use polyvox_engine::{Engine, Priority, VoiceBank};
use polyvox_text::{Chunk, ChunkOptions, Frontend};

use crate::SynthError;

/// Where one chunk's raw PCM (and its tokens' durations) arrives from the model threads.
pub(crate) type PcmReceiver = tokio::sync::oneshot::Receiver<polyvox_engine::InferResult>;

/// One chunk as it goes on the wire, and where its words are spoken in it.
pub(crate) struct Finished {
    pub pcm: Vec<f32>,
    /// Byte span of each word in the input, with its first and end sample in `pcm`.
    pub words: Vec<(std::ops::Range<usize>, (usize, usize))>,
}

impl Finished {
    /// The words as timings of `input`, the chunk starting `offset` samples into the audio.
    pub fn timings(
        &self,
        input: &str,
        chars: &polyvox_core::timing::CharOffsets,
        offset: usize,
    ) -> Vec<polyvox_core::WordTiming> {
        self.words
            .iter()
            .map(|(span, (a, b))| {
                polyvox_core::WordTiming::from_samples(
                    input,
                    span.clone(),
                    chars,
                    (offset + a, offset + b),
                )
            })
            .collect()
    }
}

/// Knobs of the pipeline (the binary maps flags onto these).
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Most phoneme ids per model call. Lower bounds latency and memory; the model allows 510.
    pub max_chunk_ids: usize,
    /// Most ids of the first chunk of a low-latency stream, so the first audio leaves early;
    /// later chunks' budgets double from it up to `max_chunk_ids`.
    pub first_chunk_ids: usize,
    /// Chunks of one request allowed in the engine queue at once.
    pub inflight_per_request: usize,
    /// Fade applied at both ends of every chunk, in milliseconds; removes clicks at joins.
    pub fade_ms: f32,
    /// Near-silence trimmed from both ends of every chunk before its pause; `None` keeps the
    /// model's edges.
    pub edge_trim: Option<EdgeTrim>,
    pub encode: EncodeOptions,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            max_chunk_ids: 250,
            first_chunk_ids: 12,
            inflight_per_request: 2,
            fade_ms: 4.0,
            edge_trim: Some(EdgeTrim::default()),
            encode: EncodeOptions::default(),
        }
    }
}

/// How much of the model's own silence to keep at a chunk's edges.
///
/// Why trim: every model call starts and ends with its own stretch of near-silence, so each
/// chunk boundary adds that much to the audio on top of the chunk's planned pause. A stream
/// whose first chunks are a few words long (for an early first byte) then has more boundaries
/// than the same text rendered whole, and came out about 9 % longer. Trimmed, a boundary costs
/// its planned pause plus `keep_ms` on each side whatever the chunking, and the text's
/// punctuation, not the chunk plan, decides the pauses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeTrim {
    /// Samples at or below this magnitude count as silence.
    pub threshold: f32,
    /// Kept around the first and last louder sample, so soft onsets and releases survive.
    pub keep_ms: u32,
}

impl Default for EdgeTrim {
    fn default() -> Self {
        Self {
            threshold: 0.01,
            keep_ms: 50,
        }
    }
}

/// One finished rendering: joined PCM plus what `say` reports.
pub struct Rendered {
    pub pcm: Vec<f32>,
    pub chunks: usize,
    /// Every written word and when it is spoken in `pcm` (empty when the model gives no
    /// durations).
    pub words: Vec<polyvox_core::WordTiming>,
}

impl Rendered {
    pub fn duration_secs(&self) -> f64 {
        self.pcm.len() as f64 / f64::from(polyvox_core::SAMPLE_RATE)
    }
}

/// Cheap to share (`Arc`); every method takes `&self`.
pub struct Synthesizer {
    frontend: Arc<Frontend>,
    engine: Engine,
    voices: Arc<VoiceBank>,
    cfg: SynthConfig,
    memo: std::sync::OnceLock<Arc<dyn crate::ChunkMemo>>,
}

impl Synthesizer {
    pub fn new(
        frontend: Arc<Frontend>,
        engine: Engine,
        voices: Arc<VoiceBank>,
        cfg: SynthConfig,
    ) -> Self {
        Self {
            frontend,
            engine,
            voices,
            cfg,
            memo: std::sync::OnceLock::new(),
        }
    }

    /// Plugs in a sentence-level cache (once; later calls are ignored). Set after construction
    /// because the cache's backend is usually connected after the model is loaded.
    pub fn set_chunk_memo(&self, memo: Arc<dyn crate::ChunkMemo>) {
        let _ = self.memo.set(memo);
    }

    pub(crate) fn memo(&self) -> Option<&Arc<dyn crate::ChunkMemo>> {
        self.memo.get()
    }

    pub fn config(&self) -> &SynthConfig {
        &self.cfg
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn frontend(&self) -> &Frontend {
        &self.frontend
    }

    /// Splits the request's text into model-sized chunks. CPU-bound: call it off the async runtime.
    pub fn plan(
        &self,
        req: &SynthesisRequest,
        low_latency: bool,
    ) -> Result<Vec<Chunk>, SynthError> {
        if !self.frontend.supports(req.lang) {
            return Err(SynthError::UnsupportedLanguage(req.lang));
        }
        let max_ids = self
            .cfg
            .max_chunk_ids
            .clamp(16, polyvox_core::MODEL_MAX_IDS);
        let first = if low_latency {
            self.cfg.first_chunk_ids.clamp(8, max_ids)
        } else {
            max_ids
        };
        let opts = ChunkOptions {
            max_ids,
            first_max_ids: first,
        };
        // The request's own lexicons, already validated and resolved at the API.
        let lex = polyvox_text::Pronunciations::new(&req.lexicons);
        if let Some(doc) = &req.ssml {
            // Markup decides languages (`xml:lang`); pieces without one read in `req.lang`, or
            // with no `lang` given, sentence by sentence in their detected language.
            let fe = &self.frontend;
            return Ok(if req.auto_lang {
                fe.chunks_ssml_auto_with(&req.text, doc, req.lang, &opts, &lex)?
            } else {
                fe.chunks_ssml_with(&req.text, doc, req.lang, &opts, &lex)?
            });
        }
        if req.auto_lang {
            // No `lang` given: each sentence in its own language (mixed-language text).
            return Ok(self
                .frontend
                .chunks_auto_with(&req.text, req.lang, &opts, &lex)?);
        }
        Ok(self
            .frontend
            .chunks_with(&req.text, req.lang, &opts, &lex)?)
    }

    /// Queues one chunk on the engine; the receiver yields its raw PCM.
    pub(crate) fn submit(
        &self,
        req: &SynthesisRequest,
        chunk: &Chunk,
        priority: Priority,
    ) -> Result<PcmReceiver, SynthError> {
        let style = self.voices.style(&req.voice, chunk.ids.len())?;
        Ok(self
            .engine
            .submit_with(chunk.ids.clone(), style, chunk_speed(req, chunk), priority)?)
    }

    /// Turns one chunk's model output into what goes on the wire: edge silence trimmed, faded
    /// edges, then its pause. With the tokens' durations, each word's place in the result: the
    /// model's own alignment, moved by what the trim cut from the front and clamped to what it
    /// kept.
    pub(crate) fn finish_chunk(
        &self,
        mut pcm: Vec<f32>,
        durations: Option<&[u32]>,
        chunk: &Chunk,
    ) -> Finished {
        let mut kept = 0..pcm.len();
        if let Some(t) = self.cfg.edge_trim {
            let loud = polyvox_audio::join::loud_range(&pcm, t.threshold, t.keep_ms);
            // An all-quiet chunk (a stray symbol) keeps its length rather than vanishing.
            if !loud.is_empty() {
                pcm.truncate(loud.end);
                pcm.drain(..loud.start);
                kept = loud;
            }
        }
        let mut words = durations
            .map(|d| word_samples(d, chunk, &kept))
            .unwrap_or_default();
        polyvox_audio::join::fade_in_out(&mut pcm, self.cfg.fade_ms);
        if !chunk.breaks.is_empty() {
            crate::breaks::insert(
                &mut pcm,
                &mut words,
                durations,
                chunk,
                &kept,
                self.cfg.fade_ms,
            );
        }
        pcm.extend(polyvox_audio::join::silence(chunk.pause_after_ms));
        Finished { pcm, words }
    }

    /// Renders every chunk in order on the calling thread (which blocks), keeping up to
    /// `inflight_per_request` chunks queued so the model never waits for us.
    /// `progress(done, total)` runs after each chunk.
    pub fn render_blocking(
        &self,
        req: &SynthesisRequest,
        chunks: &[Chunk],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Rendered, SynthError> {
        if chunks.is_empty() {
            return Err(SynthError::NothingToSay);
        }
        let depth = self.cfg.inflight_per_request.max(1);
        let mut pending = VecDeque::with_capacity(depth);
        let mut next = 0;
        let mut pcm = Vec::new();
        let mut words = Vec::new();
        let chars = polyvox_core::timing::CharOffsets::new(&req.text);
        for done in 0..chunks.len() {
            while next < chunks.len() && pending.len() < depth {
                pending.push_back(self.submit_blocking_retry(req, &chunks[next])?);
                next += 1;
            }
            let rx = pending
                .pop_front()
                .ok_or_else(|| SynthError::Task("pipeline queue empty".into()))?;
            let audio = rx.blocking_recv().map_err(|_| SynthError::Cancelled)??;
            let finished = self.finish_chunk(audio.pcm, audio.durations.as_deref(), &chunks[done]);
            words.extend(finished.timings(&req.text, &chars, pcm.len()));
            pcm.extend(finished.pcm);
            progress(done + 1, chunks.len());
        }
        Ok(Rendered {
            pcm,
            chunks: chunks.len(),
            words,
        })
    }

    /// A full engine queue is back-pressure, not failure, for a request that is already running.
    fn submit_blocking_retry(
        &self,
        req: &SynthesisRequest,
        chunk: &Chunk,
    ) -> Result<PcmReceiver, SynthError> {
        loop {
            match self.submit(req, chunk, Priority::Interactive) {
                Err(SynthError::Engine(polyvox_engine::EngineError::QueueFull { .. })) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }
}

/// The speed of one chunk's model call: the request's, times the chunk's SSML rate, within the
/// speed limits.
pub(crate) fn chunk_speed(req: &SynthesisRequest, chunk: &Chunk) -> f32 {
    let limits = polyvox_core::Limits::default();
    (req.speed * chunk.rate).clamp(limits.min_speed, limits.max_speed)
}

/// Where each word of `chunk` lies in the model's output, given every token's duration in
/// samples (pads included), then shifted and clamped to the `kept` part of that output.
fn word_samples(
    durations: &[u32],
    chunk: &Chunk,
    kept: &std::ops::Range<usize>,
) -> Vec<(std::ops::Range<usize>, (usize, usize))> {
    // at[i]: the sample where token i starts; token 0 is the leading pad, id k is token k + 1.
    let mut at = Vec::with_capacity(durations.len() + 1);
    at.push(0usize);
    for &d in durations {
        at.push(at.last().copied().unwrap_or(0) + d as usize);
    }
    let place = |token: usize| {
        let s = at.get(token).copied().unwrap_or(kept.end);
        s.clamp(kept.start, kept.end) - kept.start
    };
    chunk
        .words
        .iter()
        .map(|w| {
            (
                w.span.clone(),
                (place(w.ids.start + 1), place(w.ids.end + 1)),
            )
        })
        .collect()
}
