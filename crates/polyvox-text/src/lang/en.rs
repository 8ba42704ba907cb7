//! English (American and British): the normalizer, misaki's lexicons and the espeak-ng fallback
//! for words they lack (see `g2p`). Also reads Latin words embedded in Japanese, Mandarin
//! and Korean.

use std::sync::Arc;

use polyvox_core::Lang;

use super::Reader;
use crate::espeak::Espeak;
use crate::g2p::{G2p, Seg};
use crate::lexicon::Lexicon;
use crate::normalize;
use crate::vocab::Vocab;

#[derive(Debug)]
pub(crate) struct English {
    pub(crate) us: Lexicon,
    pub(crate) gb: Lexicon,
    pub(crate) espeak: Option<Arc<Espeak>>,
    pub(crate) vocab: Vocab,
}

impl Reader for English {
    fn segments(&self, text: &str, lang: Lang) -> Vec<Seg> {
        let british = lang == Lang::EnGb;
        let tokens = normalize::normalize(text, if british { Lang::EnGb } else { Lang::EnUs });
        G2p {
            lexicon: if british { &self.gb } else { &self.us },
            espeak: self.espeak.as_deref(),
            vocab: &self.vocab,
            british,
        }
        .segments(&tokens)
    }
}
