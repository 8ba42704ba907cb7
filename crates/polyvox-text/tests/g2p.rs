//! G2P against the real misaki lexicons, the vocabulary and (when installed) espeak-ng.

mod common;

use common::{frontend, frontend_offline, vocab};
use polyvox_core::{ErrorCode, Lang};
use polyvox_text::{EspeakMode, Frontend, Resources, TextError};

fn ps(text: &str, lang: Lang) -> String {
    frontend()
        .phonemize(text, lang)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

#[test]
fn gold_lexicon_snapshots() {
    for (text, want) in [
        ("hello world", "həlˈO wˈɜɹld"),
        ("Hello, world!", "həlˈO, wˈɜɹld!"),
        ("The cat sat.", "ðə kˈæt sˈæt."),
        ("I read books", "ˌI ɹˈid bˈʊks"),
        ("I have read it", "ˌI hæv ɹˈɛd ɪt"),
        ("to live", "tə lˈɪv"),
        ("live music", "lˈIv mjˈuzɪk"),
    ] {
        assert_eq!(ps(text, Lang::EnUs), want, "{text}");
    }
}

#[test]
fn british_and_american_differ() {
    let us = ps("tomato", Lang::EnUs);
    let gb = ps("tomato", Lang::EnGb);
    assert_eq!(us, "təmˈATO");
    assert_eq!(gb, "təmˈɑːtQ");
    assert_ne!(ps("hello", Lang::EnUs), ps("hello", Lang::EnGb));
}

#[test]
fn morphology_reaches_words_missing_from_the_lexicon() {
    let fe = frontend_offline();
    // Built from a known stem, not spelled: spelling would contain letter names.
    for word in ["Kubernetes's", "unfriendliness", "tomatoes", "dogs'"] {
        let p = fe.phonemize(word, Lang::EnUs).unwrap();
        assert!(!p.is_empty(), "{word}");
    }
    assert_eq!(fe.phonemize("cats", Lang::EnUs).unwrap(), "kˈæts");
    assert_eq!(fe.phonemize("walked", Lang::EnUs).unwrap(), "wˈɔkt");
}

#[test]
fn normalized_text_is_phonemized() {
    let p = ps("$5.50", Lang::EnUs);
    assert_eq!(p, ps("five dollars fifty cents", Lang::EnUs));
    assert_eq!(ps("Dr. Smith", Lang::EnUs), ps("doctor Smith", Lang::EnUs));
    assert_eq!(ps("FBI", Lang::EnUs), "ˌɛfbˌiˈI");
}

#[test]
#[ignore = "needs espeak-ng on PATH (scripts/test.sh installs it)"]
fn out_of_lexicon_words_go_through_espeak() {
    let fe = frontend();
    let program = fe.espeak_program().expect(
        "espeak-ng is not on PATH: install it (scripts/test.sh does) to test the OOV fallback",
    );
    let (symbols, _) = vocab();
    for lang in [Lang::EnUs, Lang::EnGb] {
        let p = fe.phonemize("Zyxtrobulator and Kwankwaso", lang).unwrap();
        assert!(
            p.chars().all(|c| symbols.contains(&c)),
            "{program:?} gave symbols outside the vocabulary: {p}"
        );
        // espeak reads the word; spelling would have one stressed letter name per letter.
        let spelled = frontend_offline().phonemize("Zyxtrobulator", lang).unwrap();
        let word = p.split(' ').next().unwrap_or_default();
        assert_ne!(
            word, spelled,
            "{lang}: espeak result equals letter spelling"
        );
        assert!(
            word.chars().count() < spelled.chars().count(),
            "{word} vs spelled {spelled}"
        );
    }
    // Cached answers are identical.
    assert_eq!(
        fe.phonemize("Zyxtrobulator", Lang::EnUs).unwrap(),
        fe.phonemize("Zyxtrobulator", Lang::EnUs).unwrap()
    );
}

#[test]
fn without_espeak_unknown_words_are_spelled() {
    let p = frontend_offline().phonemize("Zyx", Lang::EnUs).unwrap();
    assert_eq!(p, "zˌiwˌIˈɛks");
}

#[test]
fn ids_are_vocab_ids_of_the_phonemes() {
    let (symbols, _) = vocab();
    let chunks = frontend()
        .chunks("Hello world.", Lang::EnUs, &Default::default())
        .unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].phonemes, "həlˈO wˈɜɹld.");
    assert_eq!(chunks[0].ids.len(), chunks[0].phonemes.chars().count());
    assert!(chunks[0].phonemes.chars().all(|c| symbols.contains(&c)));
    // Spot-check against vocab.json: h=50, ə=83, space=16, '.'=4.
    assert_eq!(chunks[0].ids[..2], [50, 83]);
    assert_eq!(chunks[0].ids[5], 16);
    assert_eq!(chunks[0].ids.last(), Some(&4));
}

#[test]
fn errors_have_stable_codes() {
    let fe = frontend_offline();
    // Without espeak-ng the espeak-ng languages are unsupported; our own front ends are not.
    let err = fe
        .chunks("hola", Lang::Es, &Default::default())
        .unwrap_err();
    assert!(matches!(err, TextError::UnsupportedLanguage(Lang::Es)));
    assert_eq!(err.code(), ErrorCode::UnsupportedLanguage);
    assert!(fe.supports(Lang::Zh) && fe.supports(Lang::Ko) && fe.supports(Lang::EnGb));
    assert!(!fe.supports(Lang::Fr));
    assert_eq!(
        fe.phonemize("  \n ", Lang::EnUs).unwrap_err().code(),
        ErrorCode::EmptyInput
    );
    assert!(matches!(
        fe.phonemize("?!…", Lang::EnUs),
        Err(TextError::NothingToSpeak)
    ));
}

#[test]
fn missing_assets_and_bad_espeak_fail_at_load() {
    let res = Resources::from_assets_dir("/nonexistent/polyvox");
    let err = Frontend::load(&Resources {
        espeak: EspeakMode::Off,
        ..res
    })
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::AssetMissing);
    assert!(err.to_string().contains("polyvox models fetch"), "{err}");
    let bad = Resources {
        espeak: EspeakMode::Binary("/nonexistent/espeak-ng".into()),
        ..Resources::from_assets_dir(common::assets_dir())
    };
    assert!(matches!(
        Frontend::load(&bad),
        Err(TextError::EspeakUnusable { .. })
    ));
}

#[test]
fn frontend_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Frontend>();
    let fe = frontend_offline();
    let outputs: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| fe.phonemize("hello world", Lang::EnUs).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(outputs.iter().all(|o| o == "həlˈO wˈɜɹld"));
}

/// A stand-in for espeak-ng: answers `tˈɛst` per input line (or only once when `misaligned`)
/// and counts its invocations in a file.
#[cfg(unix)]
fn fake_espeak(
    dir: &std::path::Path,
    misaligned: bool,
) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let count = dir.join("calls");
    let body = if misaligned {
        "read -r first; echo 'tˈɛst'; cat > /dev/null"
    } else {
        "while IFS= read -r line; do echo 'tˈɛst'; done"
    };
    let script = dir.join("espeak-ng");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho call >> '{}'\n{body}\n", count.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, count)
}

/// Loads a front end whose espeak is a script this test just wrote. Another test's process spawn
/// can fork while our write handle to the script is still open; the child holds it until it
/// execs, and running the script meanwhile fails with ETXTBSY. That window closes within
/// milliseconds, so retry only that error.
#[cfg(unix)]
fn load_with_fake_espeak(res: &Resources) -> Frontend {
    for _ in 0..100 {
        match Frontend::load(res) {
            Err(e) if e.to_string().contains("Text file busy") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
    panic!("the fake espeak-ng stayed busy");
}

#[cfg(unix)]
#[test]
fn all_unknown_words_of_a_call_share_one_espeak_process() {
    let dir = tempfile::tempdir().unwrap();
    let (script, count) = fake_espeak(dir.path(), false);
    let res = Resources {
        espeak: EspeakMode::Binary(script),
        ..Resources::from_assets_dir(common::assets_dir())
    };
    let fe = load_with_fake_espeak(&res);
    let calls = || {
        std::fs::read_to_string(&count)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(calls(), 1, "one probe at load");
    let p = fe
        .phonemize("Blorptastic zwingle and the frobnicator", Lang::EnUs)
        .unwrap();
    assert_eq!(p, "tˈɛst tˈɛst ænd ðə tˈɛst");
    assert_eq!(calls(), 2, "three unknown words, one process");
    fe.phonemize("zwingle frobnicator", Lang::EnUs).unwrap();
    assert_eq!(calls(), 2, "cached words start no process");
    fe.phonemize("zwingle frobnicator", Lang::EnGb).unwrap();
    assert_eq!(calls(), 3, "the cache keeps accents apart");
}

#[cfg(unix)]
#[test]
fn misaligned_espeak_output_falls_back_to_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let (script, _) = fake_espeak(dir.path(), true);
    let res = Resources {
        espeak: EspeakMode::Binary(script),
        ..Resources::from_assets_dir(common::assets_dir())
    };
    let fe = load_with_fake_espeak(&res);
    let p = fe.phonemize("Zyx Qwv", Lang::EnUs).unwrap();
    assert_eq!(
        p,
        frontend_offline().phonemize("Zyx Qwv", Lang::EnUs).unwrap()
    );
    assert!(!p.contains("tˈɛst"));
}
