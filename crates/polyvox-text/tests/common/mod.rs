//! Shared test helpers: the real assets, loaded once per test binary.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use polyvox_text::{Chunk, ChunkOptions, EspeakMode, Frontend, Resources};

/// `$POLYVOX_ASSETS_DIR`, else `~/.cache/polyvox`; fails loudly when the assets are missing.
pub fn assets_dir() -> PathBuf {
    let dir = std::env::var_os("POLYVOX_ASSETS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/polyvox")))
        .expect("neither POLYVOX_ASSETS_DIR nor HOME is set");
    for needed in [
        "vocab.json",
        "lexicons/us_gold.json",
        "lexicons/us_silver.json",
        "lexicons/gb_gold.json",
        "lexicons/gb_silver.json",
    ] {
        assert!(
            dir.join(needed).is_file(),
            "{} is missing: run `polyvox models fetch` (or point POLYVOX_ASSETS_DIR at the assets)",
            dir.join(needed).display()
        );
    }
    dir
}

fn load(espeak: EspeakMode) -> Frontend {
    let res = Resources {
        espeak,
        ..Resources::from_assets_dir(assets_dir())
    };
    Frontend::load(&res).unwrap_or_else(|e| panic!("loading the front end: {e}"))
}

/// The front end with espeak-ng if it is installed.
pub fn frontend() -> &'static Frontend {
    static FE: OnceLock<Frontend> = OnceLock::new();
    FE.get_or_init(|| load(EspeakMode::Auto))
}

/// The front end without espeak-ng: deterministic and fast, for property tests.
pub fn frontend_offline() -> &'static Frontend {
    static FE: OnceLock<Frontend> = OnceLock::new();
    FE.get_or_init(|| load(EspeakMode::Off))
}

/// The vocabulary's symbols and ids, read independently of the crate.
pub fn vocab() -> &'static (HashSet<char>, HashSet<i64>) {
    static V: OnceLock<(HashSet<char>, HashSet<i64>)> = OnceLock::new();
    V.get_or_init(|| {
        let bytes = std::fs::read(assets_dir().join("vocab.json")).expect("vocab.json");
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("vocab.json is JSON");
        let map = v["vocab"].as_object().expect("vocab object");
        let symbols = map.keys().filter_map(|k| k.chars().next()).collect();
        let ids = map.values().filter_map(|v| v.as_i64()).collect();
        (symbols, ids)
    })
}

fn without_whitespace(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Every invariant the engine relies on: budgets, coverage of the input in order, ids that
/// match the phonemes and the vocabulary.
pub fn assert_chunk_invariants(text: &str, chunks: &[Chunk], opts: &ChunkOptions) {
    assert!(!chunks.is_empty(), "no chunks for {text:?}");
    let max = opts.max_ids.min(510);
    let (_, ids) = vocab();
    let mut last_end = 0;
    for (k, c) in chunks.iter().enumerate() {
        // The first budget, doubling per chunk up to the maximum (streaming's ramp).
        let shift = k.min(16) as u32;
        let limit = opts
            .first_max_ids
            .min(max)
            .saturating_mul(1 << shift)
            .min(max);
        assert_eq!(c.index, k);
        // Over its budget only as one whole atom, never past the model's cap.
        assert!(
            !c.ids.is_empty() && (c.ids.len() <= limit || c.oversized_atom) && c.ids.len() <= max,
            "chunk {k} has {} ids, limit {limit}: {c:?}",
            c.ids.len()
        );
        assert_eq!(
            c.ids.len(),
            c.phonemes.chars().count(),
            "one id per phoneme symbol: {c:?}"
        );
        assert!(
            c.ids.iter().all(|i| ids.contains(i)),
            "ids outside the vocabulary: {c:?}"
        );
        assert!(
            c.span.start >= last_end,
            "chunk {k} overlaps the previous one"
        );
        assert_eq!(&text[c.span.clone()], c.text, "span and text disagree");
        assert!(
            text[last_end..c.span.start].trim().is_empty(),
            "text between chunks {k} is not whitespace"
        );
        last_end = c.span.end;
    }
    assert!(
        text[last_end..].trim().is_empty(),
        "text after the last chunk is not covered"
    );
    let joined: String = chunks.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        without_whitespace(&joined),
        without_whitespace(text),
        "chunks do not cover the input"
    );
    assert_eq!(
        chunks.last().map(|c| c.pause_after_ms),
        Some(0),
        "no pause after the last chunk"
    );
}
