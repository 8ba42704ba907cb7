//! The job store's contract, run against PostgreSQL and SQLite alike.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use polyvox_infra::db::{
    AudioOutput, CreateOutcome, DeliveryStatus, Heartbeat, JobError, JobStatus, JobStore,
    LEASE_EXPIRED, NewJob, Progress, SendOutcome, SqlJobStore, WORKER_CRASHED,
};
use polyvox_infra::tenancy::{SqlTenancy, UsageStore, utc_day};
use polyvox_infra::{InfraError, Lane};
use serde_json::json;

fn new_job(text: &str) -> NewJob {
    NewJob {
        owner: Some("key_a".into()),
        lane: Lane::Interactive,
        request: json!({"input": text, "voice": "af_heart"}),
        cache_key: None,
        idempotency_key: None,
        max_attempts: 3,
        max_crashes: 2,
        webhook_url: None,
        fingerprint: None,
    }
}

const LONG: Duration = Duration::from_secs(600);

async fn create_and_get_round_trip(s: &dyn JobStore) {
    let mut n = new_job("hello");
    n.webhook_url = Some("https://example.invalid/hook".into());
    n.lane = Lane::Batch;
    let (job, outcome) = s.create(n.clone()).await.unwrap();
    assert_eq!(outcome, CreateOutcome::Created);
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.attempts, 0);
    let got = s.get(&job.id).await.unwrap().expect("stored");
    assert_eq!(got, job);
    assert_eq!(got.request, n.request);
    assert_eq!(got.lane, Lane::Batch);
    assert_eq!(got.owner.as_deref(), Some("key_a"));
    assert_eq!(got.webhook_url, n.webhook_url);
    assert!(s.get("no-such-job").await.unwrap().is_none());
    s.ping().await.unwrap();
}

async fn same_idempotency_key_returns_same_job(s: &dyn JobStore) {
    let mut n = new_job("once");
    n.idempotency_key = Some("idem-1".into());
    let (first, o1) = s.create(n.clone()).await.unwrap();
    let (second, o2) = s.create(n.clone()).await.unwrap();
    assert_eq!(
        (o1, o2),
        (CreateOutcome::Created, CreateOutcome::Idempotent)
    );
    assert_eq!(first.id, second.id);
    // The key is scoped per owner: another tenant's identical key is a different job.
    let mut other = n.clone();
    other.owner = Some("key_b".into());
    let (third, o3) = s.create(other).await.unwrap();
    assert_eq!(o3, CreateOutcome::Created);
    assert_ne!(third.id, first.id);
    // Still the same job after it finished.
    s.try_claim(&first.id, "w", LONG)
        .await
        .unwrap()
        .expect("claim");
    s.succeed(
        &first.id,
        "w",
        AudioOutput {
            key: "k".into(),
            bytes: 1,
            seconds: 0.1,
            expires_at: None,
        },
    )
    .await
    .unwrap();
    let (again, o4) = s.create(n).await.unwrap();
    assert_eq!(
        (again.id.as_str(), o4),
        (first.id.as_str(), CreateOutcome::Idempotent)
    );
    assert_eq!(again.status, JobStatus::Succeeded);
}

async fn identical_inflight_requests_share_one_job(s: &dyn JobStore) {
    let mut n = new_job("shared");
    n.cache_key = Some("ck-1".into());
    n.owner = None;
    let (first, o1) = s.create(n.clone()).await.unwrap();
    let (second, o2) = s.create(n.clone()).await.unwrap();
    assert_eq!((o1, o2), (CreateOutcome::Created, CreateOutcome::Joined));
    assert_eq!(first.id, second.id);
    assert_eq!(
        s.find_inflight(None, "ck-1").await.unwrap().map(|j| j.id),
        Some(first.id.clone())
    );
    assert!(
        s.find_inflight(Some("someone"), "ck-1")
            .await
            .unwrap()
            .is_none()
    );
    // Once finished, the same request starts a new job (the audio cache answers repeats).
    s.try_claim(&first.id, "w", LONG)
        .await
        .unwrap()
        .expect("claim");
    s.fail(
        &first.id,
        "w",
        JobError {
            code: "synthesis_failed".into(),
            message: "x".into(),
        },
        false,
    )
    .await
    .unwrap();
    assert!(s.find_inflight(None, "ck-1").await.unwrap().is_none());
    let (third, o3) = s.create(n).await.unwrap();
    assert_eq!(o3, CreateOutcome::Created);
    assert_ne!(third.id, first.id);
}

async fn concurrent_identical_creates_make_one_job(s: &dyn JobStore) {
    let mut n = new_job("race");
    n.cache_key = Some("ck-race".into());
    let results = futures_join(s, n, 10).await;
    let ids: HashSet<_> = results.iter().map(|(j, _)| j.id.clone()).collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    let created = results
        .iter()
        .filter(|(_, o)| *o == CreateOutcome::Created)
        .count();
    assert_eq!(created, 1);
}

async fn futures_join(
    s: &dyn JobStore,
    n: NewJob,
    k: usize,
) -> Vec<(polyvox_infra::db::Job, CreateOutcome)> {
    let futs = (0..k).map(|_| s.create(n.clone()));
    let mut out = Vec::new();
    for r in futures::future::join_all(futs).await {
        out.push(r.unwrap());
    }
    out
}

async fn claim_is_exclusive(s: &dyn JobStore) {
    let (job, _) = s.create(new_job("claim")).await.unwrap();
    let claimed = s
        .try_claim(&job.id, "w1", LONG)
        .await
        .unwrap()
        .expect("first claim wins");
    assert_eq!(claimed.status, JobStatus::Running);
    assert_eq!(claimed.lease_owner.as_deref(), Some("w1"));
    assert_eq!(claimed.attempts, 1);
    assert!(claimed.started_at.is_some());
    assert!(
        claimed
            .lease_expires_at
            .is_some_and(|t| t > claimed.created_at)
    );
    // A duplicate delivery of the same message must not run the job a second time.
    assert!(s.try_claim(&job.id, "w2", LONG).await.unwrap().is_none());
    assert!(s.try_claim(&job.id, "w1", LONG).await.unwrap().is_none());
    assert!(s.try_claim("missing", "w2", LONG).await.unwrap().is_none());
}

async fn concurrent_claims_have_one_winner(s: &dyn JobStore) {
    let (job, _) = s.create(new_job("contended")).await.unwrap();
    let workers: Vec<String> = (0..8).map(|i| format!("w{i}")).collect();
    let futs = workers.iter().map(|w| s.try_claim(&job.id, w, LONG));
    let wins = futures::future::join_all(futs)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(Some(_))))
        .count();
    assert_eq!(wins, 1);
}

async fn heartbeat_extends_and_reports_progress(s: &dyn JobStore) {
    let (job, _) = s.create(new_job("beat")).await.unwrap();
    let claimed = s
        .try_claim(&job.id, "w1", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let hb = s
        .heartbeat(
            &job.id,
            "w1",
            LONG,
            Progress {
                chunks_done: 2,
                chunks_total: Some(5),
            },
        )
        .await
        .unwrap();
    assert_eq!(hb, Heartbeat::Held);
    let now = s.get(&job.id).await.unwrap().unwrap();
    assert_eq!((now.chunks_done, now.chunks_total), (2, Some(5)));
    assert!(now.lease_expires_at > claimed.lease_expires_at);
    // Someone else's heartbeat does not touch the lease.
    let hb = s
        .heartbeat(&job.id, "w2", LONG, Progress::default())
        .await
        .unwrap();
    assert_eq!(hb, Heartbeat::Lost);
    s.cancel(&job.id).await.unwrap();
    let hb = s
        .heartbeat(&job.id, "w1", LONG, Progress::default())
        .await
        .unwrap();
    assert_eq!(hb, Heartbeat::Cancelled);
}

async fn expired_lease_is_requeued_and_reclaimed(s: &dyn JobStore) {
    let (job, _) = s.create(new_job("crash")).await.unwrap();
    let (healthy, _) = s.create(new_job("healthy")).await.unwrap();
    s.try_claim(&healthy.id, "w-ok", LONG)
        .await
        .unwrap()
        .unwrap();
    // A zero lease is expired as soon as it is granted: the worker "died" right away.
    s.try_claim(&job.id, "w-dead", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let requeued = s.requeue_expired_leases(100).await.unwrap();
    let ids: Vec<_> = requeued.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![job.id.as_str()],
        "only the expired lease is touched"
    );
    let j = &requeued[0];
    assert_eq!(j.status, JobStatus::Queued);
    assert_eq!(j.lease_owner, None);
    assert_eq!(
        j.last_error.as_ref().map(|e| e.code.as_str()),
        Some(LEASE_EXPIRED)
    );
    let again = s
        .try_claim(&job.id, "w-new", LONG)
        .await
        .unwrap()
        .expect("reclaimable");
    assert_eq!(again.attempts, 2);
    assert_eq!(again.lease_owner.as_deref(), Some("w-new"));
    // The dead worker, if it comes back, is fenced off.
    let late = s
        .succeed(
            &job.id,
            "w-dead",
            AudioOutput {
                key: "k".into(),
                bytes: 1,
                seconds: 1.0,
                expires_at: None,
            },
        )
        .await;
    assert!(matches!(late, Err(InfraError::Conflict(_))), "{late:?}");
    assert_eq!(
        s.heartbeat(&job.id, "w-dead", LONG, Progress::default())
            .await
            .unwrap(),
        Heartbeat::Lost
    );
    assert_eq!(
        s.get(&healthy.id).await.unwrap().unwrap().status,
        JobStatus::Running
    );
}

async fn expired_lease_can_be_taken_over_directly(s: &dyn JobStore) {
    let (job, _) = s.create(new_job("takeover")).await.unwrap();
    s.try_claim(&job.id, "w-dead", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let j = s
        .try_claim(&job.id, "w2", LONG)
        .await
        .unwrap()
        .expect("expired lease is free");
    assert_eq!((j.attempts, j.lease_owner.as_deref()), (2, Some("w2")));
}

async fn crashing_job_is_dead_lettered_by_the_reaper(s: &dyn JobStore) {
    let mut n = new_job("poison");
    n.max_attempts = 2;
    let (job, _) = s.create(n).await.unwrap();
    for _ in 0..2 {
        s.try_claim(&job.id, "w", Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        s.requeue_expired_leases(10).await.unwrap();
    }
    let j = s.get(&job.id).await.unwrap().unwrap();
    assert_eq!(j.status, JobStatus::Failed);
    assert!(j.finished_at.is_some());
    assert!(s.try_claim(&job.id, "w", LONG).await.unwrap().is_none());
}

async fn fail_retries_then_dead_letters(s: &dyn JobStore) {
    let mut n = new_job("flaky");
    n.max_attempts = 3;
    let (job, _) = s.create(n).await.unwrap();
    let err = || JobError {
        code: "timeout".into(),
        message: "engine busy".into(),
    };
    for attempt in 1..=3u32 {
        let c = s
            .try_claim(&job.id, "w", LONG)
            .await
            .unwrap()
            .expect("claimable while attempts remain");
        assert_eq!(c.attempts, attempt);
        let after = s.fail(&job.id, "w", err(), true).await.unwrap();
        let expected = if attempt < 3 {
            JobStatus::Queued
        } else {
            JobStatus::Failed
        };
        assert_eq!(after.status, expected, "after attempt {attempt}");
        assert_eq!(after.last_error, Some(err()));
        assert_eq!(after.finished_at.is_some(), attempt == 3);
    }
    assert!(s.try_claim(&job.id, "w", LONG).await.unwrap().is_none());
    // A permanent failure dead-letters at once.
    let (job2, _) = s.create(new_job("bad input")).await.unwrap();
    s.try_claim(&job2.id, "w", LONG).await.unwrap().unwrap();
    let e = JobError {
        code: "synthesis_failed".into(),
        message: "bad".into(),
    };
    assert_eq!(
        s.fail(&job2.id, "w", e, false).await.unwrap().status,
        JobStatus::Failed
    );
    // Only the lease holder may report.
    let (job3, _) = s.create(new_job("fenced")).await.unwrap();
    s.try_claim(&job3.id, "w1", LONG).await.unwrap().unwrap();
    let r = s.fail(&job3.id, "w2", err(), true).await;
    assert!(matches!(r, Err(InfraError::Conflict(_))), "{r:?}");
    let r = s.fail("missing", "w2", err(), true).await;
    assert!(matches!(r, Err(InfraError::NotFound { .. })), "{r:?}");
}

async fn succeed_records_audio(s: &dyn JobStore) {
    let mut n = new_job("ok");
    n.cache_key = Some("ck-ok".into());
    let (job, _) = s.create(n).await.unwrap();
    s.try_claim(&job.id, "w", LONG).await.unwrap().unwrap();
    s.heartbeat(
        &job.id,
        "w",
        LONG,
        Progress {
            chunks_done: 3,
            chunks_total: Some(4),
        },
    )
    .await
    .unwrap();
    let audio = AudioOutput {
        key: "audio/abc.mp3".into(),
        bytes: 12_345,
        seconds: 2.5,
        expires_at: None,
    };
    let done = s.succeed(&job.id, "w", audio.clone()).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.audio, Some(audio.clone()));
    assert_eq!((done.chunks_done, done.chunks_total), (4, Some(4)));
    assert_eq!(done.lease_owner, None);
    assert!(done.finished_at.is_some_and(|f| Some(f) >= done.started_at));
    // Finishing twice is refused; cancelling a finished job changes nothing.
    let again = s.succeed(&job.id, "w", audio).await;
    assert!(matches!(again, Err(InfraError::Conflict(_))), "{again:?}");
    assert_eq!(
        s.cancel(&job.id).await.unwrap().status,
        JobStatus::Succeeded
    );
}

async fn cancel_stops_queued_and_running_jobs(s: &dyn JobStore) {
    let (queued, _) = s.create(new_job("c1")).await.unwrap();
    let c = s.cancel(&queued.id).await.unwrap();
    assert_eq!(c.status, JobStatus::Cancelled);
    assert!(s.try_claim(&queued.id, "w", LONG).await.unwrap().is_none());
    let (running, _) = s.create(new_job("c2")).await.unwrap();
    s.try_claim(&running.id, "w", LONG).await.unwrap().unwrap();
    assert_eq!(
        s.cancel(&running.id).await.unwrap().status,
        JobStatus::Cancelled
    );
    let r = s
        .succeed(
            &running.id,
            "w",
            AudioOutput {
                key: "k".into(),
                bytes: 1,
                seconds: 1.0,
                expires_at: None,
            },
        )
        .await;
    assert!(matches!(r, Err(InfraError::Conflict(_))));
    assert!(matches!(
        s.cancel("missing").await,
        Err(InfraError::NotFound { .. })
    ));
}

async fn stale_queued_jobs_are_found(s: &dyn JobStore) {
    let (a, _) = s.create(new_job("stale a")).await.unwrap();
    let (b, _) = s.create(new_job("stale b")).await.unwrap();
    s.try_claim(&b.id, "w", LONG).await.unwrap().unwrap();
    // Nothing has been queued for ten minutes yet.
    assert!(s.find_stale_queued(LONG, 10).await.unwrap().is_empty());
    let stale = s.find_stale_queued(Duration::ZERO, 10).await.unwrap();
    let ids: Vec<_> = stale.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![a.id.as_str()],
        "running jobs are not stale-queued"
    );
    let (c, _) = s.create(new_job("stale c")).await.unwrap();
    let limited = s.find_stale_queued(Duration::ZERO, 1).await.unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].id, a.id, "oldest first");
    assert_eq!(
        s.find_stale_queued(Duration::ZERO, 10).await.unwrap().len(),
        2,
        "{c:?}"
    );
}

async fn concurrent_reapers_respect_their_limit_and_requeue_each_job_once(s: &dyn JobStore) {
    let mut ids = HashSet::new();
    for i in 0..12 {
        let (job, _) = s.create(new_job(&format!("dead {i}"))).await.unwrap();
        s.try_claim(&job.id, "w-dead", Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        ids.insert(job.id);
    }
    // Four reapers with a limit of 2, racing: each batch stays within its limit (PostgreSQL may
    // re-run an un-materialized `IN (.. LIMIT .. SKIP LOCKED)` per row and take more).
    let reap = || async { s.requeue_expired_leases(2).await.unwrap() };
    let mut seen = Vec::new();
    for _ in 0..4 {
        let batches = futures::future::join_all((0..4).map(|_| reap())).await;
        for batch in batches {
            assert!(batch.len() <= 2, "{} jobs in a batch of 2", batch.len());
            seen.extend(batch.into_iter().map(|j| j.id));
        }
    }
    seen.extend(
        s.requeue_expired_leases(100)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id),
    );
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), unique.len(), "a job was requeued twice");
    assert_eq!(unique, ids, "every expired lease was requeued");
}

fn hooked(text: &str, max_attempts: u32) -> NewJob {
    NewJob {
        webhook_url: Some(format!("https://hooks.example.invalid/{text}")),
        max_attempts,
        ..new_job(text)
    }
}

fn audio() -> AudioOutput {
    AudioOutput {
        key: "k".into(),
        bytes: 1,
        seconds: 0.1,
        expires_at: None,
    }
}

/// The outbox rows come from the database itself: each way a job can end writes exactly one,
/// and a retry (back to queued) or a job without a webhook writes none.
async fn every_terminal_transition_owes_one_webhook(s: &dyn JobStore) {
    let fatal = || JobError {
        code: "synthesis_failed".into(),
        message: "no".into(),
    };
    let (ok, _) = s.create(hooked("ok", 3)).await.unwrap();
    s.try_claim(&ok.id, "w", LONG).await.unwrap().unwrap();
    s.succeed(&ok.id, "w", audio()).await.unwrap();

    let (failed, _) = s.create(hooked("failed", 3)).await.unwrap();
    s.try_claim(&failed.id, "w", LONG).await.unwrap().unwrap();
    let retried = s.fail(&failed.id, "w", fatal(), true).await.unwrap();
    assert_eq!(retried.status, JobStatus::Queued);
    assert!(
        s.webhooks_of(&failed.id).await.unwrap().is_empty(),
        "a retry is not an ending"
    );
    s.try_claim(&failed.id, "w", LONG).await.unwrap().unwrap();
    s.fail(&failed.id, "w", fatal(), false).await.unwrap();

    let (cancelled, _) = s.create(hooked("cancelled", 3)).await.unwrap();
    s.cancel(&cancelled.id).await.unwrap();
    s.cancel(&cancelled.id).await.unwrap();

    let (dead, _) = s.create(hooked("dead", 1)).await.unwrap();
    s.try_claim(&dead.id, "w", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    s.requeue_expired_leases(10).await.unwrap();

    let (silent, _) = s.create(new_job("silent")).await.unwrap();
    s.cancel(&silent.id).await.unwrap();
    assert!(s.webhooks_of(&silent.id).await.unwrap().is_empty());

    for (job, status) in [
        (&ok, "succeeded"),
        (&failed, "failed"),
        (&cancelled, "cancelled"),
        (&dead, "failed"),
    ] {
        let rows = s.webhooks_of(&job.id).await.unwrap();
        assert_eq!(rows.len(), 1, "{status}: {rows:?}");
        let d = &rows[0];
        assert_eq!(d.id, format!("msg_{}_{status}", job.id));
        assert_eq!(d.event, format!("job.{status}"));
        assert_eq!(d.url, job.webhook_url.clone().unwrap());
        assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 0));
    }
}

async fn webhook_claims_are_exclusive_and_retries_end_at_the_deadline(s: &dyn JobStore) {
    let (a, _) = s.create(hooked("a", 3)).await.unwrap();
    s.cancel(&a.id).await.unwrap();
    let claimed = s.claim_webhooks("s1", LONG, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].job_id.as_str(), claimed[0].attempts),
        (a.id.as_str(), 1)
    );
    assert!(
        s.claim_webhooks("s2", LONG, 10).await.unwrap().is_empty(),
        "claimed twice"
    );
    let refused = |retry_in, max_age| SendOutcome::Refused {
        status: Some(503),
        error: "receiver busy".into(),
        retry_in,
        max_age,
    };
    let id = claimed[0].id.clone();
    assert!(
        !s.record_webhook(&id, "s2", refused(Duration::ZERO, LONG))
            .await
            .unwrap(),
        "a sender without the claim cannot record"
    );
    assert!(
        s.record_webhook(&id, "s1", refused(Duration::ZERO, LONG))
            .await
            .unwrap()
    );
    let again = s.claim_webhooks("s2", LONG, 10).await.unwrap();
    assert_eq!(
        (again.len(), again[0].attempts),
        (1, 2),
        "due again at once"
    );
    assert_eq!(again[0].last_status, Some(503));
    assert!(
        s.record_webhook(&id, "s2", SendOutcome::Delivered { status: 204 })
            .await
            .unwrap()
    );
    let done = &s.webhooks_of(&a.id).await.unwrap()[0];
    assert_eq!(done.status, DeliveryStatus::Delivered);
    assert_eq!(
        (done.last_status, done.last_error.as_deref()),
        (Some(204), None)
    );
    assert!(done.delivered_at.is_some());
    assert!(s.claim_webhooks("s1", LONG, 10).await.unwrap().is_empty());

    // A retry that would fall past the deadline gives up instead.
    let (b, _) = s.create(hooked("b", 3)).await.unwrap();
    s.cancel(&b.id).await.unwrap();
    let claimed = s.claim_webhooks("s1", LONG, 10).await.unwrap();
    let later = refused(Duration::from_secs(60), Duration::from_secs(30));
    assert!(s.record_webhook(&claimed[0].id, "s1", later).await.unwrap());
    let gave_up = &s.webhooks_of(&b.id).await.unwrap()[0];
    assert_eq!(gave_up.status, DeliveryStatus::Failed);
    assert_eq!(gave_up.last_error.as_deref(), Some("receiver busy"));
    // A refused retry that is not yet due is not claimed early; a lapsed claim is claimable.
    let (c, _) = s.create(hooked("c", 3)).await.unwrap();
    s.cancel(&c.id).await.unwrap();
    let claimed = s.claim_webhooks("s1", Duration::ZERO, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let retaken = s.claim_webhooks("s2", LONG, 10).await.unwrap();
    assert_eq!(retaken.len(), 1, "the lapsed claim was taken over");
    assert!(
        s.record_webhook(&retaken[0].id, "s2", refused(LONG, LONG))
            .await
            .unwrap()
    );
    assert!(s.claim_webhooks("s1", LONG, 10).await.unwrap().is_empty());
}

async fn the_idempotency_fingerprint_is_kept(s: &dyn JobStore) {
    let mut n = new_job("fp");
    n.idempotency_key = Some("k-1".into());
    n.fingerprint = Some("sha256:abc".into());
    let (job, _) = s.create(n.clone()).await.unwrap();
    assert_eq!(job.request_fingerprint.as_deref(), Some("sha256:abc"));
    let found = s
        .find_idempotent(Some("key_a"), "k-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, job.id);
    assert!(
        s.find_idempotent(Some("key_b"), "k-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.find_idempotent(Some("key_a"), "k-2")
            .await
            .unwrap()
            .is_none()
    );
}

/// A crash is counted when a lease is found expired, by the reaper or by another worker's claim;
/// a reported failure or a shutdown hand-back is not one. At the crash limit no worker may take
/// the job, and the reaper dead-letters it as `worker_crashed` with its webhook owed, while
/// attempts remain.
async fn crashes_are_counted_apart_from_failures(s: &dyn JobStore) {
    let (job, _) = s.create(hooked("crashy", 5)).await.unwrap();
    assert_eq!((job.crashes, job.max_crashes), (0, 2));
    s.try_claim(&job.id, "w1", LONG).await.unwrap().unwrap();
    let handed_back = JobError {
        code: "model_unavailable".into(),
        message: "worker shut down before the job finished; handed back".into(),
    };
    let back = s.fail(&job.id, "w1", handed_back, true).await.unwrap();
    assert_eq!((back.status, back.crashes), (JobStatus::Queued, 0));

    // Crash 1, found by another worker's claim.
    s.try_claim(&job.id, "w-dead", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let taken = s
        .try_claim(&job.id, "w2", Duration::ZERO)
        .await
        .unwrap()
        .expect("an expired lease is free below the crash limit");
    assert_eq!((taken.attempts, taken.crashes), (3, 1));
    assert_eq!(
        taken.last_error.as_ref().map(|e| e.code.as_str()),
        Some(LEASE_EXPIRED)
    );
    // Crash 2 is the limit: no worker may take the job again…
    assert!(s.try_claim(&job.id, "w3", LONG).await.unwrap().is_none());
    // …and the reaper dead-letters it, attempts notwithstanding.
    let reaped = s.requeue_expired_leases(10).await.unwrap();
    assert_eq!(reaped.len(), 1);
    let dead = &reaped[0];
    assert_eq!(dead.status, JobStatus::Failed);
    assert_eq!((dead.attempts, dead.crashes), (3, 2));
    let e = dead.last_error.as_ref().expect("error");
    assert_eq!(e.code, WORKER_CRASHED);
    assert!(e.message.contains("on 2 attempts"), "{}", e.message);
    assert!(dead.finished_at.is_some());
    let hooks = s.webhooks_of(&job.id).await.unwrap();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0].event, "job.failed");

    // Below the limit the reaper requeues and counts. The limit is the job's own, as submitted.
    let mut n = new_job("one crash");
    n.max_crashes = 3;
    let (other, _) = s.create(n).await.unwrap();
    assert_eq!(other.max_crashes, 3);
    s.try_claim(&other.id, "w-dead", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let requeued = s.requeue_expired_leases(10).await.unwrap();
    assert_eq!(
        (requeued[0].status, requeued[0].crashes),
        (JobStatus::Queued, 1)
    );
    assert_eq!(
        s.get(&other.id)
            .await
            .unwrap()
            .unwrap()
            .last_error
            .unwrap()
            .code,
        LEASE_EXPIRED
    );

    // A limit of one: the first crash dead-letters the job, however many attempts it had left.
    let mut n = new_job("no second chance");
    n.max_crashes = 1;
    let (once, _) = s.create(n).await.unwrap();
    assert_eq!((once.max_crashes, once.max_attempts), (1, 3));
    s.try_claim(&once.id, "w-dead", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.try_claim(&once.id, "w2", LONG).await.unwrap().is_none(),
        "a claim may not take over a job at its crash limit"
    );
    let reaped = s.requeue_expired_leases(10).await.unwrap();
    let dead = reaped.iter().find(|j| j.id == once.id).expect("reaped");
    assert_eq!((dead.status, dead.crashes), (JobStatus::Failed, 1));
    assert_eq!(
        dead.last_error.as_ref().map(|e| e.code.as_str()),
        Some(WORKER_CRASHED)
    );
}

/// A job's success and its owner's audio seconds are one transaction. With the usage table out
/// of reach the success does not commit either (the job stays running under its lease, and owes
/// no webhook yet); once it commits, the seconds are there exactly once, through a failed attempt
/// before it, a repeated `succeed` and a stale worker's late one.
async fn success_and_its_usage_commit_together(s: &SqlJobStore) {
    let usage = SqlTenancy::new(s);
    let audio = |seconds: f64| AudioOutput {
        key: "audio/billed.wav".into(),
        bytes: 10,
        seconds,
        expires_at: None,
    };
    let owned = |text: &str, owner: Option<&str>| {
        let mut n = new_job(text);
        n.owner = owner.map(str::to_string);
        n
    };
    let mut n = owned("billed", Some("key_bill"));
    n.webhook_url = Some("https://example.invalid/hook".into());
    let (job, _) = s.create(n).await.unwrap();
    s.try_claim(&job.id, "w1", LONG)
        .await
        .unwrap()
        .expect("claim 1");
    let blip = JobError {
        code: "storage_unavailable".into(),
        message: "blip".into(),
    };
    s.fail(&job.id, "w1", blip, true).await.unwrap();
    s.try_claim(&job.id, "w2", LONG)
        .await
        .unwrap()
        .expect("claim 2");

    // Before any usage write on these connections, so no prepared statement outlives the rename.
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    sqlx::query(&rename("usage_daily", "usage_daily_away"))
        .execute(s.pool())
        .await
        .unwrap();
    let broken = s.succeed(&job.id, "w2", audio(2.5)).await;
    sqlx::query(&rename("usage_daily_away", "usage_daily"))
        .execute(s.pool())
        .await
        .unwrap();
    assert!(broken.is_err(), "succeeded without its usage: {broken:?}");
    let still = s.get(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (still.status, still.lease_owner.as_deref(), still.audio),
        (JobStatus::Running, Some("w2"), None)
    );
    assert!(s.webhooks_of(&job.id).await.unwrap().is_empty());

    let done = s.succeed(&job.id, "w2", audio(2.5)).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    for worker in ["w2", "w1"] {
        let again = s.succeed(&job.id, worker, audio(2.5)).await;
        assert!(matches!(again, Err(InfraError::Conflict(_))), "{again:?}");
    }
    // The owner's next job adds to the day; audio not rendered for its job bills nothing, and a
    // job without an owner bills nobody.
    let finish = |n: NewJob, seconds: f64, billed: bool| async move {
        let (j, _) = s.create(n).await.unwrap();
        s.try_claim(&j.id, "w3", LONG)
            .await
            .unwrap()
            .expect("claim");
        let done = if billed {
            s.succeed(&j.id, "w3", audio(seconds)).await
        } else {
            s.succeed_unbilled(&j.id, "w3", audio(seconds)).await
        };
        assert_eq!(done.unwrap().status, JobStatus::Succeeded);
    };
    finish(owned("second", Some("key_bill")), 1.0, true).await;
    finish(owned("from the cache", Some("key_bill")), 9.0, false).await;
    finish(owned("nobody's", None), 4.0, true).await;

    let today = utc_day(std::time::SystemTime::now());
    let days = usage.days("key_bill", &today, &today).await.unwrap();
    assert_eq!(days.len(), 1, "{days:?}");
    let d = &days[0];
    assert_eq!((d.requests, d.characters, d.cache_hits), (0, 0, 0), "{d:?}");
    assert!(
        (d.audio_seconds - 3.5).abs() < 1e-9,
        "2.5 s once + 1 s: {d:?}"
    );
}

common::job_store_suite!(
    create_and_get_round_trip,
    same_idempotency_key_returns_same_job,
    identical_inflight_requests_share_one_job,
    concurrent_identical_creates_make_one_job,
    claim_is_exclusive,
    concurrent_claims_have_one_winner,
    heartbeat_extends_and_reports_progress,
    expired_lease_is_requeued_and_reclaimed,
    expired_lease_can_be_taken_over_directly,
    crashing_job_is_dead_lettered_by_the_reaper,
    crashes_are_counted_apart_from_failures,
    fail_retries_then_dead_letters,
    succeed_records_audio,
    cancel_stops_queued_and_running_jobs,
    stale_queued_jobs_are_found,
    concurrent_reapers_respect_their_limit_and_requeue_each_job_once,
    every_terminal_transition_owes_one_webhook,
    webhook_claims_are_exclusive_and_retries_end_at_the_deadline,
    the_idempotency_fingerprint_is_kept,
    success_and_its_usage_commit_together,
);
