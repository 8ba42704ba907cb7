//! Hostile and odd input never panics: it yields valid chunks or a clear error.

mod common;

use common::{assert_chunk_invariants, frontend, frontend_offline};
use polyvox_core::{ErrorCode, Lang};
use polyvox_text::{ChunkOptions, TextError};
use proptest::prelude::*;

#[test]
fn nothing_speakable_is_a_clear_error() {
    for text in [
        "...",
        "?!?!",
        "— — —",
        "😀🎉👍",
        "\"()\"",
        "你好世界",
        "***",
        "\u{200B}\u{200D}",
    ] {
        let err = frontend()
            .chunks(text, Lang::EnUs, &ChunkOptions::default())
            .unwrap_err();
        assert!(matches!(err, TextError::NothingToSpeak), "{text:?}: {err}");
        assert_eq!(err.code(), ErrorCode::EmptyInput);
    }
    assert!(matches!(
        frontend().chunks("   \n\t ", Lang::EnUs, &ChunkOptions::default()),
        Err(TextError::EmptyInput)
    ));
}

#[test]
fn ten_thousand_characters_without_spaces() {
    let opts = ChunkOptions::default();
    let letters: String = (0..10_000)
        .map(|i| (b'a' + (i * 7 % 26) as u8) as char)
        .collect();
    let digits: String = (0..10_000)
        .map(|i| (b'0' + (i % 10) as u8) as char)
        .collect();
    let mixed: String = (0..10_000)
        .map(|i| ['x', '7', '-', '.', '/', 'é', '😀', 'Q', '_', ','][i % 10])
        .collect();
    for text in [letters, digits, mixed] {
        let chunks = frontend().chunks(&text, Lang::EnUs, &opts).unwrap();
        assert_chunk_invariants(&text, &chunks, &opts);
    }
}

#[test]
fn mixed_scripts_keep_the_english() {
    let text = "Hello 你好 мир world, καλημέρα 😀 café naïve";
    let chunks = frontend()
        .chunks(text, Lang::EnUs, &ChunkOptions::default())
        .unwrap();
    assert_chunk_invariants(text, &chunks, &ChunkOptions::default());
    let p = &chunks[0].phonemes;
    assert!(p.starts_with("həlˈO wˈɜɹld,"), "{p}");
    assert!(
        p.split(' ').count() >= 4,
        "café and naïve are read too: {p}"
    );
}

#[test]
fn control_characters_and_odd_whitespace() {
    let text = "a\u{0}b\u{7}c\r\nd\u{2028}e\u{a0}f\u{feff}g \u{301}h";
    let chunks = frontend_offline()
        .chunks(text, Lang::EnUs, &ChunkOptions::default())
        .unwrap();
    assert_chunk_invariants(text, &chunks, &ChunkOptions::default());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_unicode_never_panics(text in "\\PC{0,300}", first in 1usize..100) {
        let opts = ChunkOptions { max_ids: 120, first_max_ids: first };
        match frontend_offline().chunks(&text, Lang::EnUs, &opts) {
            Ok(chunks) => assert_chunk_invariants(&text, &chunks, &opts),
            Err(e) => prop_assert_eq!(e.code(), ErrorCode::EmptyInput, "{}", e),
        }
    }

    #[test]
    fn arbitrary_bytes_as_lossy_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = frontend_offline().phonemize(&text, Lang::EnGb);
    }
}
