//! `polyvox bench throughput`: audio produced per wall second at several concurrencies, for one
//! or more engine layouts (sessions × intra-op threads), against the peer kokoro-onnx.
//!
//! Every configuration lives in this process (ours) or in one long-lived child (the peer, see
//! `peer_kokoro.py`), loaded once; each round then runs every (concurrency, configuration) pair
//! once, the order rotating between rounds, so a neighbour's build slows all of them alike and
//! the ratios stay meaningful. One request is one sentence, as a TTS API sees them; a run is done
//! when `concurrency` client threads have drained the sentence list.
//!
//! Memory: a sampler thread reads VmRSS every 100 ms during each run and keeps the maximum; with
//! several configurations loaded at once the figure covers all of them (run one configuration
//! alone for a clean memory figure).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use polyvox_core::request::FieldNames;
use polyvox_core::{Limits, RawSynthesisRequest};
use polyvox_synth::Synthesizer;

use super::median;
use crate::cli::EngineArgs;
use crate::runtime;

/// One request each: English sentences of 4–7 s of audio, numbers and abbreviations included.
pub const SENTENCES: &[&str] = &[
    "The quick brown fox jumps over the lazy dog.",
    "Polyvox turns text into natural speech on your own hardware, with no per-character bill.",
    "On March 3rd, 2024, the museum welcomed 1,250 visitors and sold tickets for $12.50 each.",
    "She opened the window, listened to the rain for a while, and then went back to her book.",
    "Every request is validated, queued, synthesized in chunks and encoded as it is produced.",
    "The train to Boston leaves at half past seven, so please be at the station by seven.",
    "Our team measured every change twice before we decided which one to keep.",
    "Light travels about three hundred thousand kilometres in a single second.",
];

/// An engine layout to measure: `sessions` model threads of `threads` intra-op threads each, or
/// on the shared pool of a thread per core (`S`), with or without ONNX Runtime's CPU arena (`2x1`,
/// `2xS`, `2x1-noarena`).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub sessions: usize,
    /// Threads of each session's own pool; 0 = the shared pool.
    pub threads: usize,
    pub arena: bool,
}

impl std::str::FromStr for Layout {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (layout, arena) = match s.strip_suffix("-noarena") {
            Some(l) => (l, false),
            None => (s, true),
        };
        let (a, b) = layout.split_once('x').ok_or_else(|| {
            format!("layout {s:?}: expected SESSIONSxTHREADS[-noarena] (THREADS a count or S for the shared pool), e.g. 2x1")
        })?;
        let n = |v: &str| {
            v.parse::<usize>()
                .ok()
                .filter(|&n| (1..=16).contains(&n))
                .ok_or_else(|| format!("layout {s:?}: {v:?} is not a count from 1 to 16"))
        };
        Ok(Self {
            sessions: n(a)?,
            threads: if b == "S" { 0 } else { n(b)? },
            arena,
        })
    }
}

/// One measurement: audio seconds, wall seconds, highest RSS in MB.
#[derive(Debug, Clone, Copy)]
struct Sample {
    audio: f64,
    wall: f64,
    rss_mb: f64,
}

pub fn run(
    concurrency: &[usize],
    layouts: &[Layout],
    rounds: usize,
    peer: Option<&Path>,
    engine: &EngineArgs,
) -> anyhow::Result<()> {
    if concurrency.is_empty() || layouts.is_empty() {
        bail!("--concurrency and --layouts need at least one value each");
    }
    let mut synths = Vec::new();
    for l in layouts {
        let mut args = engine.clone();
        args.sessions = l.sessions;
        args.intra_threads = l.threads;
        args.cpu_arena = l.arena;
        synths.push(runtime::build_synthesizer(&args)?);
    }
    let mut peer = peer.map(|python| Peer::start(python, engine)).transpose()?;
    let names: Vec<String> = layouts
        .iter()
        .map(|l| {
            let arena = if l.arena { "" } else { ", no arena" };
            let threads = match l.threads {
                0 => "shared pool".to_owned(),
                t => t.to_string(),
            };
            format!("polyvox {}×{threads}{arena}", l.sessions)
        })
        .chain(peer.as_ref().map(|_| "kokoro-onnx (peer)".to_owned()))
        .collect();
    // results[c][k]: samples of configuration k at concurrency index c.
    let mut results = vec![vec![Vec::<Sample>::new(); names.len()]; concurrency.len()];
    for round in 0..rounds.max(1) {
        for (ci, &c) in concurrency.iter().enumerate() {
            for j in 0..names.len() {
                let k = (j + round) % names.len();
                let sample = match synths.get(k) {
                    Some(synth) => ours(synth, c)?,
                    None => peer.as_mut().context("no peer")?.run(c)?,
                };
                eprintln!(
                    "round {round} c={c} {}: {:.2}× real time ({:.1} s of audio in {:.1} s), {:.0} MB",
                    names[k],
                    sample.audio / sample.wall,
                    sample.audio,
                    sample.wall,
                    sample.rss_mb
                );
                results[ci][k].push(sample);
            }
        }
    }
    let has_peer = peer.is_some();
    println!(
        "| concurrency | configuration | median × real time | ratio to peer (same texts, by wall time) | max RSS | runs |"
    );
    println!("|---|---|---|---|---|---|");
    for (ci, &c) in concurrency.iter().enumerate() {
        let speed = |k: usize| {
            median(
                &mut results[ci][k]
                    .iter()
                    .map(|s| s.audio / s.wall)
                    .collect::<Vec<_>>(),
            )
        };
        // The ratio compares wall time on the same sentences, not × real time: each side's audio
        // has its own length (ours has the model's edge silence trimmed, ~0.7 s per sentence),
        // and a shorter file for the same work must not read as a slower engine.
        let rate = |k: usize| {
            median(
                &mut results[ci][k]
                    .iter()
                    .map(|s| 1.0 / s.wall)
                    .collect::<Vec<_>>(),
            )
        };
        let base = has_peer.then(|| rate(names.len() - 1));
        for (k, name) in names.iter().enumerate() {
            let rss = results[ci][k].iter().map(|s| s.rss_mb).fold(0.0, f64::max);
            let ratio = base.map_or("–".to_owned(), |b| format!("{:.2}", rate(k) / b));
            println!(
                "| {c} | {name} | {:.2}× | {ratio} | {rss:.0} MB | {} |",
                speed(k),
                results[ci][k].len()
            );
        }
    }
    let audio = |k: usize| results[0][k].first().map_or(0.0, |s| s.audio);
    let peer_audio = if has_peer {
        format!("; the peer's files: {:.1} s", audio(names.len() - 1))
    } else {
        String::new()
    };
    println!(
        "\n{} sentences per run, one request each ({:.1} s of audio{peer_audio}; voice af_heart, whole PCM).",
        SENTENCES.len(),
        audio(0)
    );
    Ok(())
}

/// Our side of one run: `concurrency` client threads, each planning and rendering whole requests.
fn ours(synth: &Arc<Synthesizer>, concurrency: usize) -> anyhow::Result<Sample> {
    let next = AtomicUsize::new(0);
    let sampler = RssSampler::start();
    let started = Instant::now();
    let audio = std::thread::scope(|s| {
        let workers: Vec<_> = (0..concurrency.max(1))
            .map(|_| {
                s.spawn(|| -> anyhow::Result<f64> {
                    let mut audio = 0.0;
                    while let Some(text) = SENTENCES.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let req = RawSynthesisRequest {
                            text: (*text).to_owned(),
                            voice: Some("af_heart".into()),
                            format: Some("pcm".into()),
                            ..Default::default()
                        }
                        .validate(&Limits::default(), FieldNames::CLI)?;
                        let chunks = synth.plan(&req, false).map_err(polyvox_core::Error::from)?;
                        let rendered = synth
                            .render_blocking(&req, &chunks, &mut |_, _| {})
                            .map_err(polyvox_core::Error::from)?;
                        audio += rendered.duration_secs();
                    }
                    Ok(audio)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("bench client thread panicked"))
            .sum::<anyhow::Result<f64>>()
    })?;
    let wall = started.elapsed().as_secs_f64();
    Ok(Sample {
        audio,
        wall,
        rss_mb: sampler.stop(),
    })
}

/// The peer child: kokoro-onnx behind a JSON-lines protocol (see `peer_kokoro.py`).
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    script: std::path::PathBuf,
}

impl Peer {
    fn start(python: &Path, engine: &EngineArgs) -> anyhow::Result<Self> {
        let assets = runtime::ensure_assets(engine)?;
        let script = std::env::temp_dir().join(format!("polyvox-peer-{}.py", std::process::id()));
        std::fs::write(&script, include_str!("peer_kokoro.py"))?;
        let mut child = Command::new(python)
            .arg(&script)
            .arg(assets.model_path())
            .arg(assets.voices_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "starting the peer with {} (install it with scripts/peer.sh)",
                    python.display()
                )
            })?;
        let stdin = child.stdin.take().context("peer stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("peer stdout")?);
        let mut peer = Self {
            child,
            stdin,
            stdout,
            script,
        };
        let ready = peer.answer()?;
        eprintln!("peer ready: {ready}");
        Ok(peer)
    }

    fn answer(&mut self) -> anyhow::Result<serde_json::Value> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("the peer exited (see its error above)");
        }
        serde_json::from_str(&line).with_context(|| format!("peer said {line:?}"))
    }

    fn run(&mut self, concurrency: usize) -> anyhow::Result<Sample> {
        let req = serde_json::json!({"concurrency": concurrency, "sentences": SENTENCES, "voice": "af_heart"});
        writeln!(self.stdin, "{req}")?;
        self.stdin.flush()?;
        let v = self.answer()?;
        let f = |k: &str| {
            v[k].as_f64()
                .with_context(|| format!("peer answer lacks {k}: {v}"))
        };
        Ok(Sample {
            audio: f("audio_s")?,
            wall: f("wall_s")?,
            rss_mb: f("rss_mb")?,
        })
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Reap the child so no peer outlives the bench, holding a model's worth of memory.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.script);
    }
}

/// Resident set size of this process in MB, from /proc (Linux).
pub fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Keeps the highest RSS seen every 100 ms until stopped.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<f64>,
}

impl RssSampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut max = rss_mb();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                max = max.max(rss_mb());
            }
            max
        });
        Self { stop, handle }
    }

    fn stop(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0.0).max(rss_mb())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_parse_and_bad_ones_name_the_problem() {
        let l: Layout = "2x1".parse().unwrap();
        assert_eq!((l.sessions, l.threads, l.arena), (2, 1, true));
        let l: Layout = "2xS".parse().unwrap();
        assert_eq!((l.sessions, l.threads, l.arena), (2, 0, true));
        let l: Layout = "1x2-noarena".parse().unwrap();
        assert_eq!((l.sessions, l.threads, l.arena), (1, 2, false));
        let err = "3".parse::<Layout>().unwrap_err();
        assert!(err.contains("SESSIONSxTHREADS"), "{err}");
        let err = "0x1".parse::<Layout>().unwrap_err();
        assert!(err.contains("\"0\" is not a count from 1 to 16"), "{err}");
        let err = "2x99".parse::<Layout>().unwrap_err();
        assert!(err.contains("\"99\""), "{err}");
        assert!("2x1-arena".parse::<Layout>().is_err());
    }

    #[test]
    fn rss_is_read_from_proc() {
        // Any live process has a resident set; zero would mean the parse silently failed.
        assert!(rss_mb() > 1.0, "{}", rss_mb());
    }
}
