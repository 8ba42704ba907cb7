//! Polyvox's text front end: normalize → G2P → phoneme ids → chunks, for English (US and UK).
//!
//! The pipeline is pure apart from reading the vocabulary and the misaki lexicons once in
//! [`Frontend::load`] and, for words no lexicon knows, running the `espeak-ng` program as a
//! separate process (optional; without it unknown words are spelled). A [`Frontend`] is
//! `Send + Sync`: load it once and share it behind an `Arc`; calls are CPU-bound and belong on a
//! blocking thread, not on an async runtime.
//!
//! ```no_run
//! # use polyvox_text::*;
//! # use polyvox_core::Lang;
//! let fe = Frontend::load(&Resources::from_assets_dir("/home/me/.cache/polyvox"))?;
//! for chunk in fe.chunks("Hello world. It's 3:30 pm.", Lang::EnUs, &ChunkOptions::default())? {
//!     println!("{} → {:?} then {} ms", chunk.text, chunk.ids, chunk.pause_after_ms);
//! }
//! # Ok::<(), TextError>(())
//! ```

mod chunk;
mod error;
mod espeak;
mod g2p;
mod lexicon;
pub mod normalize;
mod vocab;

use std::path::{Path, PathBuf};

use polyvox_core::Lang;

pub use chunk::{Chunk, ChunkOptions};
pub use error::TextError;

use espeak::Espeak;
use g2p::{G2p, Seg};
use lexicon::Lexicon;
use vocab::Vocab;

/// How to find espeak-ng, the fallback for words missing from the lexicons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EspeakMode {
    /// Use `espeak-ng` from `PATH` if it is there and works; otherwise spell unknown words.
    #[default]
    Auto,
    /// Never run espeak-ng; unknown words are spelled letter by letter.
    Off,
    /// Use this program; loading fails if it does not work.
    Binary(PathBuf),
}

/// Where the front end's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// Kokoro's `vocab.json` (`{"vocab": {symbol: id}}`).
    pub vocab_path: PathBuf,
    /// Directory with misaki's `us_gold.json`, `us_silver.json`, `gb_gold.json`, `gb_silver.json`.
    pub lexicon_dir: PathBuf,
    /// Whether and where to run espeak-ng for words the lexicons lack.
    pub espeak: EspeakMode,
}

impl Resources {
    /// The layout `polyvox models fetch` creates: `<dir>/vocab.json`, `<dir>/lexicons/`.
    pub fn from_assets_dir(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        Self {
            vocab_path: dir.join("vocab.json"),
            lexicon_dir: dir.join("lexicons"),
            espeak: EspeakMode::Auto,
        }
    }
}

/// The loaded English front end. Construct once; share via `Arc`.
#[derive(Debug)]
pub struct Frontend {
    vocab: Vocab,
    us: Lexicon,
    gb: Lexicon,
    espeak: Option<Espeak>,
}

impl Frontend {
    /// Reads the vocabulary and the four lexicons (in parallel) and checks espeak-ng.
    pub fn load(res: &Resources) -> Result<Self, TextError> {
        let espeak = match &res.espeak {
            EspeakMode::Off => None,
            EspeakMode::Auto => Espeak::find_on_path().and_then(|p| match Espeak::probe(&p) {
                Ok(e) => Some(e),
                Err(why) => {
                    tracing::warn!(program = %p.display(), %why, "espeak-ng found but unusable; unknown words will be spelled");
                    None
                }
            }),
            EspeakMode::Binary(p) => {
                Some(Espeak::probe(p).map_err(|reason| TextError::EspeakUnusable { path: p.clone(), reason })?)
            }
        };
        let dir = &res.lexicon_dir;
        let (vocab, us, gb) = std::thread::scope(|s| {
            let us = s.spawn(|| {
                Lexicon::load(
                    &dir.join("us_gold.json"),
                    &dir.join("us_silver.json"),
                    false,
                )
            });
            let gb = s.spawn(|| {
                Lexicon::load(&dir.join("gb_gold.json"), &dir.join("gb_silver.json"), true)
            });
            let vocab = Vocab::load(&res.vocab_path);
            let join = |h: std::thread::ScopedJoinHandle<'_, Result<Lexicon, TextError>>| {
                h.join().unwrap_or_else(|_| {
                    Err(TextError::AssetInvalid {
                        path: dir.clone(),
                        reason: "lexicon loader panicked".into(),
                    })
                })
            };
            (vocab, join(us), join(gb))
        });
        let fe = Self {
            vocab: vocab?,
            us: us?,
            gb: gb?,
            espeak,
        };
        tracing::info!(
            lexicon_entries = fe.us.len() + fe.gb.len(),
            espeak = ?fe.espeak.as_ref().map(|e| e.program().display().to_string()),
            "text front end loaded"
        );
        Ok(fe)
    }

    /// Whether this front end can read `lang` (en-us and en-gb for now).
    pub fn supports(&self, lang: Lang) -> bool {
        matches!(lang, Lang::EnUs | Lang::EnGb)
    }

    /// The espeak-ng program used for unknown words, if any (for diagnostics).
    pub fn espeak_program(&self) -> Option<&Path> {
        self.espeak.as_ref().map(Espeak::program)
    }

    /// Splits `text` into chunks of at most `opts` ids, each with its phonemes and ids.
    pub fn chunks(
        &self,
        text: &str,
        lang: Lang,
        opts: &ChunkOptions,
    ) -> Result<Vec<Chunk>, TextError> {
        let segs = self.segments(text, lang)?;
        chunk::chunk(text, &segs, opts, &self.vocab)
    }

    /// The whole text as one phoneme string (for debugging and snapshots; not length-limited).
    pub fn phonemize(&self, text: &str, lang: Lang) -> Result<String, TextError> {
        let segs = self.segments(text, lang)?;
        if segs.iter().all(|s| s.punct.is_some()) {
            return Err(TextError::NothingToSpeak);
        }
        let mut out = String::new();
        for seg in &segs {
            if seg.space_before && !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&seg.phonemes);
        }
        Ok(out)
    }

    fn segments(&self, text: &str, lang: Lang) -> Result<Vec<Seg>, TextError> {
        let lexicon = match lang {
            Lang::EnUs => &self.us,
            Lang::EnGb => &self.gb,
            other => return Err(TextError::UnsupportedLanguage(other)),
        };
        if text.trim().is_empty() {
            return Err(TextError::EmptyInput);
        }
        let tokens = normalize::normalize(text, lang);
        let g2p = G2p {
            lexicon,
            espeak: self.espeak.as_ref(),
            vocab: &self.vocab,
            british: lang == Lang::EnGb,
        };
        Ok(g2p.segments(&tokens))
    }
}
