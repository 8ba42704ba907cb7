//! Model threads behind a cheap-clone handle.
//!
//! Design (after text-embeddings-inference): each session is a dedicated OS thread that builds and
//! owns its [`Backend`]; callers never touch a backend, they enqueue jobs. Inference is CPU-bound
//! for seconds, so it never runs on an async runtime; a job answers through a oneshot channel that
//! async code can await.
//!
//! - Admission: the queue is bounded and [`Engine::submit`] uses `try_send`, so overload is an
//!   immediate [`EngineError::QueueFull`] (HTTP 429), never an unbounded wait.
//! - Cancellation: a job whose receiver is gone (client disconnected) is skipped when dequeued.
//! - Priority: two queues, and a free session always takes an [`Priority::Interactive`] job before
//!   a [`Priority::Background`] one (chunk-level yielding: every chunk is one call). Yielding alone
//!   still makes an interactive call wait for the batch call in progress, and a 510-id call takes
//!   seconds on a small machine; so when every session is busy, a new interactive call preempts a
//!   running background call (ONNX Runtime's terminate flag, see [`Interrupter`]), which goes back
//!   to the head of the batch queue and runs again from its start. A call is preempted at most
//!   [`MAX_PREEMPTIONS`] times, so batch work advances even under a steady interactive stream; past
//!   that, an interactive call waits at most the one call in progress.
//! - Readiness: [`Engine::start`] returns only after every session has built its backend and run
//!   one worst-case warm-up input, so "started" means "ready to serve at full length".
//! - Robustness: a panic inside `infer` is caught, reported to that job only, and the backend is
//!   rebuilt with the factory (its internal state may be torn). A plain `Err` keeps the backend: an
//!   ONNX Runtime run error leaves the session usable, and a rebuild stalls the thread 0.2–0.5 s.
//! - Shutdown: when the last handle is dropped the queue closes; each thread finishes its current
//!   job, skips abandoned queued jobs, and exits.
//! - Metrics: the threads themselves publish busy sessions, queue length and per-call time, since
//!   only they see a job start and end; the gauges are global, so with several engines in one
//!   process (tests) they describe the last one that changed.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use polyvox_core::MODEL_MAX_IDS;
use polyvox_core::metrics as m;
use tokio::sync::oneshot;

use crate::EngineError;
use crate::backend::{Backend, Interrupter, STYLE_DIM, Voiced, validate_input};

/// The result of one job: the audio and, when the backend knows them, each token's duration.
pub type InferResult = Result<Voiced, EngineError>;

/// Builds the backend of session `i`; called once per session at start and again after a panic.
pub type BackendFactory = dyn Fn(usize) -> Result<Box<dyn Backend>, EngineError> + Send + Sync;

/// Sizing of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Model threads, each with its own session (memory grows ~0.2–0.9 GB per session).
    pub sessions: usize,
    /// Jobs that may wait for a free session before [`Engine::submit`] answers `QueueFull`.
    pub queue_capacity: usize,
    /// Length of the warm-up input run once per session before start returns; 0 skips warm-up.
    pub warmup_ids: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            sessions: 1,
            queue_capacity: 64,
            warmup_ids: MODEL_MAX_IDS,
        }
    }
}

/// Which queue a model call waits in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Priority {
    /// Someone is waiting on this audio (a stream, a synchronous request).
    #[default]
    Interactive,
    /// Batch work: taken only when no interactive call waits.
    Background,
}

/// How often one background call may be stopped for interactive work before it runs to the end.
/// Each preemption throws away the part of the call already computed.
pub const MAX_PREEMPTIONS: u32 = 4;

/// A handle to the model threads. Clones share the same queue and sessions.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

struct Shared {
    tx: Sender<Job>,
    tx_background: Sender<Job>,
    busy: Arc<AtomicUsize>,
    /// One per session: the background call it is computing, if that call may be preempted.
    running: Arc<[Mutex<Option<Interrupter>>]>,
    sessions: usize,
    capacity: usize,
}

struct Job {
    ids: Vec<i64>,
    style: Vec<f32>,
    speed: f32,
    reply: Reply,
    background: bool,
    /// Times this (background) call was stopped for interactive work.
    preemptions: u32,
}

/// Where a job's answer goes: an async waiter, or a thread blocked in [`Engine::infer_blocking`].
enum Reply {
    Async(oneshot::Sender<InferResult>),
    Blocking(std::sync::mpsc::SyncSender<InferResult>),
}

impl Reply {
    fn is_abandoned(&self) -> bool {
        match self {
            Self::Async(tx) => tx.is_closed(),
            // The blocked caller cannot go away without its thread ending.
            Self::Blocking(_) => false,
        }
    }

    fn send(self, result: InferResult) {
        // A receiver that left in the meantime simply does not get the answer.
        match self {
            Self::Async(tx) => drop(tx.send(result)),
            Self::Blocking(tx) => drop(tx.send(result)),
        }
    }
}

impl Engine {
    /// Spawns `cfg.sessions` model threads, each building its backend with `factory` and running
    /// one warm-up input, and returns once all are ready (or with the first failure). It blocks
    /// for the warm-up (tens of seconds for 510 ids on the real model): on an async runtime, call
    /// it from `spawn_blocking`.
    pub fn start(
        cfg: &EngineConfig,
        factory: impl Fn(usize) -> Result<Box<dyn Backend>, EngineError> + Send + Sync + 'static,
    ) -> Result<Engine, EngineError> {
        if cfg.sessions == 0 || cfg.queue_capacity == 0 {
            return Err(EngineError::InvalidInput(
                "engine needs at least one session and a queue capacity of 1".into(),
            ));
        }
        let factory: Arc<BackendFactory> = Arc::new(factory);
        let (tx, rx) = crossbeam_channel::bounded::<Job>(cfg.queue_capacity);
        let (tx_background, rx_background) = crossbeam_channel::bounded::<Job>(cfg.queue_capacity);
        let busy = Arc::new(AtomicUsize::new(0));
        let running: Arc<[Mutex<Option<Interrupter>>]> =
            (0..cfg.sessions).map(|_| Mutex::new(None)).collect();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), EngineError>>();
        for index in 0..cfg.sessions {
            let worker = Worker {
                index,
                rx: rx.clone(),
                rx_background: rx_background.clone(),
                factory: Arc::clone(&factory),
                busy: Arc::clone(&busy),
                running: Arc::clone(&running),
            };
            let ready = ready_tx.clone();
            let warmup = cfg.warmup_ids.min(MODEL_MAX_IDS);
            std::thread::Builder::new()
                .name(format!("polyvox-model-{index}"))
                .spawn(move || worker.run(warmup, ready))
                .map_err(|e| {
                    EngineError::ModelUnavailable(format!("cannot spawn model thread: {e}"))
                })?;
        }
        drop(ready_tx);
        for _ in 0..cfg.sessions {
            // On error, returning drops `tx`: the threads that did start see a closed queue and exit.
            ready_rx.recv().map_err(|_| EngineError::Stopped)??;
        }
        metrics::gauge!(m::ENGINE_SESSIONS).set(cfg.sessions as f64);
        let shared = Shared {
            tx,
            tx_background,
            busy,
            running,
            sessions: cfg.sessions,
            capacity: cfg.queue_capacity,
        };
        Ok(Engine {
            shared: Arc::new(shared),
        })
    }

    /// Enqueues an interactive job without ever blocking. The receiver yields the audio;
    /// dropping it cancels the job if it has not started.
    pub fn submit(
        &self,
        ids: Vec<i64>,
        style: Vec<f32>,
        speed: f32,
    ) -> Result<oneshot::Receiver<InferResult>, EngineError> {
        self.submit_with(ids, style, speed, Priority::Interactive)
    }

    /// [`Engine::submit`] into the queue of `priority`.
    pub fn submit_with(
        &self,
        ids: Vec<i64>,
        style: Vec<f32>,
        speed: f32,
        priority: Priority,
    ) -> Result<oneshot::Receiver<InferResult>, EngineError> {
        validate_input(&ids, &style, speed)?;
        let (tx, rx) = oneshot::channel();
        let queue = match priority {
            Priority::Interactive => &self.shared.tx,
            Priority::Background => &self.shared.tx_background,
        };
        match queue.try_send(Job {
            ids,
            style,
            speed,
            reply: Reply::Async(tx),
            background: priority == Priority::Background,
            preemptions: 0,
        }) {
            Ok(()) => {
                metrics::gauge!(m::ENGINE_QUEUE_LENGTH).increment(1.0);
                if priority == Priority::Interactive {
                    self.preempt_one();
                }
                Ok(rx)
            }
            Err(TrySendError::Full(_)) => Err(EngineError::QueueFull {
                capacity: self.shared.capacity,
            }),
            Err(TrySendError::Disconnected(_)) => Err(EngineError::Stopped),
        }
    }

    /// Runs one job and waits for it, for CLI and batch callers. Unlike [`Engine::submit`] it
    /// waits for queue space instead of failing with `QueueFull`. Never call it on an async
    /// runtime thread: it blocks for the whole inference.
    pub fn infer_blocking(&self, ids: Vec<i64>, style: Vec<f32>, speed: f32) -> InferResult {
        validate_input(&ids, &style, speed)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.shared
            .tx
            .send(Job {
                ids,
                style,
                speed,
                reply: Reply::Blocking(tx),
                background: false,
                preemptions: 0,
            })
            .map_err(|_| EngineError::Stopped)?;
        metrics::gauge!(m::ENGINE_QUEUE_LENGTH).increment(1.0);
        self.preempt_one();
        rx.recv().map_err(|_| EngineError::Stopped)?
    }

    /// Makes room for an interactive call that just arrived: when no session is free, stops one
    /// preemptible background call (it is queued again). With a free session, nothing is stopped:
    /// that session takes the interactive call next.
    fn preempt_one(&self) {
        if self.shared.busy.load(Ordering::SeqCst) < self.shared.sessions {
            return;
        }
        for slot in self.shared.running.iter() {
            let slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
            // One stop per run is enough: a raised call is already on its way out.
            if let Some(call) = slot.as_ref()
                && !call.is_raised()
            {
                call.raise();
                metrics::counter!(m::ENGINE_PREEMPTIONS_TOTAL).increment(1);
                return;
            }
        }
    }

    /// Number of model sessions (threads).
    pub fn sessions(&self) -> usize {
        self.shared.sessions
    }

    /// Jobs waiting for a session (not counting those being computed), both priorities.
    pub fn queue_len(&self) -> usize {
        self.shared.tx.len() + self.shared.tx_background.len()
    }

    /// Maximum number of waiting jobs.
    pub fn queue_capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Sessions computing a job right now.
    pub fn busy(&self) -> usize {
        self.shared.busy.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("sessions", &self.sessions())
            .field("queue_len", &self.queue_len())
            .field("busy", &self.busy())
            .finish()
    }
}

/// One model thread's state.
struct Worker {
    index: usize,
    rx: Receiver<Job>,
    rx_background: Receiver<Job>,
    factory: Arc<BackendFactory>,
    busy: Arc<AtomicUsize>,
    running: Arc<[Mutex<Option<Interrupter>>]>,
}

impl Worker {
    fn run(self, warmup_ids: usize, ready: std::sync::mpsc::Sender<Result<(), EngineError>>) {
        let mut backend = match self
            .build()
            .and_then(|mut b| warm_up(b.as_mut(), warmup_ids).map(|()| b))
        {
            Ok(b) => {
                let _ = ready.send(Ok(()));
                Some(b)
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        drop(ready);
        tracing::debug!(session = self.index, "model thread ready");
        let mut held = VecDeque::new();
        while let Some(mut job) = self.next_job(&mut held) {
            // Counted up on send and down on receive: order-independent, so concurrent threads
            // cannot leave a stale length behind the way racing `set` calls could.
            metrics::gauge!(m::ENGINE_QUEUE_LENGTH).decrement(1.0);
            if job.reply.is_abandoned() {
                tracing::debug!(session = self.index, "skipping a job whose caller left");
                continue;
            }
            if backend.is_none() {
                backend = self
                    .build()
                    .inspect_err(|e| tracing::error!(session = self.index, "rebuild failed: {e}"))
                    .ok();
            }
            let Some(b) = backend.as_mut() else {
                job.reply.send(Err(EngineError::ModelUnavailable(format!(
                    "session {} could not be rebuilt",
                    self.index
                ))));
                continue;
            };
            self.busy.fetch_add(1, Ordering::SeqCst);
            // increment/decrement, not set: concurrent sessions would overwrite each other's value.
            metrics::gauge!(m::ENGINE_SESSIONS_BUSY).increment(1.0);
            let started = std::time::Instant::now();
            let preemptible = job.background && job.preemptions < MAX_PREEMPTIONS;
            let stop = if preemptible { b.interrupter() } else { None };
            self.set_running(stop.as_ref());
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                b.infer_timed(&job.ids, &job.style, job.speed)
            }));
            // Lowered only once the slot is empty, so a late raise cannot stop the next call.
            self.set_running(None);
            if let Some(stop) = &stop {
                stop.lower();
            }
            metrics::histogram!(m::ENGINE_INFER_SECONDS).record(started.elapsed().as_secs_f64());
            self.busy.fetch_sub(1, Ordering::SeqCst);
            metrics::gauge!(m::ENGINE_SESSIONS_BUSY).decrement(1.0);
            match outcome {
                Ok(Err(EngineError::Interrupted)) if stop.is_some() => {
                    tracing::debug!(session = self.index, "batch call preempted; queued again");
                    job.preemptions += 1;
                    // Back at the head of the batch work, behind the interactive call it let in.
                    held.push_front(job);
                    metrics::gauge!(m::ENGINE_QUEUE_LENGTH).increment(1.0);
                }
                Ok(result) => job.reply.send(result),
                Err(payload) => {
                    let msg = panic_message(payload.as_ref());
                    tracing::error!(
                        session = self.index,
                        "backend panicked: {msg}; rebuilding it"
                    );
                    job.reply.send(Err(EngineError::BackendPanicked(msg)));
                    // Drop the torn backend first so two sessions' worth of memory never coexist.
                    drop(backend.take());
                    backend = self
                        .build()
                        .inspect_err(|e| {
                            tracing::error!(session = self.index, "rebuild failed: {e}")
                        })
                        .ok();
                }
            }
        }
        tracing::debug!(session = self.index, "queue closed; model thread exits");
    }

    /// Publishes (or clears) the preemptible call this session is computing.
    fn set_running(&self, stop: Option<&Interrupter>) {
        let mut slot = self.running[self.index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *slot = stop.cloned();
    }

    /// The next job, interactive ones first; `None` once the engine is dropped. `held` keeps
    /// background jobs taken out while an interactive one was arriving, and preempted ones.
    fn next_job(&self, held: &mut VecDeque<Job>) -> Option<Job> {
        if let Ok(job) = self.rx.try_recv() {
            return Some(job);
        }
        if let Some(job) = held.pop_front() {
            return Some(job);
        }
        // Both senders are dropped together, so a disconnected queue is the end either way.
        let job = crossbeam_channel::select! {
            recv(self.rx) -> job => return job.ok(),
            recv(self.rx_background) -> job => job.ok()?,
        };
        // `select!` picks at random among ready queues: an interactive job that arrived in the
        // same instant still goes first.
        match self.rx.try_recv() {
            Ok(urgent) => {
                held.push_back(job);
                Some(urgent)
            }
            Err(_) => Some(job),
        }
    }

    /// Calls the factory, turning a panic in it into an error.
    fn build(&self) -> Result<Box<dyn Backend>, EngineError> {
        catch_unwind(AssertUnwindSafe(|| (self.factory)(self.index))).unwrap_or_else(|p| {
            Err(EngineError::ModelUnavailable(format!(
                "backend factory panicked: {}",
                panic_message(p.as_ref())
            )))
        })
    }
}

/// Phonemes of an ordinary English phrase, repeated: the warm-up should exercise the same code
/// paths (and allocate the same buffer sizes) as real speech of maximal length.
const WARMUP_PATTERN: &[i64] = &[50, 156, 86, 54, 31, 16, 65, 156, 87, 123, 54, 46, 4, 16];

fn warm_up(backend: &mut dyn Backend, n_ids: usize) -> Result<(), EngineError> {
    if n_ids == 0 {
        return Ok(());
    }
    let ids: Vec<i64> = WARMUP_PATTERN.iter().copied().cycle().take(n_ids).collect();
    let style = vec![0.0f32; STYLE_DIM];
    match catch_unwind(AssertUnwindSafe(|| backend.infer(&ids, &style, 1.0))) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(EngineError::ModelUnavailable(format!(
            "warm-up on {n_ids} ids failed: {e}"
        ))),
        Err(p) => Err(EngineError::ModelUnavailable(format!(
            "warm-up panicked: {}",
            panic_message(p.as_ref())
        ))),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}
