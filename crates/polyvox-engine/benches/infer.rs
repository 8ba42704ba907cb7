//! One real Kokoro inference of a ~100-id sentence at 1 and 2 intra-op threads, and session
//! creation with and without the optimized-graph cache. Skips (with a message) when the model
//! assets are not installed.

use std::collections::HashMap;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use polyvox_core::VoiceSpec;
use polyvox_engine::{AssetDir, Backend, OrtBackend, OrtConfig, VoiceBank};

/// "The quick brown fox jumps over the lazy dog, and then it runs back home before it gets dark."
const SENTENCE: &str = "ðə kwˈɪk bɹˈWn fˈɑks ʤˈʌmps ˌOvəɹ ðə lˈAzi dˈɔɡ, ænd ðˈɛn ɪt ɹˈʌnz bˈæk hˈOm bəfˈɔɹ ɪt ɡˈɛts dˈɑɹk.";

fn ids(assets: &AssetDir) -> Option<Vec<i64>> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(assets.vocab_path()).ok()?).ok()?;
    let vocab: HashMap<String, i64> = serde_json::from_value(json["vocab"].clone()).ok()?;
    SENTENCE
        .chars()
        .map(|c| vocab.get(&c.to_string()).copied())
        .collect()
}

fn bench(c: &mut Criterion) {
    let assets = AssetDir::from_env_or_default();
    if let Err(e) = assets.ensure_present() {
        eprintln!("skipping the inference bench: {e}");
        return;
    }
    let Some(ids) = ids(&assets) else {
        eprintln!("skipping the inference bench: the sentence does not map onto vocab.json");
        return;
    };
    let style = match VoiceBank::new(assets.voices_dir()).style(
        &VoiceSpec {
            parts: vec![("af_heart", 1.0)],
        },
        ids.len(),
    ) {
        Ok(s) => s,
        Err(e) => return eprintln!("skipping the inference bench: {e}"),
    };

    let mut group = c.benchmark_group(format!("infer_{}_ids", ids.len()));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(40));
    for threads in [1, 2] {
        let cfg = OrtConfig::from_assets(&assets, threads);
        let mut backend = match OrtBackend::load(&cfg) {
            Ok(b) => b,
            Err(e) => return eprintln!("skipping the inference bench: {e}"),
        };
        group.bench_with_input(
            BenchmarkId::new("intra_threads", threads),
            &threads,
            |b, _| {
                b.iter(|| {
                    backend
                        .infer(&ids, &style, 1.0)
                        .map(|a| a.len())
                        .unwrap_or(0)
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("session_create");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15));
    let uncached = OrtConfig {
        optimized_cache: None,
        ..OrtConfig::from_assets(&assets, 1)
    };
    group.bench_function("optimize_at_load", |b| {
        b.iter(|| OrtBackend::load(&uncached).is_ok())
    });
    let cached = OrtConfig::from_assets(&assets, 1);
    group.bench_function("from_optimized_cache", |b| {
        b.iter(|| {
            OrtBackend::load(&cached)
                .map(|s| s.from_cache())
                .unwrap_or(false)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
