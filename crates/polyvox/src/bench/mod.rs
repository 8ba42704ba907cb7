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
        BenchAction::Ttfb { url, runs, format } => ttfb(&url, runs, &format),
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
/// Several servers (say, two configurations) are measured alternately, request by request.
fn ttfb(urls: &[String], runs: usize, format: &str) -> anyhow::Result<()> {
    if urls.is_empty() {
        bail!("--url needs at least one server");
    }
    let body = serde_json::json!({"model": "kokoro", "input": TTFB_PARAGRAPH, "voice": "af_heart", "response_format": format})
        .to_string();
    let mut first = vec![Vec::new(); urls.len()];
    let mut total = vec![Vec::new(); urls.len()];
    for run in 0..runs.max(1) {
        for k in 0..urls.len() {
            let i = (k + run) % urls.len();
            let addr = urls[i].trim_start_matches("http://").trim_end_matches('/');
            let (f, t) = one_ttfb(addr, &body)?;
            first[i].push(f);
            total[i].push(t);
        }
    }
    println!(
        "{} characters, {format}, {} runs per server, alternating.\n",
        TTFB_PARAGRAPH.chars().count(),
        runs.max(1)
    );
    println!("| server | first audio byte p50 | p90 | ratio to first server | last byte p50 |");
    println!("|---|---|---|---|---|");
    let base = median(&mut first[0].clone());
    for (i, url) in urls.iter().enumerate() {
        let p50 = median(&mut first[i].clone());
        first[i].sort_by(f64::total_cmp);
        let n = first[i].len();
        let p90 = first[i][((n as f64 * 0.9).ceil() as usize)
            .saturating_sub(1)
            .min(n - 1)];
        println!(
            "| {url} | {:.0} ms | {:.0} ms | {:.2} | {:.0} ms |",
            p50 * 1e3,
            p90 * 1e3,
            p50 / base,
            median(&mut total[i]) * 1e3
        );
    }
    Ok(())
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
