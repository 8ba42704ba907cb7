//! Arena shrinkage with the real model: after a long call, a session with `shrink_arena` gives
//! back what the call grew its arena by, and one without keeps it. Its own test binary, so no
//! other test's memory moves the process's resident size while this one reads it.

mod common;

use common::{assets, heart_style, ids_for};
use polyvox_engine::{AssetDir, Backend, OrtBackend, OrtConfig};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib / 1024.0
}

/// Resident MiB the process holds after one ~400-id call beyond what it held before it.
fn held_after_long_call(assets: &AssetDir, shrink_arena: bool) -> f64 {
    // The optimized-graph cache: both sessions load the graph optimized once, not twice.
    let cfg = OrtConfig {
        shrink_arena,
        ..OrtConfig::from_assets(assets, 1)
    };
    let mut backend = OrtBackend::load(&cfg).unwrap();
    let ids = ids_for(
        assets,
        &"ðə kwˈɪk bɹˈWn fˈɑks ʤˈʌmps ˈOvəɹ ðə lˈAzi dˈɔɡ. ".repeat(9),
    );
    assert!(ids.len() > 380 && ids.len() <= 510, "{} ids", ids.len());
    let style = heart_style(assets, ids.len());
    // A short call first, so the baseline already holds the session's own first allocations.
    backend.infer(&ids[..16], &style, 1.0).unwrap();
    let before = rss_mib();
    let audio = backend.infer(&ids, &style, 1.0).unwrap();
    assert!(audio.len() > 24_000 * 10, "{} samples", audio.len());
    rss_mib() - before
}

#[test]
fn a_shrinking_arena_gives_back_what_a_long_call_took() {
    let assets = assets();
    let kept = held_after_long_call(&assets, false);
    let shrunk = held_after_long_call(&assets, true);
    eprintln!(
        "resident after a long call: {kept:.0} MiB kept without shrinkage, {shrunk:.0} MiB with"
    );
    // The control shows the call really grew the arena: without shrinkage it is still held.
    assert!(
        kept > 100.0,
        "the long call left only {kept:.0} MiB behind without shrinkage"
    );
    assert!(
        shrunk < kept / 3.0,
        "with shrinkage {shrunk:.0} MiB stayed behind (without: {kept:.0} MiB)"
    );
}
