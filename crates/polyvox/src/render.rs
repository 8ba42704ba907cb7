//! The worker's [`Render`] on the real pipeline: a whole-file synthesis (exact WAV/FLAC headers,
//! MP3 gapless tag — the same file as a `"stream": false` response) whose per-chunk progress is
//! forwarded to the job's heartbeat. Dropping the future drops the stream, which cancels the render.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use polyvox_core::{Error, SAMPLE_RATE, SynthesisRequest};
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
        let mut stream = self
            .0
            .stream(
                req,
                Delivery {
                    low_latency: false,
                    whole_file: true,
                },
            )
            .await
            .map_err(Error::from)?;
        let total = stream.chunks;
        progress.set(0, total);
        let mut updates = stream.progress();
        let sink = Arc::clone(&progress);
        // Ends by itself when the producer drops its sender; aborted below in any case.
        let forward = tokio::spawn(async move {
            while updates.changed().await.is_ok() {
                let done = updates.borrow().chunks_done;
                sink.set(done.min(total), total);
            }
        });
        let mut file = Vec::new();
        let result = async {
            while let Some(piece) = stream.next().await {
                file.extend_from_slice(&piece.map_err(Error::from)?);
            }
            Ok::<(), Error>(())
        }
        .await;
        forward.abort();
        result?;
        let seconds = stream.progress().borrow().samples as f64 / f64::from(SAMPLE_RATE);
        progress.set(total, total);
        Ok(RenderedAudio {
            bytes: Bytes::from(file),
            seconds,
        })
    }
}
