//! Issue 22: configured secrets never reach `--help`, the logs or an error body. A scaled-out
//! deployment (API and worker processes, PostgreSQL, a Redis of its own that requires a
//! password, S3 credentials, a webhook secret, an API key) is configured with distinctive
//! secrets and driven through its failure paths: S3 unreachable (every job fails to store),
//! webhook deliveries refused by their receiver, unknown and wrong API keys, the database schema
//! dropped under the running processes, and processes that fail to start (a wrong Redis
//! password, an unreachable database). Every `--help` output, every log line (at `debug`) and
//! every error body is then searched for each secret.
//!
//! Needs the model (the worker renders before storing), PostgreSQL and `redis-server`; ignored
//! by default like the other process-level tests.

mod cluster;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cluster::{Proc, free_ports, pg_url, unique};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The secrets of one run: distinctive strings that cannot occur by chance.
struct Secrets {
    db_password: String,
    redis_password: String,
    s3_key_id: String,
    s3_secret: String,
    webhook_secret: String,
    webhook_token: String,
    /// Set once the key is created: its secret part.
    api_key_secret: String,
}

impl Secrets {
    fn new() -> Self {
        // RandomState is seeded randomly per process: 16 hex digits nobody else writes.
        let r = || {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            format!("{:016x}", h.finish())
        };
        Self {
            db_password: format!("dbpw{}", r()),
            redis_password: format!("rdpw{}", r()),
            s3_key_id: format!("AKID{}", r().to_ascii_uppercase()),
            s3_secret: format!("s3sk{}", r()),
            webhook_secret: format!("whsk{}", r()),
            webhook_token: format!("whtk{}", r()),
            api_key_secret: String::new(),
        }
    }

    fn all(&self) -> Vec<(&'static str, &str)> {
        let mut v = vec![
            ("database password", self.db_password.as_str()),
            ("Redis password", self.redis_password.as_str()),
            ("S3 access key id", self.s3_key_id.as_str()),
            ("S3 secret key", self.s3_secret.as_str()),
            ("webhook secret", self.webhook_secret.as_str()),
            ("webhook URL token", self.webhook_token.as_str()),
        ];
        if !self.api_key_secret.is_empty() {
            v.push(("API key secret", self.api_key_secret.as_str()));
        }
        v
    }

    /// Fails the test if `text` (from `what`) contains any secret.
    fn assert_absent(&self, what: &str, text: &str) {
        for (name, secret) in self.all() {
            assert!(
                !text.contains(secret),
                "the {name} appears in {what}:\n{}",
                text.lines()
                    .filter(|l| l.contains(secret))
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

/// A `redis-server` on a free port that requires `password`; killed when dropped.
fn redis_with_password(dir: &std::path::Path, password: &str) -> (Proc, u16) {
    let port = free_ports(1)[0];
    let mut cmd = Command::new("redis-server");
    cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--port", &port.to_string(), "--requirepass", password])
        .arg("--dir")
        .arg(dir);
    let mut redis = Proc::spawn("redis", cmd, dir.join("redis.log"));
    redis.wait_line("Ready to accept connections", Duration::from_secs(20));
    (redis, port)
}

/// A webhook receiver that refuses every delivery with a 500; counts what it was sent.
async fn refusing_receiver() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let sends = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&sends);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = s.read(&mut buf).await;
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = s
                    .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (port, sends)
}

/// Every response body the run received with an error status, with what it answered.
#[derive(Default)]
struct Bodies(Vec<(String, String)>);

impl Bodies {
    async fn record(&mut self, what: &str, res: reqwest::Response) -> (u16, Value) {
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        if status >= 400 {
            self.0.push((format!("{what} ({status})"), text.clone()));
        }
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

#[tokio::test]
#[ignore = "process-level: needs the model, PostgreSQL and redis-server"]
async fn no_configured_secret_reaches_help_logs_or_error_bodies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut secrets = Secrets::new();
    let (_redis, redis_port) = redis_with_password(dir.path(), &secrets.redis_password);
    let (hook_port, hook_sends) = refusing_receiver().await;
    // Nothing listens there: every S3 call fails.
    let dead_s3 = free_ports(1)[0];
    let schema = unique("pvsecrets");
    let db_url = pg_url().replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{}@", secrets.db_password),
        1,
    );
    assert!(
        db_url.contains(&secrets.db_password),
        "the test database URL ({}) has no user to put a password on",
        pg_url()
    );
    let redis_url = format!(
        "redis://:{}@127.0.0.1:{redis_port}/",
        secrets.redis_password
    );
    let env: Vec<(&str, String)> = vec![
        ("DATABASE_URL", db_url.clone()),
        ("POLYVOX_DB_SCHEMA", schema.clone()),
        ("POLYVOX_DB_MAX_CONNECTIONS", "4".into()),
        ("REDIS_URL", redis_url.clone()),
        ("POLYVOX_REDIS_PREFIX", unique("pvsecrets")),
        ("POLYVOX_STORAGE_URL", "s3://polyvox-audio".into()),
        ("POLYVOX_S3_ENDPOINT", format!("http://127.0.0.1:{dead_s3}")),
        ("AWS_ACCESS_KEY_ID", secrets.s3_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", secrets.s3_secret.clone()),
        ("POLYVOX_WEBHOOK_SECRET", secrets.webhook_secret.clone()),
        ("POLYVOX_WEBHOOK_ALLOW_PRIVATE", "true".into()),
        ("POLYVOX_JOB_MAX_ATTEMPTS", "1".into()),
        ("POLYVOX_JOB_MAINTENANCE_SECS", "1".into()),
        ("POLYVOX_INFRA_TIMEOUT_SECS", "3".into()),
        ("POLYVOX_NO_FETCH", "true".into()),
        ("POLYVOX_SESSIONS", "1".into()),
        ("POLYVOX_INTRA_THREADS", "1".into()),
        (
            "POLYVOX_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        // The most a log says: debug, for every crate.
        ("POLYVOX_LOG", "debug".into()),
    ];
    let command = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyvox"));
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("POLYVOX_LOG_FORMAT");
        cmd
    };

    // --help of every command, with every secret in the environment.
    let mut help = String::new();
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["worker", "--help"],
        &["migrate", "--help"],
        &["keys", "--help"],
        &["keys", "create", "--help"],
    ] {
        let out = command(args).output().expect("help");
        assert!(out.status.success(), "{args:?}");
        help += &String::from_utf8_lossy(&out.stdout);
    }
    assert!(help.contains("DATABASE_URL") && help.contains("AWS_SECRET_ACCESS_KEY"));

    let out = command(&["keys", "create", "--name", "secrets", "--json"])
        .output()
        .expect("keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).expect("json");
    let token = created["token"].as_str().expect("token").to_string();
    let key_id = created["id"].as_str().expect("id").to_string();
    secrets.api_key_secret = token.rsplit('_').next().expect("secret").to_string();
    let mut logs = String::from_utf8_lossy(&out.stderr).into_owned();

    let mut api = Proc::spawn(
        "serve",
        command(&["serve", "--bind", "127.0.0.1:0"]),
        dir.path().join("serve.log"),
    );
    let line = api.wait_line("listening on http://", Duration::from_secs(120));
    let base = line.rsplit(' ').next().expect("url").to_string();
    let mut worker = Proc::spawn(
        "worker",
        command(&["worker", "--concurrency", "1", "--drain-secs", "1"]),
        dir.path().join("worker.log"),
    );
    worker.wait_line("polyvox worker ready", Duration::from_secs(180));

    let http = reqwest::Client::new();
    let mut bodies = Bodies::default();
    let authed = |req: reqwest::RequestBuilder| req.bearer_auth(&token);

    // A job whose audio cannot be stored, with a webhook to a receiver that refuses it.
    let hook = format!(
        "http://127.0.0.1:{hook_port}/hook?token={}",
        secrets.webhook_token
    );
    let res = authed(http.post(format!("{base}/v1/jobs")))
        .json(&json!({"input": "Stored nowhere.", "voice": "af_bella", "response_format": "wav", "webhook_url": hook}))
        .send()
        .await
        .expect("sent");
    let (status, job) = bodies.record("job submission", res).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(180);
    let failed = loop {
        let res = authed(http.get(format!("{base}/v1/jobs/{id}")))
            .send()
            .await
            .expect("sent");
        let (_, v) = bodies.record("job", res).await;
        if v["status"] == "failed" {
            break v;
        }
        assert!(Instant::now() < deadline, "job did not fail: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    bodies
        .0
        .push(("failed job's error".into(), failed["error"].to_string()));
    // Webhook deliveries refused at least twice (first send and a retry): the warn path ran.
    let deadline = Instant::now() + Duration::from_secs(60);
    while hook_sends.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "webhook not retried");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let res = authed(http.get(format!("{base}/v1/jobs/{id}")))
        .send()
        .await
        .expect("sent");
    let (_, v) = bodies.record("job with webhooks", res).await;
    bodies
        .0
        .push(("webhook last_error".into(), v["webhooks"].to_string()));
    assert!(
        v["webhooks"][0]["last_status"] == 500,
        "the receiver's refusal is recorded: {v}"
    );

    // Speech through the worker: rendered, then storing fails.
    let res = authed(http.post(format!("{base}/v1/audio/speech")))
        .json(&json!({"input": "Relayed and lost.", "voice": "af_bella", "response_format": "wav", "stream": false}))
        .send()
        .await
        .expect("sent");
    let (status, _) = bodies.record("speech", res).await;
    assert!(status >= 500, "storing cannot succeed: {status}");
    let res = authed(http.get(format!("{base}/v1/jobs/{id}/audio")))
        .send()
        .await
        .expect("sent");
    bodies.record("job audio", res).await;
    let res = http
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .expect("sent");
    bodies.record("readiness", res).await;

    // Wrong and unknown keys.
    let wrong_secret = format!("pvx_{key_id}_{}", "0".repeat(64));
    for bad in [wrong_secret.as_str(), "pvx_0123456789abcdef_00", "sk-nope"] {
        let res = http
            .get(format!("{base}/v1/usage"))
            .bearer_auth(bad)
            .send()
            .await
            .expect("sent");
        let (status, _) = bodies.record("bad key", res).await;
        assert_eq!(status, 401);
    }

    // The database schema goes away under the running processes.
    let drop = Command::new("psql")
        .arg(pg_url())
        .args(["-q", "-c", &format!("DROP SCHEMA \"{schema}\" CASCADE")])
        .output()
        .expect("psql");
    assert!(drop.status.success());
    for (what, req) in [
        (
            "job after the schema went",
            http.get(format!("{base}/v1/jobs/{id}")),
        ),
        (
            "submission after the schema went",
            http.post(format!("{base}/v1/jobs"))
                .json(&json!({"input": "No table.", "voice": "af_bella"})),
        ),
    ] {
        let res = authed(req).send().await.expect("sent");
        let (status, _) = bodies.record(what, res).await;
        assert!(status >= 500, "{what}: {status}");
    }
    // Let the worker's loops meet the missing tables too.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Processes that cannot start: a wrong Redis password, an unreachable database.
    let wrong_redis = format!(
        "redis://:{}x@127.0.0.1:{redis_port}/",
        secrets.redis_password
    );
    let other_schema = unique("pvsecrets");
    let out = command(&["serve", "--bind", "127.0.0.1:0"])
        .env("REDIS_URL", &wrong_redis)
        .env("POLYVOX_DB_SCHEMA", &other_schema)
        .stdout(Stdio::null())
        .output()
        .expect("serve");
    assert!(!out.status.success(), "serve started with a wrong password");
    let failed_start = String::from_utf8_lossy(&out.stderr).into_owned();
    let dead_db = format!(
        "postgres://postgres:{}@127.0.0.1:{}/test",
        secrets.db_password,
        free_ports(1)[0]
    );
    let out = command(&["migrate"])
        .env("DATABASE_URL", &dead_db)
        .output()
        .expect("migrate");
    assert!(!out.status.success(), "migrate reached a closed port");
    let failed_migrate = String::from_utf8_lossy(&out.stderr).into_owned();

    api.kill();
    worker.kill();
    for s in [&schema, &other_schema] {
        let _ = Command::new("psql")
            .arg(pg_url())
            .args([
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE"),
            ])
            .output();
    }
    logs += &api.log_text();
    logs += &worker.log_text();
    // The failure paths really ran and were logged.
    for (needle, what) in [
        ("webhook delivery refused", "the refused webhooks"),
        ("s3", "the S3 failures"),
        ("does not exist", "the database errors"),
    ] {
        assert!(
            logs.to_ascii_lowercase().contains(needle),
            "no log of {what} ('{needle}')"
        );
    }
    assert!(
        failed_start.contains("Redis") || failed_start.contains("REDIS_URL"),
        "{failed_start}"
    );
    assert!(failed_migrate.contains("DATABASE_URL"), "{failed_migrate}");

    secrets.assert_absent("--help", &help);
    secrets.assert_absent("the logs", &logs);
    secrets.assert_absent("a failed start's output", &failed_start);
    secrets.assert_absent("a failed migration's output", &failed_migrate);
    assert!(
        bodies.0.len() >= 8,
        "error bodies collected: {}",
        bodies.0.len()
    );
    for (what, body) in &bodies.0 {
        secrets.assert_absent(&format!("the error body of {what}"), body);
    }
}
