//! Property tests of the voice-spec grammar (`af_bella(2)+af_sky(1)`): whatever the string, the
//! parser answers with a valid spec or a typed error, and a spec's canonical form (what jobs store
//! and workers parse again) parses back to the same blend.
//!
//! Case count: proptest's default, overridable with `PROPTEST_CASES` (`scripts/test.sh` leaves it).

use polyvox_core::voice::{MAX_BLEND_VOICES, meets_min_share};
use polyvox_core::{ErrorCode, VOICES, VoiceSpec};
use proptest::prelude::*;

/// A name users might type: an id, display name or alias in any case, or something unknown.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(VOICES).prop_map(|v| v.id.to_string()),
        1 => prop::sample::select(VOICES).prop_map(|v| v.name.to_uppercase()),
        1 => prop::sample::select(vec!["alloy", "Shimmer", "ECHO", "misaki", "coral"]).prop_map(String::from),
        1 => "[a-z_]{0,10}",
        1 => "\\PC{0,6}",
    ]
}

/// A weight as text: mostly numbers, sometimes junk.
fn weight() -> impl Strategy<Value = String> {
    prop_oneof![
        // Log-uniform over the allowed range, so lopsided blends (1 : 100 000) are common.
        4 => (-4.0f32..2.0).prop_map(|e| 10f32.powf(e).to_string()),
        1 => any::<f32>().prop_map(|w| w.to_string()),
        1 => prop::sample::select(vec!["", "0", "-1", "nan", "inf", "1e3", " 2 ", "x", "1)", "(1"]).prop_map(String::from),
    ]
}

fn piece() -> impl Strategy<Value = String> {
    (name(), prop::option::of(weight()), " {0,2}").prop_map(|(n, w, pad)| match w {
        Some(w) => format!("{pad}{n}({w}){pad}"),
        None => format!("{pad}{n}{pad}"),
    })
}

/// Blend-shaped strings, plus raw noise made of the grammar's own characters.
fn spec_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(piece(), 1..=MAX_BLEND_VOICES + 2).prop_map(|p| p.join("+")),
        1 => "[a-z_()+0-9. ]{0,40}",
        1 => "\\PC{0,40}",
    ]
}

/// Well-formed blends with lopsided, log-uniform weights.
fn well_formed() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (prop::sample::select(VOICES), -4.0f32..2.0),
        1..=MAX_BLEND_VOICES,
    )
    .prop_map(|parts| {
        parts
            .iter()
            .map(|(v, e)| format!("{}({})", v.id, 10f32.powf(*e)))
            .collect::<Vec<_>>()
            .join("+")
    })
}

fn check_valid(spec: &VoiceSpec) -> Result<(), TestCaseError> {
    prop_assert!(!spec.parts.is_empty() && spec.parts.len() <= MAX_BLEND_VOICES);
    let sum: f32 = spec.parts.iter().map(|p| p.1).sum();
    prop_assert!((sum - 1.0).abs() < 1e-4, "shares sum to {}", sum);
    for (i, (id, share)) in spec.parts.iter().enumerate() {
        prop_assert!(
            VOICES.iter().any(|v| v.id == *id),
            "{} is not a catalogue id",
            id
        );
        prop_assert!(
            share.is_finite() && meets_min_share(*share),
            "{}: {}",
            id,
            share
        );
        prop_assert!(spec.parts[..i].iter().all(|p| p.0 != *id), "{} twice", id);
    }
    prop_assert!(spec.parts.iter().any(|p| p.0 == spec.primary()));
    Ok(())
}

proptest! {
    #[test]
    fn any_string_parses_to_a_valid_spec_or_a_typed_error(s in spec_text()) {
        match VoiceSpec::parse(&s, "voice") {
            Ok(spec) => check_valid(&spec)?,
            Err(e) => {
                prop_assert!(
                    matches!(e.code, ErrorCode::VoiceNotFound | ErrorCode::InvalidVoiceBlend),
                    "{:?}", e
                );
                prop_assert!(e.message.starts_with("voice"), "message names the field: {}", e.message);
            }
        }
    }

    #[test]
    fn canonical_form_parses_back_to_the_same_blend(s in prop_oneof![spec_text(), well_formed()]) {
        let Ok(spec) = VoiceSpec::parse(&s, "voice") else { return Ok(()) };
        let canonical = spec.canonical();
        let again = VoiceSpec::parse(&canonical, "voice")
            .map_err(|e| TestCaseError::fail(format!("{s:?} → {canonical:?} does not parse: {e}")))?;
        prop_assert_eq!(again.parts.len(), spec.parts.len());
        for ((a, wa), (b, wb)) in spec.parts.iter().zip(&again.parts) {
            prop_assert_eq!(a, b);
            prop_assert!((wa - wb).abs() < 1e-3, "{}: {} vs {} via {}", a, wa, wb, canonical);
        }
        // Formatting what was parsed from the canonical form is stable from then on.
        let third = VoiceSpec::parse(&again.canonical(), "voice").expect("parses");
        prop_assert_eq!(third.parts.iter().map(|p| p.0).collect::<Vec<_>>(), again.parts.iter().map(|p| p.0).collect::<Vec<_>>());
    }

    #[test]
    fn formatted_blends_keep_their_proportions(
        parts in prop::collection::vec((prop::sample::select(VOICES), 1.0f32..100.0), 1..=MAX_BLEND_VOICES)
    ) {
        let text = parts.iter().map(|(v, w)| format!("{}({w})", v.id)).collect::<Vec<_>>().join(" + ");
        let spec = VoiceSpec::parse(&text, "voice").expect("well-formed blend");
        check_valid(&spec)?;
        // Repeated voices merge; the share of each is its summed weight over the total.
        let total: f32 = parts.iter().map(|p| p.1).sum();
        for (id, share) in &spec.parts {
            let w: f32 = parts.iter().filter(|p| p.0.id == *id).map(|p| p.1).sum();
            prop_assert!((share - w / total).abs() < 1e-4, "{}: {} vs {}", id, share, w / total);
        }
    }
}
