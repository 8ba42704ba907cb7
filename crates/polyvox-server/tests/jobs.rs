//! The job API on the embedded twins (SQLite, in-process queue, filesystem storage, memory
//! cache) with an in-process worker rendering through the fake speech service: lifecycle, Range,
//! cache hits without synthesis, in-flight sharing, idempotency, cancellation and the
//! `/tts/generate` alias.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::FakeSpeech;
use common::embedded::Embedded;
use serde_json::{Value, json};

/// The job API with a worker rendering through `fake` (concurrency 2), or with no worker.
async fn env(fake: FakeSpeech, with_worker: bool) -> Embedded {
    let b = Embedded::builder(fake);
    let b = if with_worker {
        b.worker(|w| w.concurrency = 2)
    } else {
        b.without_worker()
    };
    b.start().await
}

impl Embedded {
    async fn submit(&self, body: Value, key: Option<&str>) -> reqwest::Response {
        let mut r = self.client.post(self.url("/v1/jobs")).json(&body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send().await.expect("sent")
    }
}

#[tokio::test]
async fn a_job_runs_and_its_audio_serves_ranges() {
    let e = env(FakeSpeech::new(4, Duration::from_millis(10)), true).await;
    let res = e
        .submit(
            json!({"input": "Hello jobs", "voice": "af_bella", "response_format": "wav"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.headers()["x-polyvox-cache"], "miss");
    let acc: Value = res.json().await.expect("json");
    let id = acc["id"].as_str().expect("id").to_string();
    assert_eq!(acc["status_url"], format!("/v1/jobs/{id}"));
    let done = e.wait(&id, None).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["chunks_done"], 4);
    let expected = e.fake.expected_body();
    assert_eq!(done["audio_bytes"], expected.len());
    let audio_url = done["audio_url"].as_str().expect("audio url");
    let full = e.client.get(e.url(audio_url)).send().await.expect("sent");
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-type"], "audio/wav");
    assert_eq!(full.bytes().await.expect("body").to_vec(), expected);

    let part = e
        .client
        .get(e.url(audio_url))
        .header("Range", "bytes=2-5")
        .send()
        .await
        .expect("sent");
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 2-5/{}", expected.len())
    );
    assert_eq!(
        part.bytes().await.expect("body").to_vec(),
        expected[2..6].to_vec()
    );
    let past = e
        .client
        .get(e.url(audio_url))
        .header("Range", format!("bytes={}-", expected.len()))
        .send()
        .await
        .expect("sent");
    assert_eq!(past.status(), 416);
    assert_eq!(
        past.headers()["content-range"],
        format!("bytes */{}", expected.len())
    );
    // Headers RFC 9110 says to ignore get the whole file as a plain 200, not a 206.
    for ignored in ["items=0-1", "bytes=5-2", "bytes=0-1,4-5"] {
        let res = e
            .client
            .get(e.url(audio_url))
            .header("Range", ignored)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200, "{ignored}");
        assert!(!res.headers().contains_key("content-range"), "{ignored}");
        assert_eq!(
            res.bytes().await.expect("body").to_vec(),
            expected,
            "{ignored}"
        );
    }

    // The same request again: answered from the cache, born succeeded, no synthesis.
    let again = e
        .submit(
            json!({"input": "Hello   jobs", "voice": "Bella", "response_format": "wav"}),
            None,
        )
        .await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["x-polyvox-cache"], "hit");
    let acc2: Value = again.json().await.expect("json");
    assert_eq!(acc2["status"], "succeeded");
    assert_ne!(acc2["id"], acc["id"]);
    assert_eq!(e.fake.stats.started.load(Ordering::SeqCst), 1);
    // /v1/audio/speech hits the same cache entry.
    let sync = e
        .speech(json!({"input": "Hello jobs", "voice": "af_bella", "response_format": "wav"}))
        .await;
    assert_eq!(sync.headers()["x-polyvox-cache"], "hit");
    assert_eq!(sync.bytes().await.expect("body").to_vec(), expected);
    assert_eq!(e.fake.stats.started.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn identical_concurrent_jobs_share_one_synthesis_and_keys_are_idempotent() {
    let e = Arc::new(env(FakeSpeech::new(5, Duration::from_millis(60)), true).await);
    let body = json!({"input": "Ten at once", "response_format": "mp3"});
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (e, body) = (e.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let v: Value = e.submit(body, None).await.json().await.expect("json");
            v["id"].as_str().expect("id").to_string()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.expect("task"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "all ten joined one job: {ids:?}");
    assert_eq!(e.wait(&ids[0], None).await["status"], "succeeded");
    assert_eq!(e.fake.stats.started.load(Ordering::SeqCst), 1);

    let a: Value = e
        .submit(json!({"input": "Keyed one"}), Some("k-1"))
        .await
        .json()
        .await
        .expect("json");
    let b: Value = e
        .submit(json!({"input": "Keyed one"}), Some("k-1"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(a["id"], b["id"], "same Idempotency-Key and body, same job");
    // The same key with another body is refused: its audio would be of the wrong text.
    let reused = e
        .submit(json!({"input": "Keyed one, changed"}), Some("k-1"))
        .await;
    assert_eq!(reused.status(), 409);
    let err: Value = reused.json().await.expect("json");
    assert_eq!(err["error"]["code"], "idempotency_key_reused", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("k-1"),
        "{err}"
    );
    // While `a` runs, a new key with the same text joins it (in-flight sharing); once it is done,
    // a new key gets a new job (answered from the cache).
    e.wait(a["id"].as_str().expect("id"), None).await;
    let c: Value = e
        .submit(json!({"input": "Keyed one"}), Some("k-2"))
        .await
        .json()
        .await
        .expect("json");
    assert_ne!(a["id"], c["id"]);
    assert_eq!(c["status"], "succeeded");
}

#[tokio::test]
async fn queued_jobs_cancel_at_once_and_unknown_jobs_are_404() {
    let e = env(FakeSpeech::new(1, Duration::ZERO), false).await;
    let acc: Value = e
        .submit(json!({"input": "Never run"}), None)
        .await
        .json()
        .await
        .expect("json");
    let id = acc["id"].as_str().expect("id");
    let res = e
        .client
        .delete(e.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["status"], "cancelled");
    let audio = e
        .client
        .get(e.url(&format!("/v1/jobs/{id}/audio")))
        .send()
        .await
        .expect("sent");
    assert_eq!(audio.status(), 404);
    let missing = e
        .client
        .get(e.url("/v1/jobs/nope"))
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
    let long = "word ".repeat(20_001);
    let res = e.submit(json!({"input": long}), None).await;
    assert_eq!(res.status(), 413, "async limit is 100 000 characters");
}

#[tokio::test]
async fn tts_generate_is_a_thin_alias_of_the_job_api() {
    let e = env(FakeSpeech::new(2, Duration::ZERO), true).await;
    let res = e
        .client
        .post(e.url("/tts/generate"))
        .json(&json!({"text": "Legacy hello", "voice_id": "3", "language": "en"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 202);
    let acc: Value = res.json().await.expect("json");
    let done = e.wait(acc["id"].as_str().expect("id"), None).await;
    assert_eq!(done["status"], "succeeded");
    assert!(
        done["audio_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/audio"))
    );
    let (req, _) = e
        .fake
        .stats
        .last_request
        .lock()
        .expect("lock")
        .clone()
        .expect("rendered");
    assert_eq!(req.voice.canonical(), "af_bella");
    for (body, code) in [
        (
            json!({"text": "x", "voice_id": "1", "language": "fr"}),
            "unsupported_language",
        ),
        (
            json!({"text": "x", "voice_id": "9", "language": "en"}),
            "voice_not_found",
        ),
        // The fake speaks en-us, en-gb and ja only: zh is refused at submit, not by a worker.
        (
            json!({"text": "x", "voice_id": "5", "language": "zh"}),
            "unsupported_language",
        ),
    ] {
        let res = e
            .client
            .post(e.url("/tts/generate"))
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 400, "{body}");
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["error"]["code"], code, "{body}");
    }
}

#[tokio::test]
async fn whole_file_speech_is_cached_and_served_as_a_hit() {
    let e = env(FakeSpeech::new(3, Duration::ZERO), false).await;
    let body = json!({"input": "Cache me", "stream": false, "response_format": "flac"});
    let first = e.speech(body.clone()).await;
    assert_eq!(first.headers()["x-polyvox-cache"], "miss");
    let bytes = first.bytes().await.expect("body");
    let mut second = None;
    // The result is stored after the response ends; give that task a moment.
    for _ in 0..50 {
        let r = e.speech(body.clone()).await;
        if r.headers()["x-polyvox-cache"] == "hit" {
            second = Some(r.bytes().await.expect("body"));
            break;
        }
        let _ = r.bytes().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(second.expect("a hit"), bytes);
    let started = e.fake.stats.started.load(Ordering::SeqCst);
    let third = e.speech(body.clone()).await;
    assert_eq!(third.headers()["x-polyvox-cache"], "hit");
    assert_eq!(
        e.fake.stats.started.load(Ordering::SeqCst),
        started,
        "a hit synthesizes nothing"
    );
}

/// A cached text whose audio the store cannot read right now is answered 503 with Retry-After,
/// not synthesized again: re-rendering would move the overload from storage to the model.
#[tokio::test]
async fn a_hit_on_sick_storage_is_503_not_a_new_synthesis() {
    let faults = common::faulty_store::Faults::default();
    let sick = Arc::clone(&faults.reads_down);
    let e = Embedded::builder(FakeSpeech::new(3, Duration::ZERO))
        .without_worker()
        .wrap_audio(move |inner| faults.around(inner))
        .start()
        .await;
    let body =
        json!({"input": "Cache me on a sick store", "stream": false, "response_format": "wav"});
    let _ = e.speech(body.clone()).await.bytes().await;
    let mut hit = false;
    for _ in 0..50 {
        let r = e.speech(body.clone()).await;
        hit = r.headers()["x-polyvox-cache"] == "hit";
        let _ = r.bytes().await;
        if hit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(hit, "the first answer was cached");
    let started = e.fake.stats.started.load(Ordering::SeqCst);
    sick.store(true, Ordering::SeqCst);
    let r = e.speech(body.clone()).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let (_, code, msg) = common::error_of(r).await;
    assert_eq!(code, "service_unavailable", "{msg}");
    let r = e
        .client
        .post(e.url("/v1/jobs"))
        .json(&json!({"input": "Cache me on a sick store", "response_format": "wav"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        r.status(),
        503,
        "a job for a cached text is not queued either"
    );
    assert_eq!(
        e.fake.stats.started.load(Ordering::SeqCst),
        started,
        "nothing was synthesized again"
    );
    sick.store(false, Ordering::SeqCst);
    let r = e.speech(body).await;
    assert_eq!(
        r.headers()["x-polyvox-cache"],
        "hit",
        "served again once the store recovers"
    );
}
