//! Helpers shared by the binary's integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

pub fn polyvox() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyvox"));
    cmd.env("POLYVOX_LOG", "warn")
        .env_remove("POLYVOX_LOG_FORMAT");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawning polyvox")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Samples of a 16-bit mono WAV file as f32, found by walking the RIFF chunks.
pub fn read_wav(path: &Path) -> (u32, Vec<f32>) {
    let b = std::fs::read(path).expect("reading wav");
    assert_eq!(&b[0..4], b"RIFF", "not a RIFF file");
    assert_eq!(&b[8..12], b"WAVE", "not a WAVE file");
    let mut pos = 12;
    let mut rate = 0;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            assert_eq!(u16::from_le_bytes([b[body], b[body + 1]]), 1, "PCM");
            assert_eq!(u16::from_le_bytes([b[body + 2], b[body + 3]]), 1, "mono");
            rate = u32::from_le_bytes(b[body + 4..body + 8].try_into().unwrap());
            assert_eq!(
                u16::from_le_bytes([b[body + 14], b[body + 15]]),
                16,
                "16-bit"
            );
        } else if id == b"data" {
            let end = body.saturating_add(len).min(b.len());
            let pcm = b[body..end]
                .chunks_exact(2)
                .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                .collect();
            return (rate, pcm);
        }
        pos = body + len + (len & 1);
    }
    panic!("no data chunk in {}", path.display());
}

pub struct AudioCheck {
    pub seconds: f64,
    pub rms: f32,
    pub peak: f32,
    pub clipped: usize,
}

pub fn check_audio(rate: u32, pcm: &[f32]) -> AudioCheck {
    assert_eq!(rate, 24_000);
    let rms = (pcm.iter().map(|x| x * x).sum::<f32>() / pcm.len().max(1) as f32).sqrt();
    let peak = pcm.iter().fold(0f32, |m, x| m.max(x.abs()));
    let clipped = pcm.iter().filter(|x| x.abs() >= 0.999).count();
    AudioCheck {
        seconds: pcm.len() as f64 / f64::from(rate),
        rms,
        peak,
        clipped,
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

pub fn tools_dir() -> PathBuf {
    std::env::var_os("POLYVOX_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var("HOME").expect("HOME")).join(".cache/polyvox-tools")
        })
}

/// The ASR judge (`tests/asr/<script>`) run by the venv `scripts/tools.sh` installs. A missing
/// venv fails the test: the test command installs it, so its absence is a broken setup.
pub fn asr_judge(script: &str) -> Command {
    let python = tools_dir().join("judge-venv/bin/python");
    assert!(
        python.exists(),
        "ASR judge venv missing at {}; run scripts/tools.sh",
        python.display()
    );
    let mut cmd = Command::new(python);
    cmd.arg(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/asr")
            .join(script),
    )
    .env("ASR_JUDGE_MODEL_DIR", tools_dir().join("whisper-base"));
    cmd
}

/// A running `polyvox serve`; killed when dropped so a failing test leaves nothing behind.
pub struct Served {
    pub child: Child,
    pub base: String,
    /// Collects stderr (the logs) as it comes, so a full pipe never blocks the server.
    logs: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Kills the server and returns what it logged (empty unless started with `logs`).
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logs
            .take()
            .map(|t| t.join().expect("log thread"))
            .unwrap_or_default()
    }
}

/// `polyvox [global] serve --bind 127.0.0.1:0 [args]` on the data directory `data`, with `env`
/// added; returns once it prints its address. With `logs`, stderr is kept for
/// [`Served::stop`]; otherwise it is discarded.
pub fn serve(
    data: &Path,
    global: &[&str],
    args: &[&str],
    env: &[(&str, &str)],
    logs: bool,
) -> Served {
    let mut cmd = polyvox();
    cmd.args(global)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .env("POLYVOX_DATA_DIR", data)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(if logs { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().expect("spawning polyvox serve");
    let logs = child.stderr.take().map(|mut stderr| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        })
    });
    let base = listening_url(&mut child);
    Served { child, base, logs }
}

/// Reads a `polyvox serve` child's stdout (piped) up to the line that names its bound address.
pub fn listening_url(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(url) = line.strip_prefix("polyvox listening on ") {
            return url.trim().to_string();
        }
    }
    panic!("polyvox serve exited before listening")
}

/// The job once it has succeeded, failed or been cancelled, polled through `client` (which may
/// carry a key); fails the test after two minutes, a bound for a slow machine, not a figure.
pub async fn wait_job(client: &reqwest::Client, base: &str, id: &str) -> Value {
    for _ in 0..2400 {
        let v: Value = client
            .get(format!("{base}/v1/jobs/{id}"))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        if matches!(
            v["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

/// The text of `GET /metrics`.
pub async fn scrape(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body")
}
