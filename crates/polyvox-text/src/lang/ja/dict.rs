//! The Japanese morphological dictionary: built once at set-up from Debian's `mecab-ipadic` CSVs
//! (EUC-JP, converted to UTF-8 here) into a vibrato binary dictionary under the assets
//! directory, then loaded at start.
//!
//! No dictionary is embedded in the binary or downloaded from a model hub: `polyvox models
//! fetch` calls [`build`], which writes the dictionary through a temporary file and then a stamp
//! (source size, output size and sha256). A dictionary without a matching stamp is treated as
//! absent, so an interrupted build is redone rather than half-loaded.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::TextError;

/// Where Debian's `mecab-ipadic` package puts the IPADIC sources.
pub const IPADIC_SOURCE_DIR: &str = "/usr/share/mecab/dic/ipadic";
/// Bumped when the build changes, so old dictionaries are rebuilt.
const FORMAT: &str = "polyvox-ja-dict 1 vibrato-0.5 ipadic";

/// The dictionary file and its stamp under an assets directory.
pub fn dictionary_path(assets_dir: &Path) -> PathBuf {
    assets_dir.join("ja").join("ipadic.vibrato")
}

fn stamp_path(dict: &Path) -> PathBuf {
    dict.with_extension("vibrato.stamp")
}

fn read_euc_jp(path: &Path) -> Result<String, TextError> {
    let bytes = std::fs::read(path).map_err(|source| TextError::AssetMissing {
        path: path.into(),
        source,
    })?;
    let (text, _, had_errors) = encoding_rs::EUC_JP.decode(&bytes);
    if had_errors {
        tracing::warn!(path = %path.display(), "some bytes were not EUC-JP; replaced");
    }
    Ok(text.into_owned())
}

fn invalid(path: &Path, reason: impl std::fmt::Display) -> TextError {
    TextError::AssetInvalid {
        path: path.into(),
        reason: reason.to_string(),
    }
}

/// Whether a complete dictionary (one whose stamp matches) is at `dict`.
pub fn is_built(dict: &Path) -> bool {
    let (Ok(stamp), Ok(meta)) = (std::fs::read_to_string(stamp_path(dict)), dict.metadata()) else {
        return false;
    };
    stamp.lines().next() == Some(FORMAT)
        && stamp
            .lines()
            .any(|l| l == format!("output_bytes {}", meta.len()))
}

/// Builds the dictionary from IPADIC sources in `src` into `dict` (skipped when already built).
/// Returns whether it built.
pub fn build(src: &Path, dict: &Path) -> Result<bool, TextError> {
    if is_built(dict) {
        return Ok(false);
    }
    let mut csvs: Vec<PathBuf> = std::fs::read_dir(src)
        .map_err(|source| TextError::AssetMissing {
            path: src.into(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    csvs.sort();
    if csvs.is_empty() {
        return Err(invalid(
            src,
            "no IPADIC *.csv here; install Debian's mecab-ipadic",
        ));
    }
    let mut lex = String::new();
    for p in &csvs {
        lex.push_str(&read_euc_jp(p)?);
        if !lex.ends_with('\n') {
            lex.push('\n');
        }
    }
    let char_def = read_euc_jp(&src.join("char.def"))?;
    let unk_def = read_euc_jp(&src.join("unk.def"))?;
    let matrix_path = src.join("matrix.def");
    let matrix = std::fs::File::open(&matrix_path).map_err(|source| TextError::AssetMissing {
        path: matrix_path.clone(),
        source,
    })?;
    let built = vibrato::SystemDictionaryBuilder::from_readers(
        lex.as_bytes(),
        BufReader::new(matrix),
        char_def.as_bytes(),
        unk_def.as_bytes(),
    )
    .map_err(|e| invalid(src, e))?;
    let dir = dict.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| TextError::AssetMissing {
        path: dir.into(),
        source,
    })?;
    let tmp = dict.with_extension("vibrato.partial");
    let io = |source| TextError::AssetMissing {
        path: tmp.clone(),
        source,
    };
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut w = BufWriter::new(file);
    built.write(&mut w).map_err(|e| invalid(&tmp, e))?;
    w.flush().map_err(io)?;
    drop(w);
    let bytes = std::fs::read(&tmp).map_err(io)?;
    let sha = hex_sha256(&bytes);
    std::fs::rename(&tmp, dict).map_err(io)?;
    let stamp = format!(
        "{FORMAT}\nsource {} ({} csv files, {} lexicon bytes)\noutput_bytes {}\nsha256 {sha}\n",
        src.display(),
        csvs.len(),
        lex.len(),
        bytes.len()
    );
    std::fs::write(stamp_path(dict), stamp).map_err(io)?;
    Ok(true)
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Loads a built dictionary into a tokenizer that skips spaces.
pub(crate) fn load(dict: &Path) -> Result<vibrato::Tokenizer, TextError> {
    if !is_built(dict) {
        return Err(TextError::AssetMissing {
            path: dict.into(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "Japanese dictionary not built (needs Debian's mecab-ipadic)",
            ),
        });
    }
    let file = std::fs::File::open(dict).map_err(|source| TextError::AssetMissing {
        path: dict.into(),
        source,
    })?;
    let d = vibrato::Dictionary::read(BufReader::new(file)).map_err(|e| invalid(dict, e))?;
    vibrato::Tokenizer::new(d)
        .ignore_space(true)
        .map_err(|e| invalid(dict, e))
}
