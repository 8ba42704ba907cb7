//! Lookup, tag and suffix rules on tiny hand-written lexicons.

use super::*;

const GOLD: &str = r#"{
    "hello": "həlˈO", "cat": "kˈæt", "kiss": "kˈɪs", "judge": "ʤˈʌʤ", "walk": "wˈɔk",
    "want": "wˈɑnt", "need": "nˈid", "wait": "wˈAt", "sit": "sˈɪt", "make": "mˈAk", "run": "ɹˈʌn",
    "pony": "pˈOni", "dog": "dˈɔɡ", "NASA": "nˈæsə", "Paris": "pˈæɹɪs",
    "read": {"DEFAULT": "ɹˈid", "VBD": "ɹˈɛd"}, "can": {"DEFAULT": "kən", "None": "kˈæn"},
    "AM": {"DEFAULT": "æm", "NOUN": null},
    "F": "ˈɛf", "B": "bˈi", "I": "ˈI", "E": "ˈi"
}"#;

fn us() -> Lexicon {
    Lexicon::from_json(GOLD, r#"{"snek": "snˈɛk"}"#, false)
}

#[test]
fn case_variants_and_silver() {
    let lex = us();
    let ctx = WordCtx::default();
    for (word, want) in [
        ("hello", Some("həlˈO")),
        ("Hello", Some("həlˈO")),
        ("HELLO", Some("həlˈO")),
        ("NASA", Some("nˈæsə")),
        ("paris", Some("pˈæɹɪs")),
        ("snek", Some("snˈɛk")),
        ("xyzzy", None),
    ] {
        assert_eq!(lex.word(word, ctx).as_deref(), want, "{word}");
    }
}

#[test]
fn tags_pick_readings() {
    let lex = us();
    assert_eq!(
        lex.word("read", WordCtx::default()).as_deref(),
        Some("ɹˈid")
    );
    assert_eq!(
        lex.word(
            "read",
            WordCtx {
                tag: Some(Tag::Vbd),
                at_end: false
            }
        )
        .as_deref(),
        Some("ɹˈɛd")
    );
    assert_eq!(lex.word("can", WordCtx::default()).as_deref(), Some("kən"));
    assert_eq!(
        lex.word(
            "can",
            WordCtx {
                tag: None,
                at_end: true
            }
        )
        .as_deref(),
        Some("kˈæn")
    );
    assert_eq!(
        lex.direct(
            "AM",
            WordCtx {
                tag: Some(Tag::Noun),
                at_end: false
            }
        ),
        None
    );
}

#[test]
fn suffix_rules_follow_the_stem() {
    let lex = us();
    let ctx = WordCtx::default();
    for (word, want) in [
        ("cats", "kˈæts"),
        ("dogs", "dˈɔɡz"),
        ("kisses", "kˈɪsᵻz"),
        ("judges", "ʤˈʌʤᵻz"),
        ("ponies", "pˈOniz"),
        ("dog's", "dˈɔɡz"),
        ("dogs'", "dˈɔɡz"),
        ("walked", "wˈɔkt"),
        ("needed", "nˈidᵻd"),
        ("wanted", "wˈɑntᵻd"),
        ("waited", "wˈAɾᵻd"),
        ("walking", "wˈɔkɪŋ"),
        ("making", "mˈAkɪŋ"),
        ("running", "ɹˈʌnɪŋ"),
        ("sitting", "sˈɪɾɪŋ"),
        ("Walked", "wˈɔkt"),
    ] {
        assert_eq!(lex.word(word, ctx).as_deref(), Some(want), "{word}");
    }
    assert_eq!(lex.word("kiss", ctx).as_deref(), Some("kˈɪs"));
    assert_eq!(
        lex.word("kis", ctx),
        None,
        "a stem of one letter is not a stem"
    );
}

#[test]
fn british_suffixes_do_not_flap() {
    let gb = Lexicon::from_json(GOLD, "{}", true);
    assert_eq!(
        gb.word("waited", WordCtx::default()).as_deref(),
        Some("wˈAtɪd")
    );
    assert_eq!(
        gb.word("kisses", WordCtx::default()).as_deref(),
        Some("kˈɪsɪz")
    );
}

#[test]
fn spelling_stresses_the_last_letter() {
    let lex = us();
    assert_eq!(lex.spell("FBI").as_deref(), Some("ˌɛfbˌiˈI"));
    assert_eq!(lex.spell("fé").as_deref(), Some("ˌɛfˈi"));
    assert_eq!(lex.spell("жж"), None);
}
