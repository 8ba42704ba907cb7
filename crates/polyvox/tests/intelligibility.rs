//! Intelligibility of our English speech, scored by our ASR judge (`tests/asr/judge.py`,
//! Whisper base).
//! The sentences are our own, with numbers, abbreviations and a URL so the normalizer is judged
//! too; the judge scores against the text as written. Results land in
//! `$CARGO_TARGET_TMPDIR/quality-en.json` and QUALITY.md quotes them.

mod common;
use common::*;

/// (voice, language, text). The reference for scoring is the text itself: the judge spells out
/// digits on both sides, so "3:30 pm" and "three thirty pm" score alike.
const SENTENCES: &[(&str, &str, &str)] = &[
    (
        "af_heart",
        "en-us",
        "The meeting starts at 3:30 pm in room 12.",
    ),
    (
        "af_bella",
        "en-us",
        "Please bring your laptop, a charger, and two pens.",
    ),
    (
        "am_michael",
        "en-us",
        "Dr. Smith bought 45 tickets for the concert on March 3rd.",
    ),
    (
        "am_adam",
        "en-us",
        "The library opens early on weekdays and closes late on Fridays.",
    ),
    ("af_sky", "en-us", "Our sales grew by 15% last year."),
    (
        "bf_emma",
        "en-gb",
        "The train to London leaves from platform four every hour.",
    ),
    (
        "bm_george",
        "en-gb",
        "He bought a new umbrella because the forecast promised heavy rain.",
    ),
    (
        "bf_isabella",
        "en-gb",
        "Children were playing football in the park after school.",
    ),
    (
        "bm_lewis",
        "en-gb",
        "The museum will be closed for repairs until the end of June.",
    ),
    (
        "af_nicole",
        "en-us",
        "Visit example.com to read the full report.",
    ),
];

#[test]
#[ignore = "needs the real model and the ASR judge (scripts/test.sh sets both up)"]
fn english_word_error_rate_is_low() {
    let dir = tempdir();
    let mut tsv = String::new();
    for (i, (voice, lang, text)) in SENTENCES.iter().enumerate() {
        let out = dir.path().join(format!("s{i}-{voice}.wav"));
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
        assert!(o.status.success(), "{text}: {}", stderr(&o));
        tsv.push_str(&format!("{}\t{text}\n", out.display()));
    }
    let list = dir.path().join("list.tsv");
    std::fs::write(&list, tsv).unwrap();
    let o = asr_judge("judge.py")
        .args(["--lang", "en", "--batch", list.to_str().unwrap()])
        .output()
        .expect("running the judge");
    assert!(o.status.success(), "judge failed: {}", stderr(&o));
    let (mut errors, mut words) = (0u64, 0u64);
    let mut rows = vec![];
    for line in String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let e =
            v["sub"].as_u64().unwrap() + v["del"].as_u64().unwrap() + v["ins"].as_u64().unwrap();
        errors += e;
        words += v["ref_len"].as_u64().unwrap();
        eprintln!(
            "WER {:.3}  {}  | heard: {}",
            v["error_rate"].as_f64().unwrap(),
            v["ref"],
            v["transcript"]
        );
        rows.push(v);
    }
    assert_eq!(rows.len(), SENTENCES.len(), "judge scored every clip");
    let wer = errors as f64 / words as f64;
    eprintln!("corpus WER {wer:.4} ({errors}/{words})");
    let report =
        serde_json::json!({ "corpus_wer": wer, "errors": errors, "words": words, "clips": rows });
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("quality-en.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    assert!(wer <= 0.10, "English corpus WER {wer:.3} exceeds 0.10");
}
