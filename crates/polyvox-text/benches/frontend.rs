//! The text front end's cost on a ~5,000-character English text: normalization alone, then
//! normalization + G2P (lexicon only, no espeak-ng process), then the whole path to chunks at the
//! default and the streaming budgets. Needs the lexicons (`polyvox models fetch`). Kept quick.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use polyvox_core::Lang;
use polyvox_text::{ChunkOptions, EspeakMode, Frontend, Resources};

const PARAGRAPH: &str = "Dr. Smith arrived at 3:30 pm on March 5, 2024, carrying $5.50 in coins. \
\"Is this the right place?\" she asked; nobody answered. The committee, which had met every week since 1999, \
was reviewing 1,234 proposals — most of them late. Visit https://example.com/docs or write to info@example.org! \
In the U.S., prices rose 3.5% last year; in the U.K., they rose less… Still, people kept buying: bread, milk, eggs, etc. ";

fn assets() -> PathBuf {
    std::env::var_os("POLYVOX_ASSETS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/polyvox")))
        .expect("POLYVOX_ASSETS_DIR or HOME")
}

fn bench(c: &mut Criterion) {
    let res = Resources {
        espeak: EspeakMode::Off,
        ..Resources::from_assets_dir(assets())
    };
    let fe = Frontend::load(&res).expect("front end (run `polyvox models fetch`)");
    let text = PARAGRAPH.repeat(5_000 / PARAGRAPH.len() + 1);
    let mut group = c.benchmark_group("text_5k_chars");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("normalize", |b| {
        b.iter(|| polyvox_text::normalize::normalize(&text, Lang::EnUs))
    });
    group.bench_function("normalize+g2p", |b| {
        b.iter(|| fe.phonemize(&text, Lang::EnUs).expect("phonemize"))
    });
    for (name, opts) in [
        ("chunks_default", ChunkOptions::default()),
        ("chunks_streaming", ChunkOptions::streaming()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| fe.chunks(&text, Lang::EnUs, &opts).expect("chunks"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
