//! `polyvox serve`: the embedded default. One process: HTTP API, model threads, in-process
//! pipeline. The adapter below is the only place that joins the API crate to the synthesis crate.

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use polyvox_core::{Error, Lang, SynthesisRequest};
use polyvox_server::speech::{Readiness, SpeechService, SpeechStream, StreamOptions};
use polyvox_server::ServerConfig;
use polyvox_synth::{Delivery, Synthesizer};
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::runtime;

/// Serves requests from the in-process pipeline.
struct LocalSpeech {
    synth: Arc<Synthesizer>,
    languages: Vec<Lang>,
}

impl SpeechService for LocalSpeech {
    fn synthesize(&self, req: SynthesisRequest, opts: StreamOptions) -> futures::future::BoxFuture<'static, Result<SpeechStream, Error>> {
        let synth = Arc::clone(&self.synth);
        async move {
            let delivery = Delivery { low_latency: opts.low_latency_start, whole_file: opts.whole_file };
            let stream = synth.stream(req, delivery).await.map_err(Error::from)?;
            Ok(SpeechStream { format: stream.format, chunks: stream.chunks, bytes: stream.map(|r| r.map_err(Error::from)).boxed() })
        }
        .boxed()
    }

    fn languages(&self) -> Vec<Lang> {
        self.languages.clone()
    }

    fn readiness(&self) -> Readiness {
        // The model is loaded and warmed before the listener opens, so a live process is ready
        // unless every model session is gone.
        let sessions = self.synth.engine().sessions();
        Readiness { ready: sessions > 0, detail: format!("{sessions} model session(s) warm") }
    }

    fn model_id(&self) -> &str {
        "kokoro-82m-int8"
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let synth = runtime::build_synthesizer(&args.engine)?;
    let languages = Lang::ALL.into_iter().filter(|l| synth.frontend().supports(*l)).collect();
    let speech: Arc<dyn SpeechService> = Arc::new(LocalSpeech { synth: Arc::clone(&synth), languages });
    let sessions = args.engine.sessions.max(1);
    let cfg = ServerConfig {
        max_body_bytes: args.max_body_bytes,
        max_input_chars: args.max_input_chars,
        max_concurrent: if args.max_concurrent == 0 { 2 * sessions } else { args.max_concurrent },
        max_queued: args.max_queued,
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        cors_origins: args.cors_origins.clone(),
        ..ServerConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.bind).await?;
        let addr = listener.local_addr()?;
        // Scripts and tests parse this line to find the port when binding :0.
        println!("polyvox listening on http://{addr}");
        tracing::info!(%addr, "listening");
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested; draining");
            signal.cancel();
        });
        polyvox_server::run(cfg, speech, listener, shutdown).await?;
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
