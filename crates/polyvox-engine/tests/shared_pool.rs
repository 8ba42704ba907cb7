//! Sessions on the process's shared intra-op pool (`intra_threads: 0`, the default layout): they
//! add no threads of their own, run side by side, and say what a session with its own pool says.
//! Its own test binary, because it counts the process's threads: other tests loading sessions in
//! parallel would move the count.

mod common;

use common::{assets, heart_style, ids_for};
use polyvox_engine::{Backend, FRAME_SAMPLES, OrtBackend, OrtConfig};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn sessions_on_the_shared_pool_add_no_threads_and_speak_like_their_own_pool() {
    let assets = assets();
    let cfg = |intra_threads| OrtConfig {
        optimized_cache: None,
        ..OrtConfig::from_assets(&assets, intra_threads)
    };
    // The first load creates the environment and its pool.
    let mut a = OrtBackend::load(&cfg(0)).unwrap();
    let before = threads();
    let mut b = OrtBackend::load(&cfg(0)).unwrap();
    assert_eq!(
        threads(),
        before,
        "a session on the shared pool started threads"
    );
    // The count does see a pool: a session with its own pool of 3 adds its 2 workers.
    let mut own = OrtBackend::load(&cfg(3)).unwrap();
    assert!(threads() > before, "{} threads, {before} before", threads());

    let ids = ids_for(&assets, "ðə ʃˈɛɹd pˈul sˈɜɹvz bˈOθ sˈɛʃənz.");
    let style = heart_style(&assets, ids.len());
    let reference = own.infer(&ids, &style, 1.0).unwrap();
    let (left, right) = std::thread::scope(|s| {
        let l = s.spawn(|| a.infer(&ids, &style, 1.0).unwrap());
        let r = s.spawn(|| b.infer(&ids, &style, 1.0).unwrap());
        (l.join().unwrap(), r.join().unwrap())
    });
    for audio in [&left, &right] {
        // Threads change the order of float sums, not the speech: the same frames, within one.
        assert!(
            audio.len().abs_diff(reference.len()) <= FRAME_SAMPLES,
            "{} samples vs {} with its own pool",
            audio.len(),
            reference.len()
        );
        let rms = (audio.iter().map(|s| s * s).sum::<f32>() / audio.len() as f32).sqrt();
        assert!(
            audio.iter().all(|s| s.is_finite()) && rms > 0.01,
            "rms {rms}"
        );
    }
}
