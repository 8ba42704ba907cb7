//! `polyvox say` with the real Kokoro model. Ignored by a bare `cargo test` (they need the model
//! assets and minutes of CPU); `scripts/test.sh` runs them with `--include-ignored`.

mod common;
use common::*;

fn say_wav(text: &str, voice: &str, lang: &str) -> AudioCheck {
    let dir = tempdir();
    let out = dir.path().join("out.wav");
    let o = run(polyvox().args([
        "say",
        text,
        "-o",
        out.to_str().unwrap(),
        "--voice",
        voice,
        "--lang",
        lang,
        "-q",
    ]));
    assert!(o.status.success(), "say failed: {}", stderr(&o));
    assert!(
        stderr(&o).contains("real time"),
        "say reports the real-time factor: {}",
        stderr(&o)
    );
    let (rate, pcm) = read_wav(&out);
    assert!(pcm.iter().all(|x| x.is_finite()));
    check_audio(rate, &pcm)
}

#[test]
#[ignore = "needs the real model (scripts/test.sh runs it)"]
fn english_speech_is_plausible_for_both_accents() {
    let text = "Polyvox turns text into natural speech. It runs on your own machine, costs nothing per character, and keeps your data at home.";
    let chars = text.chars().count() as f64;
    for (voice, lang) in [
        ("af_heart", "en-us"),
        ("am_michael", "en-us"),
        ("bf_emma", "en-gb"),
        ("bm_george", "en-gb"),
    ] {
        let a = say_wav(text, voice, lang);
        // Read speech runs at roughly 10-20 characters a second.
        assert!(
            a.seconds > chars / 25.0 && a.seconds < chars / 6.0,
            "{voice}: {:.2}s for {chars} chars",
            a.seconds
        );
        assert!(
            a.rms > 0.02,
            "{voice}: audio is (nearly) silent, rms {}",
            a.rms
        );
        assert!(
            a.peak < 1.0 && a.clipped == 0,
            "{voice}: clipping, peak {} clipped {}",
            a.peak,
            a.clipped
        );
    }
}

#[test]
#[ignore = "needs the real model (scripts/test.sh runs it)"]
fn speed_changes_duration() {
    let text = "The quick brown fox jumps over the lazy dog, again and again.";
    let dir = tempdir();
    let mut secs = vec![];
    for speed in ["0.5", "2.0"] {
        let out = dir.path().join(format!("s{speed}.wav"));
        let o = run(polyvox().args([
            "say",
            text,
            "-o",
            out.to_str().unwrap(),
            "--speed",
            speed,
            "-q",
        ]));
        assert!(o.status.success(), "{}", stderr(&o));
        let (_, pcm) = read_wav(&out);
        secs.push(pcm.len() as f64 / 24_000.0);
    }
    assert!(
        secs[0] > 2.5 * secs[1],
        "half speed {:.2}s vs double speed {:.2}s",
        secs[0],
        secs[1]
    );
}

#[test]
#[ignore = "needs the real model (scripts/test.sh runs it)"]
fn every_format_from_extension_and_stdin() {
    let dir = tempdir();
    for ext in ["mp3", "opus", "flac", "wav", "pcm"] {
        let out = dir.path().join(format!("hello.{ext}"));
        let mut child = polyvox()
            .args(["say", "-o", out.to_str().unwrap(), "-q"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(
            child.stdin.as_mut().unwrap(),
            b"Hello from standard input, in every format.",
        )
        .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{ext}: {}", stderr(&o));
        let bytes = std::fs::read(&out).unwrap();
        let format = polyvox_core::AudioFormat::parse(ext, "ext").unwrap();
        let decoded = polyvox_audio::probe::decode(format, &bytes)
            .unwrap_or_else(|e| panic!("{ext} does not decode: {e}"));
        let secs = decoded.duration_secs();
        assert!((1.0..8.0).contains(&secs), "{ext}: {secs:.2}s");
    }
}

#[test]
#[ignore = "needs the real model (scripts/test.sh runs it)"]
fn unsupported_language_is_a_clean_error() {
    let dir = tempdir();
    let out = dir.path().join("x.wav");
    // Spanish is read through espeak-ng; with it switched off the language is not spoken here.
    let o = run(polyvox().args([
        "say",
        "hola",
        "-o",
        out.to_str().unwrap(),
        "--lang",
        "es",
        "--espeak",
        "off",
    ]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("error[unsupported_language]"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

/// 5,000+ characters become one file of plausible length; the chunk-level proof that nothing is
/// dropped or reordered is in polyvox-text (coverage) and polyvox-synth (audio order).
#[test]
#[ignore = "needs the real model (scripts/test.sh runs it)"]
fn five_thousand_characters_become_one_long_file() {
    let paragraph = "Chapter one. The lighthouse keeper climbed the stairs at dusk, counting each of the 114 steps as \
        he had done for 23 years; the lamp, the lens and the brass fittings waited for him at the top. \
        He polished the glass, checked the oil, and wrote in the log that the wind was from the north-east at \
        twenty knots. Ships passed in the dark, their lights moving slowly across the water, and none of them \
        ever knew his name. ";
    let mut text = String::new();
    let mut n = 1;
    while text.chars().count() < 5_000 {
        text.push_str(&paragraph.replace("Chapter one", &format!("Part {n}")));
        n += 1;
    }
    let dir = tempdir();
    let input = dir.path().join("long.txt");
    std::fs::write(&input, &text).unwrap();
    let out = dir.path().join("long.mp3");
    let o = run(polyvox().args([
        "say",
        "-f",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let decoded = polyvox_audio::probe::decode(
        polyvox_core::AudioFormat::Mp3,
        &std::fs::read(&out).unwrap(),
    )
    .unwrap();
    let secs = decoded.duration_secs();
    assert!(
        secs >= 240.0,
        "{} chars gave only {secs:.1}s of audio",
        text.chars().count()
    );
    assert!(secs <= 600.0, "{secs:.1}s is implausibly long");
}
