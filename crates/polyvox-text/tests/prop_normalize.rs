//! Property tests of the normalizer alone (no assets needed, so many cases are cheap): on
//! numeric and address forms with extreme or impossible values, markup and odd Unicode, it never
//! panics, its token spans lie on character boundaries inside the input, in input order, and
//! tokens that share a span are adjacent (the chunker relies on all three).
//!
//! Case count: proptest's default (256), overridable with `PROPTEST_CASES`.

use polyvox_core::Lang;
use polyvox_text::normalize::{TokenKind, normalize, spoken};
use proptest::prelude::*;

/// Forms the normalizer has a rule for, with values well outside the usual ranges.
fn numeric() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| format!("{n}")),
        "[0-9]{1,40}",
        "[0-9]{1,3}(,[0-9]{3}){0,8}(\\.[0-9]{1,6})?",
        (
            "[$£€¥]",
            "[0-9]{1,25}",
            prop::option::of("\\.[0-9]{1,4}"),
            prop::option::of(" (million|billion|trillion|k|bn)")
        )
            .prop_map(|(c, n, d, s)| format!(
                "{c}{n}{}{}",
                d.unwrap_or_default(),
                s.unwrap_or_default()
            )),
        ("[0-9]{1,30}", "(st|nd|rd|th|ST|Th)").prop_map(|(n, s)| format!("{n}{s}")),
        ("-?[0-9]{1,20}(\\.[0-9]{1,10})?", "(%| %|‰)").prop_map(|(n, s)| format!("{n}{s}")),
        ("[0-9]{1,3}", "[0-9]{1,3}", "( ?[ap]\\.?m\\.?)?")
            .prop_map(|(h, m, s)| format!("{h}:{m}{s}")),
        ("[0-9]{1,5}", "[0-9]{1,3}", "[0-9]{1,3}").prop_map(|(y, m, d)| format!("{y}-{m}-{d}")),
        ("[0-9]{1,3}", "[0-9]{1,3}", "[0-9]{1,5}").prop_map(|(a, b, c)| format!("{a}/{b}/{c}")),
        (
            "(January|Feb|March|Sept\\.|dec)",
            " [0-9]{1,4}(, [0-9]{1,6})?"
        )
            .prop_map(|(m, d)| format!("{m}{d}")),
        ("[0-9]{1,12}", " ?(km|kg|mph|°C|°F|ms|GB|mi|lbs|x)").prop_map(|(n, u)| format!("{n}{u}")),
        ("[0-9]{1,15}", "[–-]", "[0-9]{1,15}").prop_map(|(a, d, b)| format!("{a}{d}{b}")),
        "'?[0-9]{1,4}s",
        "[0-9]{1,3}(\\.[0-9]{1,3}){1,5}",
        "[0-9]{1,5}e[+-]?[0-9]{1,4}",
        "\\+?[0-9]{1,3}[ -]?\\(?[0-9]{3}\\)?[ -]?[0-9]{3}-[0-9]{4}",
    ]
}

fn other() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z]{1,10}",
        "[A-Z]{2,6}",
        "([A-Za-z]\\.){1,4}",
        "https?://[a-z0-9.-]{1,20}(/[a-zA-Z0-9_?=&%.-]{0,20}){0,3}",
        "[a-z0-9._+-]{1,12}@[a-z0-9-]{1,12}\\.[a-z]{2,4}",
        "www\\.[a-z]{1,10}\\.(com|org|io)",
        prop::sample::select(vec![
            "Dr.",
            "Mr.",
            "St.",
            "etc.",
            "vs.",
            "e.g.",
            "i.e.",
            "No.",
            "Jr.",
            "U.K.",
            "a.m.",
            "<speak>",
            "</speak>",
            "<break time=\"1s\"/>",
            "<script>",
            "&amp;",
            "&lt;",
            "&#x41;",
            "#hashtag",
            "@user",
            "C++",
            "C#",
            ".NET",
            "R&D",
            "AT&T",
            "—",
            "–",
            "...",
            "…",
            "(",
            ")",
            "[",
            "]",
            "\"",
            "'",
            "“",
            "”",
            "!",
            "?",
            ",",
            ";",
            ":",
            "*",
            "/",
            "\\",
        ])
        .prop_map(str::to_owned),
        "\\PC{1,4}",
        "[\\p{Han}\\p{Hiragana}\\p{Cyrillic}\\p{Arabic}\\p{Devanagari}]{1,4}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop_oneof![2 => numeric(), 2 => other()],
            prop::sample::select(vec![
                "", " ", " ", " ", "  ", "\t", "\n", "\n\n", ", ", ". ", "-", "/",
            ]),
        ),
        1..40,
    )
    .prop_map(|parts| parts.into_iter().map(|(p, s)| format!("{p}{s}")).collect())
}

fn check_tokens(text: &str, lang: Lang) -> Result<(), TestCaseError> {
    let tokens = normalize(text, lang);
    let mut last_start = 0;
    let mut seen_spans: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let s = &t.span;
        prop_assert!(
            s.start <= s.end && s.end <= text.len(),
            "token {} span {:?} outside {} bytes",
            i,
            s,
            text.len()
        );
        prop_assert!(
            text.is_char_boundary(s.start) && text.is_char_boundary(s.end),
            "span {:?} splits a character",
            s
        );
        prop_assert!(
            s.start >= last_start,
            "token {} at {:?} goes back before {}",
            i,
            s,
            last_start
        );
        last_start = s.start;
        // A span shared by several tokens is one unit: its tokens are consecutive.
        if seen_spans.last() != Some(s) {
            prop_assert!(
                !seen_spans.contains(s) || t.is_punct(),
                "span {:?} reappears after another one",
                s
            );
            seen_spans.push(s.clone());
        }
        match &t.kind {
            TokenKind::Word(w) | TokenKind::Spell(w) | TokenKind::Phonemes(w) => {
                prop_assert!(!w.is_empty(), "empty word at {:?}", s)
            }
            TokenKind::Punct(_) => {}
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn spans_are_in_bounds_in_order_and_grouped(text in text(), british in any::<bool>()) {
        let lang = if british { Lang::EnGb } else { Lang::EnUs };
        check_tokens(&text, lang)?;
        // Deterministic, and the debug rendering never panics either.
        prop_assert_eq!(normalize(&text, lang), normalize(&text, lang));
        let _ = spoken(&text, lang);
    }

    #[test]
    fn arbitrary_unicode_never_breaks_the_spans(text in "\\PC{0,200}") {
        check_tokens(&text, Lang::EnUs)?;
    }
}
