//! The real assets for the engine's test binaries, and phonemes to ids with the model's own
//! vocabulary. These fail, rather than skip, when the assets are absent.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;

use polyvox_core::VoiceSpec;
use polyvox_engine::{AssetDir, VoiceBank};

pub fn assets() -> AssetDir {
    let assets = AssetDir::from_env_or_default();
    if let Err(e) = assets.ensure_present() {
        panic!("model assets are not installed ({e}); run `polyvox models fetch`");
    }
    assets
}

/// Maps a phoneme string to ids with the model's own vocabulary.
pub fn ids_for(assets: &AssetDir, phonemes: &str) -> Vec<i64> {
    let text = std::fs::read_to_string(assets.vocab_path()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let vocab: HashMap<String, i64> = serde_json::from_value(json["vocab"].clone()).unwrap();
    phonemes
        .chars()
        .map(|c| {
            *vocab
                .get(&c.to_string())
                .unwrap_or_else(|| panic!("'{c}' is not in the vocabulary"))
        })
        .collect()
}

pub fn heart_style(assets: &AssetDir, n_ids: usize) -> Vec<f32> {
    VoiceBank::new(assets.voices_dir())
        .style(&VoiceSpec::single("af_heart").unwrap(), n_ids)
        .unwrap()
}
