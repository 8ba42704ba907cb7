//! What input text may contain: the rule for invisible and control characters, applied once at
//! the validation boundary so every entry point (HTTP, jobs, `say`) treats them the same way.
//!
//! Design: each class of character that cannot be spoken gets one of three treatments, chosen by
//! what a sender most plausibly meant and what could go wrong if we guessed:
//!
//! | class | characters | rule |
//! |---|---|---|
//! | tab and line breaks | U+0009, U+000A, U+000D | kept (line breaks are pauses) |
//! | other line and page separators | U+000B, U+000C, U+0085, U+2028, U+2029 | replaced by `\n` |
//! | other C0 controls | U+0000–U+0008, U+000E–U+001F | rejected: `invalid_character` |
//! | DEL and C1 controls | U+007F–U+0084, U+0086–U+009F | rejected: `invalid_character` |
//! | bidi overrides | U+202D, U+202E | rejected: `invalid_character` |
//! | zero-width and invisible format | U+00AD, U+200B–U+200D, U+2060, U+FEFF, U+E0000–U+E007F | removed |
//! | bidi marks, embeddings, isolates | U+061C, U+200E, U+200F, U+202A–U+202C, U+2066–U+2069 | removed |
//!
//! Controls are rejected rather than dropped because they are never text: a NUL or an escape
//! sequence means the client sent the wrong bytes (a binary file, a terminal capture), and
//! silently speaking what is left would hide that. Bidi overrides are rejected because they make
//! the order a human sees differ from the order that is spoken ("Trojan Source"); right-to-left
//! text never needs them. Invisible characters that legitimately occur in copied text (byte-order
//! marks, zero-width joiners in emoji and Indic scripts, soft hyphens, direction marks) carry no
//! sound, so they are removed without fuss. Markup is not a character class: `<speak>` and `&amp;`
//! are ordinary text and are read as such.

use crate::{Error, ErrorCode};

/// What happens to one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharRule {
    /// Kept as is.
    Keep,
    /// Replaced by a line feed.
    LineBreak,
    /// Removed.
    Remove,
    /// The whole input is refused; the reason names the class.
    Reject(&'static str),
}

/// The rule for `c` (see the module table).
pub const fn rule(c: char) -> CharRule {
    match c {
        '\t' | '\n' | '\r' => CharRule::Keep,
        '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => CharRule::LineBreak,
        '\u{00}'..='\u{1F}' => CharRule::Reject("a control character"),
        '\u{7F}'..='\u{9F}' => CharRule::Reject("a control character"),
        '\u{202D}' | '\u{202E}' => CharRule::Reject("a bidirectional override"),
        '\u{AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => CharRule::Remove,
        '\u{E0000}'..='\u{E007F}' => CharRule::Remove,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202C}' => CharRule::Remove,
        '\u{2066}'..='\u{2069}' => CharRule::Remove,
        _ => CharRule::Keep,
    }
}

/// Applies [`rule`] to every character of `s` and trims the result. `field` names the request
/// field in the error, which also gives the code point and its position (in characters, from 1).
pub fn sanitize(s: &str, field: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match rule(c) {
            CharRule::Keep => out.push(c),
            CharRule::LineBreak => out.push('\n'),
            CharRule::Remove => {}
            CharRule::Reject(class) => {
                return Err(Error::new(
                    ErrorCode::InvalidCharacter,
                    format!(
                        "{field} contains {class} (U+{:04X}) at character {}; only tab and line \
                         breaks are allowed among control and direction-override characters",
                        c as u32,
                        i + 1
                    ),
                ));
            }
        }
    }
    let trimmed = out.trim();
    if trimmed.len() == out.len() {
        Ok(out)
    } else {
        Ok(trimmed.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_outside_tab_and_line_breaks_is_rejected_with_its_position() {
        for c in (0u32..0x20).chain(0x7F..0xA0).filter_map(char::from_u32) {
            let expected = match c {
                '\t' | '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' => continue,
                _ => c,
            };
            let err = sanitize(&format!("ab{expected}c"), "input").unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidCharacter, "{c:?}");
            assert!(
                err.message.contains("input")
                    && err.message.contains(&format!("U+{:04X}", c as u32))
                    && err.message.contains("at character 3"),
                "{c:?}: {}",
                err.message
            );
        }
    }

    #[test]
    fn separators_become_line_breaks_and_whitespace_is_kept() {
        assert_eq!(
            sanitize("a\u{0B}b\u{0C}c\u{85}d\u{2028}e\u{2029}f", "t").unwrap(),
            "a\nb\nc\nd\ne\nf"
        );
        assert_eq!(sanitize(" a\tb\r\nc \n", "t").unwrap(), "a\tb\r\nc");
    }

    #[test]
    fn zero_width_and_bidi_formatting_are_removed() {
        let invisible = [
            '\u{AD}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{E0001}',
            '\u{E007F}',
            '\u{061C}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
        ];
        for c in invisible {
            assert_eq!(sanitize(&format!("{c}he{c}llo{c}"), "t").unwrap(), "hello");
        }
        assert_eq!(sanitize("\u{FEFF}\u{200B}", "t").unwrap(), "");
    }

    #[test]
    fn bidi_overrides_are_rejected() {
        for c in ['\u{202D}', '\u{202E}'] {
            let err = sanitize(&format!("pay {c}01$"), "text").unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidCharacter);
            assert!(err.message.contains("bidirectional override"), "{err}");
            assert!(err.message.contains("text contains"), "{err}");
        }
    }

    #[test]
    fn markup_and_ordinary_scripts_are_untouched() {
        for s in [
            "<speak>hi</speak> &amp; <script>x</script>",
            "שלום עולם",
            "مرحبا",
            "नमस्ते",
            "こんにちは",
            "👩‍👩‍👧",
        ] {
            let kept = sanitize(s, "t").unwrap();
            // ZWJ inside the emoji family is removed; everything visible stays.
            assert_eq!(kept, s.replace('\u{200D}', ""), "{s}");
        }
    }
}
