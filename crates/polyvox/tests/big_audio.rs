//! A job whose file is far larger than one S3 part, end to end on real services: the worker
//! writes it to SeaweedFS as a multipart upload while it renders (the header, whose sizes are
//! known only at the end, goes into part 1, uploaded last), and it downloads whole and by byte
//! range, exactly, through the API (streamed from storage) and from a presigned URL. The same text
//! as MP3 is stored with the whole file's Info tag (its frame count) although it left in pieces.
//!
//! The text is one paragraph said many times at half speed: the sentence cache answers every
//! repetition after the first, so the model renders one paragraph and the test still gets
//! minutes of audio. Ignored by default: needs the model, PostgreSQL, Redis and `weed`.

mod cluster;

use std::time::Duration;

use cluster::{Cluster, LOCK};
use polyvox_infra::storage::{AudioStore, S3AudioStore};
use serde_json::json;

const MIB: u64 = 1024 * 1024;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Ranges that cross S3 part boundaries (5 MiB), the header, and the end; with the bytes each
/// must return (half-open), for a file of `len` bytes.
fn ranges(len: u64) -> Vec<(String, std::ops::Range<u64>)> {
    let five = 5 * MIB;
    vec![
        ("bytes=0-43".into(), 0..44),
        ("bytes=0-0".into(), 0..1),
        (
            format!("bytes={}-{}", five - 5, five + 4),
            five - 5..five + 5,
        ),
        (
            format!("bytes={}-{}", 2 * five - 1, 2 * five),
            2 * five - 1..2 * five + 1,
        ),
        ("bytes=-100".into(), len - 100..len),
        (format!("bytes={}-", len - 7), len - 7..len),
        (format!("bytes={}-{}", len - 3, len + 500), len - 3..len),
        (format!("bytes=44-{}", 3 * MIB), 44..3 * MIB + 1),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn a_multipart_wav_downloads_byte_exact_through_the_api_and_presigned() {
    let _serial = LOCK.lock().await;
    let c = Cluster::start().await;
    let paragraph = "The keeper climbed the stairs of the lighthouse every evening, lit the great \
                     lamp, and watched the boats come home across the dark water.";
    let text = vec![paragraph; 30].join("\n\n");
    let acc = c
        .submit(
            json!({"input": text, "response_format": "wav", "speed": 0.5}),
            None,
        )
        .await;
    let id = acc["id"].as_str().expect("id").to_string();
    let job = c
        .wait_all(std::slice::from_ref(&id), Duration::from_secs(1200))
        .await
        .remove(0);
    assert_eq!(job["status"], "succeeded", "{job}");
    let len = job["audio_bytes"].as_u64().expect("audio_bytes");
    assert!(
        len > 2 * 5 * MIB,
        "{len} bytes: the file must need at least three 5 MiB parts"
    );

    // Through the API: the whole file, streamed from storage, with the header's sizes patched.
    let url = c.url(&format!("/v1/jobs/{id}/audio"));
    let full = c.http.get(&url).send().await.expect("sent");
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-type"], "audio/wav");
    assert_eq!(full.headers()["content-length"], len.to_string().as_str());
    let full = full.bytes().await.expect("body");
    assert_eq!(full.len() as u64, len);
    assert_eq!(&full[..4], b"RIFF");
    assert_eq!(u64::from(u32_at(&full, 4)), len - 8, "RIFF size");
    assert_eq!(u64::from(u32_at(&full, 40)), len - 44, "data size");

    // Byte ranges through the API: RFC 9110 answers, byte for byte the full download's slices.
    for (header, want) in ranges(len) {
        let res = c
            .http
            .get(&url)
            .header("Range", &header)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 206, "{header}");
        assert_eq!(
            res.headers()["content-range"],
            format!("bytes {}-{}/{len}", want.start, want.end - 1).as_str(),
            "{header}"
        );
        let got = res.bytes().await.expect("part");
        assert!(
            got == full[want.start as usize..want.end as usize],
            "{header}: bytes differ"
        );
    }
    // A range it must ignore is the whole file (200); one past the end is 416.
    let res = c
        .http
        .get(&url)
        .header("Range", "bytes=9-3")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.expect("body"), full);
    let res = c
        .http
        .get(&url)
        .header("Range", format!("bytes={len}-"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 416);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );

    // The object in the bucket was a multipart upload (its ETag counts the parts), and a
    // presigned URL serves the same bytes and the same ranges.
    let key = c.sql(&format!("SELECT audio_key FROM jobs WHERE id = '{id}'"));
    let store = S3AudioStore::new(&c.s3).expect("client");
    let presigned = store
        .presigned_get(key.trim(), Duration::from_secs(600))
        .await
        .expect("presign")
        .expect("S3 presigns");
    let res = c.http.get(&presigned).send().await.expect("sent");
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().expect("etag").to_string();
    let parts: u64 = etag
        .trim_matches('"')
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("ETag {etag} is not a multipart upload's"));
    assert_eq!(parts, len.div_ceil(5 * MIB), "ETag {etag}");
    assert_eq!(res.headers()["content-type"], "audio/wav");
    assert!(res.bytes().await.expect("body") == full, "presigned body");
    for (header, want) in ranges(len) {
        let res = c
            .http
            .get(&presigned)
            .header("Range", &header)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 206, "{header}");
        let got = res.bytes().await.expect("part");
        assert!(
            got == full[want.start as usize..want.end as usize],
            "presigned {header}: bytes differ"
        );
    }

    // The same text as MP3 (one PUT at this size): streamed in pieces, stored with the whole
    // file's Info tag, whose frame count matches the frames that follow it.
    let acc = c
        .submit(
            json!({"input": text, "response_format": "mp3", "speed": 0.5}),
            None,
        )
        .await;
    let id = acc["id"].as_str().expect("id").to_string();
    let job = c
        .wait_all(std::slice::from_ref(&id), Duration::from_secs(1200))
        .await
        .remove(0);
    assert_eq!(job["status"], "succeeded", "{job}");
    let url = c.url(&format!("/v1/jobs/{id}/audio"));
    let mp3 = c
        .http
        .get(&url)
        .send()
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("body");
    assert_eq!(
        mp3.len() as u64,
        job["audio_bytes"].as_u64().expect("bytes")
    );
    // 64 kbit/s at 24 kHz: every frame is 192 bytes; the first is the tag.
    assert_eq!(mp3.len() % 192, 0);
    assert_eq!(&mp3[13..17], b"Info");
    assert_eq!(mp3[17..21], [0, 0, 0, 1], "the frame count is present");
    let frames = u32::from_be_bytes([mp3[21], mp3[22], mp3[23], mp3[24]]);
    assert_eq!(frames as usize, mp3.len() / 192 - 1);
    let mid = mp3.len() as u64 / 2;
    let res = c
        .http
        .get(&url)
        .header("Range", format!("bytes={}-{}", mid, mid + 999))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 206);
    assert_eq!(
        res.bytes().await.expect("part"),
        mp3[mid as usize..mid as usize + 1000]
    );
}
