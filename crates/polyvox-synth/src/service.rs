//! [`LocalSpeech`]: the pipeline behind the one synthesis interface ([`SpeechService`]), used by
//! the embedded server's `/v1/audio/speech` and by every worker's job renders.

use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use polyvox_core::{
    Error, Lang, Progress, Readiness, SAMPLE_RATE, SpeechService, SpeechStream, StreamOptions,
    SynthesisRequest,
};

use crate::{Delivery, Synthesizer};

/// Synthesis in this process, on this process's model threads.
pub struct LocalSpeech {
    synth: Arc<Synthesizer>,
    languages: Vec<Lang>,
}

impl LocalSpeech {
    pub fn new(synth: Arc<Synthesizer>) -> Self {
        let languages = Lang::ALL
            .into_iter()
            .filter(|l| synth.frontend().supports(*l))
            .collect();
        Self { synth, languages }
    }

    pub fn synthesizer(&self) -> &Arc<Synthesizer> {
        &self.synth
    }
}

impl SpeechService for LocalSpeech {
    fn synthesize(
        &self,
        req: SynthesisRequest,
        opts: StreamOptions,
    ) -> futures::future::BoxFuture<'static, Result<SpeechStream, Error>> {
        let synth = Arc::clone(&self.synth);
        async move {
            let delivery = Delivery {
                low_latency: opts.low_latency_start,
                whole_file: opts.whole_file,
                keep_file: opts.keep_file,
                file_head: opts.file_head,
                background: opts.background,
                timestamps: opts.timestamps,
            };
            let mut stream = synth.stream(req, delivery).await.map_err(Error::from)?;
            let progress = Arc::new(Progress::default());
            // Mirrors the pipeline's progress, also while a whole-file render yields nothing
            // (a job's heartbeat reports it); ends when the producer finishes.
            let mut updates = stream.progress();
            let mirror = Arc::clone(&progress);
            let rate = u64::from(SAMPLE_RATE);
            tokio::spawn(async move {
                loop {
                    let p = *updates.borrow_and_update();
                    mirror.set(p.chunks_done, p.samples as u64 * 1000 / rate);
                    if updates.changed().await.is_err() {
                        return;
                    }
                }
            });
            let file = stream.take_file();
            let head = stream.take_head();
            let words = Arc::clone(&stream.words);
            let latest = stream.progress();
            let meter = Arc::clone(&progress);
            Ok(SpeechStream {
                format: stream.format,
                chunks: stream.chunks,
                bytes: stream
                    .map(move |r| {
                        // The pipeline updates progress before it yields a piece: read it now so
                        // a reader that meters at the end never sees a stale figure.
                        let p = *latest.borrow();
                        meter.set(p.chunks_done, p.samples as u64 * 1000 / rate);
                        r.map_err(Error::from)
                    })
                    .boxed(),
                progress,
                file,
                head,
                words,
            })
        }
        .boxed()
    }

    fn languages(&self) -> Vec<Lang> {
        self.languages.clone()
    }

    fn timestamps(&self) -> bool {
        true
    }

    fn readiness(&self) -> Readiness {
        // The model is loaded and warmed before the listener opens, so a live process is ready
        // unless every model session is gone.
        let sessions = self.synth.engine().sessions();
        Readiness {
            ready: sessions > 0,
            detail: format!("{sessions} model session(s) warm"),
        }
    }
}
