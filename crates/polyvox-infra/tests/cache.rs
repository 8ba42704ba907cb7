//! The cache's contract against Redis and memory, and the disabled backend.

mod common;

use std::time::Duration;

use polyvox_core::AudioFormat;
use polyvox_infra::cache::{AudioCache, CachedAudio, DisabledCache, MemoryCache, RedisCache};

fn entry(n: u64) -> CachedAudio {
    CachedAudio {
        audio_key: format!("audio/ab/{n:032x}.mp3"),
        format: AudioFormat::Mp3,
        bytes: 1000 + n,
        seconds: 1.5,
        expires_at_ms: None,
    }
}

async fn put_get_remove(c: &dyn AudioCache) {
    assert_eq!(c.get("k1").await.unwrap(), None);
    c.put("k1", &entry(1)).await.unwrap();
    assert_eq!(c.get("k1").await.unwrap(), Some(entry(1)));
    c.put("k1", &entry(2)).await.unwrap();
    assert_eq!(c.get("k1").await.unwrap(), Some(entry(2)), "put replaces");
    assert_eq!(c.get("k2").await.unwrap(), None);
    c.remove("k1").await.unwrap();
    c.remove("k1").await.unwrap();
    assert_eq!(c.get("k1").await.unwrap(), None);
}

async fn entries_expire(c: &dyn AudioCache) {
    c.put("short", &entry(3)).await.unwrap();
    assert!(c.get("short").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(c.get("short").await.unwrap(), None);
}

const TTL: Duration = Duration::from_millis(300);

#[tokio::test]
async fn memory_contract() {
    put_get_remove(&MemoryCache::new(100, None)).await;
    entries_expire(&MemoryCache::new(100, Some(TTL))).await;
}

#[tokio::test]
async fn memory_evicts_the_least_recently_used() {
    let c = MemoryCache::new(2, None);
    c.put("a", &entry(1)).await.unwrap();
    c.put("b", &entry(2)).await.unwrap();
    assert!(c.get("a").await.unwrap().is_some()); // a is now more recent than b
    c.put("c", &entry(3)).await.unwrap();
    assert_eq!(c.len(), 2);
    assert!(
        c.get("b").await.unwrap().is_none(),
        "b was least recently used"
    );
    assert!(c.get("a").await.unwrap().is_some());
    assert!(c.get("c").await.unwrap().is_some());
    // Replacing an existing key never evicts another.
    c.put("c", &entry(4)).await.unwrap();
    assert!(c.get("a").await.unwrap().is_some());
}

#[tokio::test]
async fn disabled_cache_never_hits() {
    let c = DisabledCache;
    c.put("k", &entry(1)).await.unwrap();
    assert_eq!(c.get("k").await.unwrap(), None);
    c.remove("k").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_contract() {
    let prefix = common::unique("polyvox_test");
    let long = RedisCache::connect(
        &common::redis_url(),
        &prefix,
        Duration::from_secs(60),
        Duration::from_secs(5),
    )
    .await
    .expect("connect redis");
    put_get_remove(&long).await;
    // Instances on the same prefix share entries (that is the point of Redis here).
    let other = RedisCache::connect(
        &common::redis_url(),
        &prefix,
        Duration::from_secs(60),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    long.put("shared", &entry(9)).await.unwrap();
    assert_eq!(other.get("shared").await.unwrap(), Some(entry(9)));
    long.remove("shared").await.unwrap();
    let short = RedisCache::connect(&common::redis_url(), &prefix, TTL, Duration::from_secs(5))
        .await
        .unwrap();
    entries_expire(&short).await;
    // An unreadable entry is a miss, not an error.
    let client = redis::Client::open(common::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let raw_key = format!("{prefix}:cache:garbled");
    let _: () = redis::cmd("SET")
        .arg(&raw_key)
        .arg("{not json")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(long.get("garbled").await.unwrap(), None);
    let _: i64 = redis::cmd("DEL")
        .arg(&raw_key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sentence_chunks_round_trip_and_respect_the_size_cap() {
    use polyvox_infra::cache::ChunkCache;
    let prefix = common::unique("polyvox_test");
    let a = RedisCache::connect(
        &common::redis_url(),
        &prefix,
        Duration::from_secs(60),
        Duration::from_secs(5),
    )
    .await
    .expect("connect redis")
    .with_chunk_limits(Duration::from_secs(60), 64);
    let b = RedisCache::connect(
        &common::redis_url(),
        &prefix,
        Duration::from_secs(60),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let pcm = [0.25_f32, -0.5, 1e-7, 0.0];
    assert_eq!(a.get_chunk("k1").await.unwrap(), None);
    a.put_chunk("k1", &pcm).await.unwrap();
    let back = b
        .get_chunk("k1")
        .await
        .unwrap()
        .expect("shared by instances");
    assert_eq!(
        back.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
        pcm.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
        "bit for bit"
    );
    // 17 samples = 68 bytes, above the 64-byte cap: not stored.
    a.put_chunk("big", &[0.5; 17]).await.unwrap();
    assert_eq!(a.get_chunk("big").await.unwrap(), None);
    // Chunk keys do not collide with result-cache keys of the same name.
    assert_eq!(a.get("k1").await.unwrap(), None);
    let client = redis::Client::open(common::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:chunk:k1"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "entries expire: {ttl}");
    let _: i64 = redis::cmd("DEL")
        .arg(format!("{prefix}:chunk:k1"))
        .query_async(&mut conn)
        .await
        .unwrap();
}
