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
    Ok(())
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
