//! `polyvox models fetch | verify | list`.

use anyhow::bail;
use polyvox_engine::assets::{AssetDir, FetchEvent};

pub fn fetch(assets: &AssetDir) -> anyhow::Result<()> {
    let report = assets.fetch(&mut |event: FetchEvent| eprintln!("  {event}"))?;
    eprintln!("{report}");
    Ok(())
}

pub fn verify(assets: &AssetDir) -> anyhow::Result<()> {
    let rows = assets.verify(true);
    let bad: Vec<_> = rows.iter().filter(|r| !r.is_ok()).collect();
    for r in &rows {
        println!("{r}");
    }
    if !bad.is_empty() {
        bail!("{} of {} assets are missing or corrupt; run `polyvox models fetch`", bad.len(), rows.len());
    }
    println!("all {} assets verified in {}", rows.len(), assets.root().display());
    Ok(())
}

pub fn list(assets: &AssetDir) {
    for r in assets.verify(false) {
        println!("{r}");
    }
}
