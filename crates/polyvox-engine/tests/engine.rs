//! The engine's queueing, cancellation, recovery and parallelism, driven through FakeBackend.
//!
//! Tests hold sessions busy with a gate channel and learn that a session is inside `infer` from
//! an "entered" channel, so every assertion follows from ordering, never from timing. Receives
//! that could hang if the engine were broken use a generous timeout only to fail instead of hang.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use polyvox_engine::{
    Backend, Engine, EngineConfig, EngineError, FakeBackend, Priority, STYLE_DIM,
};

const PATIENCE: Duration = Duration::from_secs(60);

struct Rig {
    engine: Engine,
    release: Sender<()>,
    entered: Receiver<usize>,
    calls: Arc<AtomicUsize>,
    builds: Arc<AtomicUsize>,
}

/// An engine of gated fake sessions without warm-up.
fn rig(
    sessions: usize,
    queue_capacity: usize,
    tweak: impl Fn(FakeBackend) -> FakeBackend + Send + Sync + 'static,
) -> Rig {
    let (release, gate) = crossbeam_channel::unbounded();
    let (entered_tx, entered) = crossbeam_channel::unbounded();
    let fake = tweak(FakeBackend::new().with_gate(gate).with_entered(entered_tx));
    let calls = fake.calls();
    let builds = Arc::new(AtomicUsize::new(0));
    let b = Arc::clone(&builds);
    let cfg = EngineConfig {
        sessions,
        queue_capacity,
        warmup_ids: 0,
    };
    let engine = Engine::start(&cfg, move |_| {
        b.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(fake.clone()) as Box<dyn Backend>)
    })
    .unwrap();
    Rig {
        engine,
        release,
        entered,
        calls,
        builds,
    }
}

/// The answer of `rx`, or `None` if none came within [`PATIENCE`] (instead of hanging).
fn recv_within(
    mut rx: tokio::sync::oneshot::Receiver<polyvox_engine::InferResult>,
) -> Option<Vec<f32>> {
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::time::Instant::now() < deadline {
        match rx.try_recv() {
            Ok(r) => return r.ok().map(|v| v.pcm),
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => return None,
        }
    }
    None
}

fn style() -> Vec<f32> {
    vec![0.1; STYLE_DIM]
}

fn wait_entered(rig: &Rig) -> usize {
    rig.entered
        .recv_timeout(PATIENCE)
        .expect("a session should have entered infer")
}

#[test]
fn a_full_queue_answers_queue_full_at_once() {
    let rig = rig(1, 2, |f| f);
    let running = rig.engine.submit(vec![1; 5], style(), 1.0).unwrap();
    wait_entered(&rig);
    let queued: Vec<_> = (0..2)
        .map(|_| rig.engine.submit(vec![2; 5], style(), 1.0).unwrap())
        .collect();
    assert_eq!(rig.engine.queue_len(), 2);
    let err = rig.engine.submit(vec![3; 5], style(), 1.0).unwrap_err();
    assert!(
        matches!(err, EngineError::QueueFull { capacity: 2 }),
        "{err:?}"
    );
    assert_eq!(err.code().http_status(), 429);

    for _ in 0..3 {
        rig.release.send(()).unwrap();
    }
    let expected = FakeBackend::new().expected_len(5, 1.0);
    for rx in std::iter::once(running).chain(queued) {
        assert_eq!(rx.blocking_recv().unwrap().unwrap().pcm.len(), expected);
    }
    assert_eq!(rig.calls.load(Ordering::SeqCst), 3);
}

#[test]
fn an_interactive_call_preempts_a_running_background_call() {
    let rig = rig(1, 8, |f| f);
    let bg = |n| {
        rig.engine
            .submit_with(vec![1; n], style(), 1.0, Priority::Background)
            .unwrap()
    };
    let running = bg(3);
    assert_eq!(wait_entered(&rig), 3);
    let (queued_b, queued_c) = (bg(4), bg(5));
    // No release: the background call is stopped midway and the interactive one enters at once.
    let urgent = rig.engine.submit(vec![2; 6], style(), 1.0).unwrap();
    assert_eq!(wait_entered(&rig), 6, "the interactive call ran first");
    rig.release.send(()).unwrap();
    let audio = recv_within(urgent).expect("the interactive call finished");
    assert_eq!(audio.len(), FakeBackend::new().expected_len(6, 1.0));
    // The stopped call runs again before the batch calls queued behind it, and is not lost.
    assert_eq!(wait_entered(&rig), 3);
    for _ in 0..3 {
        rig.release.send(()).unwrap();
    }
    assert_eq!(wait_entered(&rig), 4);
    assert_eq!(wait_entered(&rig), 5);
    for rx in [running, queued_b, queued_c] {
        assert!(recv_within(rx).is_some());
    }
    assert_eq!(
        rig.calls.load(Ordering::SeqCst),
        4,
        "a stopped call computes no audio"
    );
}

#[test]
fn a_background_call_yields_at_most_max_preemptions_times_then_runs_to_its_end() {
    let rig = rig(1, 8, |f| f);
    let batch = rig
        .engine
        .submit_with(vec![1; 3], style(), 1.0, Priority::Background)
        .unwrap();
    for round in 0..polyvox_engine::MAX_PREEMPTIONS {
        assert_eq!(wait_entered(&rig), 3, "batch call, run {round}");
        let urgent = rig.engine.submit(vec![2; 6], style(), 1.0).unwrap();
        assert_eq!(wait_entered(&rig), 6, "preemption {round}");
        rig.release.send(()).unwrap();
        assert!(recv_within(urgent).is_some());
    }
    // Its last allowed preemption is used up: the next interactive call waits behind it.
    assert_eq!(wait_entered(&rig), 3);
    let mut urgent = rig.engine.submit(vec![2; 6], style(), 1.0).unwrap();
    assert!(
        rig.entered
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "the batch call was stopped again"
    );
    assert!(urgent.try_recv().is_err());
    rig.release.send(()).unwrap();
    assert!(recv_within(batch).is_some(), "the batch call finished");
    assert_eq!(wait_entered(&rig), 6);
    rig.release.send(()).unwrap();
    assert!(recv_within(urgent).is_some());
}

#[test]
fn interactive_calls_never_preempt_each_other_or_a_free_session() {
    let rig = rig(2, 8, |f| f);
    let first = rig.engine.submit(vec![1; 3], style(), 1.0).unwrap();
    assert_eq!(wait_entered(&rig), 3);
    // A second session is free: the batch call takes it, and an interactive call then finds
    // both sessions busy but only the batch one preemptible.
    let batch = rig
        .engine
        .submit_with(vec![4; 4], style(), 1.0, Priority::Background)
        .unwrap();
    assert_eq!(wait_entered(&rig), 4);
    let second = rig.engine.submit(vec![2; 5], style(), 1.0).unwrap();
    assert_eq!(wait_entered(&rig), 5, "the batch call made room");
    for _ in 0..3 {
        rig.release.send(()).unwrap();
    }
    assert_eq!(wait_entered(&rig), 4, "the batch call ran again");
    for rx in [first, second, batch] {
        assert!(recv_within(rx).is_some());
    }
    assert_eq!(rig.calls.load(Ordering::SeqCst), 3);
}

#[test]
fn jobs_whose_caller_left_are_not_computed() {
    let rig = rig(1, 8, |f| f);
    let first = rig.engine.submit(vec![1; 3], style(), 1.0).unwrap();
    wait_entered(&rig);
    drop(rig.engine.submit(vec![2; 3], style(), 1.0).unwrap());
    drop(rig.engine.submit(vec![3; 3], style(), 1.0).unwrap());
    let last = rig.engine.submit(vec![4; 3], style(), 1.0).unwrap();
    rig.release.send(()).unwrap();
    rig.release.send(()).unwrap();
    assert!(first.blocking_recv().unwrap().is_ok());
    assert!(last.blocking_recv().unwrap().is_ok());
    assert_eq!(
        rig.calls.load(Ordering::SeqCst),
        2,
        "the two abandoned jobs were skipped"
    );
    // Only the first and the last job ever reached the backend.
    assert_eq!(rig.entered.try_iter().count(), 1);
}

#[test]
fn a_panicking_backend_fails_only_its_job_and_is_rebuilt() {
    let rig = rig(1, 8, |f| f.panic_on_id(99).fail_on_id(98));
    for _ in 0..4 {
        rig.release.send(()).unwrap();
    }
    let err = rig
        .engine
        .infer_blocking(vec![99, 1], style(), 1.0)
        .unwrap_err();
    assert!(
        matches!(err, EngineError::BackendPanicked(ref m) if m.contains("panic on id 99")),
        "{err:?}"
    );

    let audio = rig
        .engine
        .infer_blocking(vec![5; 4], style(), 2.0)
        .unwrap()
        .pcm;
    assert_eq!(audio.len(), FakeBackend::new().expected_len(4, 2.0));
    // The thread replies before rebuilding, so the count is only settled once the next job is done.
    assert_eq!(
        rig.builds.load(Ordering::SeqCst),
        2,
        "the session was rebuilt after the panic"
    );

    // A plain error is reported but does not cost a rebuild.
    let err = rig
        .engine
        .infer_blocking(vec![98], style(), 1.0)
        .unwrap_err();
    assert!(matches!(err, EngineError::Inference(_)), "{err:?}");
    assert_eq!(rig.builds.load(Ordering::SeqCst), 2);
    assert!(rig.engine.infer_blocking(vec![6], style(), 1.0).is_ok());
}

#[test]
fn sessions_serve_in_parallel() {
    let rig = rig(2, 8, |f| f);
    let a = rig.engine.submit(vec![1; 7], style(), 1.0).unwrap();
    let b = rig.engine.submit(vec![2; 9], style(), 1.0).unwrap();
    // Both sessions are inside infer at the same moment: neither has been released yet.
    let mut lens = [wait_entered(&rig), wait_entered(&rig)];
    lens.sort_unstable();
    assert_eq!(lens, [7, 9]);
    assert_eq!(rig.engine.busy(), 2);
    assert_eq!(rig.engine.sessions(), 2);
    rig.release.send(()).unwrap();
    rig.release.send(()).unwrap();
    assert_eq!(
        a.blocking_recv().unwrap().unwrap().pcm.len(),
        FakeBackend::new().expected_len(7, 1.0)
    );
    assert_eq!(
        b.blocking_recv().unwrap().unwrap().pcm.len(),
        FakeBackend::new().expected_len(9, 1.0)
    );
}

#[test]
fn start_warms_every_session_on_a_worst_case_input() {
    let (entered_tx, entered) = crossbeam_channel::unbounded();
    let fake = FakeBackend::new().with_entered(entered_tx);
    let calls = fake.calls();
    let cfg = EngineConfig {
        sessions: 2,
        queue_capacity: 4,
        ..EngineConfig::default()
    };
    let engine = Engine::start(
        &cfg,
        move |_| Ok(Box::new(fake.clone()) as Box<dyn Backend>),
    )
    .unwrap();
    // start returned, so both warm-ups already ran.
    assert_eq!(entered.try_iter().collect::<Vec<_>>(), vec![510, 510]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(engine.busy(), 0);
}

#[test]
fn bad_inputs_and_failed_starts_are_errors_not_crashes() {
    let rig = rig(1, 4, |f| f);
    for (ids, st, speed) in [
        (vec![], style(), 1.0),
        (vec![1; 511], style(), 1.0),
        (vec![1], vec![0.0; 3], 1.0),
        (vec![1], style(), -1.0),
    ] {
        let err = rig
            .engine
            .submit(ids.clone(), st.clone(), speed)
            .unwrap_err();
        assert!(matches!(err, EngineError::InvalidInput(_)), "{err:?}");
        assert!(rig.engine.infer_blocking(ids, st, speed).is_err());
    }
    assert_eq!(
        rig.entered.try_iter().count(),
        0,
        "nothing invalid reached the backend"
    );

    let failing = Engine::start(&EngineConfig::default(), |i| {
        Err(EngineError::ModelUnavailable(format!(
            "session {i} has no model"
        )))
    });
    assert!(matches!(failing, Err(EngineError::ModelUnavailable(ref m)) if m.contains("no model")));
    let panicking = Engine::start(
        &EngineConfig::default(),
        |_| -> Result<Box<dyn Backend>, EngineError> { panic!("factory exploded") },
    );
    assert!(
        matches!(panicking, Err(EngineError::ModelUnavailable(ref m)) if m.contains("factory exploded"))
    );
    let zero = EngineConfig {
        sessions: 0,
        ..EngineConfig::default()
    };
    assert!(
        Engine::start(&zero, |_| Ok(
            Box::new(FakeBackend::new()) as Box<dyn Backend>
        ))
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_callers_await_results_without_blocking_the_runtime() {
    let engine = Engine::start(
        &EngineConfig {
            warmup_ids: 0,
            ..EngineConfig::default()
        },
        |_| Ok(Box::new(FakeBackend::new()) as Box<dyn Backend>),
    )
    .unwrap();
    let jobs: Vec<_> = (1..=5)
        .map(|n| engine.submit(vec![3; n], style(), 1.0).unwrap())
        .collect();
    for (n, rx) in (1..=5).zip(jobs) {
        assert_eq!(
            rx.await.unwrap().unwrap().pcm.len(),
            FakeBackend::new().expected_len(n, 1.0)
        );
    }
}
