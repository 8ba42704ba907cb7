//! Prints our phonemes for each line of stdin, one output line per input line (tab-separated:
//! text, phonemes), so other tools can compare them line by line; `scripts/ja_parity.py` does.
//!
//! `cargo run --release -p polyvox-text --example phonemize_lines -- [--lang ja] [--espeak] < corpus.txt`
//! (`--espeak`: espeak-ng's phonemes for the language instead of ours, as `POLYVOX_ESPEAK_G2P`
//! gives the server, the baseline route). Blank lines and lines starting with `#` are skipped. Assets come from `$POLYVOX_ASSETS_DIR`
//! or `~/.cache/polyvox`.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use polyvox_core::Lang;
use polyvox_text::{Frontend, Resources};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut lang, mut espeak) = (Lang::Ja, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--lang" => lang = Lang::parse(&args.next().unwrap_or_default(), "--lang")?,
            "--espeak" => espeak = true,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let dir = std::env::var_os("POLYVOX_ASSETS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/polyvox")))
        .ok_or("set POLYVOX_ASSETS_DIR")?;
    let mut res = Resources::from_assets_dir(dir);
    if espeak {
        res.espeak_langs = vec![lang];
    }
    let fe = Frontend::load(&res)?;
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let phonemes = fe.phonemize(text, lang)?;
        writeln!(out, "{text}\t{phonemes}")?;
    }
    Ok(())
}
