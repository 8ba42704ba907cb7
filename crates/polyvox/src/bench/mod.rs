//! `polyvox bench`: the project's own measurements, printed as Markdown for BENCHMARKS.md.
//!
//! Runs alternate between the configurations being compared inside one invocation, so a noisy
//! neighbour slows all of them alike and the ratios stay meaningful; we report medians.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use polyvox_core::request::FieldNames;
use polyvox_core::{Limits, RawSynthesisRequest};

use crate::cli::{BenchAction, EngineArgs};
use crate::runtime;

pub mod throughput;

/// Fixed sentences (about 430 characters together) for real-time-factor runs.
pub const RTF_SENTENCES: &[&str] = &[
    "The quick brown fox jumps over the lazy dog.",
    "Polyvox turns text into natural speech on your own hardware, with no per-character bill.",
    "On March 3rd, 2024, the museum welcomed 1,250 visitors and sold tickets for $12.50 each.",
    "She opened the window, listened to the rain for a while, and then went back to her book.",
    "Every request is validated, queued, synthesized in chunks and encoded as it is produced.",
];

/// The 300-character paragraph used for time-to-first-audio.
pub const TTFB_PARAGRAPH: &str = "Polyvox reads text aloud on your own hardware. It streams audio while it is still being \
generated, so listeners hear the first words almost at once. Long documents are split into sentences and clauses, \
and every piece is joined without clicks or gaps, then encoded as it arrives. Try it with a page of your own.";

pub fn run(action: BenchAction) -> anyhow::Result<()> {
    match action {
        BenchAction::Rtf {
            threads,
            runs,
            engine,
        } => rtf(&threads, runs, &engine),
        BenchAction::Ttfb {
            url,
            runs,
            format,
            batch_chars,
        } => ttfb(&url, runs, &format, batch_chars),
        BenchAction::Capacity(args) => crate::bench_capacity::run(&args),
        BenchAction::Throughput {
            concurrency,
            layouts,
            rounds,
            peer,
            engine,
        } => throughput::run(&concurrency, &layouts, rounds, peer.as_deref(), &engine),
    }
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn rtf(threads: &[usize], runs: usize, engine: &EngineArgs) -> anyhow::Result<()> {
    if threads.is_empty() {
        bail!("--threads needs at least one value");
    }
    let mut synths = Vec::new();
    for &t in threads {
        let mut args = engine.clone();
        args.intra_threads = t;
        args.sessions = 1;
        synths.push(runtime::build_synthesizer(&args)?);
    }
    let text = RTF_SENTENCES.join(" ");
    let req = RawSynthesisRequest {
        text,
        voice: Some("af_heart".into()),
        format: Some("pcm".into()),
        ..Default::default()
    }
    .validate(&Limits::default(), FieldNames::CLI)?;
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); threads.len()];
    let mut audio_secs = 0.0;
    for run in 0..runs.max(1) {
        // Rotate the order each round so no configuration always runs first.
        for k in 0..threads.len() {
            let i = (k + run) % threads.len();
            let synth = &synths[i];
            let chunks = synth.plan(&req, false).map_err(polyvox_core::Error::from)?;
            let started = Instant::now();
            let rendered = synth
                .render_blocking(&req, &chunks, &mut |_, _| {})
                .map_err(polyvox_core::Error::from)?;
            let wall = started.elapsed().as_secs_f64();
            audio_secs = rendered.duration_secs();
            results[i].push(audio_secs / wall);
        }
    }
    println!("| intra-op threads | median real-time factor | runs | ratio to first |");
    println!("|---|---|---|---|");
    let base = median(&mut results[0].clone());
    for (i, t) in threads.iter().enumerate() {
        let m = median(&mut results[i]);
        println!("| {t} | {m:.2}× | {} | {:.2} |", results[i].len(), m / base);
    }
    println!(
        "\n{} characters → {audio_secs:.1} s of audio per run (voice af_heart).",
        req.text.chars().count()
    );
    Ok(())
}

/// Time from sending the request to the first byte of audio in the body (not the headers).
/// Several servers (say, two configurations) are measured alternately, request by request; with
/// `batch_chars`, each server also alternates between idle and busy with a batch job.
fn ttfb(urls: &[String], runs: usize, format: &str, batch_chars: usize) -> anyhow::Result<()> {
    if urls.is_empty() {
        bail!("--url needs at least one server");
    }
    let body = serde_json::json!({"model": "kokoro", "input": TTFB_PARAGRAPH, "voice": "af_heart", "response_format": format})
        .to_string();
    let states: &[bool] = if batch_chars > 0 {
        &[false, true]
    } else {
        &[false]
    };
    let rows = urls.len() * states.len();
    let mut first = vec![Vec::new(); rows];
    let mut total = vec![Vec::new(); rows];
    for run in 0..runs.max(1) {
        for k in 0..rows {
            let row = (k + run) % rows;
            let (i, busy) = (row / states.len(), states[row % states.len()]);
            let addr = urls[i].trim_start_matches("http://").trim_end_matches('/');
            let batch = if busy {
                Some(start_batch_job(addr, batch_chars, run)?)
            } else {
                None
            };
            let measured = one_ttfb(addr, &body);
            if let Some(id) = batch {
                stop_batch_job(addr, &id)?;
            }
            let (f, t) = measured?;
            first[row].push(f);
            total[row].push(t);
        }
    }
    println!(
        "{} characters, {format}, {} runs per row, alternating.\n",
        TTFB_PARAGRAPH.chars().count(),
        runs.max(1)
    );
    println!(
        "| server | state | first audio byte p50 | p90 | ratio to first row | last byte p50 |"
    );
    println!("|---|---|---|---|---|---|");
    let base = median(&mut first[0].clone());
    for row in 0..rows {
        let (i, busy) = (row / states.len(), states[row % states.len()]);
        let p50 = median(&mut first[row].clone());
        first[row].sort_by(f64::total_cmp);
        let n = first[row].len();
        let p90 = first[row][((n as f64 * 0.9).ceil() as usize)
            .saturating_sub(1)
            .min(n - 1)];
        let state = if busy {
            format!("batch job of {batch_chars} characters running")
        } else {
            "idle".to_string()
        };
        println!(
            "| {} | {state} | {:.0} ms | {:.0} ms | {:.2} | {:.0} ms |",
            urls[i],
            p50 * 1e3,
            p90 * 1e3,
            p50 / base,
            median(&mut total[row]) * 1e3
        );
    }
    Ok(())
}

/// Submits a batch job of about `chars` characters (different per run, so no cache or sharing
/// helps) and returns its id once a worker runs it.
fn start_batch_job(addr: &str, chars: usize, run: usize) -> anyhow::Result<String> {
    // Every sentence differs, so the sentence cache cannot spare the model any of them.
    let mut text = String::new();
    for n in 0.. {
        if text.len() >= chars {
            break;
        }
        text.push_str(&format!(
            "Batch sentence number {n} of run {run} is read slowly and with care. "
        ));
    }
    let body = serde_json::json!({"input": text, "response_format": "wav"}).to_string();
    let (status, answer) = http(addr, "POST", "/v1/jobs", Some(&body))?;
    if status != 202 {
        bail!("batch job submit answered {status}: {answer}");
    }
    let id = serde_json::from_str::<serde_json::Value>(&answer)?["id"]
        .as_str()
        .context("no job id")?
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, job) = http(addr, "GET", &format!("/v1/jobs/{id}"), None)?;
        let job: serde_json::Value = serde_json::from_str(&job)?;
        // Running and past its first chunk: the model is busy with it.
        if job["status"] == "running" && job["chunks_done"].as_u64().unwrap_or(0) >= 1 {
            return Ok(id);
        }
        if Instant::now() > deadline || job["status"] != "queued" && job["status"] != "running" {
            bail!("batch job never got busy: {job}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Cancels the batch job and waits until its worker has let go of it.
fn stop_batch_job(addr: &str, id: &str) -> anyhow::Result<()> {
    http(addr, "DELETE", &format!("/v1/jobs/{id}"), None)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let (_, job) = http(addr, "GET", &format!("/v1/jobs/{id}"), None)?;
        let job: serde_json::Value = serde_json::from_str(&job)?;
        if job["status"] != "running" && job["status"] != "queued" {
            // The worker learns of the cancel at its next heartbeat; give it one.
            std::thread::sleep(Duration::from_secs(2));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("batch job {id} did not stop")
}

/// One plain HTTP/1.1 exchange: status and body (bodies here are small JSON).
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").context("no HTTP head")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status")?;
    // Small JSON answers come either whole or as one chunk: strip a chunk frame if there is one.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        rest.split_once("\r\n")
            .map(|(_, b)| b.trim_end_matches("\r\n0\r\n\r\n").to_string())
            .unwrap_or_default()
    } else {
        rest.to_string()
    };
    Ok((status, body))
}

fn one_ttfb(addr: &str, body: &str) -> anyhow::Result<(f64, f64)> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let started = Instant::now();
    write!(
        s,
        "POST /v1/audio/speech HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    let mut first_audio = None;
    loop {
        let n = s.read(&mut tmp)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
        if first_audio.is_none()
            && let Some(h) = find(&buf, b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") {
                bail!("server answered: {head}");
            }
            // Every run sends the same paragraph: a cached answer would time the cache.
            if head.contains("\r\nx-polyvox-cache: hit") {
                bail!("{addr} answered from its result cache; start it with --cache off");
            }
            // Chunked body: a size line, then data. Any data byte after the headers counts.
            let rest = &buf[h + 4..];
            if find(rest, b"\r\n").is_some_and(|line| rest.len() > line + 2) {
                first_audio = Some(started.elapsed().as_secs_f64());
            }
        }
    }
    let total = started.elapsed().as_secs_f64();
    Ok((first_audio.context("no audio in the response body")?, total))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
