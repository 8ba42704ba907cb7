//! Derivation of the result cache's key, the one place it is made: the API (lookups, embedded
//! results) and the workers (their results) derive it from the same typed job
//! ([`crate::job::SpeechJob::cache_key`]), so equal keys always mean equal audio.
//!
//! The key must change whenever the audio could: text, voice or blend, language (and whether it
//! is detected per sentence), speed, format, the chunk plan (a stream's short first chunk splits
//! the text differently), model and front-end (normalizer/G2P) version, and the content of the
//! pronunciation lexicons the request applies. Fields are
//! length-prefixed before hashing so no two different field tuples can produce the same bytes.

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::SynthesisRequest;

/// Bumped when the derivation itself changes, which invalidates every old entry at once.
/// v2: the chunk plan is part of the key.
pub const CACHE_KEY_VERSION: &str = "polyvox-cache-v2";

/// Text as it is hashed: NFC (so composed and decomposed accents are one text), line endings
/// unified, runs of spaces and tabs collapsed, outer whitespace trimmed. Line breaks are kept:
/// they can change pauses.
pub fn normalize_text(text: &str) -> String {
    let nfc: String = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .nfc()
        .collect();
    let mut out = String::with_capacity(nfc.len());
    let mut in_space = false;
    for c in nfc.chars() {
        if c == ' ' || c == '\t' {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out.trim().to_string()
}

/// The content address of a request's audio: hex SHA-256 over the normalized text, canonical
/// voice, language, speed (4 decimals), format, chunk plan (`low_latency_start`), `model_id`,
/// `frontend_version` and the digest of every pronunciation lexicon the request applies.
pub fn cache_key(
    req: &SynthesisRequest,
    low_latency_start: bool,
    model_id: &str,
    frontend_version: &str,
) -> String {
    let mut h = Sha256::new();
    let speed = format!("{:.4}", req.speed);
    // Detected per sentence, mixed text can read differently from the same text with a fixed lang.
    let lang = if req.auto_lang {
        format!("{}+auto", req.lang)
    } else {
        req.lang.to_string()
    };
    let fields = [
        CACHE_KEY_VERSION,
        &normalize_text(&req.text),
        &req.voice.canonical(),
        &lang,
        &speed,
        req.format.as_str(),
        if low_latency_start {
            "plan:stream"
        } else {
            "plan:file"
        },
        model_id,
        frontend_version,
    ];
    for f in fields {
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
    // SSML renders the same characters differently from text; appended (not a field in the
    // list) so every key of a plain-text request stays what it was.
    if req.ssml.is_some() {
        let f = "input:ssml";
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
    // Only requests that name lexicons hash them, so every other key stays what it was. The
    // digest covers each entry, not just the version: audio made before an entry changed is
    // never an answer after.
    for lex in &req.lexicons {
        let f = format!("lexicon:{}", lex.digest());
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::FieldNames;
    use crate::{Limits, RawSynthesisRequest};

    fn req(text: &str, voice: &str, lang: &str, speed: f32, format: &str) -> SynthesisRequest {
        RawSynthesisRequest {
            text: text.into(),
            voice: Some(voice.into()),
            lang: Some(lang.into()),
            speed: Some(speed),
            format: Some(format.into()),
        }
        .validate(&Limits::default(), FieldNames::CLI)
        .expect("valid request")
    }

    #[test]
    fn equivalent_texts_share_a_key() {
        let k = |t: &str| {
            cache_key(
                &req(t, "af_heart", "en-us", 1.0, "mp3"),
                false,
                "kokoro-v1.0",
                "fe1",
            )
        };
        let base = k("Caf\u{e9}  au\tlait");
        assert_eq!(base.len(), 64);
        assert!(base.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            base,
            k("Cafe\u{301} au lait"),
            "NFD and NFC are the same text"
        );
        assert_eq!(base, k("  Caf\u{e9} au lait \r\n"));
        assert_ne!(base, k("Caf\u{e9}\nau lait"), "line breaks matter");
        assert_ne!(base, k("caf\u{e9} au lait"), "case matters");
    }

    #[test]
    fn ssml_and_the_same_characters_as_text_have_different_keys() {
        let src = "<speak>Hello <break time=\"1s\"/> there</speak>";
        let text = req(src, "af_heart", "en-us", 1.0, "mp3");
        let ssml = RawSynthesisRequest {
            text: src.into(),
            voice: Some("af_heart".into()),
            lang: Some("en-us".into()),
            speed: Some(1.0),
            format: Some("mp3".into()),
        }
        .validate_as(None, &Limits::default(), FieldNames::CLI)
        .unwrap();
        assert!(ssml.ssml.is_some() && text.ssml.is_none());
        assert_ne!(
            cache_key(&text, false, "m1", "f1"),
            cache_key(&ssml, false, "m1", "f1")
        );
    }

    #[test]
    fn lexicon_content_and_version_change_the_key() {
        use crate::lexicon::{LexiconLimits, RawEntry, RawLexicon};
        let lexicon = |alias: &str, version: u64| {
            let mut l = RawLexicon {
                lang: None,
                entries: vec![RawEntry {
                    grapheme: "Polyvox".into(),
                    alias: Some(alias.into()),
                    ..Default::default()
                }],
            }
            .validate("brand", &LexiconLimits::default())
            .unwrap();
            l.version = version;
            l
        };
        let key = |lexicons: Vec<crate::lexicon::Lexicon>| {
            let mut r = req("Polyvox", "af_heart", "en-us", 1.0, "mp3");
            r.lexicons = lexicons;
            cache_key(&r, false, "m1", "f1")
        };
        let plain = key(vec![]);
        let v1 = key(vec![lexicon("poly vox", 1)]);
        assert_ne!(plain, v1);
        assert_ne!(
            v1,
            key(vec![lexicon("banana split", 1)]),
            "same version, new entry"
        );
        assert_ne!(v1, key(vec![lexicon("poly vox", 2)]), "new version");
        assert_eq!(v1, key(vec![lexicon("poly vox", 1)]));
    }

    #[test]
    fn every_field_changes_the_key() {
        let base = cache_key(
            &req("Hello", "af_heart", "en-us", 1.0, "mp3"),
            false,
            "m1",
            "f1",
        );
        let variants = [
            cache_key(
                &req("Hello!", "af_heart", "en-us", 1.0, "mp3"),
                false,
                "m1",
                "f1",
            ),
            cache_key(
                &req("Hello", "af_bella", "en-us", 1.0, "mp3"),
                false,
                "m1",
                "f1",
            ),
            cache_key(
                &req("Hello", "af_heart+af_bella", "en-us", 1.0, "mp3"),
                false,
                "m1",
                "f1",
            ),
            cache_key(
                &req("Hello", "af_heart", "en-gb", 1.0, "mp3"),
                false,
                "m1",
                "f1",
            ),
            cache_key(
                &req("Hello", "af_heart", "en-us", 1.1, "mp3"),
                false,
                "m1",
                "f1",
            ),
            cache_key(
                &req("Hello", "af_heart", "en-us", 1.0, "wav"),
                false,
                "m1",
                "f1",
            ),
            cache_key(
                &req("Hello", "af_heart", "en-us", 1.0, "mp3"),
                false,
                "m2",
                "f1",
            ),
            cache_key(
                &req("Hello", "af_heart", "en-us", 1.0, "mp3"),
                false,
                "m1",
                "f2",
            ),
        ];
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(&base, v, "variant {i}");
        }
        assert_ne!(
            base,
            cache_key(
                &req("Hello", "af_heart", "en-us", 1.0, "mp3"),
                true,
                "m1",
                "f1"
            ),
            "the chunk plan changes the audio"
        );
        // Length prefixes: moving a boundary between fields changes the key.
        assert_ne!(
            cache_key(
                &req("Hello", "af_heart", "en-us", 1.0, "mp3"),
                false,
                "ab",
                "c"
            ),
            cache_key(
                &req("Hello", "af_heart", "en-us", 1.0, "mp3"),
                false,
                "a",
                "bc"
            ),
        );
        assert_eq!(
            base,
            cache_key(
                &req("Hello", "af_heart", "en-us", 1.0, "mp3"),
                false,
                "m1",
                "f1"
            )
        );
    }
}
