//! `polyvox bench capacity`: measures what one core of THIS machine does, for `polyvox plan`.
//!
//! Design: a worker session with one intra-op thread is one core's worth of synthesis, which is how
//! the cluster runs its workers. We synthesize fixed texts of about the planner's default request
//! size (~200 characters) in rounds and keep the median characters/s, since neighbours on a shared
//! box make single runs noisy. The API's requests/s per core is a property of the whole stack
//! (nginx, PostgreSQL, Redis, S3), so it is not measured here: `scripts/load-test.sh` measures it on
//! the cluster and prints the figure to pass as `--api-rps-per-core`.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Args;
use polyvox_core::request::FieldNames;
use polyvox_core::{Limits, RawSynthesisRequest};

use crate::bench::RTF_SENTENCES;
use crate::cli::EngineArgs;
use crate::plan::Capacity;
use crate::runtime;

#[derive(Debug, Clone, Args)]
pub struct CapacityArgs {
    /// Rounds; each round synthesizes every test text once.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// API requests per second per core, as printed by scripts/load-test.sh (`api_rps_per_core`).
    #[arg(long)]
    pub api_rps_per_core: Option<f64>,
    /// Where the API figure came from (kept in the file), e.g. "load-test.sh 2026-11-25, submit path".
    #[arg(long)]
    pub api_source: Option<String>,
    /// Capacity file to write (JSON).
    #[arg(long, short)]
    pub output: PathBuf,
    #[command(flatten)]
    pub engine: EngineArgs,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident set of this process (the worker-equivalent: model, front end, one session).
fn peak_rss_mib() -> anyhow::Result<f64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")?;
    Ok(kb / 1024.0)
}

fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

pub fn run(args: &CapacityArgs) -> anyhow::Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if let Some(v) = args.api_rps_per_core
        && !(v.is_finite() && v > 0.0)
    {
        bail!("--api-rps-per-core must be a number > 0, got {v}");
    }
    let mut engine = args.engine.clone();
    engine.sessions = 1;
    engine.intra_threads = 1;
    let synth = runtime::build_synthesizer(&engine)?;
    // Pairs of the RTF sentences: 170–180 characters, close to the plan's 200-character requests.
    let texts: Vec<String> = RTF_SENTENCES
        .chunks(2)
        .filter(|p| p.len() == 2)
        .map(|p| p.join(" "))
        .collect();
    let mut rates = Vec::new();
    let mut rtfs = Vec::new();
    for round in 0..args.runs {
        let (mut chars, mut wall, mut audio) = (0usize, 0.0f64, 0.0f64);
        for text in &texts {
            let req = RawSynthesisRequest {
                text: text.clone(),
                voice: Some("af_heart".into()),
                format: Some("mp3".into()),
                ..Default::default()
            }
            .validate(&Limits::default(), FieldNames::CLI)?;
            let started = Instant::now();
            let chunks = synth.plan(&req, false).map_err(polyvox_core::Error::from)?;
            let rendered = synth
                .render_blocking(&req, &chunks, &mut |_, _| {})
                .map_err(polyvox_core::Error::from)?;
            wall += started.elapsed().as_secs_f64();
            chars += text.chars().count();
            audio += rendered.duration_secs();
        }
        eprintln!(
            "round {}: {chars} characters in {wall:.2} s ({:.1} chars/s, {:.2}× real time)",
            round + 1,
            chars as f64 / wall,
            audio / wall
        );
        rates.push(chars as f64 / wall);
        rtfs.push(audio / wall);
    }
    let cap = Capacity {
        machine: machine(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        measured_at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        synth_chars_per_sec_per_core: median(rates),
        realtime_factor_per_core: median(rtfs),
        worker_rss_mib: peak_rss_mib()?,
        api_requests_per_sec_per_core: args.api_rps_per_core,
        api_source: args.api_source.clone(),
    };
    let json = serde_json::to_string_pretty(&cap)?;
    std::fs::write(&args.output, format!("{json}\n"))
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!("{json}");
    Ok(())
}
