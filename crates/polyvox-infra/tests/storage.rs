//! The audio store's contract against SeaweedFS (S3) and the filesystem twin.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::s3::S3Server;
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
    assert_eq!(got.bytes, data);
    assert_eq!(got.range, 0..10_000);
    assert_eq!(got.info.len, 10_000);
    assert_eq!(got.info.content_type.as_deref(), Some("audio/mpeg"));
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
    assert_eq!(
        (&got.bytes[..], got.info.content_type.as_deref()),
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
    assert_eq!(part.bytes, data.slice(100..200));
    assert_eq!((part.range.clone(), part.info.len), (100..200, 1000));
    let tail = s.get(&k, Some(990..5000)).await.unwrap();
    assert_eq!(tail.bytes, data.slice(990..));
    assert_eq!(tail.range, 990..1000);
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
