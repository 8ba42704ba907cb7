//! misaki's English pronunciation lexicons (gold, then silver) and the lookups around them: case
//! variants, tagged readings, letter spelling; `morphology` stretches them to possessives,
//! plurals, `-ed` and `-ing` forms of a known stem.
//!
//! The lexicons already use Kokoro's symbols, so a hit needs no conversion. Entries are either a
//! string or a map of part-of-speech tags to strings; without a tagger the caller passes a cheap
//! guess ([`WordCtx`]) and we fall back to the `DEFAULT` reading.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::TextError;

mod morphology;

/// Part-of-speech keys that appear in misaki's tagged entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    Default,
    Noun,
    Verb,
    Adj,
    Adv,
    Vbd,
    Vbn,
    Vbp,
    Dt,
    /// misaki's `None` key: the reading at the end of a phrase (stressed "can", "by").
    End,
}

impl Tag {
    fn parse(key: &str) -> Option<Self> {
        Some(match key {
            "DEFAULT" => Self::Default,
            "NOUN" => Self::Noun,
            "VERB" => Self::Verb,
            "ADJ" => Self::Adj,
            "ADV" => Self::Adv,
            "VBD" => Self::Vbd,
            "VBN" => Self::Vbn,
            "VBP" => Self::Vbp,
            "DT" => Self::Dt,
            "None" => Self::End,
            _ => return None,
        })
    }

    fn parent(self) -> Self {
        match self {
            Self::Vbd | Self::Vbn | Self::Vbp => Self::Verb,
            other => other,
        }
    }
}

/// One lexicon value. A tagged reading may be `null`: "no reading for this use" (spell it).
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Plain(Box<str>),
    Tagged(Box<[(Tag, Option<Box<str>>)]>),
}

impl<'de> serde::Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a phoneme string or a map of POS tag to phoneme string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Entry, E> {
                Ok(Entry::Plain(v.into()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                let mut readings = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Option<String>>()? {
                    // Unknown tags are skipped, not fatal: a newer lexicon must not break loading.
                    if let Some(tag) = Tag::parse(&key) {
                        readings.push((tag, value.map(String::into_boxed_str)));
                    }
                }
                Ok(Entry::Tagged(readings.into_boxed_slice()))
            }
        }
        d.deserialize_any(EntryVisitor)
    }
}

/// What the caller knows about a word's use: a guessed tag and whether a pause follows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WordCtx {
    pub tag: Option<Tag>,
    pub at_end: bool,
}

/// The gold and silver lexicon of one accent.
#[derive(Debug)]
pub(crate) struct Lexicon {
    british: bool,
    gold: HashMap<Box<str>, Entry>,
    silver: HashMap<Box<str>, Entry>,
}

pub(crate) const PRIMARY: char = 'ˈ';
pub(crate) const SECONDARY: char = 'ˌ';

impl Lexicon {
    pub(crate) fn load(gold: &Path, silver: &Path, british: bool) -> Result<Self, TextError> {
        let read = |path: &Path| -> Result<HashMap<Box<str>, Entry>, TextError> {
            let bytes = std::fs::read(path).map_err(|source| TextError::AssetMissing {
                path: path.into(),
                source,
            })?;
            serde_json::from_slice(&bytes).map_err(|e| TextError::AssetInvalid {
                path: path.into(),
                reason: e.to_string(),
            })
        };
        Ok(Self {
            british,
            gold: read(gold)?,
            silver: read(silver)?,
        })
    }

    /// Builds a lexicon from JSON text (tests use tiny hand-written ones).
    #[cfg(test)]
    pub(crate) fn from_json(gold: &str, silver: &str, british: bool) -> Self {
        Self {
            british,
            gold: serde_json::from_str(gold).expect("test gold lexicon"),
            silver: serde_json::from_str(silver).expect("test silver lexicon"),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.gold.len() + self.silver.len()
    }

    fn exact(&self, word: &str) -> Option<&Entry> {
        self.gold.get(word).or_else(|| self.silver.get(word))
    }

    /// Exact spelling first, then lower case, then Capitalized: misaki stores "Hello" only as
    /// "hello" and proper names only capitalized.
    fn find(&self, word: &str) -> Option<&Entry> {
        if let Some(e) = self.exact(word) {
            return Some(e);
        }
        let lower = word.to_lowercase();
        if lower != word
            && let Some(e) = self.exact(&lower)
        {
            return Some(e);
        }
        let cap = capitalize(&lower);
        if cap != word { self.exact(&cap) } else { None }
    }

    fn resolve(entry: &Entry, ctx: WordCtx) -> Option<&str> {
        match entry {
            Entry::Plain(s) => Some(s),
            Entry::Tagged(readings) => {
                let get = |t: Tag| {
                    readings
                        .iter()
                        .find(|(tag, _)| *tag == t)
                        .map(|(_, v)| v.as_deref())
                };
                if ctx.at_end
                    && let Some(v) = get(Tag::End)
                {
                    return v;
                }
                if let Some(tag) = ctx.tag {
                    if let Some(v) = get(tag) {
                        return v;
                    }
                    if let Some(v) = get(tag.parent()) {
                        return v;
                    }
                }
                get(Tag::Default).flatten()
            }
        }
    }

    /// The reading of a word as spelled, with case variants but no morphology.
    pub(crate) fn direct(&self, word: &str, ctx: WordCtx) -> Option<String> {
        self.find(word)
            .and_then(|e| Self::resolve(e, ctx))
            .map(str::to_owned)
    }

    fn is_known(&self, word: &str) -> bool {
        word.chars().count() > 1 && self.direct(word, WordCtx::default()).is_some()
    }

    /// Full lookup: the word itself, then possessive/plural/past/progressive forms of a known stem.
    pub(crate) fn word(&self, word: &str, ctx: WordCtx) -> Option<String> {
        let word = word.replace(['’', '‘', 'ʼ'], "'");
        if let Some(ps) = self.direct(&word, ctx) {
            return Some(ps);
        }
        // A trailing apostrophe is a plural possessive or a closing quote; neither is spoken.
        let word = word.trim_end_matches('\'');
        if word.is_empty() {
            return None;
        }
        if let Some(ps) = self.direct(word, ctx) {
            return Some(ps);
        }
        self.stem_s(word)
            .or_else(|| self.stem_ed(word))
            .or_else(|| self.stem_ing(word))
    }

    /// Spells a word letter by letter as one stressed unit (`FBI` → `ˌɛfbˌiˈI`): every letter's
    /// stress becomes secondary and the last one primary, as people say acronyms.
    /// Letters without a reading are skipped; `None` when nothing is left.
    pub(crate) fn spell(&self, word: &str) -> Option<String> {
        let mut out = String::new();
        for c in word.chars().filter_map(fold_latin) {
            let upper = c.to_ascii_uppercase().to_string();
            if let Some(ps) = self.direct(&upper, WordCtx::default()) {
                out.push_str(&ps);
            }
        }
        if out.is_empty() {
            return None;
        }
        let out: String = out
            .chars()
            .filter(|&c| c != SECONDARY)
            .map(|c| if c == PRIMARY { SECONDARY } else { c })
            .collect();
        Some(match out.rfind(SECONDARY) {
            Some(i) => format!("{}{PRIMARY}{}", &out[..i], &out[i + SECONDARY.len_utf8()..]),
            None => out,
        })
    }
}

fn capitalize(lower: &str) -> String {
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Maps a Latin letter (with or without diacritics) to its ASCII base letter, for spelling.
pub(crate) fn fold_latin(c: char) -> Option<char> {
    if c.is_ascii_alphabetic() {
        return Some(c);
    }
    let base = match c.to_lowercase().next().unwrap_or(c) {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => 'c',
        'ď' | 'đ' | 'ð' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ĥ' | 'ħ' => 'h',
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
        'ĵ' => 'j',
        'ķ' => 'k',
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' | 'ß' => 's',
        'ţ' | 'ť' | 'ŧ' | 'þ' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ŵ' => 'w',
        'ý' | 'ÿ' | 'ŷ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        _ => return None,
    };
    Some(base)
}

#[cfg(test)]
mod tests;
