//! Polyvox's text front end: text → per-language G2P → phoneme ids → chunks.
//!
//! Languages: English (US, UK) from misaki's lexicons; Japanese from an IPADIC dictionary built
//! at set-up (`lang::ja`); Mandarin from jieba + pinyin with tone sandhi (`lang::zh`); Korean by
//! rule, spoken through a Japanese voice (`lang::ko`); Spanish, French, Hindi, Italian and
//! Brazilian Portuguese through espeak-ng (`lang::espeak`). Each sits behind the small
//! `lang::Reader` trait; [`Frontend::chunks`] reads a text in one language and
//! [`Frontend::chunks_auto`] detects the language sentence by sentence.
//!
//! The pipeline is pure apart from reading the assets once in [`Frontend::load`] and running the
//! `espeak-ng` program as a separate process (optional; without it English spells unknown words
//! and the espeak-ng languages are unsupported). A [`Frontend`] is `Send + Sync`: load it once
//! and share it behind an `Arc`; calls are CPU-bound and belong on a blocking thread.
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
mod lang;
mod lexicon;
pub mod normalize;
mod pronounce;
mod ssml;
mod vocab;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polyvox_core::Lang;

pub use chunk::{Chunk, ChunkBreak, ChunkOptions, ChunkWord};
pub use error::TextError;
pub use pronounce::Pronunciations;

use espeak::Espeak;
use g2p::Seg;
use lang::Reader;
use lexicon::Lexicon;
use vocab::Vocab;

/// The Japanese dictionary: where it lives and how `polyvox models fetch` builds it.
pub mod ja_dict {
    pub use crate::lang::ja::{
        IPADIC_SOURCE_DIR, build_dictionary as build, dictionary_path, is_built,
    };
}

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
    /// Whether and where to run espeak-ng for words the lexicons lack (and for es, fr, hi, it,
    /// pt-br).
    pub espeak: EspeakMode,
    /// The Japanese dictionary built by `polyvox models fetch`; without it Japanese is unsupported.
    pub ja_dict: PathBuf,
    /// Languages to read through espeak-ng instead of our own front end: the baseline that
    /// QUALITY.md measures ja, zh and ko against. Empty in normal use.
    pub espeak_langs: Vec<Lang>,
}

impl Resources {
    /// The layout `polyvox models fetch` creates: `<dir>/vocab.json`, `<dir>/lexicons/`.
    pub fn from_assets_dir(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        Self {
            vocab_path: dir.join("vocab.json"),
            lexicon_dir: dir.join("lexicons"),
            espeak: EspeakMode::Auto,
            ja_dict: lang::ja::dictionary_path(dir),
            espeak_langs: Vec::new(),
        }
    }
}

/// A language's reader, or Japanese whose dictionary may not be read yet.
enum Route<'a> {
    Ready(&'a dyn Reader),
    Japanese(&'a lang::ja::OnDemand),
}

/// The loaded front end, every language's reader. Construct once; share via `Arc`.
pub struct Frontend {
    vocab: Vocab,
    en: Arc<lang::en::English>,
    ja: Option<lang::ja::OnDemand>,
    zh: lang::zh::Mandarin,
    ko: lang::ko::Korean,
    espeak: Option<lang::espeak::EspeakReader>,
    espeak_langs: Vec<Lang>,
}

impl std::fmt::Debug for Frontend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frontend")
            .field("ja", &self.ja)
            .field("espeak", &self.espeak.is_some())
            .finish_non_exhaustive()
    }
}

impl Frontend {
    /// Reads the vocabulary and the four lexicons (in parallel), checks espeak-ng and that the
    /// Japanese dictionary is built; the dictionary itself is read at the first Japanese text.
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
        }
        .map(Arc::new);
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
        let vocab = vocab?;
        let mut expected: Vec<char> = polyvox_core::lexicon::PHONEME_SYMBOLS.chars().collect();
        expected.sort_unstable();
        if vocab.symbols() != expected {
            // Lexicon phonemes are checked against the constant at the API; a model with another
            // vocabulary would drop the symbols it lacks.
            tracing::warn!(
                path = %res.vocab_path.display(),
                "the phoneme vocabulary differs from the one lexicon entries are checked against"
            );
        }
        let en = Arc::new(lang::en::English {
            us: us?,
            gb: gb?,
            espeak: espeak.clone(),
            vocab: vocab.clone(),
        });
        let ja = if lang::ja::is_built(&res.ja_dict) {
            Some(lang::ja::OnDemand::new(res.ja_dict.clone(), en.clone()))
        } else {
            tracing::warn!(dict = %res.ja_dict.display(), "Japanese dictionary not built; Japanese is unsupported (run `polyvox models fetch` with Debian's mecab-ipadic installed)");
            None
        };
        let fe = Self {
            zh: lang::zh::Mandarin::new(en.clone()),
            ko: lang::ko::Korean::new(en.clone()),
            espeak: espeak.map(|espeak| lang::espeak::EspeakReader { espeak }),
            espeak_langs: res.espeak_langs.clone(),
            vocab,
            en,
            ja,
        };
        tracing::info!(
            lexicon_entries = fe.en.us.len() + fe.en.gb.len(),
            japanese = if fe.ja.is_some() { "on first use" } else { "unsupported" },
            espeak = ?fe.espeak.as_ref().map(|e| e.espeak.program().display().to_string()),
            "text front end loaded"
        );
        Ok(fe)
    }

    /// Whether this front end can read `lang`: English, Mandarin and Korean always, Japanese
    /// when its dictionary is built (before it is first read), the espeak-ng languages when
    /// espeak-ng works.
    pub fn supports(&self, lang: Lang) -> bool {
        self.route(lang).is_some()
    }

    /// The espeak-ng program used for unknown words, if any (for diagnostics).
    pub fn espeak_program(&self) -> Option<&Path> {
        self.espeak.as_ref().map(|e| e.espeak.program())
    }

    /// Who reads `lang`, without loading anything.
    fn route(&self, lang: Lang) -> Option<Route<'_>> {
        let espeak = || self.espeak.as_ref().map(|r| Route::Ready(r));
        if self.espeak_langs.contains(&lang) {
            return espeak();
        }
        match lang {
            Lang::EnUs | Lang::EnGb => Some(Route::Ready(self.en.as_ref())),
            Lang::Ja => self.ja.as_ref().map(Route::Japanese),
            Lang::Zh => Some(Route::Ready(&self.zh)),
            Lang::Ko => Some(Route::Ready(&self.ko)),
            Lang::Es | Lang::Fr | Lang::Hi | Lang::It | Lang::PtBr => espeak(),
        }
    }

    /// The reader of `lang`; the first Japanese text loads the Japanese dictionary.
    fn reader(&self, lang: Lang) -> Result<&dyn Reader, TextError> {
        match self.route(lang) {
            Some(Route::Ready(reader)) => Ok(reader),
            Some(Route::Japanese(ja)) => ja.reader(),
            None => Err(TextError::UnsupportedLanguage(lang)),
        }
    }

    /// Like [`Frontend::chunks`], but each sentence is read in its detected language
    /// (`polyvox_core::detect`), `fallback` where a sentence does not decide it.
    pub fn chunks_auto(
        &self,
        text: &str,
        fallback: Lang,
        opts: &ChunkOptions,
    ) -> Result<Vec<Chunk>, TextError> {
        self.chunks_auto_with(text, fallback, opts, &Pronunciations::default())
    }

    /// [`Frontend::chunks_auto`] with a request's own lexicons consulted first.
    pub fn chunks_auto_with(
        &self,
        text: &str,
        fallback: Lang,
        opts: &ChunkOptions,
        lex: &Pronunciations,
    ) -> Result<Vec<Chunk>, TextError> {
        if text.trim().is_empty() {
            return Err(TextError::EmptyInput);
        }
        let mut segs = Vec::new();
        for (range, lang) in lang::language_runs(text, fallback) {
            let reader = self.reader(lang)?;
            segs.extend(pronounce::read(reader, text, range, lang, lex));
        }
        chunk::chunk(text, &self.filter(segs), opts, &self.vocab)
    }

    /// Keeps only symbols in Kokoro's vocabulary; drops segments left empty.
    fn filter(&self, segs: Vec<Seg>) -> Vec<Seg> {
        segs.into_iter()
            .filter_map(|mut s| {
                s.phonemes = self.vocab.filter(&s.phonemes).trim().to_owned();
                (!s.phonemes.is_empty()).then_some(s)
            })
            .collect()
    }

    /// Splits `text` into chunks of at most `opts` ids, each with its phonemes and ids.
    pub fn chunks(
        &self,
        text: &str,
        lang: Lang,
        opts: &ChunkOptions,
    ) -> Result<Vec<Chunk>, TextError> {
        self.chunks_with(text, lang, opts, &Pronunciations::default())
    }

    /// [`Frontend::chunks`] with a request's own lexicons consulted first.
    pub fn chunks_with(
        &self,
        text: &str,
        lang: Lang,
        opts: &ChunkOptions,
        lex: &Pronunciations,
    ) -> Result<Vec<Chunk>, TextError> {
        let segs = self.segments(text, lang, lex)?;
        chunk::chunk(text, &segs, opts, &self.vocab)
    }

    /// The whole text as one phoneme string (for debugging and snapshots; not length-limited).
    pub fn phonemize(&self, text: &str, lang: Lang) -> Result<String, TextError> {
        self.phonemize_with(text, lang, &Pronunciations::default())
    }

    /// [`Frontend::phonemize`] with a request's own lexicons consulted first.
    pub fn phonemize_with(
        &self,
        text: &str,
        lang: Lang,
        lex: &Pronunciations,
    ) -> Result<String, TextError> {
        let segs = self.segments(text, lang, lex)?;
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

    fn segments(
        &self,
        text: &str,
        lang: Lang,
        lex: &Pronunciations,
    ) -> Result<Vec<Seg>, TextError> {
        let reader = self.reader(lang)?;
        if text.trim().is_empty() {
            return Err(TextError::EmptyInput);
        }
        Ok(self.filter(pronounce::read(reader, text, 0..text.len(), lang, lex)))
    }

    /// The symbols of the loaded phoneme vocabulary, sorted (diagnostics and tests: they should
    /// be `polyvox_core::lexicon::PHONEME_SYMBOLS`, which the API checks lexicon entries with).
    pub fn phoneme_symbols(&self) -> Vec<char> {
        self.vocab.symbols()
    }
}
