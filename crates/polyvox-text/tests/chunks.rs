//! Chunking invariants on real text: id budgets, coverage of the input in order, cut points.

mod common;

use common::{assert_chunk_invariants, frontend, frontend_offline};
use polyvox_core::{ErrorCode, Lang};
use polyvox_text::{ChunkOptions, TextError};
use proptest::prelude::*;

const PARAGRAPH: &str = "Dr. Smith arrived at 3:30 pm on March 5, 2024, carrying $5.50 in coins. \
\"Is this the right place?\" she asked; nobody answered. The committee, which had met every week since 1999, \
was reviewing 1,234 proposals — most of them late. Visit https://example.com/docs or write to info@example.org! \
In the U.S., prices rose 3.5% last year; in the U.K., they rose less… Still, people kept buying: bread, milk, eggs, etc. ";

fn long_text() -> String {
    let mut s = String::new();
    while s.len() < 5_500 {
        s.push_str(PARAGRAPH);
    }
    s
}

fn unpunctuated(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect()
}

#[test]
fn long_text_with_punctuation_cuts_at_sentences_and_clauses() {
    let text = long_text();
    let opts = ChunkOptions::default();
    let chunks = frontend().chunks(&text, Lang::EnUs, &opts).unwrap();
    assert_chunk_invariants(&text, &chunks, &opts);
    assert!(
        chunks.len() >= 10,
        "{} chunks for {} chars",
        chunks.len(),
        text.len()
    );
    for c in &chunks[..chunks.len() - 1] {
        let last = c.text.chars().last().unwrap_or(' ');
        assert!(
            ".!?;:,…\"—".contains(last),
            "chunk {} ends mid-clause: {:?}",
            c.index,
            c.text
        );
        assert!(
            c.pause_after_ms >= 150,
            "chunk {} has no pause after {:?}",
            c.index,
            c.text
        );
    }
    // Sentences are short here, so most cuts fall at sentence ends and get the sentence pause.
    let at_sentence = chunks.iter().filter(|c| c.pause_after_ms == 300).count();
    assert!(
        at_sentence * 2 >= chunks.len(),
        "{at_sentence} of {} chunks end a sentence",
        chunks.len()
    );
    // Merging: chunks are well filled, not one per sentence.
    let mean = chunks.iter().map(|c| c.ids.len()).sum::<usize>() / chunks.len();
    assert!(mean > 150, "mean chunk size {mean}");
}

#[test]
fn long_text_without_punctuation_cuts_between_words() {
    let text = unpunctuated(&long_text());
    let opts = ChunkOptions::default();
    let chunks = frontend().chunks(&text, Lang::EnGb, &opts).unwrap();
    assert_chunk_invariants(&text, &chunks, &opts);
    for c in &chunks {
        let before = text[..c.span.start].chars().last();
        let after = text[c.span.end..].chars().next();
        assert!(
            before.is_none_or(char::is_whitespace),
            "chunk {} starts inside a word",
            c.index
        );
        assert!(
            after.is_none_or(char::is_whitespace),
            "chunk {} ends inside a word",
            c.index
        );
        assert_eq!(c.pause_after_ms, 0, "no punctuation, no pause");
        assert!(
            c.ids.len() > 200 || c.index + 1 == chunks.len(),
            "chunk {} underfilled: {}",
            c.index,
            c.ids.len()
        );
    }
}

#[test]
fn first_chunk_is_small_for_streaming() {
    let text = long_text();
    let opts = ChunkOptions {
        max_ids: 250,
        first_max_ids: 60,
    };
    let chunks = frontend().chunks(&text, Lang::EnUs, &opts).unwrap();
    assert_chunk_invariants(&text, &chunks, &opts);
    assert!(chunks[0].ids.len() <= 60);
    assert!(chunks[1].ids.len() > 60, "later chunks use the full budget");
    // "Dr. Smith arrived at 3:30 pm on March 5, 2024," is the first clause that fits.
    assert!(
        chunks[0].text.ends_with("2024,") || chunks[0].text.ends_with(" 5,"),
        "{:?}",
        chunks[0].text
    );
}

#[test]
fn a_small_first_budget_takes_a_long_first_word_whole() {
    let text = "Internationalization matters to everyone who ships software.";
    for first in [8, 12, 20] {
        let opts = ChunkOptions {
            max_ids: 250,
            first_max_ids: first,
        };
        let chunks = frontend().chunks(text, Lang::EnUs, &opts).unwrap();
        assert_chunk_invariants(text, &chunks, &opts);
        assert_eq!(
            chunks[0].text, "Internationalization",
            "budget {first}: {chunks:?}"
        );
        assert!(
            chunks[0].ids.len() > first,
            "the word is longer than the budget"
        );
        assert!(chunks[1].text.starts_with("matters"), "{chunks:?}");
    }
}

#[test]
fn streaming_starts_with_a_few_words_then_ramps_up() {
    // The first sentence (~45 ids) fits a 60-id first budget whole, which is why streams used to
    // wait for a whole sentence; the streaming budget must cut inside it at a word break.
    let text = "Polyvox reads text aloud on your own hardware. It streams audio while it is still \
being generated, so listeners hear the first words almost at once. Long documents are split into \
sentences and clauses, and every piece is joined without clicks or gaps, then encoded as it arrives.";
    let opts = ChunkOptions::streaming();
    let chunks = frontend().chunks(text, Lang::EnUs, &opts).unwrap();
    assert_chunk_invariants(text, &chunks, &opts);
    let first = &chunks[0];
    assert!(first.ids.len() <= 20, "{first:?}");
    assert!(
        first.ids.len() >= 8,
        "a first chunk of a word or two sounds clipped: {first:?}"
    );
    assert!(
        "Polyvox reads text aloud on your own hardware.".starts_with(&first.text)
            && text[first.span.end..].starts_with(' '),
        "first chunk is not whole words of the first sentence: {:?}",
        first.text
    );
    assert_eq!(
        first.pause_after_ms, 0,
        "a cut inside a sentence adds no pause"
    );
    assert!(chunks[1].ids.len() <= 40, "{:?}", chunks[1]);
    assert!(
        chunks.iter().any(|c| c.ids.len() > 100),
        "budgets never ramped up: {:?}",
        chunks.iter().map(|c| c.ids.len()).collect::<Vec<_>>()
    );
}

#[test]
fn short_sentences_share_a_chunk() {
    let text = "Hi. Yes! No? Fine.";
    let chunks = frontend()
        .chunks(text, Lang::EnUs, &ChunkOptions::default())
        .unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].text, text);
    assert_eq!(chunks[0].phonemes, "hˈI. jˈɛs! nˈO? fˈIn.");
}

#[test]
fn pauses_follow_the_punctuation() {
    let opts = ChunkOptions {
        max_ids: 20,
        first_max_ids: 20,
    };
    let fe = frontend_offline();
    let pause_after = |text: &str| fe.chunks(text, Lang::EnUs, &opts).unwrap()[0].pause_after_ms;
    assert_eq!(pause_after("The cat sat down. Then it slept well."), 300);
    assert_eq!(pause_after("The cat sat down, then it slept well."), 150);
    assert_eq!(pause_after("The cat sat down; then it slept well."), 200);
    assert_eq!(pause_after("The cat sat down.\n\nThen it slept well."), 600);
    assert_eq!(pause_after("The cat sat down\nthen it slept well"), 250);
    assert_eq!(pause_after("the cat sat down then it slept well"), 0);
}

#[test]
fn a_giant_word_is_split_between_phonemes() {
    let word: String = "supercalifragilistic".repeat(100);
    let opts = ChunkOptions {
        max_ids: 50,
        first_max_ids: 30,
    };
    for fe in [frontend(), frontend_offline()] {
        let chunks = fe.chunks(&word, Lang::EnUs, &opts).unwrap();
        assert_chunk_invariants(&word, &chunks, &opts);
        assert!(chunks.len() > 20);
    }
    let text = format!("Before it. {} After it.", "9".repeat(3_000));
    let chunks = frontend_offline()
        .chunks(&text, Lang::EnUs, &ChunkOptions::default())
        .unwrap();
    assert_chunk_invariants(&text, &chunks, &ChunkOptions::default());
}

#[test]
fn options_are_validated_and_capped() {
    let fe = frontend_offline();
    let err = fe
        .chunks(
            "hello",
            Lang::EnUs,
            &ChunkOptions {
                max_ids: 0,
                first_max_ids: 10,
            },
        )
        .unwrap_err();
    assert!(matches!(err, TextError::InvalidOptions(_)));
    assert_eq!(err.code(), ErrorCode::InvalidRequest);
    let text = long_text();
    let opts = ChunkOptions {
        max_ids: 100_000,
        first_max_ids: 100_000,
    };
    let chunks = fe.chunks(&text, Lang::EnUs, &opts).unwrap();
    assert_chunk_invariants(&text, &chunks, &opts);
    assert!(chunks.iter().all(|c| c.ids.len() <= 510));
    let tiny = ChunkOptions {
        max_ids: 1,
        first_max_ids: 1,
    };
    let chunks = fe.chunks("Hi, you.", Lang::EnUs, &tiny).unwrap();
    assert_chunk_invariants("Hi, you.", &chunks, &tiny);
}

/// Text built from pieces the front end treats differently.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z]{1,12}",
        1 => "[0-9]{1,6}",
        1 => prop::sample::select(vec![
            "Dr.", "$5.50", "3:30", "pm", "2024-03-05", "e.g.", "U.S.", "50%", "example.com", "a@b.co", "—", "...",
            "(", ")", "\"", "“", "”", "!", "?", ",", ";", ":", "😀", "你好", "R&D", "1st", "well-known", "'80s", "&",
        ]).prop_map(str::to_owned),
        1 => "\\PC{1,4}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            piece(),
            prop::sample::select(vec!["", " ", " ", " ", "\n", "\n\n", ", ", ". "]),
        ),
        1..120,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(p, sep)| format!("{p}{sep}"))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn chunks_always_cover_the_input_within_budget(
        text in text(),
        max in 8usize..=600,
        first in 1usize..=600,
        british in any::<bool>(),
    ) {
        let opts = ChunkOptions { max_ids: max, first_max_ids: first };
        let lang = if british { Lang::EnGb } else { Lang::EnUs };
        match frontend_offline().chunks(&text, lang, &opts) {
            Ok(chunks) => assert_chunk_invariants(&text, &chunks, &opts),
            Err(e) => prop_assert_eq!(e.code(), ErrorCode::EmptyInput, "{}", e),
        }
    }
}
