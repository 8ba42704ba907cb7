//! The speaker of a live session: each chunk through the one synthesis interface, in order, into
//! one continuous audio stream.
//!
//! Each chunk is asked of the service as PCM (nothing is ever decoded) and fed to one encoder for
//! the whole session, so an MP3 or Opus session is one file with one header, not a concatenation
//! of files; PCM passes through. Between chunks the speaker puts the silence the boundary calls
//! for (a sentence end gets the pipeline's sentence pause), so the joins sound like one
//! request's. Word timings of a chunk are shifted to the session's text and audio clock and sent
//! before that chunk's audio.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::ws::Message;
use base64::Engine as _;
use futures::StreamExt;
use polyvox_audio::{EncodeOptions, StreamEncoder};
use polyvox_core::live::Piece;
use polyvox_core::{
    AudioFormat, ErrorCode, Limits, RawSynthesisRequest, SAMPLE_RATE, StreamOptions,
};
use tokio::sync::mpsc;

use super::protocol::{self, ServerMessage};
use super::{FIELDS, LiveSession};
use crate::app::AppState;
use crate::error::ApiError;
use crate::tenancy::Caller;

/// What the reader hands the speaker.
pub(super) enum Job {
    Speak(Piece),
    /// The client closed the session; `characters` is everything it sent.
    End {
        characters: u64,
    },
}

/// How a speaker stopped.
pub(super) enum Stopped {
    /// `done` and the normal close were sent.
    Done,
    /// The writer is gone (client gone or too slow): nothing more can be sent.
    Gone,
    /// Failed; the error and its close were sent.
    Failed,
}

/// The session's audio encoder; PCM passes through.
enum Encoder {
    Pcm,
    Coded(Box<dyn StreamEncoder>),
}

impl Encoder {
    fn new(format: AudioFormat) -> Result<Self, ApiError> {
        Ok(match format {
            AudioFormat::Pcm => Self::Pcm,
            other => Self::Coded(
                polyvox_audio::stream_encoder(other, &EncodeOptions::default())
                    .map_err(|e| ApiError::Internal(format!("live encoder: {e}")))?,
            ),
        })
    }

    /// Encodes whole s16le samples.
    fn push(&mut self, pcm: &[u8]) -> Result<Bytes, ApiError> {
        match self {
            Self::Pcm => Ok(Bytes::copy_from_slice(pcm)),
            Self::Coded(enc) => {
                let samples: Vec<f32> = pcm
                    .chunks_exact(2)
                    .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                    .collect();
                enc.push(&samples)
                    .map(Bytes::from)
                    .map_err(|e| ApiError::Internal(format!("live encoder: {e}")))
            }
        }
    }

    fn finish(&mut self) -> Result<Bytes, ApiError> {
        match self {
            Self::Pcm => Ok(Bytes::new()),
            Self::Coded(enc) => enc
                .finish()
                .map(Bytes::from)
                .map_err(|e| ApiError::Internal(format!("live encoder: {e}"))),
        }
    }
}

pub(super) struct Speaker {
    pub st: AppState,
    pub caller: Caller,
    pub session: LiveSession,
    pub out: mpsc::Sender<Message>,
    /// Chunks handed over and not yet spoken (the reader's idle timeout waits for them).
    pub busy: Arc<AtomicUsize>,
    /// Samples sent so far, silences included: the session's audio clock.
    samples: u64,
    /// Silence owed before the next chunk, in samples.
    owed: u64,
    chunks: usize,
    /// The voice every chunk uses: the session's, or the one the first chunk resolved to.
    voice: Option<String>,
    encoder: Option<Encoder>,
}

impl Drop for Speaker {
    /// Bills the audio produced, however the session ended.
    fn drop(&mut self) {
        if let Some(t) = &self.st.tenancy
            && self.samples > 0
        {
            let delta = polyvox_infra::tenancy::UsageDelta {
                audio_seconds: self.samples as f64 / f64::from(SAMPLE_RATE),
                ..Default::default()
            };
            t.record(&self.caller, delta);
        }
    }
}

/// A failure of sending: the client's writer is gone.
struct Gone;

impl Speaker {
    pub fn new(
        st: AppState,
        caller: Caller,
        session: LiveSession,
        out: mpsc::Sender<Message>,
        busy: Arc<AtomicUsize>,
    ) -> Self {
        let voice = session.voice.clone();
        Self {
            st,
            caller,
            session,
            out,
            busy,
            samples: 0,
            owed: 0,
            chunks: 0,
            voice,
            encoder: None,
        }
    }

    pub async fn run(mut self, mut jobs: mpsc::Receiver<Job>) -> Stopped {
        let result = async {
            self.encoder = Some(Encoder::new(self.session.format).map_err(Err)?);
            while let Some(job) = jobs.recv().await {
                match job {
                    Job::Speak(piece) => {
                        let spoken = self.speak(piece).await;
                        self.busy.fetch_sub(1, Ordering::AcqRel);
                        spoken?;
                    }
                    Job::End { characters } => {
                        self.finish(characters).await?;
                        return Ok(());
                    }
                }
            }
            // The reader stopped without an end: it reports why.
            Err(Ok(Gone))
        }
        .await;
        match result {
            Ok(()) => Stopped::Done,
            Err(Ok(Gone)) => Stopped::Gone,
            Err(Err(e)) => {
                let (event, code) = ServerMessage::error(&e);
                let _ = self.out.send(event.frame()).await;
                let _ = self.out.send(protocol::close(code, "error")).await;
                Stopped::Failed
            }
        }
    }

    fn encode(&mut self, pcm: &[u8]) -> Result<Bytes, Result<Gone, ApiError>> {
        self.samples += (pcm.len() / 2) as u64;
        match self.encoder.as_mut() {
            Some(e) => e.push(pcm).map_err(Err),
            None => Err(Err(ApiError::Internal("live encoder missing".into()))),
        }
    }

    /// Synthesizes one chunk and sends its audio (and word timings).
    async fn speak(&mut self, piece: Piece) -> Result<(), Result<Gone, ApiError>> {
        let st = self.st.clone();
        let raw = RawSynthesisRequest {
            text: piece.text.clone(),
            voice: self.voice.clone(),
            lang: self.session.lang.clone(),
            speed: Some(self.session.speed),
            format: Some(AudioFormat::Pcm.as_str().to_owned()),
        };
        // A chunk is bounded by the buffer cap, not by the HTTP input limit.
        let limits = Limits {
            max_input_chars: usize::MAX,
            ..st.limits
        };
        let mut req = raw.validate(&limits, FIELDS).map_err(|e| Err(e.into()))?;
        req.lexicons = self.session.lexicons.to_vec();
        if self.voice.is_none() {
            // Automatic language: the first chunk's default voice speaks the whole session.
            self.voice = Some(req.voice.canonical());
        }
        let key_slot = match &st.tenancy {
            Some(t) => t.hold_synthesis(&self.caller).await.map_err(Err)?,
            None => None,
        };
        let _held = crate::admission::Held::new(st.admission.admit().await.map_err(Err)?, key_slot);
        // The first chunk is the one the listener waits for: its first model call is kept short,
        // as a streamed `/v1/audio/speech` keeps it. Later chunks are ready before the audio
        // already sent has played, so they keep their whole prosody.
        let opts = StreamOptions {
            low_latency_start: piece.index == 0,
            timestamps: self.session.timestamps,
            ..StreamOptions::default()
        };
        let stream = st.speech.synthesize(req, opts).await.map_err(|e| {
            Err(if e.code == ErrorCode::QueueFull {
                ApiError::QueueFull {
                    retry_after: st.cfg.retry_after,
                }
            } else {
                ApiError::Domain(e)
            })
        })?;
        // The silence the previous chunk's end calls for, now that another chunk follows it.
        if self.owed > 0 {
            let silence = vec![0u8; 2 * self.owed as usize];
            self.owed = 0;
            let bytes = self.encode(&silence)?;
            audio(&self.out, self.session.base64, bytes).await?;
        }
        let clock = self.samples as f64 / f64::from(SAMPLE_RATE);
        let words = stream.words;
        let mut words_sent = 0;
        let mut bytes = stream.bytes;
        let mut carry: Option<u8> = None;
        while let Some(item) = bytes.next().await {
            let chunk = item.map_err(|e| Err(ApiError::Domain(e)))?;
            if self.session.timestamps {
                let fresh = words.since(words_sent);
                if !fresh.is_empty() {
                    words_sent += fresh.len();
                    let words = fresh
                        .into_iter()
                        .map(|w| crate::routes::speech::WordTimestamp {
                            text: w.text,
                            char_start: w.char_start + piece.span.start,
                            char_end: w.char_end + piece.span.start,
                            start: round_ms(w.start + clock),
                            end: round_ms(w.end + clock),
                        })
                        .collect();
                    send(&self.out, ServerMessage::Words { words }.frame()).await?;
                }
            }
            // Whole samples only: a piece may end inside one.
            let mut pcm = Vec::with_capacity(chunk.len() + 1);
            pcm.extend(carry.take());
            pcm.extend_from_slice(&chunk);
            if pcm.len() % 2 == 1 {
                carry = pcm.pop();
            }
            let encoded = self.encode(&pcm)?;
            audio(&self.out, self.session.base64, encoded).await?;
        }
        self.chunks += 1;
        let pause_ms = f64::from(piece.boundary.pause_ms()) / f64::from(self.session.speed);
        self.owed = (pause_ms * f64::from(SAMPLE_RATE) / 1000.0) as u64;
        Ok(())
    }

    async fn finish(&mut self, characters: u64) -> Result<(), Result<Gone, ApiError>> {
        if let Some(mut enc) = self.encoder.take() {
            let tail = enc.finish().map_err(Err)?;
            audio(&self.out, self.session.base64, tail).await?;
        }
        let done = ServerMessage::Done {
            characters,
            audio_seconds: round_ms(self.samples as f64 / f64::from(SAMPLE_RATE)),
            chunks: self.chunks,
        };
        send(&self.out, done.frame()).await?;
        send(&self.out, protocol::close(protocol::CLOSE_NORMAL, "done")).await
    }
}

// Free functions, not methods: a `&Speaker` held across an await would need the encoder to be
// `Sync`, and it is only `Send`.
async fn send(out: &mpsc::Sender<Message>, m: Message) -> Result<(), Result<Gone, ApiError>> {
    out.send(m).await.map_err(|_| Ok(Gone))
}

async fn audio(
    out: &mpsc::Sender<Message>,
    base64: bool,
    bytes: Bytes,
) -> Result<(), Result<Gone, ApiError>> {
    if bytes.is_empty() {
        return Ok(());
    }
    let m = if base64 {
        ServerMessage::Audio {
            audio: base64::engine::general_purpose::STANDARD.encode(&bytes),
        }
        .frame()
    } else {
        Message::Binary(bytes)
    };
    send(out, m).await
}

fn round_ms(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}
