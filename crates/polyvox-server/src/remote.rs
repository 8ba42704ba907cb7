//! [`RemoteSpeech`]: `/v1/audio/speech` served by the worker fleet, for deployments with a shared
//! queue, so API instances never load the model. It is the cluster's side of the one synthesis
//! interface, beside the pipeline's `LocalSpeech`.
//!
//! Design (docs/scale-out.md): the request becomes an interactive-lane job whose payload asks for
//! a relay. The worker publishes each encoded piece as it is rendered and the outcome to the job's
//! relay log (a Redis Stream); this instance follows the log and passes the pieces on, so the
//! first audio leaves after the first chunk, as in the embedded process. The job keeps every job
//! guarantee (retries, reclaim on worker death, the stored and cached whole file).
//!
//! - Completion comes from the log, not from the database: the job row is read only when the log
//!   has been quiet for [`QUIET`] (Redis restarted, a worker died before publishing), counted in
//!   `polyvox_relay_fallback_reads_total`.
//! - A retry renders the same chunks again under a new attempt number; pieces the client already
//!   has are skipped by sequence number, so the stream continues where it was.
//! - A live stream is one client's job (never shared with identical requests), and a client that
//!   goes away cancels it, which stops the worker at its next heartbeat. A whole-file request may
//!   join an identical one in flight; it does not cancel a job it may share.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use polyvox_core::metrics as m;
use polyvox_core::{
    Error, ErrorCode, Lane, Lang, Progress, Readiness, SpeechJob, SpeechService, SpeechStream,
    StreamOptions, SynthesisRequest,
};
use polyvox_infra::db::JobStatus;
use polyvox_infra::relay::{RelayEvent, Subscription};
use tokio::time::Instant;

use crate::jobs::{JobService, SubmitOptions};

/// How long the relay may stay silent before the job row is consulted. Long on purpose: every
/// way a job ends is published (worker outcomes, cancels through the API, the reaper's
/// dead-letters), so the row is only the safety net for a log lost with a Redis restart; a request
/// that merely waits its turn in a deep queue reads the row at most once per period.
const QUIET: Duration = Duration::from_secs(20);
/// Period of the dependency probe behind `/health/ready`.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// Speech through the job queue, the workers and the relay.
pub struct RemoteSpeech {
    jobs: Arc<JobService>,
    languages: Vec<Lang>,
    /// Longest wait without any sign of progress from the job.
    idle_timeout: Duration,
    /// Last dependency probe: `None` until the first one finished.
    health: Arc<std::sync::Mutex<Option<Readiness>>>,
}

impl RemoteSpeech {
    /// `languages` are what the workers can speak; `idle_timeout` bounds the wait for the job's
    /// next sign of life (first audio, next piece, outcome). Must be called inside a Tokio
    /// runtime: it starts the background probe of the database, the queue and the relay that
    /// `/health/ready` reports (readiness itself must stay cheap and synchronous).
    pub fn new(jobs: Arc<JobService>, languages: Vec<Lang>, idle_timeout: Duration) -> Self {
        let health = Arc::new(std::sync::Mutex::new(None));
        tokio::spawn(probe(Arc::downgrade(&jobs), Arc::downgrade(&health)));
        Self {
            jobs,
            languages,
            idle_timeout,
            health,
        }
    }
}

/// Pings the database, the queue and the relay every [`PROBE_EVERY`] until the service is dropped.
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
        let relay = tokio::time::timeout(bound, jobs.b.relay.ping()).await;
        let state = |r: &Result<polyvox_infra::Result<()>, _>| match r {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => format!("error ({})", e.code()),
            Err(_) => "timeout".to_string(),
        };
        let ready = [&db, &queue, &relay]
            .iter()
            .all(|r| matches!(r, Ok(Ok(()))));
        let detail = format!(
            "synthesis runs on the workers; database {}, queue {}, relay {}",
            state(&db),
            state(&queue),
            state(&relay)
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
        opts: StreamOptions,
    ) -> BoxFuture<'static, Result<SpeechStream, Error>> {
        let (jobs, idle, languages) = (
            Arc::clone(&self.jobs),
            self.idle_timeout,
            self.languages.clone(),
        );
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
            let started = Instant::now();
            let live = !opts.whole_file;
            let timed = opts.timestamps;
            let delivery = StreamOptions {
                keep_file: false,
                ..opts
            };
            let mut spec = SpeechJob::new(req, delivery, Lane::Interactive);
            spec.relay = true;
            let format = spec.request.format;
            // The route has looked the cache up already, under the caller's scope (this trait
            // does not know the caller); looking again here, unscoped, would let one key hear
            // another key's result. For the same reason a per-key cache shares no in-flight
            // job here: these jobs have no owner to share within.
            let submit = SubmitOptions {
                share: !live && !jobs.config().cache_per_key,
                skip_cache: true,
                ..SubmitOptions::default()
            };
            let submitted = jobs.submit(&spec, submit).await.map_err(to_domain)?;
            let id = submitted.job.id.clone();
            let sub = jobs
                .b
                .relay
                .subscribe(&id)
                .await
                .map_err(|e| Error::new(ErrorCode::ServiceUnavailable, e.to_string()))?;
            let mut follow = Follow {
                jobs: Arc::clone(&jobs),
                id: id.clone(),
                sub,
                buffered: VecDeque::new(),
                attempt: None,
                next_seq: 0,
                chunks: 0,
                progress: Arc::new(Progress::default()),
                words: Arc::default(),
                timed,
                idle,
                live,
                ended: false,
                guard: CancelOnDrop {
                    jobs: Arc::clone(&jobs),
                    id,
                    armed: live,
                },
            };
            // The first piece (or the whole file) is awaited here, so a failure before any audio
            // is still an HTTP status rather than a stream that breaks at once.
            let first = follow.step().await?;
            metrics::histogram!(m::RELAY_FIRST_AUDIO_SECONDS)
                .record(started.elapsed().as_secs_f64());
            let progress = Arc::clone(&follow.progress);
            let words = Arc::clone(&follow.words);
            let chunks = follow.chunks;
            let bytes = futures::stream::unfold(
                (Some(first), follow),
                |(pending, mut follow)| async move {
                    let step = match pending {
                        Some(step) => Ok(step),
                        None => follow.step().await,
                    };
                    match step {
                        Ok(Step::Audio(b)) => Some((Ok(b), (None, follow))),
                        Ok(Step::End) => {
                            follow.finish(m::outcome::OK);
                            None
                        }
                        Err(e) => {
                            follow.finish(m::outcome::FAILED);
                            // The error is the stream's last item; `End` afterwards stops it.
                            Some((Err(e), (Some(Step::End), follow)))
                        }
                    }
                },
            )
            .boxed();
            Ok(SpeechStream {
                format,
                chunks,
                bytes,
                progress,
                file: None,
                head: None,
                words,
            })
        }
        .boxed()
    }

    fn languages(&self) -> Vec<Lang> {
        self.languages.clone()
    }

    /// The workers time the words and the relay carries them (see [`Follow::apply`]).
    fn timestamps(&self) -> bool {
        true
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
}

/// What the client gets next.
enum Step {
    Audio(Bytes),
    End,
}

/// Follows one job's relay log on behalf of one client.
struct Follow {
    jobs: Arc<JobService>,
    id: String,
    sub: Box<dyn Subscription>,
    buffered: VecDeque<RelayEvent>,
    /// The attempt whose pieces are being passed on (the latest that started).
    attempt: Option<u32>,
    /// Sequence number of the next piece the client needs.
    next_seq: u32,
    chunks: usize,
    progress: Arc<Progress>,
    /// With timestamps: the words of the audio handed out so far, each before its audio.
    words: Arc<polyvox_core::Timeline>,
    timed: bool,
    idle: Duration,
    live: bool,
    /// The job succeeded and everything has been handed out.
    ended: bool,
    guard: CancelOnDrop,
}

impl Follow {
    /// The next thing to send, waiting for the worker as long as it shows signs of life.
    async fn step(&mut self) -> Result<Step, Error> {
        if self.ended {
            return Ok(Step::End);
        }
        let mut idle_until = Instant::now() + self.idle;
        loop {
            while let Some(event) = self.buffered.pop_front() {
                if let Some(step) = self.apply(event).await? {
                    return Ok(step);
                }
                idle_until = Instant::now() + self.idle;
            }
            match self.sub.next(QUIET).await {
                Ok(events) if !events.is_empty() => self.buffered.extend(events),
                quiet => {
                    if let Err(e) = quiet {
                        tracing::warn!(job = %self.id, error = %e, "relay read failed; checking the job row");
                        // Redis is down or restarting: check the row, and do not spin.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    if let Some(step) = self.fallback().await? {
                        return Ok(step);
                    }
                    if Instant::now() >= idle_until {
                        return Err(Error::new(
                            ErrorCode::Timeout,
                            format!(
                                "no progress from the workers for {} s (--sync-wait-secs); retry later",
                                self.idle.as_secs()
                            ),
                        ));
                    }
                }
            }
        }
    }

    /// Applies one log entry: a piece to send, the end, an error, or nothing to send yet.
    async fn apply(&mut self, event: RelayEvent) -> Result<Option<Step>, Error> {
        match event {
            RelayEvent::Started { attempt, chunks } => {
                self.attempt = Some(attempt);
                self.chunks = chunks as usize;
                Ok(None)
            }
            RelayEvent::Audio {
                attempt,
                seq,
                audio_ms,
                words,
                bytes,
            } => {
                // Pieces of an older attempt (a worker that lost its lease) and pieces the client
                // already has (a retry starting over) are dropped.
                if Some(attempt) != self.attempt || seq < self.next_seq {
                    return Ok(None);
                }
                if seq > self.next_seq {
                    return Err(Error::new(
                        ErrorCode::ServiceUnavailable,
                        "the relay lost part of the audio stream; retry the request",
                    ));
                }
                self.next_seq += 1;
                self.progress.set(self.next_seq as usize, audio_ms);
                self.words.push(words);
                Ok(Some(Step::Audio(bytes)))
            }
            RelayEvent::Rendered {
                attempt,
                pieces,
                audio_ms,
            } => {
                // Every piece is out: the stream is whole. Storing the file is the job's
                // business from here (a storage outage retries it without the client).
                if self.live
                    && Some(attempt) == self.attempt
                    && pieces > 0
                    && self.next_seq == pieces
                {
                    self.ended = true;
                    self.progress.set(self.chunks, audio_ms);
                    return Ok(Some(Step::End));
                }
                Ok(None)
            }
            RelayEvent::Failed {
                retrying: true,
                attempt,
                ..
            } => {
                tracing::info!(job = %self.id, attempt, "relayed job attempt failed; waiting for the retry");
                Ok(None)
            }
            RelayEvent::Failed { code, message, .. } => Err(Error::new(parse_code(&code), message)),
            RelayEvent::Cancelled => Err(cancelled()),
            RelayEvent::Succeeded {
                audio_key,
                seconds,
                pieces,
                ..
            } => {
                if self.live && self.next_seq > 0 && self.next_seq < pieces {
                    return Err(lost_end(&self.id));
                }
                self.succeeded(&audio_key, seconds).await.map(Some)
            }
        }
    }

    /// The job succeeded: a live stream is complete; a whole-file request gets the stored file.
    async fn succeeded(&mut self, audio_key: &str, seconds: f64) -> Result<Step, Error> {
        let audio_ms = (seconds * 1000.0).round() as u64;
        self.ended = true;
        if self.live && self.next_seq > 0 {
            self.progress.set(self.chunks, audio_ms);
            return Ok(Step::End);
        }
        if self.live {
            // Finished without one piece reaching us (the relay was down): the stored file is
            // the same audio, so it can stand in for the stream.
            tracing::info!(job = %self.id, "relay carried no audio; sending the stored file");
        }
        // A synchronous request's input is short, so its file is small enough to hold.
        let bytes = match self.jobs.read(audio_key, None).await {
            Ok(fetched) => fetched.bytes().await,
            Err(e) => Err(e),
        }
        .map_err(|e| Error::new(ErrorCode::ServiceUnavailable, e.to_string()))?;
        if self.timed {
            let words = stored_words(&self.jobs, audio_key).await?;
            self.words.push(words);
        }
        self.progress.set(self.chunks.max(1), audio_ms);
        Ok(Step::Audio(bytes))
    }

    /// The relay has been quiet: one read of the job row says whether the job ended unheard.
    async fn fallback(&mut self) -> Result<Option<Step>, Error> {
        metrics::counter!(m::RELAY_FALLBACK_READS_TOTAL).increment(1);
        let job = match self.jobs.get(&self.id).await {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!(job = %self.id, error = %e, "job row read failed");
                return Ok(None);
            }
        };
        match job.status {
            JobStatus::Succeeded => match &job.audio {
                Some(a) if !(self.live && self.next_seq > 0) => {
                    let (key, seconds) = (a.key.clone(), a.seconds);
                    self.succeeded(&key, seconds).await.map(Some)
                }
                // Part of the stream went out and the rest was lost with the relay: it cannot
                // be spliced from a whole file, so the stream ends with an error.
                _ => Err(lost_end(&self.id)),
            },
            JobStatus::Cancelled => Err(cancelled()),
            s if s.is_terminal() => Err(job
                .last_error
                .map(|e| Error::new(parse_code(&e.code), e.message))
                .unwrap_or_else(|| {
                    Error::new(
                        ErrorCode::SynthesisFailed,
                        format!("job ended {}", s.as_str()),
                    )
                })),
            _ => Ok(None),
        }
    }

    /// The request ended as `outcome`: the job no longer needs cancelling.
    fn finish(&mut self, outcome: &'static str) {
        self.guard.armed = false;
        metrics::counter!(m::RELAY_STREAMS_TOTAL, m::label::OUTCOME => outcome).increment(1);
    }
}

/// The timings a timed job stored beside its audio (always, before it succeeded).
async fn stored_words(
    jobs: &JobService,
    audio_key: &str,
) -> Result<Vec<polyvox_core::WordTiming>, Error> {
    let unavailable = |e: String| Error::new(ErrorCode::ServiceUnavailable, e);
    let raw = match jobs
        .read(&polyvox_core::timing::sidecar_key(audio_key), None)
        .await
    {
        Ok(fetched) => fetched.bytes().await,
        Err(e) => Err(e),
    }
    .map_err(|e| unavailable(e.to_string()))?;
    serde_json::from_slice::<polyvox_core::timing::StoredTimings>(&raw)
        .map(|t| t.words)
        .map_err(|e| unavailable(format!("stored word timings unreadable: {e}")))
}

/// Cancels a live job whose client left before it ended, so its worker stops rendering.
struct CancelOnDrop {
    jobs: Arc<JobService>,
    id: String,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        metrics::counter!(m::RELAY_STREAMS_TOTAL, m::label::OUTCOME => m::outcome::CANCELLED)
            .increment(1);
        let (jobs, id) = (Arc::clone(&self.jobs), std::mem::take(&mut self.id));
        // Drop runs inside the response's task on a Tokio runtime; without one there is no
        // server left to cancel for.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                match jobs.b.store.cancel(&id).await {
                    Ok(_) => tracing::info!(job = %id, "client left; relayed job cancelled"),
                    Err(e) => tracing::warn!(job = %id, error = %e, "cancelling a left job failed"),
                }
            });
        }
    }
}

fn lost_end(id: &str) -> Error {
    Error::new(
        ErrorCode::ServiceUnavailable,
        format!(
            "the relay lost the end of the audio stream; the whole file is at /v1/jobs/{id}/audio"
        ),
    )
}

fn cancelled() -> Error {
    Error::new(ErrorCode::JobCancelled, "the job was cancelled")
}

fn to_domain(e: crate::error::ApiError) -> Error {
    Error::new(e.code(), e.to_string())
}

/// The stable code stored on a failed job. One this release does not know (written by a newer
/// one) is still a failure of ours, so it reads as `synthesis_failed`.
fn parse_code(code: &str) -> ErrorCode {
    serde_json::from_value(serde_json::Value::String(code.to_string()))
        .unwrap_or(ErrorCode::SynthesisFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_codes_keep_their_meaning_through_the_relay() {
        use polyvox_infra::db::{LEASE_EXPIRED, WORKER_CRASHED};
        assert_eq!(parse_code(WORKER_CRASHED), ErrorCode::WorkerCrashed);
        assert_eq!(parse_code(LEASE_EXPIRED), ErrorCode::LeaseExpired);
        assert_eq!(parse_code("voice_not_found"), ErrorCode::VoiceNotFound);
        assert_eq!(
            parse_code("from_a_newer_release"),
            ErrorCode::SynthesisFailed
        );
    }
}
