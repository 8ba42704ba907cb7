//! Every bad input to `polyvox say` gives a clear message, a stable code and exit status 2 —
//! without loading the model, so these run in a plain `cargo test`.

mod common;
use common::*;

#[test]
fn bad_inputs_fail_cleanly_with_codes() {
    let dir = tempdir();
    let out = dir.path().join("out.wav");
    let bad_utf8 = dir.path().join("latin1.txt");
    std::fs::write(&bad_utf8, b"caf\xe9 au lait").unwrap();
    let out_s = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["   ", "-o", out_s], "empty_input", "text"),
        (
            vec!["hello", "-o", out_s, "--voice", "zz_nobody"],
            "voice_not_found",
            "--voice",
        ),
        (
            vec!["hello", "-o", out_s, "--voice", "af_bella(2"],
            "invalid_voice_blend",
            "--voice",
        ),
        (
            vec!["hello", "-o", out_s, "--lang", "klingon"],
            "unknown_language",
            "--lang",
        ),
        (
            vec!["hello", "-o", out_s, "--speed", "4.5"],
            "speed_out_of_range",
            "[0.25, 4]",
        ),
        (
            vec!["hello", "-o", out_s, "--speed", "0.1"],
            "speed_out_of_range",
            "--speed",
        ),
        (
            vec!["hello", "-o", out_s, "--speed", "-1"],
            "speed_out_of_range",
            "--speed",
        ),
        (
            vec!["hello there", "-o", out_s, "--max-chars", "5"],
            "input_too_long",
            "limit is 5",
        ),
        (
            vec!["-f", bad_utf8.to_str().unwrap(), "-o", out_s],
            "invalid_utf8",
            "offset 3",
        ),
        (
            vec!["<speak>Hi <voice>x</voice></speak>", "-o", out_s],
            "invalid_ssml",
            "line 1, column 11: unknown element <voice>",
        ),
        (
            vec!["Hi <break time=\"9s\"/>", "-o", out_s, "--ssml"],
            "invalid_ssml",
            "line 1, column 1: text outside <speak>",
        ),
        (
            vec!["hello", "-o", "/nonexistent-dir/x/out.wav"],
            "output_unwritable",
            "/nonexistent-dir/x/out.wav",
        ),
        (
            vec![
                "hello",
                "-o",
                dir.path().to_str().unwrap(),
                "--format",
                "wav",
            ],
            "output_unwritable",
            "directory",
        ),
        (
            vec!["hello", "-o", "out.xyz"],
            "unsupported_format",
            "--format",
        ),
        (
            vec!["hello", "-o", out_s, "--format", "aac"],
            "unsupported_format",
            "--format",
        ),
    ];
    for (args, code, needle) in cases {
        let o = run(polyvox().arg("say").args(&args));
        let err = stderr(&o);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: expected exit 2, got {:?}; stderr: {err}",
            o.status
        );
        assert!(
            err.contains(&format!("error[{code}]")),
            "{args:?}: no code {code} in: {err}"
        );
        assert!(
            err.contains(needle),
            "{args:?}: message lacks '{needle}': {err}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    }
    assert!(
        !out.exists(),
        "no output file is left behind by a failed run"
    );
}

#[test]
fn clap_rejects_malformed_numbers_without_panicking() {
    let o = run(polyvox().args(["say", "hi", "-o", "x.wav", "--speed", "fast"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--speed"), "{}", stderr(&o));
    let o = run(polyvox().args(["say", "hi", "-o", "x.wav", "--max-chunk-ids", "9999"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--max-chunk-ids"), "{}", stderr(&o));
}

/// Secrets given through the environment never show in `--help`: clap prints an env var's
/// current value beside its flag unless told not to, and these carry passwords and keys.
#[test]
fn help_never_prints_configured_secrets() {
    let secrets = [
        (
            "DATABASE_URL",
            "postgres://app:pw-db-hunter2@db.internal/polyvox",
        ),
        (
            "REDIS_URL",
            "redis://:pw-redis-hunter2@cache.internal:6379/",
        ),
        ("AWS_ACCESS_KEY_ID", "AKIAHUNTER2EXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret-hunter2-key"),
        ("POLYVOX_WEBHOOK_SECRET", "whsec_aHVudGVyMi13ZWJob29r"),
    ];
    for sub in ["serve", "worker", "migrate", "keys"] {
        let mut cmd = polyvox();
        cmd.args([sub, "--help"]);
        for (k, v) in secrets {
            cmd.env(k, v);
        }
        let out = run(&mut cmd);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(out.status.success(), "{sub} --help: {text}");
        for (name, value) in secrets {
            assert!(!text.contains(value), "{sub} --help shows {name}'s value");
        }
    }
    // The flags themselves are still documented with their variables.
    let mut cmd = polyvox();
    cmd.args(["serve", "--help"]);
    let out = run(&mut cmd);
    let help = String::from_utf8_lossy(&out.stdout);
    for name in [
        "DATABASE_URL",
        "REDIS_URL",
        "AWS_SECRET_ACCESS_KEY",
        "POLYVOX_WEBHOOK_SECRET",
    ] {
        assert!(help.contains(name), "serve --help lost {name}");
    }
}
