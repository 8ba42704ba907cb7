//! The audio store's contract against SeaweedFS (S3) and the filesystem twin.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::s3::S3Server;
use futures::StreamExt;
use polyvox_infra::InfraError;
use polyvox_infra::storage::{AudioStore, FsAudioStore, S3AudioStore, new_object_key};

fn sample(n: usize) -> Bytes {
    (0..n)
        .map(|i| (i * 31 % 251) as u8)
        .collect::<Vec<_>>()
        .into()
}

/// Keys are unique per run, so a shared bucket (POLYVOX_TEST_S3_ENDPOINT) is fine.
fn key(ext: &str) -> String {
    new_object_key(&common::unique("test"), ext)
}

async fn put_get_head_delete(s: &dyn AudioStore) {
    let k = key("mp3");
    let data = sample(10_000);
    s.put(&k, data.clone(), "audio/mpeg").await.unwrap();
    let got = s.get(&k, None).await.unwrap();
    assert_eq!(got.range, 0..10_000);
    assert_eq!(got.info.len, 10_000);
    assert_eq!(got.info.content_type.as_deref(), Some("audio/mpeg"));
    assert_eq!(got.bytes().await.unwrap(), data);
    let head = s.head(&k).await.unwrap();
    assert_eq!(
        (head.len, head.content_type.as_deref()),
        (10_000, Some("audio/mpeg"))
    );
    // Overwrite replaces.
    s.put(&k, Bytes::from_static(b"short"), "audio/wav")
        .await
        .unwrap();
    let got = s.get(&k, None).await.unwrap();
    let ct = got.info.content_type.clone();
    assert_eq!(
        (&got.bytes().await.unwrap()[..], ct.as_deref()),
        (&b"short"[..], Some("audio/wav"))
    );
    s.delete(&k).await.unwrap();
    s.delete(&k).await.unwrap(); // absent: still fine
    assert!(matches!(
        s.get(&k, None).await,
        Err(InfraError::NotFound { .. })
    ));
    assert!(matches!(s.head(&k).await, Err(InfraError::NotFound { .. })));
}

async fn ranges(s: &dyn AudioStore) {
    let k = key("wav");
    let data = sample(1000);
    s.put(&k, data.clone(), "audio/wav").await.unwrap();
    let part = s.get(&k, Some(100..200)).await.unwrap();
    assert_eq!((part.range.clone(), part.info.len), (100..200, 1000));
    assert_eq!(part.bytes().await.unwrap(), data.slice(100..200));
    let tail = s.get(&k, Some(990..5000)).await.unwrap();
    assert_eq!(tail.range, 990..1000);
    assert_eq!(tail.bytes().await.unwrap(), data.slice(990..));
    for bad in [1000..1001, 2000..3000, 10..10] {
        let r = s.get(&k, Some(bad.clone())).await;
        assert!(
            matches!(r, Err(InfraError::RangeNotSatisfiable { len: 1000 })),
            "{bad:?}: {r:?}"
        );
    }
    s.delete(&k).await.unwrap();
}

async fn bad_keys_never_reach_the_backend(s: &dyn AudioStore) {
    for k in ["../escape", "a/../../b", "/abs", ".hidden", "a//b"] {
        let r = s.put(k, Bytes::from_static(b"x"), "text/plain").await;
        assert!(matches!(r, Err(InfraError::InvalidKey(_))), "{k}: {r:?}");
        assert!(
            matches!(s.get(k, None).await, Err(InfraError::InvalidKey(_))),
            "{k}"
        );
        assert!(
            matches!(s.delete(k).await, Err(InfraError::InvalidKey(_))),
            "{k}"
        );
        assert!(matches!(
            s.presigned_get(k, Duration::from_secs(60)).await,
            Err(InfraError::InvalidKey(_))
        ));
    }
}

#[tokio::test]
async fn fs_contract() {
    let dir = tempfile::tempdir().unwrap();
    let s = FsAudioStore::open(dir.path().join("store"), Duration::from_secs(5))
        .await
        .unwrap();
    put_get_head_delete(&s).await;
    ranges(&s).await;
    bad_keys_never_reach_the_backend(&s).await;
    let k = key("mp3");
    s.put(&k, sample(10), "audio/mpeg").await.unwrap();
    assert_eq!(
        s.presigned_get(&k, Duration::from_secs(60)).await.unwrap(),
        None
    );
    // Nothing was written outside the store's root.
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, [std::ffi::OsString::from("store")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_contract_on_seaweedfs() {
    let server = S3Server::start().await;
    let s = S3AudioStore::new(&server.config).unwrap();
    put_get_head_delete(&s).await;
    ranges(&s).await;
    bad_keys_never_reach_the_backend(&s).await;

    // Presigned GET: works without credentials, and only for the signed object and time.
    let k = key("mp3");
    let data = sample(2048);
    s.put(&k, data.clone(), "audio/mpeg").await.unwrap();
    let url = s
        .presigned_get(&k, Duration::from_secs(300))
        .await
        .unwrap()
        .expect("S3 can presign");
    let http = reqwest::Client::new();
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap(), data);
    let other = new_object_key("elsewhere", "mp3");
    let forged = url.replace(&k, &other);
    assert_eq!(
        http.get(&forged).send().await.unwrap().status(),
        403,
        "signature bound to the key"
    );
    let short = s
        .presigned_get(&k, Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let expired = http.get(&short).send().await.unwrap().status();
    assert!(
        expired == 403 || expired == 400,
        "expired URL answered {expired}"
    );
    s.delete(&k).await.unwrap();

    // Wrong credentials are refused by the server, not silently accepted.
    let mut bad = server.config.clone();
    bad.secret_access_key = "wrong".into();
    let r = S3AudioStore::new(&bad)
        .unwrap()
        .put(&key("mp3"), sample(1), "audio/mpeg")
        .await;
    assert!(matches!(r, Err(InfraError::Storage(_))), "{r:?}");
}

/// A WAV-like header that only the end of a write knows: what `finish` writes over the start.
fn patched(data: &Bytes, head: &[u8]) -> Bytes {
    let mut v = data.to_vec();
    v[..head.len()].copy_from_slice(head);
    v.into()
}

/// Writes `data` through `put_stream` in uneven pieces (sizes cycling through `pieces`) and
/// finishes with `head`.
async fn put_streamed(s: &dyn AudioStore, k: &str, data: &Bytes, pieces: &[usize], head: &[u8]) {
    let mut w = s.put_stream(k, "audio/wav").await.unwrap();
    let (mut at, mut i) = (0, 0);
    while at < data.len() {
        let n = pieces[i % pieces.len()].min(data.len() - at);
        w.write(data.slice(at..at + n)).await.unwrap();
        at += n;
        i += 1;
    }
    let len = w.finish(Bytes::copy_from_slice(head)).await.unwrap();
    assert_eq!(len, data.len() as u64);
}

/// Reads `range` as a stream, counting the chunks it came in.
async fn read_streamed(
    s: &dyn AudioStore,
    k: &str,
    range: Option<std::ops::Range<u64>>,
) -> (Vec<u8>, usize) {
    let mut f = s.get(k, range).await.unwrap();
    let (mut out, mut chunks) = (Vec::new(), 0);
    while let Some(c) = f.body.next().await {
        out.extend_from_slice(&c.unwrap());
        chunks += 1;
    }
    (out, chunks)
}

const MIB: usize = 1024 * 1024;

/// The streamed-write contract: small and multi-part objects (12 MiB: parts of 5 + 5 + 2 MiB on
/// S3, the first uploaded last with its header patched), byte-exact ranged streamed reads across
/// part boundaries, and aborted or dropped writes that leave nothing (and keep an older object).
async fn streamed_writes(s: &dyn AudioStore) {
    let head = b"RIFF\x24\x00\xc0\x00WAVEfmt-patched-at-the-end";

    // Small: one PUT on S3.
    let k = key("wav");
    let small = sample(3000);
    put_streamed(s, &k, &small, &[1, 100, 7], head).await;
    let got = s.get(&k, None).await.unwrap();
    assert_eq!(got.info.content_type.as_deref(), Some("audio/wav"));
    assert_eq!(got.bytes().await.unwrap(), patched(&small, head));
    s.delete(&k).await.unwrap();

    // 12 MiB in pieces that never line up with a part boundary.
    let k = key("wav");
    let big = sample(12 * MIB + 12_345);
    put_streamed(s, &k, &big, &[MIB + 7, 333_333, 17], head).await;
    let want = patched(&big, head);
    let info = s.head(&k).await.unwrap();
    assert_eq!(
        (info.len, info.content_type.as_deref()),
        (want.len() as u64, Some("audio/wav"))
    );
    let (all, chunks) = read_streamed(s, &k, None).await;
    assert!(all == want[..], "whole read differs");
    assert!(
        chunks > 1,
        "a 12 MiB body arrives as a stream, not one buffer"
    );
    let len = want.len() as u64;
    let five = 5 * MIB as u64;
    for r in [
        0..44,
        0..five + 1,
        five - 10..five + 10,
        2 * five - 1..2 * five + 1,
        len - 100..len,
        len - 1..len + 1000,
        1..len,
    ] {
        let (got, _) = read_streamed(s, &k, Some(r.clone())).await;
        let end = r.end.min(len) as usize;
        assert!(got == want[r.start as usize..end], "range {r:?} differs");
    }

    // Aborted after two parts were uploaded: no object; the older object under the key stays.
    s.put(&k, Bytes::from_static(b"older"), "audio/wav")
        .await
        .unwrap();
    let mut w = s.put_stream(&k, "audio/wav").await.unwrap();
    for i in 0..11 {
        w.write(big.slice(i * MIB..(i + 1) * MIB)).await.unwrap();
    }
    w.abort().await.unwrap();
    assert_eq!(
        s.get(&k, None).await.unwrap().bytes().await.unwrap(),
        &b"older"[..]
    );
    s.delete(&k).await.unwrap();

    // Dropped mid-write (a cancelled job): no object appears.
    let k2 = key("wav");
    let mut w = s.put_stream(&k2, "audio/wav").await.unwrap();
    for i in 0..11 {
        w.write(big.slice(i * MIB..(i + 1) * MIB)).await.unwrap();
    }
    drop(w);
    assert!(matches!(
        s.head(&k2).await,
        Err(InfraError::NotFound { .. })
    ));

    // A header longer than what was written is refused, and nothing appears.
    let k3 = key("wav");
    let mut w = s.put_stream(&k3, "audio/wav").await.unwrap();
    w.write(Bytes::from_static(b"abc")).await.unwrap();
    let r = w.finish(Bytes::from_static(b"abcd")).await;
    assert!(matches!(r, Err(InfraError::InvalidWrite(_))), "{r:?}");
    assert!(matches!(
        s.head(&k3).await,
        Err(InfraError::NotFound { .. })
    ));
}

#[tokio::test]
async fn fs_streamed_writes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let s = FsAudioStore::open(&root, Duration::from_secs(5))
        .await
        .unwrap();
    streamed_writes(&s).await;
    // Finished, aborted and dropped writes alike left no temporary file behind.
    let mut left = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            } else if e.file_name().to_string_lossy().starts_with(".tmp-") {
                left.push(e.path());
            }
        }
    }
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_streamed_writes_on_seaweedfs() {
    let server = S3Server::start().await;
    let s = S3AudioStore::new(&server.config).unwrap();
    streamed_writes(&s).await;

    // What S3 itself holds: an object of three parts (its ETag says so), with the content type
    // of its suffix, and byte-exact ranges through a presigned URL too.
    let k = key("wav");
    let big = sample(12 * MIB + 1);
    let head = b"RIFF-patched";
    put_streamed(&s, &k, &big, &[MIB + 3], head).await;
    let want = patched(&big, head);
    let url = s
        .presigned_get(&k, Duration::from_secs(300))
        .await
        .unwrap()
        .unwrap();
    let http = reqwest::Client::new();
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    assert!(
        etag.trim_matches('"').ends_with("-3"),
        "ETag {etag}: not 3 parts"
    );
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    assert!(resp.bytes().await.unwrap() == want[..]);
    let five = 5 * MIB;
    let resp = http
        .get(&url)
        .header("range", format!("bytes={}-{}", five - 3, five + 2))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.bytes().await.unwrap(), want[five - 3..five + 3]);
    s.delete(&k).await.unwrap();
}
