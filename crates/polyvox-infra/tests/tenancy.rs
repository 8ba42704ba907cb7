//! Keys and usage on PostgreSQL and SQLite; the rate limiter on Redis (shared by two limiter
//! instances, as two API processes would share it) and in memory.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{DbFixture, redis_url, unique};
use polyvox_infra::InfraError;
use polyvox_infra::ratelimit::{
    MemoryRateLimiter, Rate, RateLimiter, RedisRateLimiter, RedisSlots, SlotLimiter,
};
use polyvox_infra::tenancy::{
    KeyLimits, KeyStore, KeyToken, MemoryQuota, QuotaCounter, QuotaDecision, RedisQuota,
    SqlTenancy, UsageDelta, UsageRow, UsageStore, next_month_start, utc_day, utc_month,
};

async fn keys_and_usage(f: &DbFixture) {
    let t = SqlTenancy::new(&f.store);
    let limits = KeyLimits {
        requests_per_minute: Some(10),
        chars_per_minute: None,
        monthly_chars: Some(5_000),
        concurrent_syntheses: Some(3),
    };
    let created = t.create_key("ci robot", limits).await.unwrap();
    let token = KeyToken::parse(&created.token).expect("token parses");
    assert_eq!(token.id, created.key.id);
    let stored = t.key(&created.key.id).await.unwrap().expect("stored");
    assert_eq!(stored.limits, limits);
    assert_eq!(stored.name, "ci robot");
    assert!(token.matches(&stored.secret_sha256));
    assert!(
        !stored.secret_sha256.contains(&created.token[21..]),
        "secret stored in clear"
    );
    assert!(matches!(
        t.create_key("  ", KeyLimits::default()).await,
        Err(InfraError::Config(_))
    ));

    let other = t.create_key("second", KeyLimits::default()).await.unwrap();
    let listed: Vec<String> = t
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&other.key.id));

    let revoked = t.revoke_key(&created.key.id).await.unwrap();
    let first_revocation = revoked.revoked_at.expect("revoked");
    let again = t.revoke_key(&created.key.id).await.unwrap();
    assert_eq!(
        again.revoked_at,
        Some(first_revocation),
        "revoking twice keeps the first time"
    );
    assert!(matches!(
        t.revoke_key("0000000000000000").await,
        Err(e) if e.code() == polyvox_core::ErrorCode::NotFound
    ));

    // Concurrent upserts add up.
    let id = other.key.id.clone();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (t, id) = (t.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            t.record(
                &id,
                UsageDelta {
                    requests: 1,
                    characters: 100,
                    audio_seconds: 1.5,
                    cache_hits: 1,
                },
            )
            .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let now = std::time::SystemTime::now();
    assert_eq!(t.month_chars(&id, &utc_month(now)).await.unwrap(), 800);
    assert_eq!(t.month_chars(&id, "1999-01").await.unwrap(), 0);
    let days = t.days(&id, &utc_day(now), &utc_day(now)).await.unwrap();
    assert_eq!(days.len(), 1);
    let d = &days[0];
    assert_eq!((d.requests, d.characters, d.cache_hits), (8, 800, 8));
    assert!((d.audio_seconds - 12.0).abs() < 1e-6);
    assert!(
        t.days(&id, "1999-01-01", "1999-12-31")
            .await
            .unwrap()
            .is_empty()
    );

    // One call writes rows of several keys and days (the meter's flush); jobs are billed by
    // the worker (polyvox-worker tests/embedded.rs).
    let row = |key: &str, day: &str, chars: u64| UsageRow {
        key_id: key.to_string(),
        day: day.to_string(),
        delta: UsageDelta {
            requests: 1,
            characters: chars,
            ..UsageDelta::default()
        },
    };
    t.add(&[
        row(&id, "2000-01-01", 5),
        row(&id, "2000-01-02", 7),
        row(&created.key.id, "2000-01-01", 11),
        row(&id, "2000-01-01", 1),
    ])
    .await
    .unwrap();
    t.add(&[]).await.unwrap();
    let days = t.days(&id, "2000-01-01", "2000-01-31").await.unwrap();
    let got: Vec<(&str, u64, u64)> = days
        .iter()
        .map(|d| (d.day.as_str(), d.requests, d.characters))
        .collect();
    assert_eq!(got, [("2000-01-01", 2, 6), ("2000-01-02", 1, 7)]);
    assert_eq!(t.month_chars(&created.key.id, "2000-01").await.unwrap(), 11);
}

/// Two quota counters on one Redis prefix (two API processes): seeded once from the database,
/// then checked and counted atomically, so concurrent requests cannot pass the quota together.
#[tokio::test]
async fn two_redis_quota_counters_share_one_monthly_quota() {
    let f = DbFixture::sqlite().await;
    let t = Arc::new(SqlTenancy::new(&f.store));
    // The current month: a counter of a month long past would expire at once.
    let now = std::time::SystemTime::now();
    let month = utc_month(now);
    let month = month.as_str();
    let next = utc_month(next_month_start(now));
    t.add(&[UsageRow {
        key_id: "k1".into(),
        day: format!("{month}-02"),
        delta: UsageDelta {
            characters: 40,
            ..UsageDelta::default()
        },
    }])
    .await
    .unwrap();
    let prefix = unique("pvquota");
    let timeout = Duration::from_secs(5);
    let a = Arc::new(
        RedisQuota::connect(&redis_url(), &prefix, timeout, t.clone())
            .await
            .expect("redis (is it running?)"),
    );
    let b = Arc::new(
        RedisQuota::connect(&redis_url(), &prefix, timeout, t.clone())
            .await
            .unwrap(),
    );
    let first = a.take("k1", month, 10, 100).await.unwrap();
    assert_eq!(
        first,
        QuotaDecision {
            allowed: true,
            used: 50
        },
        "seeded with the 40 stored"
    );
    // 10 concurrent takes of 10 on two instances: exactly 5 fit in the 50 left.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let q = if i % 2 == 0 { a.clone() } else { b.clone() };
        let month = month.to_string();
        tasks.push(tokio::spawn(
            async move { q.take("k1", &month, 10, 100).await },
        ));
    }
    let mut allowed = 0;
    for task in tasks {
        allowed += usize::from(task.await.unwrap().unwrap().allowed);
    }
    assert_eq!(allowed, 5);
    let refused = b.take("k1", month, 1, 100).await.unwrap();
    assert_eq!(
        refused,
        QuotaDecision {
            allowed: false,
            used: 100
        }
    );
    // The counter is not seeded again: new stored rows do not change it.
    t.record(
        "k1",
        UsageDelta {
            characters: 1000,
            ..UsageDelta::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(b.take("k1", month, 0, 100).await.unwrap().used, 100);
    // Characters given back (a submission that owed nothing) are room again, on every instance;
    // never below zero, and a counter that does not exist is not created.
    b.give_back("k1", month, 30).await.unwrap();
    assert_eq!(a.take("k1", month, 0, 100).await.unwrap().used, 70);
    a.give_back("k1", month, 1000).await.unwrap();
    assert_eq!(b.take("k1", month, 0, 100).await.unwrap().used, 0);
    b.give_back("k1", month, 30).await.unwrap();
    assert_eq!(b.take("k1", month, 100, 100).await.unwrap().used, 100);
    a.give_back("k9", month, 5).await.unwrap();
    assert_eq!(
        a.take("k9", month, 0, 100).await.unwrap().used,
        0,
        "seeded from the store, not from a give-back"
    );
    // Other keys and months have their own counters.
    assert!(a.take("k2", month, 100, 100).await.unwrap().allowed);
    assert!(a.take("k1", &next, 100, 100).await.unwrap().allowed);
    f.teardown().await;
}

#[tokio::test]
async fn the_memory_quota_counter_is_seeded_once_per_key_and_month() {
    let f = DbFixture::sqlite().await;
    let t = Arc::new(SqlTenancy::new(&f.store));
    t.add(&[UsageRow {
        key_id: "k1".into(),
        day: "2026-11-02".into(),
        delta: UsageDelta {
            characters: 90,
            ..UsageDelta::default()
        },
    }])
    .await
    .unwrap();
    let q = MemoryQuota::new(t.clone());
    assert!(!q.take("k1", "2026-11", 11, 100).await.unwrap().allowed);
    assert_eq!(q.take("k1", "2026-11", 10, 100).await.unwrap().used, 100);
    t.add(&[UsageRow {
        key_id: "k1".into(),
        day: "2026-11-03".into(),
        delta: UsageDelta {
            characters: 10,
            ..UsageDelta::default()
        },
    }])
    .await
    .unwrap();
    assert_eq!(
        q.take("k1", "2026-11", 0, 1000).await.unwrap().used,
        100,
        "the store is read once per key and month, not per request"
    );
    assert_eq!(q.take("k1", "2026-12", 5, 100).await.unwrap().used, 5);
    // A give-back is for the month it was taken in: the new month's counter keeps its count.
    q.give_back("k1", "2026-11", 50).await.unwrap();
    assert_eq!(q.take("k1", "2026-12", 0, 100).await.unwrap().used, 5);
    q.give_back("k1", "2026-12", 3).await.unwrap();
    assert_eq!(q.take("k1", "2026-12", 0, 100).await.unwrap().used, 2);
    q.give_back("k1", "2026-12", 30).await.unwrap();
    assert_eq!(q.take("k1", "2026-12", 0, 100).await.unwrap().used, 0);
    f.teardown().await;
}

#[tokio::test]
async fn keys_and_usage_on_sqlite() {
    let f = DbFixture::sqlite().await;
    keys_and_usage(&f).await;
    f.teardown().await;
}

#[tokio::test]
async fn keys_and_usage_on_postgres() {
    let f = DbFixture::postgres().await;
    keys_and_usage(&f).await;
    f.teardown().await;
}

/// 30 requests against a limit of 10 per minute, spread over two limiter instances on one Redis
/// prefix (two API processes): the burst of 10 passes, the rest is refused with a retry time.
#[tokio::test]
async fn two_redis_limiters_share_one_limit() {
    let prefix = unique("pvrl");
    let a = RedisRateLimiter::connect(&redis_url(), &prefix, Duration::from_secs(5))
        .await
        .expect("redis (is it running?)");
    let b = RedisRateLimiter::connect(&redis_url(), &prefix, Duration::from_secs(5))
        .await
        .unwrap();
    let rate = Rate::per_minute(10);
    let mut allowed = 0;
    for i in 0..30 {
        let l: &dyn RateLimiter = if i % 2 == 0 { &a } else { &b };
        let d = l.acquire("key1:req", rate, 1).await.unwrap();
        if d.allowed {
            allowed += 1;
        } else {
            let after = d.retry_after.expect("retry after");
            assert!(after <= Duration::from_secs(6), "{after:?}");
            assert_eq!(d.remaining, 0);
        }
    }
    // 30 requests take far less than the 6 s after which an 11th unit frees up, but a very slow
    // machine could see one more.
    assert!((10..=11).contains(&allowed), "{allowed} of 30 allowed");
    // Other buckets and costs above the limit.
    assert!(a.acquire("key2:req", rate, 10).await.unwrap().allowed);
    let too_big = a.acquire("key3:chars", rate, 11).await.unwrap();
    assert!(!too_big.allowed && too_big.retry_after.is_none());
}

#[tokio::test]
async fn the_memory_limiter_refills_at_the_configured_rate() {
    let l = MemoryRateLimiter::new();
    let rate = Rate {
        limit: 5,
        period: Duration::from_millis(500),
    };
    let mut allowed = 0;
    for _ in 0..20 {
        allowed += usize::from(l.acquire("k", rate, 1).await.unwrap().allowed);
    }
    assert_eq!(allowed, 5);
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(
        l.acquire("k", rate, 1).await.unwrap().allowed,
        "one unit per 100 ms"
    );
}

/// A key's synthesis slots on Redis, taken from two limiter instances (two API processes): 20
/// concurrent takes against a cap of 5 give exactly 5 slots; a released slot is free at once;
/// a holder that stops renewing (its process crashed) loses its slot when the lease runs out,
/// and the bucket itself then leaves nothing behind in Redis.
#[tokio::test]
async fn two_instances_share_a_keys_synthesis_slots_and_lapsed_leases_come_back() {
    let prefix = unique("pvslots");
    let a = Arc::new(
        RedisSlots::connect(&redis_url(), &prefix, Duration::from_secs(5))
            .await
            .expect("redis (is it running?)"),
    );
    let b = Arc::new(
        RedisSlots::connect(&redis_url(), &prefix, Duration::from_secs(5))
            .await
            .unwrap(),
    );
    let lease = Duration::from_secs(30);
    let takes = (0..20).map(|i| {
        let l: Arc<dyn SlotLimiter> = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move { l.take("key1", &format!("h{i}"), 5, lease).await.unwrap() }
    });
    let taken: Vec<bool> = futures::future::join_all(takes).await;
    assert_eq!(taken.iter().filter(|t| **t).count(), 5, "{taken:?}");
    let holder = taken.iter().position(|t| *t).expect("a holder");
    assert!(!a.take("key1", "late", 5, lease).await.unwrap());
    b.release("key1", &format!("h{holder}")).await.unwrap();
    assert!(
        a.take("key1", "late", 5, lease).await.unwrap(),
        "released slot"
    );
    assert!(
        a.take("key2", "other", 5, lease).await.unwrap(),
        "keys apart"
    );

    let short = Duration::from_millis(400);
    assert!(a.take("crash", "gone", 1, short).await.unwrap());
    assert!(a.renew("crash", "gone", short).await.unwrap());
    assert!(!b.take("crash", "next", 1, short).await.unwrap(), "held");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(!a.renew("crash", "gone", short).await.unwrap(), "lapsed");
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let left: i64 = redis::cmd("EXISTS")
        .arg(format!("{prefix}:slots:crash"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0, "an idle bucket expires with its last lease");
    assert!(
        b.take("crash", "next", 1, short).await.unwrap(),
        "came back"
    );
    let _: i64 = redis::cmd("DEL")
        .arg(format!("{prefix}:slots:key1"))
        .arg(format!("{prefix}:slots:key2"))
        .arg(format!("{prefix}:slots:crash"))
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_redis_peek_takes_nothing() {
    let prefix = unique("pvpeek");
    let l = RedisRateLimiter::connect(&redis_url(), &prefix, Duration::from_secs(5))
        .await
        .expect("redis (is it running?)");
    let rate = Rate::per_minute(2);
    for _ in 0..5 {
        assert!(l.peek("ip", rate, 1).await.unwrap().allowed);
    }
    assert!(l.acquire("ip", rate, 1).await.unwrap().allowed);
    assert!(l.acquire("ip", rate, 1).await.unwrap().allowed);
    let full = l.peek("ip", rate, 1).await.unwrap();
    assert!(!full.allowed && full.retry_after.is_some());
}
