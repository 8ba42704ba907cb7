//! Property tests of G2P and the chunker on the real lexicons (espeak-ng off, so runs are
//! deterministic): phonemes use only Kokoro's symbols and are the same on every call; chunks
//! cover the input in order within any budget down to one id, never panic, and text that passed
//! the input rule of `polyvox_core::text` (what the API hands over) always chunks or is a clear
//! empty-input error.
//!
//! Case count: proptest's default (256), overridable with `PROPTEST_CASES`.

mod common;

use common::{assert_chunk_invariants, frontend_offline, vocab};
use polyvox_core::{ErrorCode, Lang};
use polyvox_text::ChunkOptions;
use proptest::prelude::*;

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z']{1,14}",
        1 => "[0-9]{1,25}",
        1 => "[$£€][0-9]{1,12}(\\.[0-9]{2})?",
        1 => "[0-9]{1,2}:[0-9]{2}( [ap]m)?",
        1 => prop::sample::select(vec![
            "<speak>", "</speak>", "<break/>", "&amp;", "&lt;", "<script>alert(1)</script>",
            "Dr.", "U.S.A.", "e.g.", "42nd", "1990s", "3.14159", "-7", "100%", "x@y.org",
            "https://example.com/a_b?c=d", "—", "…", "?!", "\"", "(", ")", ";", "😀", "日本語", "ß",
            "naïve", "Ångström", "ﬁ", "Ⅻ", "½", "²", "\u{301}", "\u{a0}", "\u{3000}",
        ]).prop_map(str::to_owned),
        1 => "\\PC{1,3}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            piece(),
            prop::sample::select(vec!["", " ", " ", " ", "\n", "\n\n", ", ", ". ", "! "]),
        ),
        1..60,
    )
    .prop_map(|parts| parts.into_iter().map(|(p, s)| format!("{p}{s}")).collect())
}

fn lang(british: bool) -> Lang {
    if british { Lang::EnGb } else { Lang::EnUs }
}

proptest! {
    #[test]
    fn phonemes_use_only_kokoro_symbols_and_are_deterministic(text in text(), british in any::<bool>()) {
        let fe = frontend_offline();
        let (symbols, _) = vocab();
        match fe.phonemize(&text, lang(british)) {
            Ok(p) => {
                let odd: Vec<char> = p.chars().filter(|c| *c != ' ' && !symbols.contains(c)).collect();
                prop_assert!(odd.is_empty(), "{:?} → {:?} has symbols outside the vocabulary: {:?}", text, p, odd);
                prop_assert_eq!(Some(p), fe.phonemize(&text, lang(british)).ok());
            }
            Err(e) => prop_assert_eq!(e.code(), ErrorCode::EmptyInput, "{}", e),
        }
    }

    #[test]
    fn chunks_hold_for_any_budget_down_to_one_id(
        text in text(),
        max in 1usize..=520,
        first in 1usize..=520,
        british in any::<bool>(),
    ) {
        let opts = ChunkOptions { max_ids: max, first_max_ids: first };
        match frontend_offline().chunks(&text, lang(british), &opts) {
            Ok(chunks) => {
                assert_chunk_invariants(&text, &chunks, &opts);
                // The same text always gives the same plan (cache keys and resumed jobs rely on it).
                let again = frontend_offline().chunks(&text, lang(british), &opts).ok();
                prop_assert_eq!(Some(chunks), again);
            }
            Err(e) => prop_assert_eq!(e.code(), ErrorCode::EmptyInput, "{}", e),
        }
    }

    #[test]
    fn text_that_passed_the_input_rule_always_chunks_or_is_empty(
        raw in prop::collection::vec(prop_oneof![
            3 => piece(),
            1 => prop::sample::select(vec!["\u{200b}", "\u{feff}", "\u{200d}", "\u{2066}", "\u{2069}", "\u{ad}", "\u{2028}", "\u{c}", "\t"]).prop_map(str::to_owned),
        ], 1..40).prop_map(|v| v.concat()),
    ) {
        let Ok(clean) = polyvox_core::text::sanitize(&raw, "input") else { return Ok(()) };
        let opts = ChunkOptions::streaming();
        match frontend_offline().chunks(&clean, Lang::EnUs, &opts) {
            Ok(chunks) => assert_chunk_invariants(&clean, &chunks, &opts),
            Err(e) => prop_assert_eq!(e.code(), ErrorCode::EmptyInput, "{:?}: {}", clean, e),
        }
    }
}
