//! Encoding cost of 10 s of speech-like audio in each format, whole-file and streamed in 1 s pushes
//! (the way the server feeds model chunks). Kept quick: few samples, short measurement.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use polyvox_audio::{EncodeOptions, encode, stream_encoder};
use polyvox_core::{AudioFormat, SAMPLE_RATE};

/// 10 s of a vibrato tone with harmonics and a syllable-rate envelope: closer to speech than a
/// pure sine for the predictors and psychoacoustic models.
fn speechlike(secs: usize) -> Vec<f32> {
    let rate = SAMPLE_RATE as f32;
    (0..secs * SAMPLE_RATE as usize)
        .map(|i| {
            let t = i as f32 / rate;
            let f0 = 140.0 + 20.0 * (t * 5.0).sin();
            let phase = std::f32::consts::TAU * f0 * t;
            let envelope = 0.5 + 0.5 * (std::f32::consts::TAU * 4.0 * t).sin().abs();
            0.3 * envelope * (phase.sin() + 0.5 * (2.0 * phase).sin() + 0.25 * (3.0 * phase).sin())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let pcm = speechlike(10);
    let opts = EncodeOptions::default();
    let mut group = c.benchmark_group("encode_10s");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(pcm.len() as u64));
    for format in AudioFormat::ALL {
        group.bench_with_input(
            BenchmarkId::new("whole", format.as_str()),
            &pcm,
            |b, pcm| {
                b.iter(|| encode(format, pcm, &opts).expect("encode"));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("stream_1s_pushes", format.as_str()),
            &pcm,
            |b, pcm| {
                b.iter(|| {
                    let mut enc = stream_encoder(format, &opts).expect("encoder");
                    let mut bytes = 0;
                    for chunk in pcm.chunks(SAMPLE_RATE as usize) {
                        bytes += enc.push(chunk).expect("push").len();
                    }
                    bytes + enc.finish().expect("finish").len()
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
