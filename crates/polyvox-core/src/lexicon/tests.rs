use super::*;

fn entry(grapheme: &str, phoneme: Option<&str>, alias: Option<&str>) -> RawEntry {
    RawEntry {
        grapheme: grapheme.into(),
        phoneme: phoneme.map(Into::into),
        alias: alias.map(Into::into),
        lang: None,
    }
}

fn raw(entries: Vec<RawEntry>) -> RawLexicon {
    RawLexicon {
        lang: Some("en-us".into()),
        entries,
    }
}

#[test]
fn valid_lexicons_are_cleaned() {
    let lex = raw(vec![
        entry("  Poly \t vox ", None, Some("poly  vox")),
        entry("SQL", Some("sˈikwəl"), None),
        entry("gif", Some("gˈɪf"), None),
    ])
    .validate("brand-1_x", &LexiconLimits::default())
    .unwrap();
    assert_eq!(lex.lang, Some(Lang::EnUs));
    assert_eq!(lex.entries[0].grapheme, "Poly vox");
    assert_eq!(lex.entries[0].reading, Reading::Alias("poly vox".into()));
    assert_eq!(
        lex.entries[2].reading,
        Reading::Phoneme("ɡˈɪf".into()),
        "an ASCII g is the IPA ɡ"
    );
}

#[test]
fn the_vocabulary_has_its_114_symbols() {
    let mut seen: Vec<char> = PHONEME_SYMBOLS.chars().collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 114);
}

#[test]
fn every_violation_has_its_code_and_names_the_field_and_limit() {
    let limits = LexiconLimits {
        max_entries: 2,
        max_grapheme_chars: 10,
        max_reading_chars: 12,
        ..Default::default()
    };
    let long = "x".repeat(65);
    let cases: Vec<(&str, RawLexicon, ErrorCode, &str)> = vec![
        (
            "Brand",
            raw(vec![entry("a", None, Some("b"))]),
            ErrorCode::InvalidLexicon,
            "name 'Brand'",
        ),
        (
            "",
            raw(vec![entry("a", None, Some("b"))]),
            ErrorCode::InvalidLexicon,
            "1 to 64",
        ),
        (
            &long,
            raw(vec![entry("a", None, Some("b"))]),
            ErrorCode::InvalidLexicon,
            "name",
        ),
        (
            "ok",
            raw(vec![]),
            ErrorCode::InvalidLexicon,
            "entries is empty",
        ),
        (
            "ok",
            raw(vec![entry("a", None, Some("b")); 3]),
            ErrorCode::LexiconTooLarge,
            "entries has 3 items; the limit is 2",
        ),
        (
            "ok",
            raw(vec![entry(" ", None, Some("b"))]),
            ErrorCode::InvalidLexicon,
            "entries[0].grapheme is empty",
        ),
        (
            "ok",
            raw(vec![
                entry("a", None, Some("b")),
                entry("abcdefghijk", None, Some("b")),
            ]),
            ErrorCode::LexiconTooLarge,
            "entries[1].grapheme has 11 characters; the limit is 10",
        ),
        (
            "ok",
            raw(vec![entry("a", None, Some(&"b".repeat(13)))]),
            ErrorCode::LexiconTooLarge,
            "entries[0].alias has 13 characters; the limit is 12",
        ),
        (
            "ok",
            raw(vec![entry("a", Some("hɛ5o"), None)]),
            ErrorCode::InvalidLexicon,
            "entries[0].phoneme has '5'",
        ),
        (
            "ok",
            raw(vec![entry("a", Some("b"), Some("c"))]),
            ErrorCode::InvalidLexicon,
            "both phoneme and alias",
        ),
        (
            "ok",
            raw(vec![entry("a", None, None)]),
            ErrorCode::InvalidLexicon,
            "neither",
        ),
        (
            "ok",
            raw(vec![entry("a\u{1b}", None, Some("b"))]),
            ErrorCode::InvalidLexicon,
            "entries[0].grapheme contains",
        ),
        (
            "ok",
            raw(vec![RawEntry {
                lang: Some("klingon".into()),
                ..entry("a", None, Some("b"))
            }]),
            ErrorCode::InvalidLexicon,
            "entries[0].lang",
        ),
        (
            "ok",
            RawLexicon {
                lang: Some("xx".into()),
                entries: vec![entry("a", None, Some("b"))],
            },
            ErrorCode::InvalidLexicon,
            "lang",
        ),
    ];
    for (name, lex, code, needle) in cases {
        let e = lex.validate(name, &limits).expect_err(needle);
        assert_eq!(e.code, code, "{needle}: {}", e.message);
        assert!(
            e.message.contains(needle),
            "'{}' lacks '{needle}'",
            e.message
        );
    }
}

#[test]
fn request_names_are_bounded_and_unique() {
    let l = LexiconLimits::default();
    assert!(check_request_names(&["a".into(), "b".into()], &l).is_ok());
    let many: Vec<String> = (0..5).map(|i| format!("l{i}")).collect();
    let e = check_request_names(&many, &l).unwrap_err();
    assert_eq!(e.code, ErrorCode::TooManyLexicons);
    assert!(e.message.contains("limit is 4"), "{}", e.message);
    let e = check_request_names(&["a".into(), "a".into()], &l).unwrap_err();
    assert!(e.message.contains("lexicons[1] repeats"), "{}", e.message);
    let e = check_request_names(&["A b".into()], &l).unwrap_err();
    assert!(e.message.contains("lexicons[0]"), "{}", e.message);
}

#[test]
fn the_wire_form_round_trips_and_is_checked_again() {
    let mut lex = raw(vec![
        entry("Polyvox", None, Some("poly vox")),
        entry("SQL", Some("sˈikwəl"), None),
    ])
    .validate("brand", &LexiconLimits::default())
    .unwrap();
    lex.version = 7;
    let json = serde_json::to_value(&lex).unwrap();
    assert_eq!(json["version"], 7);
    let back: Lexicon = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, lex);
    assert_eq!(back.digest(), lex.digest());
    let mut bad = json;
    bad["entries"][1]["phoneme"] = "s%q".into();
    assert!(serde_json::from_value::<Lexicon>(bad).is_err());
}
