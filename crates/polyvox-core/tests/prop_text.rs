//! Property tests of the input-text rule ([`polyvox_core::text`]) and of request validation:
//! any input is either refused with a typed error naming the field, or comes out free of the
//! characters the rule removes or refuses, trimmed, and stable under a second pass.

use polyvox_core::request::FieldNames;
use polyvox_core::text::{CharRule, rule, sanitize};
use polyvox_core::{ErrorCode, Limits, RawSynthesisRequest};
use proptest::prelude::*;

/// Text that mixes ordinary letters with every special class the rule knows.
fn hostile_text() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '\u{0}',
        '\u{7}',
        '\t',
        '\n',
        '\r',
        '\u{b}',
        '\u{c}',
        '\u{1b}',
        '\u{7f}',
        '\u{85}',
        '\u{9f}',
        '\u{ad}',
        '\u{61c}',
        '\u{200b}',
        '\u{200d}',
        '\u{200e}',
        '\u{2028}',
        '\u{2029}',
        '\u{202a}',
        '\u{202c}',
        '\u{202d}',
        '\u{202e}',
        '\u{2060}',
        '\u{2066}',
        '\u{2069}',
        '\u{feff}',
        '\u{e0041}',
        ' ',
        '<',
        '&',
        ';',
    ]);
    prop::collection::vec(
        prop_oneof![3 => any::<char>(), 2 => special, 3 => prop::char::range('a', 'z')],
        0..120,
    )
    .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #[test]
    fn sanitize_refuses_or_cleans(s in hostile_text()) {
        let refused = s.chars().any(|c| matches!(rule(c), CharRule::Reject(_)));
        match sanitize(&s, "input") {
            Ok(out) => {
                prop_assert!(!refused, "{:?} should have been refused", s);
                prop_assert!(out.chars().all(|c| rule(c) == CharRule::Keep), "{:?} → {:?}", s, out);
                prop_assert_eq!(out.trim(), out.as_str());
                let again = sanitize(&out, "input");
                prop_assert_eq!(again.as_ref(), Ok(&out), "not idempotent");
                // Nothing visible is lost: the kept characters are the input's, in order.
                let visible: String = s.chars().filter(|c| rule(*c) == CharRule::Keep && !c.is_whitespace()).collect();
                let kept: String = out.chars().filter(|c| !c.is_whitespace()).collect();
                prop_assert_eq!(kept, visible);
            }
            Err(e) => {
                prop_assert!(refused, "{:?} refused: {}", s, e);
                prop_assert_eq!(e.code, ErrorCode::InvalidCharacter);
                prop_assert!(e.message.starts_with("input contains"), "{}", e.message);
            }
        }
    }

    #[test]
    fn validation_never_panics_and_names_the_field(
        text in hostile_text(),
        voice in prop::option::of("\\PC{0,20}"),
        lang in prop::option::of("[a-zA-Z_-]{0,8}"),
        speed in prop::option::of(any::<f32>()),
        format in prop::option::of("\\PC{0,6}"),
    ) {
        let raw = RawSynthesisRequest { text, voice, lang, speed, format };
        let limits = Limits { max_input_chars: 60, ..Limits::default() };
        match raw.clone().validate(&limits, FieldNames::OPENAI) {
            Ok(req) => {
                prop_assert!(!req.text.is_empty() && req.text.chars().count() <= 60);
                prop_assert!(req.speed.is_finite() && (0.25..=4.0).contains(&req.speed));
            }
            Err(e) => {
                let fields = ["input", "voice", "lang", "speed", "response_format"];
                prop_assert!(fields.iter().any(|f| e.message.contains(f)), "{:?}: {}", raw, e.message);
                prop_assert_ne!(e.code.http_status(), 500);
            }
        }
    }
}
