//! The real Kokoro model on ONNX Runtime, from the asset directory (`$POLYVOX_ASSETS_DIR` or
//! `~/.cache/polyvox`). These tests fail, rather than skip, when the assets are absent: the
//! message says to run `polyvox models fetch`.

mod common;

use common::{assets, heart_style, ids_for};
use polyvox_core::SAMPLE_RATE;
use polyvox_engine::{AssetDir, Backend, Engine, EngineConfig, EngineError, OrtBackend, OrtConfig};

fn stats(audio: &[f32]) -> (f32, f32, f32) {
    let secs = audio.len() as f32 / SAMPLE_RATE as f32;
    let peak = audio.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let rms = (audio.iter().map(|s| s * s).sum::<f32>() / audio.len().max(1) as f32).sqrt();
    (secs, peak, rms)
}

#[test]
fn kokoro_says_hello_world_and_respects_the_id_limit() {
    let assets = assets();
    let cfg = OrtConfig {
        optimized_cache: None,
        ..OrtConfig::from_assets(&assets, 1)
    };
    let mut backend = OrtBackend::load(&cfg).unwrap();
    assert_eq!(backend.name(), "onnxruntime");

    let ids = ids_for(&assets, "hˈɛlO wˈɜɹld");
    assert_eq!(ids.len(), 12);
    let audio = backend
        .infer(&ids, &heart_style(&assets, ids.len()), 1.0)
        .unwrap();
    assert!(audio.iter().all(|s| s.is_finite()));
    let (secs, peak, rms) = stats(&audio);
    assert!(
        (0.3..=3.0).contains(&secs),
        "{secs} s of audio for two words"
    );
    assert!(peak <= 1.0, "peak {peak}");
    assert!(rms > 0.01, "rms {rms}: silence");

    // Slower speech is longer: the speed input reaches the duration predictor.
    let slow = backend
        .infer(&ids, &heart_style(&assets, ids.len()), 0.5)
        .unwrap();
    assert!(
        slow.len() as f32 > audio.len() as f32 * 1.5,
        "{} vs {}",
        slow.len(),
        audio.len()
    );

    let long: Vec<i64> = ids.iter().copied().cycle().take(510).collect();
    let audio = backend
        .infer(&long, &heart_style(&assets, 510), 1.0)
        .unwrap();
    let (secs, peak, _) = stats(&audio);
    assert!(
        secs > 10.0 && peak <= 1.0 && audio.iter().all(|s| s.is_finite()),
        "{secs} s, peak {peak}"
    );

    let too_long: Vec<i64> = ids.iter().copied().cycle().take(511).collect();
    let err = backend
        .infer(&too_long, &heart_style(&assets, 510), 1.0)
        .unwrap_err();
    assert!(matches!(err, EngineError::InvalidInput(_)), "{err:?}");
}

#[test]
fn the_optimized_graph_cache_is_written_once_and_reused() {
    let assets = assets();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_dir.path().join("kokoro.optimized.onnx");
    let cfg = OrtConfig {
        optimized_cache: Some(cache.clone()),
        ..OrtConfig::from_assets(&assets, 1)
    };
    let ids = ids_for(&assets, "ðɪs ɪz ə tˈɛst.");
    let style = heart_style(&assets, ids.len());

    let mut first = OrtBackend::load(&cfg).unwrap();
    assert!(!first.from_cache());
    assert!(cache.is_file(), "the optimized graph was saved");
    let leftovers = std::fs::read_dir(cache_dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "no temp file left beside the cache");

    let mut second = OrtBackend::load(&cfg).unwrap();
    assert!(second.from_cache());
    let a = first.infer(&ids, &style, 1.0).unwrap();
    let b = second.infer(&ids, &style, 1.0).unwrap();
    assert_eq!(a.len(), b.len());
    let max_diff = a
        .iter()
        .zip(&b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        max_diff < 1e-3,
        "cached graph computes the same audio (max diff {max_diff})"
    );

    // The cached graph keeps the duration output the patched graph was built with.
    let timed = second.infer_timed(&ids, &style, 1.0).unwrap();
    assert!(
        timed.durations.is_some(),
        "the cached graph lost the durations"
    );

    // A damaged cache costs a rebuild, not a failure.
    std::fs::write(&cache, b"not an onnx graph").unwrap();
    let mut third = OrtBackend::load(&cfg).unwrap();
    assert!(!third.from_cache());
    assert!(third.infer(&ids, &style, 1.0).is_ok());
}

/// The durations the graph returns account for its audio: one per token (pads included), whole
/// 600-sample frames summing to the length of the audio, every phoneme at least one frame, and
/// scaled by speed as the audio is.
#[test]
fn the_model_returns_each_tokens_duration_and_they_add_up_to_the_audio() {
    let assets = assets();
    let cfg = OrtConfig {
        optimized_cache: None,
        ..OrtConfig::from_assets(&assets, 1)
    };
    let mut backend = OrtBackend::load(&cfg).unwrap();
    let ids = ids_for(&assets, "ðɪs ɪz ə tˈɛst ʌv tˈImɪŋ.");
    let style = heart_style(&assets, ids.len());
    for speed in [1.0, 0.5, 2.0] {
        let v = backend.infer_timed(&ids, &style, speed).unwrap();
        let d = v.durations.expect("the patched graph returns durations");
        assert_eq!(d.len(), ids.len() + 2, "one duration per token and pad");
        assert!(
            d.iter()
                .all(|&s| (s as usize).is_multiple_of(polyvox_engine::FRAME_SAMPLES))
        );
        assert!(d[1..d.len() - 1].iter().all(|&s| s > 0), "{d:?}");
        let total: usize = d.iter().map(|&s| s as usize).sum();
        assert_eq!(total, v.pcm.len(), "speed {speed}: frames {d:?}");
    }
}

/// An engine of one real session (no graph cache, a short warm-up).
fn real_engine(assets: &AssetDir) -> Engine {
    let cfg = OrtConfig {
        optimized_cache: None,
        ..OrtConfig::from_assets(assets, 1)
    };
    Engine::start(
        &EngineConfig {
            sessions: 1,
            queue_capacity: 4,
            warmup_ids: 16,
        },
        move |_| Ok(Box::new(OrtBackend::load(&cfg)?) as Box<dyn Backend>),
    )
    .unwrap()
}

#[test]
fn the_engine_serves_the_real_model() {
    let assets = assets();
    let engine = real_engine(&assets);
    let ids = ids_for(&assets, "hˈɛlO");
    let audio = engine
        .infer_blocking(ids.clone(), heart_style(&assets, ids.len()), 1.0)
        .unwrap()
        .pcm;
    let (secs, _, rms) = stats(&audio);
    assert!(
        (0.2..=2.0).contains(&secs) && rms > 0.01,
        "{secs} s, rms {rms}"
    );
}

/// ONNX Runtime's terminate flag really stops a long batch call: the interactive call submitted
/// while it runs comes back first, and the batch call, run again, is not cut short.
#[test]
fn an_interactive_call_stops_a_running_batch_call_of_the_real_model() {
    let assets = assets();
    let engine = real_engine(&assets);
    let phrase = ids_for(&assets, "hˈɛlO wˈɜɹld, ");
    let long: Vec<i64> = phrase.iter().copied().cycle().take(500).collect();
    let style = heart_style(&assets, long.len());
    let alone = engine
        .infer_blocking(long.clone(), style.clone(), 1.0)
        .unwrap()
        .pcm;

    let mut batch = engine
        .submit_with(long, style, 1.0, polyvox_engine::Priority::Background)
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while engine.busy() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the batch call never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let short = ids_for(&assets, "hˈɛlO");
    let urgent = engine
        .submit(short.clone(), heart_style(&assets, short.len()), 1.0)
        .unwrap();
    let hello = urgent.blocking_recv().unwrap().unwrap().pcm;
    assert!(!hello.is_empty());
    assert!(
        batch.try_recv().is_err(),
        "the batch call finished before the interactive one: it was not stopped"
    );
    let again = batch.blocking_recv().unwrap().unwrap().pcm;
    assert_eq!(
        again.len(),
        alone.len(),
        "the batch call, run again, gives the whole audio"
    );
}
