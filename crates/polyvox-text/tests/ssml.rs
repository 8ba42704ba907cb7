//! SSML documents through the real front end (lexicons and vocabulary): the plan carries the
//! breaks, rates and readings, and every word's span is the written word in the source.

mod common;

use common::{frontend_offline, vocab};
use polyvox_core::Lang;
use polyvox_core::ssml::{self, KOKORO_PHONEMES};
use polyvox_text::{Chunk, ChunkOptions};

fn plan(src: &str) -> Vec<Chunk> {
    let doc = ssml::parse(src, "input").unwrap_or_else(|e| panic!("{src}: {e}"));
    frontend_offline()
        .chunks_ssml(src, &doc, Lang::EnUs, &ChunkOptions::default())
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn words(src: &str, chunks: &[Chunk]) -> Vec<String> {
    chunks
        .iter()
        .flat_map(|c| c.words.iter().map(|w| src[w.span.clone()].to_owned()))
        .collect()
}

#[test]
fn the_embedded_phoneme_set_is_the_model_vocabulary() {
    let (symbols, _) = vocab();
    let mut from_vocab: Vec<char> = symbols
        .iter()
        .copied()
        .filter(|c| !";:,.!?—…\"()“” ".contains(*c))
        .collect();
    from_vocab.sort_unstable();
    let mut embedded: Vec<char> = KOKORO_PHONEMES.chars().collect();
    embedded.sort_unstable();
    assert_eq!(embedded, from_vocab);
}

#[test]
fn words_are_the_written_tokens_inside_the_markup() {
    let src = "<speak><p>Dr. Smith &amp; the <sub alias=\"World Wide Web\">WWW</sub> paid <say-as interpret-as=\"cardinal\">1,250</say-as>.</p><p>Call <say-as interpret-as=\"characters\">ABC</say-as> at <say-as interpret-as=\"time\">2:30 pm</say-as>!</p></speak>";
    let chunks = plan(src);
    assert_eq!(
        words(src, &chunks),
        [
            "Dr.", "Smith", "&amp;", "the", "WWW", "paid", "1,250", "Call", "ABC", "at", "2:30 pm"
        ]
    );
    let all: String = chunks
        .iter()
        .map(|c| c.phonemes.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let alias = frontend_offline()
        .phonemize("World Wide Web", Lang::EnUs)
        .unwrap();
    assert!(all.contains(&alias), "{all} lacks the alias {alias}");
    let number = frontend_offline()
        .phonemize("one thousand two hundred fifty", Lang::EnUs)
        .unwrap();
    assert!(all.contains(&number), "{all} lacks {number}");
    assert!(!all.contains('<'), "markup is never phonemized: {all}");
}

#[test]
fn breaks_go_inside_chunks_or_into_the_pause_between_them() {
    let src = "<speak>One two. <break time=\"700ms\"/> Three four.<break time=\"1s\"/></speak>";
    let chunks = plan(src);
    assert_eq!(chunks.len(), 1);
    let c = &chunks[0];
    assert_eq!(c.breaks.len(), 1, "{:?}", c.breaks);
    assert_eq!(c.breaks[0].ms, 700);
    // The break lies on the space before "Three".
    let three = c
        .words
        .iter()
        .find(|w| &src[w.span.clone()] == "Three")
        .unwrap();
    assert_eq!(c.breaks[0].ids.end, three.ids.start);
    assert_eq!(c.breaks[0].ids.len(), 1);
    assert_eq!(
        c.pause_after_ms, 1000,
        "a trailing break is silence at the end"
    );
    // Leading break: before the first word.
    let chunks = plan("<speak><break time=\"300ms\"/>Hello.</speak>");
    assert_eq!(chunks[0].breaks[0].ids, 0..0);
}

#[test]
fn a_rate_change_cuts_the_chunk_and_rates_multiply() {
    let src = "<speak>Hello there <prosody rate=\"slow\">my <prosody rate=\"50%\">dear</prosody> friend</prosody> again.</speak>";
    let chunks = plan(src);
    let rates: Vec<f32> = chunks.iter().map(|c| c.rate).collect();
    assert_eq!(rates, [1.0, 0.75, 0.375, 0.75, 1.0]);
    assert_eq!(words(src, &chunks[2..3]), ["dear"]);
}

#[test]
fn phoneme_segments_are_used_as_given() {
    let src =
        "<speak>I say <phoneme alphabet=\"ipa\" ph=\"təmˈAtO\">tomato</phoneme> often.</speak>";
    let chunks = plan(src);
    assert!(
        chunks[0].phonemes.contains(" təmˈAtO "),
        "{}",
        chunks[0].phonemes
    );
    assert_eq!(words(src, &chunks), ["I", "say", "tomato", "often"]);
}

#[test]
fn lexicons_read_written_words_and_aliases_but_not_phonemes_or_say_as() {
    use polyvox_core::lexicon::{LexiconLimits, RawEntry, RawLexicon};
    let entry = |grapheme: &str, phoneme: &str| RawEntry {
        grapheme: grapheme.into(),
        phoneme: Some(phoneme.into()),
        ..Default::default()
    };
    let lex = RawLexicon {
        lang: Some("en-us".into()),
        entries: vec![
            entry("tomato", "bənˈænə"),
            entry("polyvox", "wˈʌbəl"),
            entry("one", "zˈɪɹO"),
        ],
    }
    .validate("test", &LexiconLimits::default())
    .expect("valid lexicon");
    let lex = polyvox_text::Pronunciations::new(&[lex]);
    let src = "<speak>I say tomato, not <phoneme alphabet=\"ipa\" ph=\"təmˈAtO\">tomato</phoneme>, on <sub alias=\"Polyvox\">PV</sub> <say-as interpret-as=\"cardinal\">1</say-as> time.</speak>";
    let doc = ssml::parse(src, "input").unwrap();
    let fe = frontend_offline();
    let with = fe
        .chunks_ssml_with(src, &doc, Lang::EnUs, &ChunkOptions::default(), &lex)
        .unwrap();
    let phonemes = |chunks: &[Chunk]| {
        chunks
            .iter()
            .map(|c| c.phonemes.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (all, before) = (phonemes(&with), phonemes(&plan(src)));
    assert!(!before.contains("bənˈænə"), "{before}");
    assert_eq!(all.matches("bənˈænə").count(), 1, "the written word: {all}");
    assert!(all.contains("təmˈAtO"), "explicit IPA wins: {all}");
    assert!(all.contains("wˈʌbəl"), "the <sub> alias: {all}");
    assert!(
        !all.contains("zˈɪɹO"),
        "a say-as reading is not matched: {all}"
    );
    assert_eq!(
        words(src, &with),
        [
            "I", "say", "tomato", "not", "tomato", "on", "PV", "1", "time"
        ],
        "timings still point at the SSML text's words"
    );
}

/// Without a request language, the pieces without `xml:lang` are read as plain text is: each
/// sentence in its detected language; a piece with `xml:lang` keeps its language.
#[test]
fn without_a_language_each_sentence_of_ssml_text_is_detected() {
    let fe = frontend_offline();
    let opts = ChunkOptions::default();
    let none = polyvox_text::Pronunciations::default();
    let phonemes = |chunks: &[Chunk]| {
        chunks
            .iter()
            .map(|c| c.phonemes.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let text = "The park is lovely today. 我们今天去公园散步。";
    let src = format!("<speak>{text}</speak>");
    let doc = ssml::parse(&src, "input").unwrap();
    let auto = fe
        .chunks_ssml_auto_with(&src, &doc, Lang::EnUs, &opts, &none)
        .unwrap();
    let as_text = fe.chunks_auto(text, Lang::EnUs, &opts).unwrap();
    assert_eq!(phonemes(&auto), phonemes(&as_text));
    let zh = fe.phonemize("我们今天去公园散步。", Lang::Zh).unwrap();
    assert!(phonemes(&auto).contains(&zh), "{}", phonemes(&auto));
    assert!(
        !phonemes(&plan(&src)).contains(&zh),
        "a fixed lang reads it all in en-us"
    );
    assert_eq!(
        words(&src, &auto)[..5],
        ["The", "park", "is", "lovely", "today"]
    );

    // An explicit xml:lang is not second-guessed.
    let src = format!("<speak><lang xml:lang=\"en-us\">{text}</lang></speak>");
    let doc = ssml::parse(&src, "input").unwrap();
    let fixed = fe
        .chunks_ssml_auto_with(&src, &doc, Lang::EnUs, &opts, &none)
        .unwrap();
    assert!(!phonemes(&fixed).contains(&zh), "{}", phonemes(&fixed));
}
