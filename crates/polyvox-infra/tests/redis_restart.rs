//! A Redis that goes away for longer than a moment and comes back (a restart, a failover) is
//! used again within seconds by every Redis client the service holds. The fault gate once saw
//! an API instance stay not-ready for more than 30 s after such a restart: the connection
//! manager's default backoff slept a minute between reconnect attempts.
//!
//! Needs `redis-server` on PATH (the test command installs it); each test runs its own on a free
//! port, since it kills it.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::unique;
use polyvox_infra::cache::{AudioCache, RedisCache};
use polyvox_infra::queue::{JobQueue, QueueConfig, RedisQueue};
use polyvox_infra::relay::{RedisRelay, Relay, RelayConfig};

const CALL_TIMEOUT: Duration = Duration::from_secs(1);
/// How long Redis stays down: past the first reconnect attempt and its one-second backoff.
const DOWN_FOR: Duration = Duration::from_secs(4);
/// Every client must answer again within this long of Redis accepting connections.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);

struct RedisProc {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisProc {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut me = Self {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        me.spawn();
        me
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (scripts/services.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.answers_ping() {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill redis-server");
        child.wait().expect("reap redis-server");
        assert!(!self.answers_ping(), "Redis still answers after the kill");
    }

    /// A PING over a raw socket, independent of the clients under test.
    fn answers_ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Calls `probe` until it succeeds; panics naming `what` if that takes longer than the bound.
async fn recovers<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = polyvox_infra::Result<()>>,
{
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(()) => return,
            Err(e) => assert!(
                start.elapsed() < RECOVERY_BOUND,
                "{what} still failing {:?} after Redis came back: {e}",
                start.elapsed()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reconnect_promptly_after_redis_was_down_for_seconds() {
    let mut redis = RedisProc::start();
    let url = redis.url();
    let prefix = unique("restart");
    let queue = RedisQueue::connect(
        &url,
        QueueConfig {
            call_timeout: CALL_TIMEOUT,
            prefix: prefix.clone(),
            ..QueueConfig::default()
        },
    )
    .await
    .expect("queue connects");
    let relay = RedisRelay::connect(
        &url,
        RelayConfig {
            call_timeout: CALL_TIMEOUT,
            prefix: prefix.clone(),
            ..RelayConfig::default()
        },
    )
    .await
    .expect("relay connects");
    let cache = RedisCache::connect(&url, &prefix, Duration::from_secs(60), CALL_TIMEOUT)
        .await
        .expect("cache connects");
    queue.ping().await.expect("queue ping before the fault");
    relay.ping().await.expect("relay ping before the fault");
    cache.get("k").await.expect("cache read before the fault");

    redis.kill();
    // The clients are called while Redis is down, as a live service calls them: each failure
    // starts a reconnect that fails too, and the manager backs off.
    let down = Instant::now();
    let mut failures = 0;
    while down.elapsed() < DOWN_FOR {
        failures += usize::from(queue.ping().await.is_err());
        failures += usize::from(relay.ping().await.is_err());
        failures += usize::from(cache.get("k").await.is_err());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        failures >= 3,
        "calls kept succeeding while Redis was down ({failures} failures)"
    );

    redis.spawn();
    recovers("queue ping", || queue.ping()).await;
    recovers("relay ping", || relay.ping()).await;
    recovers("cache read", || async { cache.get("k").await.map(|_| ()) }).await;
}
