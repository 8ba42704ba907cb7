//! The job stack on the embedded twins (SQLite, in-process queue, filesystem storage, memory
//! cache), an in-process worker and the API on a port-0 listener, built the one way every test
//! file needs it with options for what they vary: API keys, retention, the renderer, a
//! `/metrics` exposition, speech through the workers.
//!
//! By default the worker renders through the same [`FakeSpeech`] the API serves, so the fake's
//! counters count syntheses whichever path asked for them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use polyvox_core::{Lang, Progress, SynthesisRequest};
use polyvox_infra::Backends;
use polyvox_infra::cache::MemoryCache;
use polyvox_infra::db::{DbConfig, SqlJobStore, SqlLexicons};
use polyvox_infra::queue::{MemoryQueue, QueueConfig};
use polyvox_infra::ratelimit::{MemoryRateLimiter, MemorySlots};
use polyvox_infra::relay::MemoryRelay;
use polyvox_infra::storage::{AudioStore, FsAudioStore};
use polyvox_infra::tenancy::{KeyStore, MemoryQuota, MeterConfig, SqlTenancy, UsageMeter};
use polyvox_server::{
    JobService, JobsConfig, Readiness, RemoteSpeech, ServerConfig, Services, SpeechService,
    SpeechStream, StreamOptions, Tenancy, TenancyBackends, TenancyConfig,
};
use polyvox_worker::{Worker, WorkerConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::FakeSpeech;

/// A migrated SQLite job store in `dir`.
pub async fn sqlite(dir: &Path) -> SqlJobStore {
    let url = format!("sqlite://{}?mode=rwc", dir.join("jobs.db").display());
    let store = SqlJobStore::connect(&DbConfig::new(url))
        .await
        .expect("sqlite");
    store.migrate().await.expect("migrate");
    store
}

/// The embedded twins around `store`; the audio lands under `dir/audio`.
pub async fn twins(dir: &Path, store: SqlJobStore) -> Backends {
    Backends {
        store: Arc::new(store),
        queue: Arc::new(MemoryQueue::new(&QueueConfig::default())),
        audio: Arc::new(
            FsAudioStore::open(dir.join("audio"), Duration::from_secs(5))
                .await
                .expect("fs"),
        ),
        cache: Arc::new(MemoryCache::new(100, None)),
        relay: Arc::new(MemoryRelay::default()),
    }
}

/// The fake as the worker's synthesis, claiming `seconds` of audio per render (usage is metered
/// from it) and reporting progress chunk by chunk.
pub struct ViaSpeech {
    pub speech: Arc<FakeSpeech>,
    pub seconds: f64,
}

impl SpeechService for ViaSpeech {
    fn synthesize(
        &self,
        req: SynthesisRequest,
        opts: StreamOptions,
    ) -> BoxFuture<'static, Result<SpeechStream, polyvox_core::Error>> {
        let (speech, ms) = (Arc::clone(&self.speech), (self.seconds * 1000.0) as u64);
        Box::pin(async move {
            let mut s = speech.synthesize(req, opts).await?;
            let (inner, outer) = (Arc::clone(&s.progress), Arc::new(Progress::default()));
            let (claim, n) = (Arc::clone(&outer), s.chunks.max(1) as u64);
            s.bytes = s
                .bytes
                .map(move |r| {
                    let done = inner.chunks_done();
                    claim.set(done, ms * done as u64 / n);
                    r
                })
                .boxed();
            s.progress = outer;
            Ok(s)
        })
    }

    fn languages(&self) -> Vec<Lang> {
        self.speech.languages()
    }

    fn readiness(&self) -> Readiness {
        self.speech.readiness()
    }
}

/// Options of an [`Embedded`] stack; [`Embedded::builder`] starts one.
pub struct Builder {
    fake: FakeSpeech,
    render: Option<Arc<dyn SpeechService>>,
    audio_seconds: f64,
    worker: Option<WorkerConfig>,
    jobs: JobsConfig,
    server: ServerConfig,
    tenancy: Option<TenancyConfig>,
    remote: Option<Vec<Lang>>,
    wrap_audio: Option<AudioWrapper>,
    wrap_keys: Option<KeysWrapper>,
}

type AudioWrapper = Box<dyn FnOnce(Arc<dyn AudioStore>) -> Arc<dyn AudioStore> + Send>;
type KeysWrapper = Box<dyn FnOnce(Arc<dyn KeyStore>) -> Arc<dyn KeyStore> + Send>;

impl Builder {
    /// Changes the worker's settings (by default: fast heartbeats and receive waits).
    pub fn worker(mut self, change: impl FnOnce(&mut WorkerConfig)) -> Self {
        change(self.worker.get_or_insert_with(test_worker));
        self
    }

    /// Puts `wrap` around the filesystem audio store (to inject failures).
    pub fn wrap_audio(
        mut self,
        wrap: impl FnOnce(Arc<dyn AudioStore>) -> Arc<dyn AudioStore> + Send + 'static,
    ) -> Self {
        self.wrap_audio = Some(Box::new(wrap));
        self
    }

    /// Puts `wrap` around the key store the API authenticates with (to count lookups).
    pub fn wrap_keys(
        mut self,
        wrap: impl FnOnce(Arc<dyn KeyStore>) -> Arc<dyn KeyStore> + Send + 'static,
    ) -> Self {
        self.wrap_keys = Some(Box::new(wrap));
        self
    }

    /// No worker: submitted jobs stay queued.
    pub fn without_worker(mut self) -> Self {
        self.worker = None;
        self
    }

    /// The worker renders with this instead of through the fake.
    pub fn render(mut self, render: Arc<dyn SpeechService>) -> Self {
        self.render = Some(render);
        self
    }

    /// The audio duration the default renderer claims (1 s unless set).
    pub fn audio_seconds(mut self, seconds: f64) -> Self {
        self.audio_seconds = seconds;
        self
    }

    /// Changes the job API's settings.
    pub fn jobs(mut self, change: impl FnOnce(&mut JobsConfig)) -> Self {
        change(&mut self.jobs);
        self
    }

    pub fn server(mut self, cfg: ServerConfig) -> Self {
        self.server = cfg;
        self
    }

    /// API keys required, kept in the stack's SQLite with an in-memory rate limiter.
    pub fn tenancy(mut self, cfg: TenancyConfig) -> Self {
        self.tenancy = Some(cfg);
        self
    }

    /// `/v1/audio/speech` is served by the workers ([`RemoteSpeech`] speaking `langs`); the
    /// fake then only renders for the worker.
    pub fn remote(mut self, langs: Vec<Lang>) -> Self {
        self.remote = Some(langs);
        self
    }

    pub async fn start(self) -> Embedded {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite(dir.path()).await;
        let keys = SqlTenancy::new(&store);
        let lexicons = SqlLexicons::new(&store);
        let mut backends = twins(dir.path(), store).await;
        if let Some(wrap) = self.wrap_audio {
            backends.audio = wrap(backends.audio);
        }
        let fake = Arc::new(self.fake);
        let stop = CancellationToken::new();
        // Usage as the API and the worker count it; flushed to `keys` every 50 ms and on demand.
        let meter = Arc::new(UsageMeter::new(
            Arc::new(keys.clone()),
            MeterConfig::default(),
        ));
        tokio::spawn(
            meter
                .clone()
                .run(Duration::from_millis(50), stop.clone().cancelled_owned()),
        );
        if let Some(cfg) = self.worker {
            let render: Arc<dyn SpeechService> = self.render.unwrap_or_else(|| {
                Arc::new(ViaSpeech {
                    speech: fake.clone(),
                    seconds: self.audio_seconds,
                })
            });
            // The worker bills audio seconds in the job store itself (`succeed`), into `keys`.
            tokio::spawn(Worker::new(cfg, backends.clone(), render).run(stop.clone()));
        }
        let jobs = Arc::new(JobService::new(backends, self.jobs));
        let speech: Arc<dyn SpeechService> = match self.remote {
            Some(langs) => Arc::new(RemoteSpeech::new(
                jobs.clone(),
                langs,
                Duration::from_secs(30),
            )),
            None => fake.clone(),
        };
        let key_store: Arc<dyn KeyStore> = Arc::new(keys.clone());
        let key_store = match self.wrap_keys {
            Some(wrap) => wrap(key_store),
            None => key_store,
        };
        let tenancy = self.tenancy.map(|cfg| {
            Arc::new(Tenancy::new(
                TenancyBackends {
                    keys: key_store,
                    usage: meter.clone(),
                    quota: Arc::new(MemoryQuota::new(meter.clone())),
                    limiter: Arc::new(MemoryRateLimiter::new()),
                    slots: Arc::new(MemorySlots::new()),
                },
                cfg,
            ))
        });
        let services = Services {
            speech,
            jobs: Some(jobs),
            tenancy,
            lexicons: Some(Arc::new(lexicons)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(polyvox_server::serve(
            self.server,
            services,
            listener,
            stop.clone(),
        ));
        Embedded {
            base,
            client: reqwest::Client::new(),
            fake,
            keys,
            meter,
            audio_dir: dir.path().join("audio"),
            stop,
            _dir: dir,
        }
    }
}

fn test_worker() -> WorkerConfig {
    WorkerConfig {
        id: "test-worker".into(),
        heartbeat: Duration::from_millis(50),
        receive_wait: Duration::from_millis(100),
        ..WorkerConfig::default()
    }
}

/// A running stack; dropping it stops the server and the worker.
pub struct Embedded {
    pub base: String,
    pub client: reqwest::Client,
    pub fake: Arc<FakeSpeech>,
    /// The key and usage store (in use only with [`Builder::tenancy`]).
    pub keys: SqlTenancy,
    /// Usage as counted in memory before it reaches `keys`.
    pub meter: Arc<UsageMeter>,
    /// Where the filesystem storage keeps the audio.
    pub audio_dir: PathBuf,
    pub stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Embedded {
    /// A stack serving `fake`, with a worker rendering through it.
    pub fn builder(fake: FakeSpeech) -> Builder {
        Builder {
            fake,
            render: None,
            audio_seconds: 1.0,
            worker: Some(test_worker()),
            jobs: JobsConfig::default(),
            server: ServerConfig::default(),
            tenancy: None,
            remote: None,
            wrap_audio: None,
            wrap_keys: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /v1/audio/speech` with `body`.
    pub async fn speech(&self, body: Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/audio/speech"))
            .json(&body)
            .send()
            .await
            .expect("sent")
    }

    /// `GET /v1/jobs/{id}`, as the holder of `token` when given.
    pub async fn job(&self, id: &str, token: Option<&str>) -> Value {
        let mut req = self.client.get(self.url(&format!("/v1/jobs/{id}")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("sent").json().await.expect("json")
    }

    /// The job once it has succeeded, failed or been cancelled; fails the test after a generous
    /// bound (never asserting a duration).
    pub async fn wait(&self, id: &str, token: Option<&str>) -> Value {
        for _ in 0..500 {
            let v = self.job(id, token).await;
            if matches!(
                v["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job {id} did not finish");
    }
}
