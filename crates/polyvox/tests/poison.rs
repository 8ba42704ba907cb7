//! Poison jobs on real services (PostgreSQL, Redis, SeaweedFS, real worker processes, the real
//! model), the acceptance of issue 15's "poison and hangs":
//! - a job whose attempts keep dying with their worker (SIGKILLed mid-render) is dead-lettered as
//!   `failed` with `worker_crashed` after `POLYVOX_JOB_MAX_CRASHES` crashes, with attempts left;
//! - an input that makes the engine fail every time ends `failed` (`synthesis_failed`) after two
//!   attempts, and the jobs queued behind it on the same worker wait for one of them, not two.
//!
//! Ignored by default like the other cluster tests (`crates/polyvox/tests/scale_out.rs`).

mod cluster;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use cluster::poison::{POISON, poisoned_assets};
use cluster::{Cluster, LOCK};
use serde_json::json;

/// Waits until the job runs attempt `attempt`; returns the worker holding it.
async fn running(c: &Cluster, id: &str, attempt: u32, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let owner = c.sql(&format!(
            "SELECT lease_owner FROM jobs WHERE id = '{id}' AND status = 'running' \
             AND attempts = {attempt}"
        ));
        if !owner.trim().is_empty() {
            return owner.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "attempt {attempt} of {id} never ran: {}\n{}",
            c.job(id).await,
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGKILLs `owner` and shows the kill hit attempt `attempt` of the job mid-render: the row said
/// running under that worker at that attempt just before, the process died of signal 9, and the
/// job's crash count went up by one afterwards (only a lease found expired counts: a finished or
/// reported attempt would not).
async fn kill_mid_render(c: &mut Cluster, id: &str, owner: &str, attempt: u32) {
    let state = || {
        c.sql(&format!(
            "SELECT status, lease_owner, attempts, crashes FROM jobs WHERE id = '{id}'"
        ))
    };
    let before = state();
    assert_eq!(
        before,
        format!("running|{owner}|{attempt}|{}", attempt - 1),
        "the job is not running under {owner}"
    );
    let victim = c
        .workers
        .iter_mut()
        .find(|w| w.name == owner)
        .expect("the owner is one of ours");
    victim.kill();
    let status = victim.child.wait().expect("reaped");
    assert_eq!(status.signal(), Some(9), "{owner} ended with {status}");
    eprintln!("SIGKILLed {owner} during attempt {attempt} ({before})");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let crashes = c.job(id).await["crashes"].as_u64().expect("crashes");
        if crashes == u64::from(attempt) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "crash {attempt} never counted: {}\n{}",
            c.job(id).await,
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn a_job_that_keeps_killing_its_worker_is_dead_lettered_after_two_crashes() {
    let _serial = LOCK.lock().await;
    // Three attempts but two crashes: the job must end by the crash limit, attempts to spare.
    let env = [
        ("POLYVOX_JOB_MAX_ATTEMPTS", "3"),
        ("POLYVOX_JOB_MAX_CRASHES", "2"),
    ];
    let mut c = Cluster::start_full(&[], &env).await;
    // A third worker, so one is left after two kills (and its reaper dead-letters the job).
    c.start_worker("worker-c");
    c.workers
        .last_mut()
        .expect("worker-c")
        .wait_line("polyvox worker ready", Duration::from_secs(180));
    let long =
        "The lighthouse keeper climbed the stairs every evening, counting the steps. ".repeat(12);
    let acc = c.submit(json!({"input": long}), None).await;
    let id = acc["id"].as_str().expect("id").to_string();
    for attempt in 1..=2 {
        let owner = running(&c, &id, attempt, Duration::from_secs(120)).await;
        kill_mid_render(&mut c, &id, &owner, attempt).await;
    }
    let job = c
        .wait_all(std::slice::from_ref(&id), Duration::from_secs(60))
        .await
        .remove(0);
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "worker_crashed", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("on 2 attempts")),
        "{job}"
    );
    assert_eq!(job["crashes"], 2, "{job}");
    assert_eq!(
        job["attempts"], 2,
        "no third worker was handed the job: {job}"
    );
    let alive: Vec<&str> = c
        .workers
        .iter_mut()
        .filter_map(|w| {
            w.child
                .try_wait()
                .expect("wait")
                .is_none()
                .then_some(w.name.as_str())
        })
        .collect();
    assert_eq!(alive.len(), 1, "one worker survives: {alive:?}");
}

/// `started_at`, `finished_at` and `queued_at` of a job row (database clock, milliseconds).
fn times(c: &Cluster, id: &str) -> [i64; 3] {
    let row = c.sql(&format!(
        "SELECT started_at, finished_at, queued_at FROM jobs WHERE id = '{id}'"
    ));
    let v: Vec<i64> = row
        .split('|')
        .map(|t| t.trim().parse().expect("a timestamp"))
        .collect();
    [v[0], v[1], v[2]]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn an_input_the_model_fails_on_ends_failed_after_two_attempts_and_delays_others_by_one() {
    let _serial = LOCK.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let assets = poisoned_assets(dir.path());
    let env = [
        ("POLYVOX_ASSETS_DIR", assets.to_str().expect("utf-8 path")),
        // One job slot on the one worker: its attempts never overlap, so the rows' timestamps
        // order them.
        ("POLYVOX_INTERACTIVE_SLOTS", "0"),
    ];
    // No worker yet: every job is queued before the worker starts, the poison first.
    let mut c = Cluster::start_workers(&[], &env, &[]).await;
    let acc = c
        .submit(
            json!({"input": "Every attempt at this sentence fails.", "voice": POISON}),
            None,
        )
        .await;
    let poison_id = acc["id"].as_str().expect("id").to_string();
    let mut good = Vec::new();
    for i in 0..4 {
        let acc = c
            .submit(
                json!({"input": format!("Good job number {i} only waits its turn.")}),
                None,
            )
            .await;
        good.push(acc["id"].as_str().expect("id").to_string());
    }
    c.start_worker("worker-a");
    c.workers[0].wait_line("polyvox worker ready", Duration::from_secs(180));
    let mut ids = vec![poison_id.clone()];
    ids.extend(good.iter().cloned());
    let jobs = c.wait_all(&ids, Duration::from_secs(600)).await;

    let poison = &jobs[0];
    assert_eq!(poison["status"], "failed", "{poison}");
    assert_eq!(poison["error"]["code"], "synthesis_failed", "{poison}");
    assert_eq!(
        poison["attempts"], 2,
        "retried once, then given up: {poison}"
    );
    assert_eq!(poison["crashes"], 0, "the worker reported it: {poison}");
    for j in &jobs[1..] {
        assert_eq!(j["status"], "succeeded", "{j}\n{}", c.logs());
        assert_eq!(j["attempts"], 1, "{j}");
    }
    // The failure came from the model's output, on both attempts.
    let log = c.workers[0].log_text();
    let failures = log
        .lines()
        .filter(|l| l.contains(&poison_id) && l.contains("job attempt failed"))
        .count();
    assert_eq!(failures, 2, "{log}");
    assert!(log.contains("the model returned no signal"), "{log}");
    assert!(
        c.workers[0].child.try_wait().expect("wait").is_none(),
        "the worker survived the poison"
    );

    // Ordering, from the rows. The poison's `queued_at` is when its first attempt failed and it
    // was put back; its `finished_at` is the end of its second attempt.
    let [p_started, p_finished, p_requeued] = times(&c, &poison_id);
    let mut runs: Vec<[i64; 3]> = good.iter().map(|id| times(&c, id)).collect();
    runs.sort_by_key(|t| t[0]);
    for pair in runs.windows(2) {
        assert!(
            pair[0][1] <= pair[1][0],
            "one slot: runs never overlap {runs:?}"
        );
    }
    for [started, finished, _] in &runs {
        // Every good job waited behind the poison's first attempt…
        assert!(
            p_started <= *started && p_requeued <= *started,
            "poison {p_started}..{p_requeued}, good job {started}..{finished}"
        );
        // …and was done before its second began: with one slot, ending before the second
        // attempt ends means ending before it started.
        assert!(
            *finished <= p_finished,
            "a good job waited for the poison's retry: poison ended {p_finished}, good job \
             {started}..{finished}"
        );
    }
    eprintln!(
        "poison: first attempt {p_started}..{p_requeued}, retry ended {p_finished}; good jobs {runs:?}"
    );
}
