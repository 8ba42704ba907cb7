//! The worker's [`Render`] on the real pipeline.
//!
//! Design: the request is streamed as raw PCM (one piece per chunk, which is what gives chunk
//! progress and a cancel-on-drop render) and encoded once at the end as a whole file, so stored
//! audio has exact headers (WAV/FLAC sizes, MP3 gapless tag) — the same shape as a
//! `"stream": false` response.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use polyvox_core::{AudioFormat, Error, ErrorCode, SAMPLE_RATE, SynthesisRequest};
use polyvox_synth::{Delivery, Synthesizer};
use polyvox_worker::{ProgressSink, Render, RenderedAudio};

/// Renders jobs with the in-process synthesizer.
pub struct SynthRender(pub Arc<Synthesizer>);

#[async_trait::async_trait]
impl Render for SynthRender {
    async fn render(
        &self,
        req: SynthesisRequest,
        progress: Arc<ProgressSink>,
    ) -> Result<RenderedAudio, Error> {
        let format = req.format;
        let pcm_req = SynthesisRequest {
            format: AudioFormat::Pcm,
            ..req
        };
        let mut stream = self
            .0
            .stream(
                pcm_req,
                Delivery {
                    low_latency: false,
                    whole_file: false,
                },
            )
            .await
            .map_err(Error::from)?;
        let total = stream.chunks;
        progress.set(0, total);
        let mut samples: Vec<f32> = Vec::new();
        let mut carry: Option<u8> = None;
        let mut pieces = 0;
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(Error::from)?;
            let mut bytes = piece.as_ref();
            if let Some(lo) = carry.take()
                && let Some((&hi, rest)) = bytes.split_first()
            {
                samples.push(f32::from(i16::from_le_bytes([lo, hi])) / 32768.0);
                bytes = rest;
            }
            let mut pairs = bytes.chunks_exact(2);
            samples.extend(
                pairs
                    .by_ref()
                    .map(|p| f32::from(i16::from_le_bytes([p[0], p[1]])) / 32768.0),
            );
            carry = pairs.remainder().first().copied();
            pieces += 1;
            progress.set(pieces.min(total), total);
        }
        let seconds = samples.len() as f64 / f64::from(SAMPLE_RATE);
        let opts = self.0.config().encode;
        let file =
            tokio::task::spawn_blocking(move || polyvox_audio::encode(format, &samples, &opts))
                .await
                .map_err(|e| Error::new(ErrorCode::Internal, format!("encoder task failed: {e}")))?
                .map_err(|e| Error::new(e.code(), e.to_string()))?;
        progress.set(total, total);
        Ok(RenderedAudio {
            bytes: Bytes::from(file),
            seconds,
        })
    }
}
