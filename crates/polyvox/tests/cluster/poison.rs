//! A genuine poison input for the cluster tests: real model assets in which one voice makes the
//! real model fail on every call, so a job that asks for it fails in the engine, not in a fake.
use std::path::{Path, PathBuf};

/// The voice the poisoned asset copy breaks.
pub const POISON: &str = "bf_alice";

/// A copy of the model assets (links to the real files) in which [`POISON`]'s table is one the
/// voice loader accepts (the right size, every value finite) but that drives the network out of
/// range: af_heart's table with its decoder half (the first 128 of each row's 256 values) set to
/// -1e30. The real model then returns NaN for every sample, on every call.
pub fn poisoned_assets(dir: &Path) -> PathBuf {
    let real = polyvox_engine::assets::AssetDir::from_env_or_default();
    let root = dir.join("assets");
    std::fs::create_dir_all(root.join("voices")).expect("mkdir");
    let link = |from: PathBuf, to: PathBuf| std::os::unix::fs::symlink(from, to).expect("symlink");
    for entry in std::fs::read_dir(real.root()).expect("assets") {
        let entry = entry.expect("entry");
        if entry.file_name() != "voices" {
            link(entry.path(), root.join(entry.file_name()));
        }
    }
    for entry in std::fs::read_dir(real.root().join("voices")).expect("voices") {
        let entry = entry.expect("entry");
        if entry.file_name() != format!("{POISON}.bin").as_str() {
            link(entry.path(), root.join("voices").join(entry.file_name()));
        }
    }
    let mut table = std::fs::read(real.root().join("voices/af_heart.bin")).expect("af_heart");
    assert_eq!(table.len(), 510 * 256 * 4);
    for row in table.chunks_exact_mut(256 * 4) {
        for v in row[..128 * 4].chunks_exact_mut(4) {
            v.copy_from_slice(&(-1e30f32).to_le_bytes());
        }
    }
    std::fs::write(root.join("voices").join(format!("{POISON}.bin")), table).expect("write");
    root
}
