//! The queue's contract, run against Redis Streams and the in-process twin alike, plus the
//! Redis-only recovery from lost data.

mod common;

use std::time::Duration;

use polyvox_infra::Lane;
use polyvox_infra::queue::{JobQueue, MemoryQueue, QueueConfig, RedisQueue};

const VISIBILITY: Duration = Duration::from_secs(1);
const PATIENCE: Duration = Duration::from_secs(10);

fn config() -> QueueConfig {
    QueueConfig {
        visibility_timeout: VISIBILITY,
        poll_interval: Duration::from_millis(100),
        prefix: common::unique("polyvox_test"),
        ..QueueConfig::default()
    }
}

fn ids(ds: &[polyvox_infra::queue::Delivery]) -> Vec<&str> {
    ds.iter().map(|d| d.job_id.as_str()).collect()
}

async fn receive_in_order_and_ack(q: &dyn JobQueue) {
    for j in ["j1", "j2", "j3"] {
        q.enqueue(Lane::Batch, j).await.unwrap();
    }
    let first = q.receive("c1", 2, Duration::ZERO).await.unwrap();
    assert_eq!(ids(&first), ["j1", "j2"]);
    assert!(
        first
            .iter()
            .all(|d| d.deliveries == 1 && d.consumer == "c1" && d.lane == Lane::Batch)
    );
    let rest = q.receive("c1", 5, Duration::ZERO).await.unwrap();
    assert_eq!(ids(&rest), ["j3"]);
    for d in first.iter().chain(&rest) {
        q.ack(d).await.unwrap();
        q.ack(d).await.unwrap(); // acking twice is harmless
    }
    // Acked messages are not redelivered, even after the visibility timeout.
    let later = q.receive("c2", 5, VISIBILITY * 2).await.unwrap();
    assert!(later.is_empty(), "{later:?}");
    assert!(q.receive("c1", 0, Duration::ZERO).await.unwrap().is_empty());
    q.ping().await.unwrap();
}

async fn interactive_lane_goes_first(q: &dyn JobQueue) {
    q.enqueue(Lane::Batch, "long-1").await.unwrap();
    q.enqueue(Lane::Batch, "long-2").await.unwrap();
    q.enqueue(Lane::Interactive, "short").await.unwrap();
    let mut order = Vec::new();
    for _ in 0..3 {
        let d = q.receive("c", 1, Duration::ZERO).await.unwrap();
        assert_eq!(d.len(), 1);
        order.push(d[0].job_id.clone());
        q.ack(&d[0]).await.unwrap();
    }
    assert_eq!(order, ["short", "long-1", "long-2"]);
    q.enqueue(Lane::Batch, "b").await.unwrap();
    q.enqueue(Lane::Interactive, "i").await.unwrap();
    let both = q.receive("c", 5, Duration::ZERO).await.unwrap();
    assert_eq!(ids(&both), ["i", "b"]);
    assert_eq!(both[0].lane, Lane::Interactive);
}

async fn unacked_delivery_is_redelivered_to_another_consumer(q: &dyn JobQueue) {
    q.enqueue(Lane::Interactive, "job-x").await.unwrap();
    let a = q.receive("worker-a", 1, Duration::ZERO).await.unwrap();
    assert_eq!(ids(&a), ["job-x"]);
    // Within the visibility timeout nobody else sees it.
    assert!(
        q.receive("worker-b", 1, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    // worker-a "dies": worker-b gets it once the timeout passes.
    let b = q.receive("worker-b", 1, PATIENCE).await.unwrap();
    assert_eq!(ids(&b), ["job-x"]);
    assert_eq!(b[0].consumer, "worker-b");
    assert_eq!(b[0].deliveries, 2);
    assert_eq!(b[0].id, a[0].id, "same message, redelivered");
    q.ack(&b[0]).await.unwrap();
    assert!(
        q.receive("worker-c", 1, VISIBILITY * 2)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn touch_keeps_a_long_job_from_being_redelivered(q: &dyn JobQueue) {
    q.enqueue(Lane::Batch, "long").await.unwrap();
    let a = q.receive("a", 1, Duration::ZERO).await.unwrap();
    for _ in 0..4 {
        tokio::time::sleep(VISIBILITY / 3).await;
        q.touch(&a[0]).await.unwrap();
    }
    // More than one visibility timeout has passed since the receive, but not since the touch.
    assert!(q.receive("b", 1, Duration::ZERO).await.unwrap().is_empty());
    q.ack(&a[0]).await.unwrap();
}

async fn nack_makes_the_job_available_again_after_the_delay(q: &dyn JobQueue) {
    q.enqueue(Lane::Interactive, "retry-me").await.unwrap();
    let d = q.receive("c", 1, Duration::ZERO).await.unwrap();
    q.nack(&d[0], Duration::from_millis(300)).await.unwrap();
    assert!(
        q.receive("c", 1, Duration::ZERO).await.unwrap().is_empty(),
        "not before the delay"
    );
    let again = q.receive("c", 1, PATIENCE).await.unwrap();
    assert_eq!(ids(&again), ["retry-me"]);
    assert_eq!(again[0].lane, Lane::Interactive);
    // No delay: available at once.
    q.nack(&again[0], Duration::ZERO).await.unwrap();
    let now = q.receive("c", 1, Duration::ZERO).await.unwrap();
    assert_eq!(ids(&now), ["retry-me"]);
    q.ack(&now[0]).await.unwrap();
    assert!(
        q.receive("c", 1, VISIBILITY * 2).await.unwrap().is_empty(),
        "nack removed the old message"
    );
}

async fn delayed_enqueue_waits(q: &dyn JobQueue) {
    q.enqueue_delayed(Lane::Batch, "later", Duration::from_millis(300))
        .await
        .unwrap();
    q.enqueue_delayed(Lane::Batch, "much-later", Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(q.receive("c", 5, Duration::ZERO).await.unwrap().is_empty());
    let d = q.receive("c", 5, PATIENCE).await.unwrap();
    assert_eq!(ids(&d), ["later"]);
    q.ack(&d[0]).await.unwrap();
}

async fn waiting_receive_wakes_on_enqueue(q: &dyn JobQueue) {
    let (got, ()) = tokio::join!(q.receive("c", 3, PATIENCE), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        q.enqueue(Lane::Batch, "wake").await.unwrap();
    });
    assert_eq!(ids(&got.unwrap()), ["wake"]);
}

async fn a_receive_never_returns_more_than_asked(q: &dyn JobQueue) {
    let (got, ()) = tokio::join!(q.receive("c", 1, PATIENCE), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        q.enqueue(Lane::Batch, "b").await.unwrap();
        q.enqueue(Lane::Interactive, "i").await.unwrap();
    });
    let got = got.unwrap();
    assert_eq!(got.len(), 1);
    let rest = q.receive("c", 5, Duration::ZERO).await.unwrap();
    let mut all: Vec<_> = ids(&got).into_iter().chain(ids(&rest)).collect();
    all.sort_unstable();
    assert_eq!(all, ["b", "i"], "nothing lost or duplicated");
}

struct RedisFixture {
    queue: RedisQueue,
}

impl RedisFixture {
    async fn new() -> Self {
        let queue = RedisQueue::connect(&common::redis_url(), config())
            .await
            .expect("connect redis (is it running?)");
        Self { queue }
    }

    async fn delete_keys(&self, keys: &[String]) {
        let client = redis::Client::open(common::redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: i64 = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    async fn teardown(self) {
        self.delete_keys(&self.queue.keys()).await;
    }
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&MemoryQueue::new(&config())).await;
                }
            )*
        }
        mod redis_streams {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = RedisFixture::new().await;
                    super::$name(&f.queue).await;
                    f.teardown().await;
                }
            )*
        }
    };
}

suite!(
    receive_in_order_and_ack,
    interactive_lane_goes_first,
    unacked_delivery_is_redelivered_to_another_consumer,
    touch_keeps_a_long_job_from_being_redelivered,
    nack_makes_the_job_available_again_after_the_delay,
    delayed_enqueue_waits,
    waiting_receive_wakes_on_enqueue,
    a_receive_never_returns_more_than_asked,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_recreates_its_group_after_losing_its_data() {
    let f = RedisFixture::new().await;
    let q = &f.queue;
    q.enqueue(Lane::Interactive, "before").await.unwrap();
    let held = q.receive("w", 1, Duration::ZERO).await.unwrap();
    assert_eq!(ids(&held), ["before"]);
    // Simulated FLUSHALL / restart without persistence, for this queue's keys only.
    f.delete_keys(&q.keys()).await;
    // A worker finishing a job it held before the flush can still ack it.
    q.ack(&held[0]).await.unwrap();
    q.touch(&held[0]).await.unwrap();
    // Reading a stream that no longer exists recreates it and its group.
    assert!(
        q.receive("w", 1, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    q.enqueue(Lane::Interactive, "after-1").await.unwrap();
    let d = q.receive("w", 1, PATIENCE).await.unwrap();
    assert_eq!(ids(&d), ["after-1"]);
    q.ack(&d[0]).await.unwrap();
    // An enqueue that lands before any consumer notices (stream recreated without a group) is
    // still delivered: the group comes back at id 0.
    f.delete_keys(&q.keys()).await;
    q.enqueue(Lane::Batch, "after-2").await.unwrap();
    let d = q.receive("w", 1, PATIENCE).await.unwrap();
    assert_eq!(ids(&d), ["after-2"]);
    q.ack(&d[0]).await.unwrap();
    f.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_queues_with_different_prefixes_are_isolated() {
    let a = RedisFixture::new().await;
    let b = RedisFixture::new().await;
    a.queue.enqueue(Lane::Batch, "only-a").await.unwrap();
    assert!(
        b.queue
            .receive("c", 5, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&a.queue.receive("c", 5, Duration::ZERO).await.unwrap()),
        ["only-a"]
    );
    a.teardown().await;
    b.teardown().await;
}
