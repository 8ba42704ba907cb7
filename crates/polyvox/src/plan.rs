//! `polyvox plan`: how many workers and API instances a workload needs, and what they cost a month.
//!
//! Design: nothing about speed is a constant here. Synthesis speed per core and API requests per
//! core come from a capacity file measured on the target machine (`polyvox bench capacity`, which
//! takes the API figure from `scripts/load-test.sh`); prices come from a small table in
//! `deploy/capacity/instance-prices.csv` (compiled in, overridable). The model: requests arrive
//! `peak_factor` times faster in the busy hour than on average; cache hits cost no synthesis; each
//! worker session uses one core (1 intra-op thread was measured) and needs its measured memory; each
//! job costs the API one submit plus `polls_per_job` further requests (polls and the download); every
//! resource runs at `target_utilization` at peak. Other instance types are assumed to have the measured
//! machine's per-core speed: measure on each type you mean to buy.

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

/// The plan's own estimate this tool is compared with (the original scaling plan, per month).
pub const PLAN_ESTIMATE_USD: f64 = 1660.0;
/// The users that estimate was for: $1660 / 10,000 ≈ $0.17 per user-month.
pub const PLAN_USERS: f64 = 10_000.0;
/// Real time per vCPU the plan assumed ("~50 generations/min per 4 vCPU"); shown beside the measured
/// figure because the plan's dollars follow it directly.
pub const PLAN_REALTIME_PER_CORE: f64 = 2.1;
const HOURS_PER_MONTH: f64 = 730.0;
const DEFAULT_PRICES: &str = include_str!("../../../deploy/capacity/instance-prices.csv");

/// Invalid planner input or files; each message names the field and the limit.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("capacity file {path}: {message}")]
    Capacity { path: String, message: String },
    #[error("price table {source_name}, line {line}: {message}")]
    Prices {
        source_name: String,
        line: usize,
        message: String,
    },
}

/// Arguments of `polyvox plan`. Numbers are parsed as signed/float so that out-of-range values get
/// our message (naming the limit) rather than a parser error.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Active users.
    #[arg(long, allow_negative_numbers = true)]
    pub users: f64,
    /// Synthesis requests per user per day.
    #[arg(long, allow_negative_numbers = true)]
    pub requests_per_user_day: f64,
    /// Average characters per request.
    #[arg(long, allow_negative_numbers = true)]
    pub avg_chars: f64,
    /// Share of requests answered from the cache (0 to 1).
    #[arg(long, allow_negative_numbers = true)]
    pub cache_hit_rate: f64,
    /// Busy-hour request rate as a multiple of the daily average.
    #[arg(long, default_value_t = 3.0, allow_negative_numbers = true)]
    pub peak_factor: f64,
    /// Share of each resource's measured capacity used at peak (headroom for bursts), 0 to 1.
    #[arg(long, default_value_t = 0.7, allow_negative_numbers = true)]
    pub target_utilization: f64,
    /// API requests per job besides the submit (status polls and the audio download).
    #[arg(long, default_value_t = 3.0, allow_negative_numbers = true)]
    pub polls_per_job: f64,
    /// Fewest API instances (2 so one can fail).
    #[arg(long, default_value_t = 2)]
    pub min_api_instances: u32,
    /// Capacity file written by `polyvox bench capacity` on the target machine.
    #[arg(long, env = "POLYVOX_CAPACITY_FILE")]
    pub capacity: PathBuf,
    /// Instance price table (CSV: name,provider,vcpus,memory_gib,usd_per_hour); default: the built-in
    /// copy of deploy/capacity/instance-prices.csv.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Override or add one price: NAME=USD_PER_HOUR (repeatable).
    #[arg(long = "price")]
    pub price_overrides: Vec<String>,
}

/// What one core of the target machine sustains (written by `polyvox bench capacity`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Capacity {
    pub machine: String,
    pub cores: usize,
    pub measured_at_unix: u64,
    pub command: String,
    /// Input characters synthesized per second by one session with one intra-op thread (median).
    pub synth_chars_per_sec_per_core: f64,
    /// Seconds of audio per second of wall time, same runs.
    pub realtime_factor_per_core: f64,
    /// Peak resident memory of one worker process with one session, in MiB.
    pub worker_rss_mib: f64,
    /// API requests per second per core, from the cluster load test; absent until measured.
    pub api_requests_per_sec_per_core: Option<f64>,
    pub api_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceType {
    pub name: String,
    pub provider: String,
    pub vcpus: u32,
    pub memory_gib: f64,
    pub usd_per_hour: f64,
}

/// Validated workload.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub users: f64,
    pub requests_per_user_day: f64,
    pub avg_chars: f64,
    pub cache_hit_rate: f64,
    pub peak_factor: f64,
    pub target_utilization: f64,
    pub polls_per_job: f64,
    pub min_api_instances: u32,
}

fn check(field: &'static str, v: f64, ok: bool, limit: &str) -> Result<f64, PlanError> {
    if v.is_finite() && ok {
        Ok(v)
    } else {
        Err(PlanError::Invalid {
            field,
            message: format!("{v} is out of range: must be {limit}"),
        })
    }
}

impl Workload {
    pub fn from_args(a: &PlanArgs) -> Result<Self, PlanError> {
        Ok(Self {
            users: check("--users", a.users, a.users >= 1.0, "at least 1")?,
            requests_per_user_day: check(
                "--requests-per-user-day",
                a.requests_per_user_day,
                a.requests_per_user_day > 0.0,
                "greater than 0",
            )?,
            avg_chars: check(
                "--avg-chars",
                a.avg_chars,
                (1.0..=100_000.0).contains(&a.avg_chars),
                "between 1 and 100000 (the async input limit)",
            )?,
            cache_hit_rate: check(
                "--cache-hit-rate",
                a.cache_hit_rate,
                (0.0..=1.0).contains(&a.cache_hit_rate),
                "between 0 and 1",
            )?,
            peak_factor: check(
                "--peak-factor",
                a.peak_factor,
                (1.0..=24.0).contains(&a.peak_factor),
                "between 1 and 24",
            )?,
            target_utilization: check(
                "--target-utilization",
                a.target_utilization,
                a.target_utilization > 0.0 && a.target_utilization <= 1.0,
                "greater than 0 and at most 1",
            )?,
            polls_per_job: check(
                "--polls-per-job",
                a.polls_per_job,
                (0.0..=1000.0).contains(&a.polls_per_job),
                "between 0 and 1000",
            )?,
            min_api_instances: a.min_api_instances.max(1),
        })
    }

    /// Requests per second in the busy hour.
    pub fn peak_rps(&self) -> f64 {
        self.users * self.requests_per_user_day / 86_400.0 * self.peak_factor
    }

    /// Characters per second the workers must synthesize in the busy hour (cache misses only).
    pub fn peak_synth_chars_per_sec(&self) -> f64 {
        self.peak_rps() * (1.0 - self.cache_hit_rate) * self.avg_chars
    }

    /// HTTP requests per second the API instances must answer in the busy hour.
    pub fn peak_api_rps(&self) -> f64 {
        self.peak_rps() * (1.0 + self.polls_per_job)
    }
}

impl Capacity {
    pub fn parse(path: &str, text: &str) -> Result<Self, PlanError> {
        let bad = |message: String| PlanError::Capacity {
            path: path.to_string(),
            message,
        };
        let c: Capacity = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if !(c.synth_chars_per_sec_per_core.is_finite() && c.synth_chars_per_sec_per_core > 0.0) {
            return Err(bad("synth_chars_per_sec_per_core must be > 0".into()));
        }
        if !(c.worker_rss_mib.is_finite() && c.worker_rss_mib > 0.0) {
            return Err(bad("worker_rss_mib must be > 0".into()));
        }
        match c.api_requests_per_sec_per_core {
            Some(v) if v.is_finite() && v > 0.0 => Ok(c),
            Some(_) => Err(bad("api_requests_per_sec_per_core must be > 0".into())),
            None => Err(bad(
                "no API figure: run scripts/load-test.sh, then `polyvox bench capacity \
                 --api-rps-per-core <its api_rps_per_core>`"
                    .into(),
            )),
        }
    }
}

/// Parses the price CSV (`#` comments), then applies NAME=USD overrides.
pub fn parse_prices(
    source_name: &str,
    text: &str,
    overrides: &[String],
) -> Result<Vec<InstanceType>, PlanError> {
    let err = |line: usize, message: String| PlanError::Prices {
        source_name: source_name.to_string(),
        line,
        message,
    };
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 5 {
            return Err(err(i + 1, format!("expected 5 fields, found {}", f.len())));
        }
        let num = |s: &str, what: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| err(i + 1, format!("{what} `{s}` is not a number > 0")))
        };
        out.push(InstanceType {
            name: f[0].to_string(),
            provider: f[1].to_string(),
            vcpus: num(f[2], "vcpus")? as u32,
            memory_gib: num(f[3], "memory_gib")?,
            usd_per_hour: num(f[4], "usd_per_hour")?,
        });
    }
    for o in overrides {
        let (name, usd) = o.split_once('=').ok_or_else(|| PlanError::Invalid {
            field: "--price",
            message: format!("`{o}` must be NAME=USD_PER_HOUR"),
        })?;
        let usd = usd
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
            .ok_or_else(|| PlanError::Invalid {
                field: "--price",
                message: format!("`{usd}` in `{o}` must be a price > 0"),
            })?;
        match out.iter_mut().find(|t| t.name == name) {
            Some(t) => t.usd_per_hour = usd,
            None => {
                return Err(PlanError::Invalid {
                    field: "--price",
                    message: format!("unknown instance type `{name}` (not in {source_name})"),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(err(0, "no instance types".into()));
    }
    Ok(out)
}

/// The answer for one instance type.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizing {
    pub instance: String,
    pub sessions_per_instance: u32,
    pub worker_instances: u32,
    pub api_instances: u32,
    pub usd_per_month: f64,
    /// `usd_per_month` shared over the workload's users.
    pub usd_per_user_month: f64,
}

/// Cores of synthesis and of API work needed at peak.
pub fn cores_needed(w: &Workload, c: &Capacity) -> (f64, f64) {
    let api = c.api_requests_per_sec_per_core.unwrap_or(f64::NAN);
    (
        w.peak_synth_chars_per_sec() / (c.synth_chars_per_sec_per_core * w.target_utilization),
        w.peak_api_rps() / (api * w.target_utilization),
    )
}

pub fn size(w: &Workload, c: &Capacity, t: &InstanceType) -> Sizing {
    let (synth_cores, api_cores) = cores_needed(w, c);
    // One session per core, as far as memory allows (20% left to the OS and the encoder).
    let by_memory = (t.memory_gib * 1024.0 * 0.8 / c.worker_rss_mib).floor() as u32;
    let sessions = t.vcpus.min(by_memory).max(1);
    let worker_instances = (synth_cores / f64::from(sessions)).ceil().max(1.0) as u32;
    let api_instances = ((api_cores / f64::from(t.vcpus)).ceil() as u32).max(w.min_api_instances);
    let usd_per_month =
        f64::from(worker_instances + api_instances) * t.usd_per_hour * HOURS_PER_MONTH;
    Sizing {
        instance: t.name.clone(),
        sessions_per_instance: sessions,
        worker_instances,
        api_instances,
        usd_per_month,
        usd_per_user_month: usd_per_month / w.users,
    }
}

impl From<PlanError> for polyvox_core::Error {
    fn from(e: PlanError) -> Self {
        polyvox_core::Error::new(polyvox_core::ErrorCode::InvalidRequest, e.to_string())
    }
}

/// Reads the capacity file and prices, sizes every instance type, prints Markdown.
pub fn run(args: &PlanArgs) -> Result<(), PlanError> {
    let w = Workload::from_args(args)?;
    let cap_path = args.capacity.display().to_string();
    let cap_text = std::fs::read_to_string(&args.capacity).map_err(|e| PlanError::Capacity {
        path: cap_path.clone(),
        message: e.to_string(),
    })?;
    let cap = Capacity::parse(&cap_path, &cap_text)?;
    let (name, text) = match &args.prices {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|e| PlanError::Prices {
                source_name: p.display().to_string(),
                line: 0,
                message: e.to_string(),
            })?,
        ),
        None => (
            "built-in deploy/capacity/instance-prices.csv".to_string(),
            DEFAULT_PRICES.to_string(),
        ),
    };
    let types = parse_prices(&name, &text, &args.price_overrides)?;
    let (synth_cores, api_cores) = cores_needed(&w, &cap);
    println!("## Capacity plan\n");
    println!(
        "Workload: {} users × {} requests/day, {} characters each, cache hit rate {:.0}%, peak {}× the \
         daily average → **{:.2} requests/s** at peak, {:.0} characters/s to synthesize, {:.1} API requests/s.",
        w.users,
        w.requests_per_user_day,
        w.avg_chars,
        w.cache_hit_rate * 100.0,
        w.peak_factor,
        w.peak_rps(),
        w.peak_synth_chars_per_sec(),
        w.peak_api_rps()
    );
    println!(
        "Measured on `{}` ({} cores): {:.1} characters/s and {:.2}× real time per worker core, {:.0} MiB per \
         worker, {:.0} API requests/s per core ({}). At {:.0}% utilization that is **{:.1} worker cores** and \
         **{:.2} API cores**.\n",
        cap.machine,
        cap.cores,
        cap.synth_chars_per_sec_per_core,
        cap.realtime_factor_per_core,
        cap.worker_rss_mib,
        cap.api_requests_per_sec_per_core.unwrap_or(f64::NAN),
        cap.api_source.as_deref().unwrap_or("source not recorded"),
        w.target_utilization * 100.0,
        synth_cores,
        api_cores
    );
    let plan_per_user = PLAN_ESTIMATE_USD / PLAN_USERS;
    println!(
        "| instance | provider | vCPUs | worker sessions per instance | worker instances | API instances | USD/month | USD per user-month | vs plan's ${plan_per_user:.2} |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for t in &types {
        let s = size(&w, &cap, t);
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.0} | {:.3} | {:.2}× |",
            t.name,
            t.provider,
            t.vcpus,
            s.sessions_per_instance,
            s.worker_instances,
            s.api_instances,
            s.usd_per_month,
            s.usd_per_user_month,
            s.usd_per_user_month / plan_per_user
        );
    }
    println!(
        "\nThe plan's ${PLAN_ESTIMATE_USD:.0}/month for {PLAN_USERS:.0} users (${plan_per_user:.2} per user-month) \
         assumed {PLAN_REALTIME_PER_CORE:.1}× real time per vCPU; this machine measured {:.2}× ({:.2} of the \
         assumption), and worker cost scales with the inverse of that figure.",
        cap.realtime_factor_per_core,
        cap.realtime_factor_per_core / PLAN_REALTIME_PER_CORE
    );
    println!(
        "\nCompute only (no Redis, PostgreSQL, object storage or traffic); {HOURS_PER_MONTH} hours a month; \
         prices from {name}. Other instance types are assumed as fast per core as the measured machine."
    );
    Ok(())
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
