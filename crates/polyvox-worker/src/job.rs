//! One delivery, start to finish: claim → heartbeat while rendering → store → succeed → cache →
//! ack (see the crate note for why in this order).
//!
//! Exactly once: `succeed` is one fenced transaction that also bills the owner's audio seconds
//! and writes the webhook outbox row, so a SIGKILL right after it loses nothing the job owes.
//! What follows may be cut short by a crash or run again, and is built to be: the cache entry
//! only saves a later re-synthesis (a missing one is a miss), the relay's outcome event only
//! spares a waiting API instance its fallback to polling the row, and a repeated or lost ack
//! makes the queue redeliver a message that `try_claim` then drops (the row is terminal).
//!
//! Every claimed attempt ends in exactly one `polyvox_job_outcomes_total{lane,outcome}` increment,
//! recorded where the outcome is decided; the queue wait is measured from the row's `queued_at`
//! (the database's clock) to the claim, so retries count their backoff as waiting too.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use polyvox_core::metrics as m;
use polyvox_core::{SpeechJob, SpeechService, StreamOptions};
use polyvox_infra::cache::CachedAudio;
use polyvox_infra::db::{AudioOutput, Heartbeat, Job, JobError, JobStatus, Progress};
use polyvox_infra::queue::Delivery;
use polyvox_infra::relay::RelayEvent;
use polyvox_infra::storage::new_object_key;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{Backends, ProgressSink, WorkerConfig, WorkerError};

/// Why a render stopped before finishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The job was cancelled through the API.
    Cancelled,
    /// Another worker holds the job now; report nothing.
    Lost,
    /// This worker is shutting down past its drain deadline: hand the job back.
    HandBack,
}

/// Everything one job needs, shared by the worker's job tasks.
pub(crate) struct Ctx {
    pub cfg: WorkerConfig,
    pub backends: Backends,
    pub speech: Arc<dyn SpeechService>,
    /// Wakes this process's webhook sender when a job ends here (the outbox row already exists).
    pub outbox: Arc<tokio::sync::Notify>,
}

/// Handles one delivery; never fails (every outcome is recorded on the job or logged), because
/// the caller has nobody to report to.
pub(crate) async fn handle(ctx: Arc<Ctx>, delivery: Delivery, hand_back: CancellationToken) {
    let b = &ctx.backends;
    let job = match b
        .store
        .try_claim(&delivery.job_id, &ctx.cfg.id, ctx.cfg.lease)
        .await
    {
        Ok(Some(job)) => job,
        Ok(None) => {
            // Finished, cancelled, or leased by a live worker: this message is a stale hint.
            tracing::debug!(job = %delivery.job_id, "not claimable; dropping the message");
            ack(&ctx, &delivery).await;
            return;
        }
        Err(e) => {
            tracing::warn!(job = %delivery.job_id, error = %e, "claim failed; message will be redelivered");
            let _ = b.queue.nack(&delivery, ctx.cfg.backoff(1)).await;
            return;
        }
    };
    let lane = job.lane.as_str();
    let waited = std::time::SystemTime::now()
        .duration_since(job.queued_at)
        .unwrap_or_default();
    metrics::histogram!(m::JOB_QUEUE_WAIT_SECONDS, m::label::LANE => lane)
        .record(waited.as_secs_f64());
    let span =
        tracing::info_span!("job", job_id = %job.id, attempt = job.attempts, lane = %job.lane);
    run_claimed(ctx.clone(), delivery, job, hand_back)
        .instrument(span)
        .await;
}

/// Keeps `polyvox_jobs_running{lane}` right however the job task ends.
struct Running(&'static str);

impl Running {
    fn start(lane: &'static str) -> Self {
        metrics::gauge!(m::JOBS_RUNNING, m::label::LANE => lane).increment(1.0);
        Self(lane)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        metrics::gauge!(m::JOBS_RUNNING, m::label::LANE => self.0).decrement(1.0);
    }
}

async fn run_claimed(ctx: Arc<Ctx>, delivery: Delivery, job: Job, hand_back: CancellationToken) {
    let lane = job.lane.as_str();
    let _running = Running::start(lane);
    let started = std::time::Instant::now();
    let progress = Arc::new(ProgressSink::default());
    let stop = CancellationToken::new();
    let stop_reason = Arc::new(std::sync::Mutex::new(None::<Stop>));
    let beat = tokio::spawn(heartbeat(
        ctx.clone(),
        delivery.clone(),
        progress.clone(),
        stop.clone(),
        stop_reason.clone(),
    ));
    let outcome = tokio::select! {
        r = attempt(&ctx, &job, progress.clone()) => Some(r),
        () = stop.cancelled() => None,
        () = hand_back.cancelled() => {
            set_reason(&stop_reason, Stop::HandBack);
            None
        }
    };
    beat.abort();
    let outcome = match outcome {
        Some(Ok(stored)) => Some(succeed(&ctx, &job, stored).await),
        Some(Err(e)) => Some(Err(e)),
        None => None,
    };
    let b = &ctx.backends;
    let reason = *stop_reason
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    metrics::histogram!(m::JOB_RUN_SECONDS, m::label::LANE => lane)
        .record(started.elapsed().as_secs_f64());
    let finished = match (outcome, reason) {
        (Some(Ok(done)), _) => {
            // The job is recorded and billed (one transaction in `succeed`); the rest is
            // best-effort and repeatable, see the module note.
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                bytes = done.audio.bytes,
                "job succeeded"
            );
            {
                let key = &done.cache_key;
                let entry = CachedAudio {
                    audio_key: done.audio.key.clone(),
                    format: done.format,
                    bytes: done.audio.bytes,
                    seconds: done.audio.seconds,
                    expires_at_ms: done.audio.expires_at.map(polyvox_infra::db::unix_millis),
                };
                // A cache write failure costs a future re-synthesis, not this result.
                if let Err(e) = b.cache.put(key, &entry).await {
                    tracing::warn!(error = %e, "cache write failed");
                }
            }
            let event = RelayEvent::Succeeded {
                audio_key: done.audio.key.clone(),
                bytes: done.audio.bytes,
                seconds: done.audio.seconds,
                pieces: done.pieces,
            };
            publish(&ctx, &job.id, event).await;
            ack(&ctx, &delivery).await;
            ctx.outbox.notify_one();
            m::outcome::SUCCEEDED
        }
        (Some(Err(e)), _) => {
            record_failure(&ctx, &delivery, &job, &e, e.retry_at(job.attempts)).await
        }
        (None, Some(Stop::HandBack)) => {
            let e = WorkerError::Synthesis(polyvox_core::Error::new(
                polyvox_core::ErrorCode::ModelUnavailable,
                "worker shut down before the job finished; handed back",
            ));
            record_failure(&ctx, &delivery, &job, &e, true).await;
            m::outcome::HANDED_BACK
        }
        (None, _) => {
            tracing::info!(?reason, "job stopped: cancelled or taken over");
            ack(&ctx, &delivery).await;
            if reason == Some(Stop::Lost) {
                m::outcome::LOST
            } else {
                publish(&ctx, &job.id, RelayEvent::Cancelled).await;
                m::outcome::CANCELLED
            }
        }
    };
    metrics::counter!(m::JOB_OUTCOMES_TOTAL, m::label::LANE => lane, m::label::OUTCOME => finished)
        .increment(1);
}

fn set_reason(slot: &std::sync::Mutex<Option<Stop>>, reason: Stop) {
    let mut g = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    g.get_or_insert(reason);
}

/// A render stored in the audio store (what the cache entry and the relay need), not yet
/// recorded on the job.
struct Stored {
    audio: AudioOutput,
    format: polyvox_core::AudioFormat,
    cache_key: String,
    /// Audio pieces published to the relay (0 unless relayed live).
    pieces: u32,
}

/// Appends to the job's relay log: every job's outcome (so anyone waiting on a job, a joined
/// whole-file request included, hears of it without polling), and a relayed stream's pieces.
/// A failure only costs the waiting API instance its live view (it falls back to the job
/// row), so it never fails the job.
async fn publish(ctx: &Ctx, job_id: &str, event: RelayEvent) -> bool {
    match ctx.backends.relay.publish(job_id, event).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "relay publish failed");
            false
        }
    }
}

async fn attempt(ctx: &Ctx, job: &Job, progress: Arc<ProgressSink>) -> Result<Stored, WorkerError> {
    let spec = SpeechJob::from_row(&job.request, job.lane, ctx.cfg.max_input_chars)
        .map_err(|e| WorkerError::BadRequest(e.message))?;
    let chars = spec.request.text.chars().count();
    let deadline = ctx.cfg.render_deadline(chars);
    // A render that hangs would otherwise hold its slot forever: its heartbeats keep the lease.
    tokio::time::timeout(deadline, render(ctx, job, spec, progress))
        .await
        .unwrap_or(Err(WorkerError::Deadline {
            limit: deadline,
            chars,
        }))
}

/// Renders and stores the job's audio (see [`attempt`] for the deadline around it).
async fn render(
    ctx: &Ctx,
    job: &Job,
    spec: SpeechJob,
    progress: Arc<ProgressSink>,
) -> Result<Stored, WorkerError> {
    let format = spec.request.format;
    let cache_key = spec.cache_key();
    // A relayed stream goes out piece by piece as the pipeline encodes it. Either way the stored
    // file is the whole-file encoding of the same audio (so the cache holds what a `"stream":
    // false` request with this key would get), written to storage as it is encoded: the
    // stream's bytes, then the whole file's header over their start.
    let live = spec.relay && !spec.delivery.whole_file;
    let opts = StreamOptions {
        low_latency_start: spec.delivery.low_latency_start,
        whole_file: false,
        keep_file: false,
        file_head: true,
        background: spec.lane == polyvox_core::Lane::Batch,
        timestamps: spec.delivery.timestamps,
    };
    let (timed, text) = (opts.timestamps, spec.request.text.clone());
    let ssml = spec.request.ssml.is_some();
    let mut stream = ctx.speech.synthesize(spec.request, opts).await?;
    progress.follow(Arc::clone(&stream.progress), stream.chunks);
    let attempt = job.attempts;
    let mut relay_ok = live;
    if live {
        let chunks = u32::try_from(stream.chunks).unwrap_or(u32::MAX);
        relay_ok = publish(ctx, &job.id, RelayEvent::Started { attempt, chunks }).await;
    }
    let key = new_object_key(&ctx.cfg.key_prefix, format.as_str());
    // Dropped unfinished (error, cancel, deadline), the writer aborts: no partial object stays.
    let mut file = ctx
        .backends
        .audio
        .put_stream(&key, format.content_type())
        .await?;
    let (mut seq, mut words_sent) = (0u32, 0usize);
    while let Some(piece) = stream.bytes.next().await {
        let piece = piece?;
        if live && relay_ok {
            // The pipeline appends a chunk's words before yielding its audio.
            let words = if timed {
                stream.words.since(words_sent)
            } else {
                Vec::new()
            };
            words_sent += words.len();
            let event = RelayEvent::Audio {
                attempt,
                seq,
                audio_ms: stream.progress.audio_ms(),
                words,
                bytes: piece.clone(),
            };
            // After one lost piece the reader could only splice a gap; it falls back instead.
            relay_ok = publish(ctx, &job.id, event).await;
        }
        if live {
            seq += 1;
        }
        file.write(piece).await?;
    }
    if live && relay_ok {
        let event = RelayEvent::Rendered {
            attempt,
            pieces: seq,
            audio_ms: stream.progress.audio_ms(),
        };
        publish(ctx, &job.id, event).await;
    }
    let head = match stream.head.take() {
        Some(head) => head.await.map_err(|_| {
            WorkerError::Synthesis(polyvox_core::Error::new(
                polyvox_core::ErrorCode::SynthesisFailed,
                "the header of the complete file was not produced",
            ))
        })?,
        None => Bytes::new(),
    };
    let seconds = stream.progress.audio_ms() as f64 / 1000.0;
    // Record the final progress (a short job may finish between heartbeats) and make sure the
    // job is still ours and not cancelled before the object appears.
    let (done, total) = progress.get();
    let p = Progress {
        chunks_done: done,
        chunks_total: (total > 0).then_some(total),
    };
    match ctx
        .backends
        .store
        .heartbeat(&job.id, &ctx.cfg.id, ctx.cfg.lease, p)
        .await?
    {
        Heartbeat::Held => {}
        other => {
            return Err(WorkerError::Infra(polyvox_infra::InfraError::Conflict(
                format!("job no longer ours after rendering ({other:?})"),
            )));
        }
    }
    let bytes = file.finish(head).await?;
    if timed {
        // Stored before the job can succeed, so a succeeded timed job always has them.
        let stored = polyvox_core::timing::StoredTimings {
            input: text,
            words: stream.words.all(),
            ssml,
        };
        let json = serde_json::to_vec(&stored).unwrap_or_default();
        ctx.backends
            .audio
            .put(
                &polyvox_core::timing::sidecar_key(&key),
                Bytes::from(json),
                "application/json",
            )
            .await?;
    }
    let audio = AudioOutput {
        key,
        bytes,
        seconds,
        expires_at: ctx.cfg.retention.map(|r| std::time::SystemTime::now() + r),
    };
    Ok(Stored {
        audio,
        format,
        cache_key,
        pieces: if live { seq } else { 0 },
    })
}

/// Records a stored render as the job's result. Runs after the heartbeat has stopped and
/// outside the stop signal's reach: a heartbeat that found the row already succeeded could
/// otherwise cut the job task short between `succeed` and its side effects (cache entry, relay,
/// ack), which would then never run. The owner's usage is not among them: `succeed` writes it
/// in the transaction that records the result.
async fn succeed(ctx: &Ctx, job: &Job, stored: Stored) -> Result<Stored, WorkerError> {
    ctx.backends
        .store
        .succeed(&job.id, &ctx.cfg.id, stored.audio.clone())
        .await?;
    Ok(stored)
}

/// Records a failed attempt on the job and returns the metric outcome it led to.
async fn record_failure(
    ctx: &Ctx,
    delivery: &Delivery,
    job: &Job,
    e: &WorkerError,
    retryable: bool,
) -> &'static str {
    let b = &ctx.backends;
    let error = JobError {
        code: e.code().as_str().to_string(),
        message: e.public_message(),
    };
    tracing::warn!(code = %error.code, retryable, error = %e, "job attempt failed");
    metrics::counter!(m::JOB_ERRORS_TOTAL,
        m::label::LANE => job.lane.as_str(), m::label::CODE => e.code().as_str())
    .increment(1);
    let failed = b
        .store
        .fail(&job.id, &ctx.cfg.id, error.clone(), retryable)
        .await;
    if let Ok(after) = &failed {
        let event = RelayEvent::Failed {
            attempt: job.attempts,
            code: error.code.clone(),
            message: error.message.clone(),
            retrying: after.status == JobStatus::Queued,
        };
        publish(ctx, &job.id, event).await;
    }
    match failed {
        Ok(after) if after.status == JobStatus::Queued => {
            let delay = ctx.cfg.backoff(after.attempts);
            if let Err(e) = b.queue.nack(delivery, delay).await {
                // The reconciler re-enqueues queued jobs the queue lost, so this only delays it.
                tracing::warn!(error = %e, "nack failed");
            }
            m::outcome::RETRIED
        }
        Ok(_) => {
            ack(ctx, delivery).await;
            ctx.outbox.notify_one();
            m::outcome::DEAD
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not record the failure (lease lost?)");
            ack(ctx, delivery).await;
            m::outcome::LOST
        }
    }
}

async fn ack(ctx: &Ctx, delivery: &Delivery) {
    if let Err(e) = ctx.backends.queue.ack(delivery).await {
        // An unacked message is redelivered and then dropped by `try_claim`: harmless.
        tracing::warn!(error = %e, "ack failed");
    }
}

/// Extends the lease and the queue's visibility every `cfg.heartbeat`, publishing progress; stops
/// the job when the database says it was cancelled or lost.
async fn heartbeat(
    ctx: Arc<Ctx>,
    delivery: Delivery,
    progress: Arc<ProgressSink>,
    stop: CancellationToken,
    reason: Arc<std::sync::Mutex<Option<Stop>>>,
) {
    let mut tick = tokio::time::interval(ctx.cfg.heartbeat);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (done, total) = progress.get();
        let p = Progress {
            chunks_done: done,
            chunks_total: (total > 0).then_some(total),
        };
        let b = &ctx.backends;
        match b
            .store
            .heartbeat(&delivery.job_id, &ctx.cfg.id, ctx.cfg.lease, p)
            .await
        {
            Ok(Heartbeat::Held) => {}
            Ok(Heartbeat::Cancelled) => {
                set_reason(&reason, Stop::Cancelled);
                stop.cancel();
                return;
            }
            Ok(Heartbeat::Lost) => {
                set_reason(&reason, Stop::Lost);
                stop.cancel();
                return;
            }
            // A missed heartbeat is survivable while the lease lasts; keep rendering.
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
        if let Err(e) = b.queue.touch(&delivery).await {
            tracing::debug!(error = %e, "queue touch failed");
        }
    }
}
