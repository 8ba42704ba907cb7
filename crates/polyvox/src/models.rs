//! `polyvox models fetch | verify | list`.

use anyhow::bail;
use polyvox_engine::assets::{AssetDir, FetchEvent};

pub fn fetch(assets: &AssetDir) -> anyhow::Result<()> {
    eprintln!("Model assets in {}", assets.root().display());
    let report = assets.fetch(&mut |event| match event {
        FetchEvent::Checked { ok, total } => eprintln!("  {ok} of {total} files already verified"),
        FetchEvent::Downloading { package, command } => {
            eprintln!("  downloading {package}: {command}")
        }
        FetchEvent::Downloaded {
            package,
            reused: true,
            ..
        } => eprintln!("  reusing the download of {package}"),
        FetchEvent::Downloaded { .. } => {}
        FetchEvent::Installed { name, bytes } => {
            eprintln!("  installed {name} ({bytes} bytes, sha256 ok)")
        }
    })?;
    eprintln!(
        "Done: {} already present, {} installed, {} package(s) downloaded, {} reused.",
        report.already_ok,
        report.installed.len(),
        report.downloaded.len(),
        report.reused.len()
    );
    build_japanese_dictionary(assets);
    Ok(())
}

/// Builds the Japanese dictionary from Debian's mecab-ipadic (or `POLYVOX_IPADIC_DIR`) once.
/// Without the sources Japanese is unavailable but everything else works, so this warns rather
/// than fails.
pub fn build_japanese_dictionary(assets: &AssetDir) {
    use polyvox_text::ja_dict;
    let dict = ja_dict::dictionary_path(assets.root());
    if ja_dict::is_built(&dict) {
        eprintln!("  Japanese dictionary present ({})", dict.display());
        return;
    }
    let src = std::env::var_os("POLYVOX_IPADIC_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| ja_dict::IPADIC_SOURCE_DIR.into());
    eprintln!(
        "  building the Japanese dictionary from {} (EUC-JP IPADIC CSVs; about a minute)",
        src.display()
    );
    let started = std::time::Instant::now();
    match ja_dict::build(&src, &dict) {
        Ok(_) => eprintln!("  built {} in {:.0?}", dict.display(), started.elapsed()),
        Err(e) => eprintln!(
            "  WARNING: Japanese will be unavailable: {e}. Install it with `apt-get install mecab-ipadic` \
             (or set POLYVOX_IPADIC_DIR) and run `polyvox models fetch` again."
        ),
    }
}

pub fn verify(assets: &AssetDir) -> anyhow::Result<()> {
    let rows = assets.verify(true);
    let bad: Vec<_> = rows.iter().filter(|r| !r.is_ok()).collect();
    for r in &bad {
        println!("BAD  {:<32} {}", r.name, r.problem());
    }
    if !bad.is_empty() {
        bail!(
            "{} of {} assets are missing or corrupt in {}; run `polyvox models fetch`",
            bad.len(),
            rows.len(),
            assets.root().display()
        );
    }
    println!(
        "all {} assets verified (size and sha256) in {}",
        rows.len(),
        assets.root().display()
    );
    Ok(())
}

pub fn list(assets: &AssetDir) {
    println!("assets in {}", assets.root().display());
    for r in assets.verify(false) {
        let state = if r.is_ok() {
            "ok".to_string()
        } else {
            r.problem()
        };
        println!("{:<36} {:>11} bytes  {}", r.name, r.expected_size, state);
    }
}
