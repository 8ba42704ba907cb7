//! Suffix rules: possessive/plural `-s`, past `-ed` and progressive `-ing` of a known stem, with
//! the phonology misaki's `en.py` encodes (voicing of `-s`, `-ed` after t/d, US flapping),
//! written afresh here.

use super::{Lexicon, WordCtx};

/// Phonemes after which US English flaps a following t (`ɾ`).
const US_TAUS: &str = "AIOWYiuæɑəɛɪɹʊʌ";

impl Lexicon {
    pub(super) fn stem_s(&self, word: &str) -> Option<String> {
        if word.len() < 3 || !ends_with_ci(word, "s") {
            return None;
        }
        // Every suffix tested below is ASCII, so cutting its length in bytes stays on a char boundary.
        let cut = |n: usize| &word[..word.len() - n];
        let stem = if !ends_with_ci(word, "ss") && self.is_known(cut(1)) {
            cut(1).to_owned()
        } else if (ends_with_ci(word, "'s")
            || (word.len() > 4 && ends_with_ci(word, "es") && !ends_with_ci(word, "ies")))
            && self.is_known(cut(2))
        {
            cut(2).to_owned()
        } else if word.len() > 4
            && ends_with_ci(word, "ies")
            && self.is_known(&format!("{}y", cut(3)))
        {
            format!("{}y", cut(3))
        } else {
            return None;
        };
        self.direct(&stem, WordCtx::default())
            .map(|ps| self.add_s(&ps))
    }

    /// `-s` is voiceless after voiceless consonants and syllabic after sibilants.
    fn add_s(&self, stem: &str) -> String {
        match stem.chars().last() {
            Some(c) if "ptkfθ".contains(c) => format!("{stem}s"),
            Some(c) if "szʃʒʧʤ".contains(c) => {
                format!("{stem}{}z", if self.british { 'ɪ' } else { 'ᵻ' })
            }
            _ => format!("{stem}z"),
        }
    }

    pub(super) fn stem_ed(&self, word: &str) -> Option<String> {
        if word.len() < 4 || !ends_with_ci(word, "d") {
            return None;
        }
        let cut = |n: usize| &word[..word.len() - n];
        let stem = if !ends_with_ci(word, "dd") && self.is_known(cut(1)) {
            cut(1)
        } else if word.len() > 4
            && ends_with_ci(word, "ed")
            && !ends_with_ci(word, "eed")
            && self.is_known(cut(2))
        {
            cut(2)
        } else {
            return None;
        };
        self.direct(stem, WordCtx::default())
            .map(|ps| self.add_ed(&ps))
    }

    fn add_ed(&self, stem: &str) -> String {
        let mut chars = stem.chars().rev();
        let (last, before) = (chars.next(), chars.next());
        let weak = if self.british { 'ɪ' } else { 'ᵻ' };
        match last {
            Some(c) if "pkfθʃsʧ".contains(c) => format!("{stem}t"),
            Some('d') => format!("{stem}{weak}d"),
            Some('t') if self.british => format!("{stem}ɪd"),
            Some('t') if before.is_some_and(|b| US_TAUS.contains(b)) => {
                format!("{}ɾᵻd", &stem[..stem.len() - 1])
            }
            Some('t') => format!("{stem}ᵻd"),
            _ => format!("{stem}d"),
        }
    }

    pub(super) fn stem_ing(&self, word: &str) -> Option<String> {
        if word.len() < 5 || !ends_with_ci(word, "ing") {
            return None;
        }
        let base = &word[..word.len() - 3];
        let b = base.as_bytes();
        // Only ASCII consonants double ("running"), so dropping one byte stays on a char boundary.
        let doubled = b.len() >= 2
            && b[b.len() - 1].eq_ignore_ascii_case(&b[b.len() - 2])
            && b"bdgklmnprstvz".contains(&b[b.len() - 1].to_ascii_lowercase());
        let stem = if word.len() > 5 && self.is_known(base) {
            base.to_owned()
        } else if self.is_known(&format!("{base}e")) {
            format!("{base}e")
        } else if word.len() > 5
            && (doubled || ends_with_ci(word, "cking"))
            && self.is_known(&base[..base.len() - 1])
        {
            base[..base.len() - 1].to_owned()
        } else {
            return None;
        };
        let ps = self.direct(&stem, WordCtx::default())?;
        let mut chars = ps.chars().rev();
        let (last, before) = (chars.next(), chars.next());
        if !self.british && last == Some('t') && before.is_some_and(|b| US_TAUS.contains(b)) {
            return Some(format!("{}ɾɪŋ", &ps[..ps.len() - 1]));
        }
        Some(format!("{ps}ɪŋ"))
    }
}

/// ASCII-case-insensitive suffix test on bytes (safe to slice off afterwards: the suffix is ASCII).
fn ends_with_ci(word: &str, suffix: &str) -> bool {
    word.len() >= suffix.len()
        && word.as_bytes()[word.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}
