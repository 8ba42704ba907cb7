//! A request's own lexicons against the real vocabulary and lexicons: an IPA entry changes the
//! ids the model is sent, an alias is read in the grapheme's place, and both keep the written
//! grapheme as the word the timings point at.

mod common;

use common::{frontend_offline, vocab};
use polyvox_core::Lang;
use polyvox_core::lexicon::{Lexicon, LexiconLimits, PHONEME_SYMBOLS, RawEntry, RawLexicon};
use polyvox_text::{ChunkOptions, Pronunciations};

fn lexicon(entries: Vec<RawEntry>) -> Pronunciations {
    let lex: Lexicon = RawLexicon {
        lang: Some("en-us".into()),
        entries,
    }
    .validate("test", &LexiconLimits::default())
    .expect("valid lexicon");
    Pronunciations::new(&[lex])
}

#[test]
fn the_vocabulary_is_the_one_lexicon_entries_are_checked_against() {
    let mut expected: Vec<char> = PHONEME_SYMBOLS.chars().collect();
    expected.sort_unstable();
    assert_eq!(frontend_offline().phoneme_symbols(), expected);
    assert_eq!(vocab().0.len(), expected.len());
}

#[test]
fn an_ipa_entry_changes_the_ids_the_model_is_sent() {
    let fe = frontend_offline();
    let text = "We love Polyvox today.";
    let lex = lexicon(vec![RawEntry {
        grapheme: "polyvox".into(),
        phoneme: Some("bənˈænə".into()),
        ..Default::default()
    }]);
    let plain = fe
        .chunks(text, Lang::EnUs, &ChunkOptions::default())
        .unwrap();
    let with = fe
        .chunks_with(text, Lang::EnUs, &ChunkOptions::default(), &lex)
        .unwrap();
    assert_eq!((plain.len(), with.len()), (1, 1));
    assert_ne!(
        plain[0].ids, with[0].ids,
        "the entry changes the model input"
    );
    assert!(
        with[0].phonemes.contains(" bənˈænə "),
        "{}",
        with[0].phonemes
    );
    assert_eq!(
        fe.phonemize_with(text, Lang::EnUs, &lex).unwrap(),
        with[0].phonemes
    );
    // The word that speaks those ids is the written grapheme.
    let start = text.find("Polyvox").unwrap();
    let word = with[0]
        .words
        .iter()
        .find(|w| w.span.start == start)
        .expect("a word at the grapheme");
    assert_eq!(&text[word.span.clone()], "Polyvox");
    assert_eq!(word.ids.len(), "bənˈænə".chars().count());
}

#[test]
fn an_alias_is_read_in_place_of_the_grapheme_and_timed_as_it() {
    let fe = frontend_offline();
    let lex = lexicon(vec![RawEntry {
        grapheme: "Polyvox Cloud".into(),
        alias: Some("banana split".into()),
        ..Default::default()
    }]);
    let text = "Try Polyvox  Cloud, then relax.";
    let with = fe.phonemize_with(text, Lang::EnUs, &lex).unwrap();
    let alias = fe
        .phonemize("Try banana split, then relax.", Lang::EnUs)
        .unwrap();
    assert_eq!(with, alias, "the alias is read with the usual rules");
    let chunks = fe
        .chunks_with(text, Lang::EnUs, &ChunkOptions::default(), &lex)
        .unwrap();
    let words: Vec<&str> = chunks[0]
        .words
        .iter()
        .map(|w| &text[w.span.clone()])
        .collect();
    assert_eq!(words, ["Try", "Polyvox  Cloud", "then", "relax"]);
    // Entries of another language are not applied.
    let fr = lexicon(vec![RawEntry {
        grapheme: "relax".into(),
        alias: Some("banana".into()),
        lang: Some("fr".into()),
        ..Default::default()
    }]);
    assert_eq!(
        fe.phonemize_with("relax", Lang::EnUs, &fr).unwrap(),
        fe.phonemize("relax", Lang::EnUs).unwrap()
    );
}

mod spans {
    //! For text mixing the lexicon's graphemes (in any case, next to punctuation and numbers)
    //! with other tokens: every word a chunk speaks lies on character boundaries, in input order
    //! without overlap, and each occurrence of a grapheme is one word spanning exactly it.

    use super::*;
    use proptest::prelude::*;

    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => prop::sample::select(vec!["Polyvox", "POLYVOX", "polyvox", "SQL", "Polyvox Cloud"])
                .prop_map(str::to_owned),
            3 => "[a-zA-Z]{1,10}",
            1 => "[0-9]{1,5}",
            1 => prop::sample::select(vec!["$4.50", "Dr.", "😀", "naïve", "sql", "Polyvoxes"])
                .prop_map(str::to_owned),
        ]
    }

    /// Whether `rest` is whitespace, then "cloud" in any case ending a word.
    fn starts_cloud(rest: &str) -> bool {
        let t = rest.trim_start();
        t.len() < rest.len()
            && t.get(..5).is_some_and(|w| w.eq_ignore_ascii_case("cloud"))
            && !t[5..].starts_with(char::is_alphanumeric)
    }

    proptest! {
        #[test]
        fn graphemes_are_whole_words_at_their_place(
            parts in prop::collection::vec(
                (token(), prop::sample::select(vec![" ", " ", ", ", ". ", "\n", "! "])),
                1..25,
            )
        ) {
            let mut text = String::new();
            for (t, sep) in &parts {
                text.push_str(t);
                text.push_str(sep);
            }
            let lex = lexicon(vec![
                RawEntry { grapheme: "polyvox".into(), alias: Some("banana split".into()), ..Default::default() },
                RawEntry { grapheme: "polyvox cloud".into(), phoneme: Some("klˈWd".into()), ..Default::default() },
                RawEntry { grapheme: "SQL".into(), phoneme: Some("sˈikwəl".into()), ..Default::default() },
            ]);
            let chunks = match frontend_offline()
                .chunks_with(&text, Lang::EnUs, &ChunkOptions::default(), &lex)
            {
                Ok(c) => c,
                // Only emoji: nothing to say, with or without a lexicon.
                Err(polyvox_text::TextError::NothingToSpeak) => return Ok(()),
                Err(e) => return Err(TestCaseError::fail(format!("{text:?}: {e}"))),
            };
            let words: Vec<std::ops::Range<usize>> =
                chunks.iter().flat_map(|c| c.words.iter().map(|w| w.span.clone())).collect();
            // What each word says: its ids' symbols (one symbol per id).
            let said: std::collections::HashMap<std::ops::Range<usize>, String> = chunks
                .iter()
                .flat_map(|c| {
                    let symbols: Vec<char> = c.phonemes.chars().collect();
                    c.words.iter().map(move |w| (w.span.clone(), symbols[w.ids.clone()].iter().collect()))
                })
                .collect();
            let alias = frontend_offline().phonemize("banana split", Lang::EnUs).unwrap();
            for w in words.windows(2) {
                prop_assert!(w[0].end <= w[1].start, "{:?} overlaps {:?} in {text:?}", w[0], w[1]);
            }
            for w in &words {
                prop_assert!(text.is_char_boundary(w.start) && text.is_char_boundary(w.end));
            }
            // Each grapheme occurrence (as the matcher defines it) is exactly one word, unless
            // it starts the longer grapheme "polyvox cloud" (any case, any whitespace between).
            let mut at = 0;
            for (t, sep) in &parts {
                let span = at..at + t.len();
                let grapheme = matches!(t.as_str(), "Polyvox" | "POLYVOX" | "polyvox" | "SQL" | "Polyvox Cloud");
                if grapheme && !(t.eq_ignore_ascii_case("polyvox") && starts_cloud(&text[span.end..])) {
                    prop_assert!(words.contains(&span), "{t:?} at {span:?} is no word of {text:?}: {words:?}");
                    let want = match t.as_str() {
                        "SQL" => "sˈikwəl",
                        "Polyvox Cloud" => "klˈWd",
                        _ => alias.as_str(),
                    };
                    prop_assert_eq!(said[&span].as_str(), want, "{:?} in {:?}", t, text);
                }
                at += t.len() + sep.len();
            }
        }
    }
}
