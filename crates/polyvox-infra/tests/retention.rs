//! Retention in the job store, on PostgreSQL and SQLite alike: expired audio is claimed by
//! exactly one sweeper at a time, a dead sweeper's claim lapses, and marking is fenced. Also the
//! per-lane queue count behind the queue-length gauge.

mod common;

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use polyvox_infra::Lane;
use polyvox_infra::db::{AudioOutput, JobStore, NewJob, unix_millis};
use serde_json::json;

const LONG: Duration = Duration::from_secs(600);

fn new_job(text: &str, lane: Lane) -> NewJob {
    NewJob {
        owner: None,
        lane,
        request: json!({"input": text}),
        cache_key: None,
        idempotency_key: None,
        max_attempts: 3,
        max_crashes: 2,
        webhook_url: None,
        fingerprint: None,
    }
}

/// A succeeded job whose audio expires at `expires_at`.
async fn finished(s: &dyn JobStore, text: &str, expires_at: Option<SystemTime>) -> String {
    let (job, _) = s.create(new_job(text, Lane::Batch)).await.unwrap();
    s.try_claim(&job.id, "w", LONG).await.unwrap().unwrap();
    let audio = AudioOutput {
        key: format!("audio/{}.mp3", job.id),
        bytes: 10,
        seconds: 1.0,
        expires_at,
    };
    let done = s.succeed(&job.id, "w", audio.clone()).await.unwrap();
    assert_eq!(
        done.audio
            .as_ref()
            .and_then(|a| a.expires_at)
            .map(unix_millis),
        expires_at.map(unix_millis),
        "expires_at is stored (to the millisecond)"
    );
    job.id
}

async fn only_expired_audio_is_claimed_once_then_marked(s: &dyn JobStore) {
    let now = SystemTime::now();
    let past = finished(s, "past", Some(now - Duration::from_secs(5))).await;
    let future = finished(s, "future", Some(now + Duration::from_secs(3600))).await;
    let forever = finished(s, "forever", None).await;
    let (queued, _) = s.create(new_job("queued", Lane::Batch)).await.unwrap();

    let got = s.claim_expired("sweeper-a", LONG, 10).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, vec![past.as_str()], "only the expired audio");
    assert!(got[0].audio_expired(SystemTime::now()));
    let job = s.get(&future).await.unwrap().unwrap();
    assert!(!job.audio_expired(SystemTime::now()));
    assert!(s.get(&forever).await.unwrap().unwrap().expired_at.is_none());
    assert!(s.get(&queued.id).await.unwrap().unwrap().audio.is_none());

    assert!(
        s.claim_expired("sweeper-b", LONG, 10)
            .await
            .unwrap()
            .is_empty(),
        "a claimed row is not handed to a second sweeper"
    );
    assert!(
        !s.mark_expired(&past, "sweeper-b").await.unwrap(),
        "marking is fenced by the claim"
    );
    assert!(s.mark_expired(&past, "sweeper-a").await.unwrap());
    let swept = s.get(&past).await.unwrap().unwrap();
    assert!(swept.expired_at.is_some());
    assert_eq!(swept.lease_owner, None);
    assert!(!s.mark_expired(&past, "sweeper-a").await.unwrap(), "once");
    assert!(
        s.claim_expired("sweeper-a", LONG, 10)
            .await
            .unwrap()
            .is_empty(),
        "a swept row is never claimed again"
    );
}

async fn a_dead_sweepers_claim_lapses(s: &dyn JobStore) {
    let id = finished(s, "lapse", Some(SystemTime::now() - Duration::from_secs(1))).await;
    // A zero lease stands for a sweeper that died right after claiming.
    let first = s.claim_expired("dead", Duration::ZERO, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    let again = s.claim_expired("alive", LONG, 10).await.unwrap();
    assert_eq!(again.iter().map(|j| &j.id).collect::<Vec<_>>(), vec![&id]);
    assert!(
        !s.mark_expired(&id, "dead").await.unwrap(),
        "the dead sweeper lost it"
    );
    assert!(s.mark_expired(&id, "alive").await.unwrap());
}

async fn concurrent_sweepers_take_disjoint_rows(s: &dyn JobStore) {
    let past = Some(SystemTime::now() - Duration::from_secs(1));
    let mut all = HashSet::new();
    for i in 0..12 {
        all.insert(finished(s, &format!("many {i}"), past).await);
    }
    let (a, b, c) = tokio::join!(
        s.claim_expired("a", LONG, 5),
        s.claim_expired("b", LONG, 5),
        s.claim_expired("c", LONG, 5),
    );
    let mut seen = HashSet::new();
    let mut total = 0;
    for batch in [a.unwrap(), b.unwrap(), c.unwrap()] {
        assert!(batch.len() <= 5, "limit respected");
        for j in batch {
            total += 1;
            assert!(seen.insert(j.id.clone()), "{} claimed twice", j.id);
        }
    }
    assert_eq!(total, seen.len());
    assert!(seen.is_subset(&all));
    // Whatever is left goes to the next pass, never to a sweeper that already holds a row.
    let rest = s.claim_expired("d", LONG, 100).await.unwrap();
    assert_eq!(
        seen.len() + rest.len(),
        all.len(),
        "claimed {} concurrently and {} after",
        seen.len(),
        rest.len()
    );
}

async fn queued_jobs_are_counted_per_lane(s: &dyn JobStore) {
    assert_eq!(
        s.queued_by_lane().await.unwrap(),
        vec![(Lane::Interactive, 0), (Lane::Batch, 0)]
    );
    let (i1, _) = s.create(new_job("i1", Lane::Interactive)).await.unwrap();
    s.create(new_job("i2", Lane::Interactive)).await.unwrap();
    for n in 0..3 {
        s.create(new_job(&format!("b{n}"), Lane::Batch))
            .await
            .unwrap();
    }
    assert_eq!(
        s.queued_by_lane().await.unwrap(),
        vec![(Lane::Interactive, 2), (Lane::Batch, 3)]
    );
    s.try_claim(&i1.id, "w", LONG).await.unwrap().unwrap();
    assert_eq!(
        s.queued_by_lane().await.unwrap(),
        vec![(Lane::Interactive, 1), (Lane::Batch, 3)],
        "a running job is no longer queued"
    );
}

common::job_store_suite!(
    only_expired_audio_is_claimed_once_then_marked,
    a_dead_sweepers_claim_lapses,
    concurrent_sweepers_take_disjoint_rows,
    queued_jobs_are_counted_per_lane,
);
