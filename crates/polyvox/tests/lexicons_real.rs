//! Pronunciation lexicons with the real model and the ASR judge: `polyvox say --lexicon` with an
//! alias entry and with an IPA entry makes the judge hear the replacement ("banana") where the
//! written word was, captions still show the written word, and the audio differs from the same
//! text read without the lexicon. The alias also reaches the words of SSML input.

mod common;
use common::*;

fn judge(wav: &std::path::Path) -> String {
    let o = asr_judge("judge.py")
        .args(["--lang", "en", "--ref", "x", wav.to_str().unwrap()])
        .output()
        .expect("running the judge");
    assert!(o.status.success(), "judge failed: {}", stderr(&o));
    let line = String::from_utf8_lossy(&o.stdout)
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a JSON line")
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    v["transcript"].as_str().unwrap().to_lowercase()
}

fn say(
    dir: &std::path::Path,
    name: &str,
    text: &str,
    lexicon: Option<&std::path::Path>,
    extra: &[&str],
) -> std::path::PathBuf {
    let out = dir.join(format!("{name}.wav"));
    let captions = dir.join(format!("{name}.vtt"));
    let mut cmd = polyvox();
    cmd.args([
        "say",
        text,
        "-o",
        out.to_str().unwrap(),
        "--voice",
        "af_heart",
        "--lang",
        "en-us",
        "-q",
    ]);
    cmd.args(["--captions", captions.to_str().unwrap()]);
    cmd.args(extra);
    if let Some(l) = lexicon {
        cmd.args(["--lexicon", l.to_str().unwrap()]);
    }
    let o = run(&mut cmd);
    assert!(o.status.success(), "{text}: {}", stderr(&o));
    out
}

#[test]
#[ignore = "needs the real model and the ASR judge (scripts/test.sh sets both up)"]
fn the_judge_hears_the_alias_and_the_ipa_entry() {
    let dir = tempdir();
    let text = "Our new product is called Polyvox and everyone loves it.";
    let alias = dir.path().join("brand.json");
    std::fs::write(
        &alias,
        r#"{"lang": "en-us", "entries": [{"grapheme": "Polyvox", "alias": "banana split"}]}"#,
    )
    .unwrap();
    let ipa = dir.path().join("brand.pls");
    std::fs::write(
        &ipa,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en-US">
  <lexeme><grapheme>polyvox</grapheme><phoneme>bənˈænə</phoneme></lexeme>
</lexicon>"#,
    )
    .unwrap();

    let plain = say(dir.path(), "plain", text, None, &[]);
    let heard = judge(&plain);
    eprintln!("without a lexicon: {heard}");
    assert!(!heard.contains("banana"), "{heard}");

    let aliased = say(dir.path(), "alias", text, Some(&alias), &[]);
    let heard = judge(&aliased);
    eprintln!("alias entry: {heard}");
    assert!(heard.contains("banana"), "the alias is spoken: {heard}");
    assert_ne!(
        std::fs::read(&plain).unwrap(),
        std::fs::read(&aliased).unwrap()
    );
    let vtt = std::fs::read_to_string(dir.path().join("alias.vtt")).unwrap();
    assert!(
        vtt.contains("Polyvox"),
        "captions keep the written word: {vtt}"
    );
    assert!(!vtt.contains("banana"), "{vtt}");

    let phonemes = say(dir.path(), "ipa", text, Some(&ipa), &[]);
    let heard = judge(&phonemes);
    eprintln!("IPA entry: {heard}");
    assert!(heard.contains("banana"), "the given IPA is spoken: {heard}");

    let ssml = format!("<speak><s>{text}</s></speak>");
    let marked = say(dir.path(), "ssml", &ssml, Some(&alias), &["--ssml"]);
    let heard = judge(&marked);
    eprintln!("SSML with the alias entry: {heard}");
    assert!(
        heard.contains("banana"),
        "the alias applies to SSML text: {heard}"
    );
    let vtt = std::fs::read_to_string(dir.path().join("ssml.vtt")).unwrap();
    assert!(
        vtt.contains("Polyvox"),
        "captions keep the written word: {vtt}"
    );
}

/// Refused before the model loads: needs no assets.
#[test]
fn a_bad_lexicon_file_is_refused_before_synthesis() {
    let dir = tempdir();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"entries": [{"grapheme": "a", "phoneme": "h5"}]}"#).unwrap();
    let pls = dir.path().join("bad.pls");
    std::fs::write(&pls, "<lexicon>\n<lexeme><grapheme>a</lexeme>").unwrap();
    let out = dir.path().join("out.wav");
    for (file, needle) in [(&bad, "entries[0].phoneme has '5'"), (&pls, "line 2")] {
        let o = run(polyvox().args([
            "say",
            "a",
            "-o",
            out.to_str().unwrap(),
            "--lexicon",
            file.to_str().unwrap(),
        ]));
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(
            err.contains(&*file.to_string_lossy()) && err.contains(needle),
            "{err}"
        );
        assert!(err.contains("invalid_lexicon"), "{err}");
        assert!(!out.exists(), "no output for a refused request");
    }
}
