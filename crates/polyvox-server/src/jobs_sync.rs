//! Results of synchronous speech rendered in this process (embedded mode): the whole file is
//! stored and cached once the response has ended, so a repeated request is a cache hit. With a
//! retention, such a result is also recorded as a finished job (lease owner `api-sync`): the
//! sweeper only finds objects through job rows.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use polyvox_core::AudioFormat;
use polyvox_infra::cache::CachedAudio;
use polyvox_infra::db::{AudioOutput, NewJob};
use polyvox_infra::storage::new_object_key;
use polyvox_infra::{InfraError, Lane};

use crate::jobs::JobService;

/// Lease owner of rows recording `/v1/audio/speech` results rendered in this process.
const SYNC_WORKER: &str = "api-sync";

impl JobService {
    /// Stores a whole-file result rendered in this process and records it in the cache. With a
    /// retention, the object is also recorded as a finished job so the sweeper deletes it.
    pub async fn remember(
        &self,
        key: &str,
        format: AudioFormat,
        bytes: bytes::Bytes,
        seconds: f64,
    ) {
        let object = new_object_key(&self.cfg.key_prefix, format.as_str());
        let len = bytes.len() as u64;
        if let Err(e) = self
            .b
            .audio
            .put(&object, bytes, format.content_type())
            .await
        {
            tracing::warn!(error = %e, "storing a synchronous result failed");
            return;
        }
        let expires_at = self.cfg.retention.map(|r| SystemTime::now() + r);
        if expires_at.is_some()
            && let Err(e) = self
                .record_sync_result(key, format, &object, (len, seconds), expires_at)
                .await
        {
            // Without a row no sweeper would ever find the object: do not advertise it.
            tracing::warn!(error = %e, "recording a synchronous result failed");
            let _ = self.b.audio.delete(&object).await;
            return;
        }
        let entry = CachedAudio {
            audio_key: object,
            format,
            bytes: len,
            seconds,
            expires_at_ms: expires_at.map(polyvox_infra::db::unix_millis),
        };
        if let Err(e) = self.b.cache.put(key, &entry).await {
            tracing::warn!(error = %e, "cache write failed");
        }
    }
    /// A finished job row for audio this process rendered outside the job system.
    async fn record_sync_result(
        &self,
        key: &str,
        format: AudioFormat,
        object: &str,
        (len, seconds): (u64, f64),
        expires_at: Option<SystemTime>,
    ) -> Result<(), InfraError> {
        let new = NewJob {
            owner: None,
            lane: Lane::Interactive,
            request: serde_json::json!({"cache_key": key, "format": format.as_str(), "source": "speech"}),
            cache_key: None,
            idempotency_key: None,
            max_attempts: 1,
            max_crashes: 1,
            webhook_url: None,
            fingerprint: None,
        };
        let (job, _) = self.b.store.create(new).await?;
        self.b
            .store
            .try_claim(&job.id, SYNC_WORKER, Duration::from_secs(30))
            .await?;
        let audio = AudioOutput {
            key: object.to_string(),
            bytes: len,
            seconds,
            expires_at,
        };
        // The speech request that rendered it was metered by its own route.
        self.b
            .store
            .succeed_unbilled(&job.id, SYNC_WORKER, audio)
            .await?;
        Ok(())
    }
}

/// Passes `stream` through unchanged and, once it ends without error, stores the whole file and
/// caches it under `key`: the stream's own bytes for a whole-file delivery, the complete file the
/// pipeline kept ([`crate::speech::StreamOptions::keep_file`]) for a stream. A stream without a
/// kept file is passed through and not cached: a streamed encoding is a different file.
pub(crate) fn tee_into_cache(
    jobs: Arc<JobService>,
    key: String,
    mut stream: crate::speech::SpeechStream,
) -> crate::speech::SpeechStream {
    use futures::StreamExt;
    let format = stream.format;
    let progress = Arc::clone(&stream.progress);
    let kept = stream.file.take();
    let collect = kept.is_none();
    let state = (
        stream.bytes,
        Vec::<u8>::new(),
        Some((jobs, key, progress, kept)),
    );
    let bytes = futures::stream::unfold(state, move |(mut inner, mut buf, mut sink)| async move {
        match inner.next().await {
            Some(Ok(b)) => {
                if collect {
                    buf.extend_from_slice(&b);
                }
                Some((Ok(b), (inner, buf, sink)))
            }
            Some(Err(e)) => Some((Err(e), (inner, buf, None))),
            None => {
                if let Some((jobs, key, progress, kept)) = sink.take() {
                    let buf = std::mem::take(&mut buf);
                    tokio::spawn(async move {
                        let file = match kept {
                            Some(rx) => match rx.await {
                                Ok(f) => f,
                                Err(_) => return,
                            },
                            None => bytes::Bytes::from(buf),
                        };
                        let seconds = progress.audio_ms() as f64 / 1000.0;
                        jobs.remember(&key, format, file, seconds).await
                    });
                }
                None
            }
        }
    })
    .boxed();
    crate::speech::SpeechStream {
        format,
        chunks: stream.chunks,
        bytes,
        progress: stream.progress,
        file: None,
        head: None,
        words: stream.words,
    }
}
