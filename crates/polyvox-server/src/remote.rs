//! [`RemoteSpeech`]: `/v1/audio/speech` served by the worker fleet, for deployments with a shared
//! queue, so API instances never load the model.
//!
//! Design (trade-off documented in docs/scale-out.md): the request becomes an interactive-lane
//! job and the API waits for it to finish, then sends the stored file. This keeps the API
//! stateless and reuses every job guarantee (retries, reclaim on worker death, cache, sharing of
//! identical in-flight requests) at the cost of streaming: the first byte leaves only when the
//! whole file is ready. Chunk-by-chunk relaying through Redis would bring streaming back and is
//! left for later.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use polyvox_core::{Error, ErrorCode, Lang, SynthesisRequest};
use polyvox_infra::Lane;
use polyvox_infra::db::JobStatus;

use crate::jobs::{JobService, SubmitOptions};
use crate::speech::{Readiness, SpeechService, SpeechStream, StreamOptions};

/// Speech through the job queue and the workers.
pub struct RemoteSpeech {
    jobs: Arc<JobService>,
    languages: Vec<Lang>,
    model_id: String,
    timeout: Duration,
    /// Last dependency probe: `None` until the first one finished.
    health: Arc<std::sync::Mutex<Option<Readiness>>>,
}

/// Period of the dependency probe behind `/health/ready`.
const PROBE_EVERY: Duration = Duration::from_secs(2);

impl RemoteSpeech {
    /// `languages` are what the workers can speak; `timeout` bounds the wait for a job. Must be
    /// called inside a Tokio runtime: it starts the background probe of the job database and the
    /// queue that `/health/ready` reports (readiness itself must stay cheap and synchronous).
    pub fn new(jobs: Arc<JobService>, languages: Vec<Lang>, timeout: Duration) -> Self {
        let model_id = jobs.config().model_id.clone();
        let health = Arc::new(std::sync::Mutex::new(None));
        tokio::spawn(probe(Arc::downgrade(&jobs), Arc::downgrade(&health)));
        Self {
            jobs,
            languages,
            model_id,
            timeout,
            health,
        }
    }
}

/// Pings the database and the queue every [`PROBE_EVERY`] until the speech service is dropped.
async fn probe(
    jobs: std::sync::Weak<JobService>,
    slot: std::sync::Weak<std::sync::Mutex<Option<Readiness>>>,
) {
    loop {
        let (Some(jobs), Some(slot)) = (jobs.upgrade(), slot.upgrade()) else {
            return;
        };
        let bound = Duration::from_secs(1);
        let db = tokio::time::timeout(bound, jobs.b.store.ping()).await;
        let queue = tokio::time::timeout(bound, jobs.b.queue.ping()).await;
        let state = |r: &Result<polyvox_infra::Result<()>, _>| match r {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => format!("error ({})", e.code()),
            Err(_) => "timeout".to_string(),
        };
        let ready = matches!((&db, &queue), (Ok(Ok(())), Ok(Ok(()))));
        let detail = format!(
            "synthesis runs on the workers; database {}, queue {}",
            state(&db),
            state(&queue)
        );
        *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Readiness { ready, detail });
        drop((jobs, slot));
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

impl SpeechService for RemoteSpeech {
    fn synthesize(
        &self,
        req: SynthesisRequest,
        _opts: StreamOptions,
    ) -> BoxFuture<'static, Result<SpeechStream, Error>> {
        let (jobs, timeout, languages) =
            (Arc::clone(&self.jobs), self.timeout, self.languages.clone());
        async move {
            if !languages.contains(&req.lang) {
                return Err(Error::new(
                    ErrorCode::UnsupportedLanguage,
                    format!(
                        "language '{}' is not supported by this deployment",
                        req.lang
                    ),
                ));
            }
            let format = req.format;
            let opts = SubmitOptions {
                lane: Some(Lane::Interactive),
                ..SubmitOptions::default()
            };
            let submitted = jobs.submit(&req, opts).await.map_err(to_domain)?;
            let job = jobs
                .wait(&submitted.job.id, timeout)
                .await
                .map_err(to_domain)?;
            let audio = match (job.status, &job.audio) {
                (JobStatus::Succeeded, Some(a)) => a.clone(),
                _ => {
                    let (code, message) = job
                        .last_error
                        .map(|e| (parse_code(&e.code), e.message))
                        .unwrap_or((
                            ErrorCode::SynthesisFailed,
                            format!("job ended {}", job.status.as_str()),
                        ));
                    return Err(Error::new(code, message));
                }
            };
            let fetched = jobs
                .read(&audio.key, None)
                .await
                .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
            let chunks = job.chunks_total.unwrap_or(1) as usize;
            let body: Bytes = fetched.bytes;
            let audio_ms = (audio.seconds * 1000.0).round() as u64;
            Ok(SpeechStream {
                format,
                chunks,
                bytes: futures::stream::iter([Ok(body)]).boxed(),
                audio_ms: Arc::new(std::sync::atomic::AtomicU64::new(audio_ms)),
            })
        }
        .boxed()
    }

    fn languages(&self) -> Vec<Lang> {
        self.languages.clone()
    }

    fn readiness(&self) -> Readiness {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| Readiness {
                ready: false,
                detail: "dependencies not probed yet".into(),
            })
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }
}

use futures::StreamExt as _;

fn to_domain(e: crate::error::ApiError) -> Error {
    Error::new(e.code(), e.to_string())
}

/// The stable code stored on a failed job (unknown codes, e.g. `lease_expired`, are ours).
fn parse_code(code: &str) -> ErrorCode {
    serde_json::from_value(serde_json::Value::String(code.to_string()))
        .unwrap_or(ErrorCode::SynthesisFailed)
}
