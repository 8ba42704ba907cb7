//! Prints the normalized text, phonemes and chunks of a text, with timings.
//!
//! `cargo run --release -p polyvox-text --example phonemize -- [--lang en-gb] [--first N] [--max N] "text"`
//! (reads stdin when no text is given). Assets come from `$POLYVOX_ASSETS_DIR` or `~/.cache/polyvox`.

use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use polyvox_core::Lang;
use polyvox_text::{ChunkOptions, Frontend, Resources, normalize};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut lang, mut opts, mut text) = (Lang::EnUs, ChunkOptions::default(), String::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--lang" => lang = Lang::parse(&args.next().unwrap_or_default(), "--lang")?,
            "--first" => opts.first_max_ids = args.next().unwrap_or_default().parse()?,
            "--max" => opts.max_ids = args.next().unwrap_or_default().parse()?,
            _ => text = a,
        }
    }
    if text.is_empty() {
        std::io::stdin().read_to_string(&mut text)?;
    }
    let dir = std::env::var_os("POLYVOX_ASSETS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/polyvox")))
        .ok_or("set POLYVOX_ASSETS_DIR")?;
    let t = Instant::now();
    let fe = Frontend::load(&Resources::from_assets_dir(dir))?;
    eprintln!(
        "load: {:?} (espeak-ng: {:?})",
        t.elapsed(),
        fe.espeak_program()
    );
    println!("normalized: {}", normalize::spoken(&text, lang));
    let t = Instant::now();
    let phonemes = fe.phonemize(&text, lang)?;
    eprintln!(
        "phonemize: {:?} for {} chars",
        t.elapsed(),
        text.chars().count()
    );
    println!("phonemes: {phonemes}");
    let t = Instant::now();
    let chunks = fe.chunks(&text, lang, &opts)?;
    eprintln!("chunks: {:?}", t.elapsed());
    for c in &chunks {
        println!(
            "[{}] {} ids, pause {} ms, {:?}\n    {}",
            c.index,
            c.ids.len(),
            c.pause_after_ms,
            c.text,
            c.phonemes
        );
    }
    Ok(())
}
