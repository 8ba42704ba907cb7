//! Word spans through normalization (what word timestamps index into the input with): for text
//! built from tokens the normalizer rewrites — numbers, money, dates, times, URLs,
//! abbreviations, emoji, combining characters — every word a chunk speaks is the written token it
//! came from, or lies inside it. A span never starts or ends inside the separators between
//! tokens (save an abbreviation's period), never splits a character, and spans come in input
//! order without overlapping; each word's ids lie inside its chunk's ids and do not start or end
//! on a space.
//!
//! Runs on the real lexicons with espeak-ng off (deterministic), like `prop_g2p_chunks`.
//! Case count: proptest's default (256), overridable with `PROPTEST_CASES`.

mod common;

use std::ops::Range;

use common::frontend_offline;
use polyvox_core::Lang;
use polyvox_text::ChunkOptions;
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z]{1,12}",
        1 => "[0-9]{1,9}",
        1 => "[0-9]{1,3}(,[0-9]{3}){1,2}(\\.[0-9]{1,2})?",
        1 => "[$£€][0-9]{1,6}(\\.[0-9]{2})?",
        1 => "[0-9]{1,2}:[0-9]{2}([ap]m)?",
        1 => "(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9])",
        1 => "[0-9]{1,2}/[0-9]{1,2}/(19|20)[0-9]{2}",
        1 => "[0-9]{1,3}(st|nd|rd|th|%)",
        1 => "https://[a-z]{2,8}\\.(com|org)(/[a-z]{1,6})?",
        1 => prop::sample::select(vec![
            "Dr.", "Mr.", "etc.", "e.g.", "U.S.A.", "NASA", "vs.", "St.", "1990s", "C++",
            "😀", "👍🏽", "naïve", "cafe\u{301}", "Ångström", "n\u{303}o", "résumé", "x@y.org",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Tokens joined by separators, with the byte range of every token.
fn text() -> impl Strategy<Value = (String, Vec<Range<usize>>)> {
    prop::collection::vec(
        (
            token(),
            prop::sample::select(vec![" ", " ", " ", ", ", ". ", "! ", "? ", "\n", " — "]),
        ),
        1..30,
    )
    .prop_map(|parts| {
        let mut text = String::new();
        let mut tokens = Vec::new();
        for (t, sep) in parts {
            tokens.push(text.len()..text.len() + t.len());
            text.push_str(&t);
            text.push_str(sep);
        }
        (text, tokens)
    })
}

proptest! {
    #[test]
    fn every_word_is_the_written_token_or_inside_it((text, tokens) in text(), streaming in any::<bool>()) {
        let fe = frontend_offline();
        let opts = if streaming { ChunkOptions::streaming() } else { ChunkOptions::default() };
        let chunks = match fe.chunks(&text, Lang::EnUs, &opts) {
            Ok(c) => c,
            // Only emoji: nothing to speak, so no words either.
            Err(e) => return Err(TestCaseError::reject(e.to_string())),
        };
        // A word may end on the period written right after its token: "mr" before ". " is the
        // abbreviation "mr.", and its dot is part of what was written.
        let in_token = |at: usize, start: bool| {
            tokens.iter().any(|t| if start {
                t.start <= at && at < t.end
            } else {
                (t.start < at && at <= t.end) || text.get(t.end..at) == Some(".")
            })
        };
        let mut last_end = 0;
        let mut words = 0;
        for c in &chunks {
            for w in &c.words {
                words += 1;
                let s = &w.span;
                prop_assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end), "{:?} splits a char of {:?}", s, text);
                prop_assert!(s.start < s.end, "empty span in {:?}", text);
                prop_assert!(s.start >= last_end, "{:?} overlaps or precedes the word before (ending {}) in {:?}", s, last_end, text);
                last_end = s.end;
                let written = &text[s.clone()];
                prop_assert!(in_token(s.start, true) && in_token(s.end, false),
                    "word {:?} ({:?}) starts or ends outside the tokens of {:?} ({:?})", written, s, text, tokens);
                prop_assert_eq!(written.trim(), written, "a word with outer whitespace");
                prop_assert!(w.ids.start < w.ids.end && w.ids.end <= c.ids.len(), "{:?} of {} ids", w.ids, c.ids.len());
                let phonemes: Vec<char> = c.phonemes.chars().collect();
                prop_assert!(phonemes[w.ids.start] != ' ' && phonemes[w.ids.end - 1] != ' ', "word ids {:?} start or end on a space in {:?}", w.ids, c.phonemes);
            }
        }
        prop_assert!(words > 0, "no words in {:?}", text);
    }
}

/// Exact spans for the cases the API documents: a money amount read as four words is one span,
/// an abbreviation keeps its dot, emoji are not words, combining marks stay with their letter.
#[test]
fn spoken_forms_map_back_to_the_written_tokens() {
    let fe = frontend_offline();
    let text = "Dr. Smith paid $42.50 on 2024-03-05 at 3:30pm 😀 for the cafe\u{301}.";
    let chunks = fe
        .chunks(text, Lang::EnUs, &ChunkOptions::default())
        .unwrap();
    let words: Vec<&str> = chunks
        .iter()
        .flat_map(|c| c.words.iter().map(|w| &text[w.span.clone()]))
        .collect();
    assert_eq!(
        words,
        [
            "Dr.",
            "Smith",
            "paid",
            "$42.50",
            "on",
            "2024-03-05",
            "at",
            "3:30pm",
            "for",
            "the",
            "cafe\u{301}"
        ],
    );
}
