//! Keys and usage on PostgreSQL and SQLite; the rate limiter on Redis (shared by two limiter
//! instances, as two API processes would share it) and in memory.

mod common;

use std::time::Duration;

use common::{DbFixture, redis_url, unique};
use polyvox_infra::db::{AudioOutput, JobStore, NewJob};
use polyvox_infra::ratelimit::{MemoryRateLimiter, Rate, RateLimiter, RedisRateLimiter};
use polyvox_infra::tenancy::{
    KeyLimits, KeyStore, KeyToken, SqlTenancy, UsageDelta, UsageStore, utc_day, utc_month,
};
use polyvox_infra::{InfraError, Lane};

async fn keys_and_usage(f: &DbFixture) {
    let t = SqlTenancy::new(&f.store);
    let limits = KeyLimits {
        requests_per_minute: Some(10),
        chars_per_minute: None,
        monthly_chars: Some(5_000),
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

    // A job's audio is metered when it succeeds, once.
    let (job, _) = f
        .store
        .create(NewJob {
            owner: Some(id.clone()),
            lane: Lane::Batch,
            request: serde_json::json!({"input": "x"}),
            cache_key: None,
            idempotency_key: None,
            max_attempts: 1,
            webhook_url: None,
        })
        .await
        .unwrap();
    f.store
        .try_claim(&job.id, "w", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("claimed");
    let out = AudioOutput {
        key: "audio/x.wav".into(),
        bytes: 10,
        seconds: 4.0,
        expires_at: None,
    };
    f.store.succeed(&job.id, "w", out.clone()).await.unwrap();
    assert!(f.store.succeed(&job.id, "w", out).await.is_err());
    let days = t.days(&id, &utc_day(now), &utc_day(now)).await.unwrap();
    assert!((days[0].audio_seconds - 16.0).abs() < 1e-6, "{days:?}");
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
