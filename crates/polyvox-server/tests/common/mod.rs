//! Test support: a scriptable fake [`SpeechService`] and a server on a port-0 listener.
//!
//! The fake produces its chunks from a separate task through a capacity-1 channel, the way a real
//! pipeline hands audio over from its worker. When the receiving stream is dropped (client gone)
//! the producer notices and counts a cancellation; if the server kept draining a stream nobody
//! reads, the producer would instead run to completion and the tests would see it.

#![allow(dead_code)]

pub mod embedded;
pub mod faulty_store;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use polyvox_core::{Error, ErrorCode, Lang, Progress, SynthesisRequest};
use polyvox_server::{Readiness, ServerConfig, SpeechService, SpeechStream, StreamOptions};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

/// What the fake does with a request.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Streams its chunks, then ends.
    Chunks,
    /// Streams `n` chunks, then yields this error as the last item.
    FailAfter(usize, Error),
    /// Refuses before any audio exists.
    FailAtStart(Error),
    /// Panics inside `synthesize`'s future.
    Panic,
    /// Speaks the request's own text: two chunks, `[` + text + `]` (padded with `_` to an even
    /// length, whole 16-bit samples) and `pad` bytes of `p`, so a test can tell which text became
    /// which audio and in what order.
    Echo { pad: usize },
}

/// The audio [`Mode::Echo`] makes of `text`.
pub fn echo_chunks(text: &str, pad: usize) -> Vec<Bytes> {
    let mut head = format!("[{text}]").into_bytes();
    if head.len() % 2 == 1 {
        head.push(b'_');
    }
    let mut chunks = vec![Bytes::from(head)];
    if pad > 0 {
        chunks.push(Bytes::from(vec![b'p'; pad + pad % 2]));
    }
    chunks
}

/// Counters the tests read.
#[derive(Debug, Default)]
pub struct Stats {
    /// `synthesize` calls.
    pub started: AtomicUsize,
    /// Chunks handed to the channel.
    pub produced: AtomicUsize,
    /// Streams whose receiver went away before the end.
    pub cancelled: AtomicUsize,
    /// Streams that delivered everything.
    pub completed: AtomicUsize,
    pub last_request: Mutex<Option<(SynthesisRequest, StreamOptions)>>,
}

pub struct FakeSpeech {
    pub chunks: Vec<Bytes>,
    pub delay: Duration,
    pub mode: Mode,
    pub languages: Vec<Lang>,
    pub ready: AtomicBool,
    /// When set, `synthesize` waits for a permit of this semaphore (see [`FakeSpeech::release`]).
    pub gate: Option<Arc<Semaphore>>,
    pub stats: Arc<Stats>,
}

impl FakeSpeech {
    /// `n` distinct chunks of a few bytes each, `delay` apart.
    pub fn new(n: usize, delay: Duration) -> Self {
        let chunks = (0..n)
            .map(|i| Bytes::from(format!("<chunk {i}:{}>", "x".repeat(i % 7))))
            .collect();
        Self {
            chunks,
            delay,
            mode: Mode::Chunks,
            languages: vec![Lang::EnUs, Lang::EnGb, Lang::Ja],
            ready: AtomicBool::new(true),
            gate: None,
            stats: Arc::new(Stats::default()),
        }
    }

    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Makes every `synthesize` call block until [`FakeSpeech::release`].
    pub fn gated(mut self) -> Self {
        self.gate = Some(Arc::new(Semaphore::new(0)));
        self
    }

    pub fn release(&self) {
        if let Some(g) = &self.gate {
            g.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }

    pub fn expected_body(&self) -> Vec<u8> {
        self.chunks.concat()
    }
}

impl SpeechService for FakeSpeech {
    fn synthesize(
        &self,
        req: SynthesisRequest,
        opts: StreamOptions,
    ) -> BoxFuture<'static, Result<SpeechStream, Error>> {
        let stats = Arc::clone(&self.stats);
        let gate = self.gate.clone();
        let mode = self.mode.clone();
        let chunks = match mode {
            Mode::Echo { pad } => echo_chunks(&req.text, pad),
            _ => self.chunks.clone(),
        };
        let delay = self.delay;
        let supported = self.languages.contains(&req.lang);
        Box::pin(async move {
            stats.started.fetch_add(1, Ordering::SeqCst);
            *stats.last_request.lock().expect("lock") = Some((req.clone(), opts));
            if let Some(gate) = gate {
                let _ = gate
                    .acquire()
                    .await
                    .map_err(|_| Error::new(ErrorCode::Internal, "gate closed"))?;
            }
            if !supported {
                return Err(Error::new(
                    ErrorCode::UnsupportedLanguage,
                    format!("lang '{}' is not loaded", req.lang),
                ));
            }
            let fail_after = match mode {
                Mode::Chunks | Mode::Echo { .. } => None,
                Mode::FailAfter(n, e) => Some((n, e)),
                Mode::FailAtStart(e) => return Err(e),
                Mode::Panic => panic!("fake synthesis panicked"),
            };
            let (tx, rx) = mpsc::channel::<Result<Bytes, Error>>(1);
            let n = chunks.len();
            // The fake claims half a second of audio per chunk, for usage metering tests.
            let progress = Arc::new(Progress::default());
            let p = Arc::clone(&progress);
            let (file_tx, file) = if opts.keep_file {
                let (t, r) = futures::channel::oneshot::channel();
                (Some(t), Some(r))
            } else {
                (None, None)
            };
            let whole = Bytes::from(chunks.concat());
            // Timed on request: chunk i speaks written word i (the last chunk the rest), half a
            // second per chunk, appended before the chunk's audio like the real pipeline does.
            let words = Arc::new(polyvox_core::Timeline::default());
            let mut to_time = if opts.timestamps {
                fake_words(&req.text)
            } else {
                Vec::new()
            };
            let timeline = Arc::clone(&words);
            tokio::spawn(async move {
                for (i, chunk) in chunks.into_iter().enumerate() {
                    tokio::select! {
                        _ = tx.closed() => {
                            stats.cancelled.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        _ = tokio::time::sleep(delay) => {}
                    }
                    let item = match &fail_after {
                        Some((k, e)) if *k == i => Err(e.clone()),
                        _ => Ok(chunk),
                    };
                    let failed = item.is_err();
                    if !failed {
                        p.set(i + 1, (i as u64 + 1) * 500);
                        let take = if i + 1 == n {
                            to_time.len()
                        } else {
                            to_time.len().min(1)
                        };
                        timeline.push(to_time.drain(..take).map(|mut w| {
                            (w.start, w.end) = (i as f64 * 0.5, i as f64 * 0.5 + 0.4);
                            w
                        }));
                    }
                    if tx.send(item).await.is_err() {
                        stats.cancelled.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    if failed {
                        return;
                    }
                    stats.produced.fetch_add(1, Ordering::SeqCst);
                }
                stats.completed.fetch_add(1, Ordering::SeqCst);
                if let Some(t) = file_tx {
                    let _ = t.send(whole);
                }
            });
            let bytes = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            })
            .boxed();
            Ok(SpeechStream {
                format: req.format,
                chunks: n,
                bytes,
                progress,
                file,
                head: None,
                words,
            })
        })
    }

    fn languages(&self) -> Vec<Lang> {
        self.languages.clone()
    }

    fn readiness(&self) -> Readiness {
        let ready = self.ready.load(Ordering::SeqCst);
        Readiness {
            ready,
            detail: if ready {
                "fake ready".into()
            } else {
                "fake model still loading".into()
            },
        }
    }

    fn model_id(&self) -> &str {
        "kokoro-82m-fake"
    }
}

/// The whitespace-separated words of `text` with their char offsets (times set by the caller).
fn fake_words(text: &str) -> Vec<polyvox_core::WordTiming> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.chars().chain([' ']).enumerate() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(a)) => {
                out.push(polyvox_core::WordTiming {
                    text: text.chars().skip(a).take(i - a).collect(),
                    char_start: a,
                    char_end: i,
                    start: 0.0,
                    end: 0.0,
                });
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// A finished render of `bytes` that claims `audio_ms` of audio, as one piece.
pub fn one_piece(format: polyvox_core::AudioFormat, bytes: Bytes, audio_ms: u64) -> SpeechStream {
    SpeechStream {
        format,
        chunks: 1,
        bytes: futures::stream::iter([Ok(bytes)]).boxed(),
        progress: Progress::finished(1, audio_ms),
        file: None,
        head: None,
        words: Default::default(),
    }
}

/// A running server; dropping it shuts the server down.
pub struct TestServer {
    pub base: String,
    pub fake: Arc<FakeSpeech>,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn start(cfg: ServerConfig, fake: FakeSpeech) -> TestServer {
    let fake = Arc::new(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let shutdown = CancellationToken::new();
    let speech: Arc<dyn SpeechService> = fake.clone();
    let task = tokio::spawn(polyvox_server::run(cfg, speech, listener, shutdown.clone()));
    TestServer {
        base: format!("http://{addr}"),
        fake,
        client: reqwest::Client::new(),
        shutdown,
        task: Some(task),
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn speech(&self, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/audio/speech"))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    /// Cancels the shutdown token and returns what `run` returned.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        let task = self.task.take().expect("running");
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("run returns after shutdown")
            .expect("run task")
    }

    pub fn stats(&self) -> &Stats {
        &self.fake.stats
    }
}

/// Checks the standard error shape and returns `(code, message)`; the body's request id must be
/// the one in the `X-Request-Id` header.
pub async fn error_of(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let header_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        ct.starts_with("application/json"),
        "error content type {ct}"
    );
    let body: serde_json::Value = res.json().await.expect("JSON error body");
    let err = body
        .get("error")
        .unwrap_or_else(|| panic!("no error object in {body}"));
    let code = err["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code in {body}"))
        .to_string();
    let message = err["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {body}"))
        .to_string();
    let id = err["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no request_id in {body}"));
    assert!(!id.is_empty());
    assert_eq!(
        Some(id.to_string()),
        header_id,
        "body and header request ids differ"
    );
    (status, code, message)
}

/// Polls `cond` until true, failing the test after a generous bound (never asserting a duration).
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for: {what}");
}
