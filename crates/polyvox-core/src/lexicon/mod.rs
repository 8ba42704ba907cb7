//! Pronunciation lexicons: a caller's own readings for words the front end gets wrong (brand
//! names, acronyms, jargon), applied by name in a request (`"lexicons": ["brand"]`).
//!
//! Design:
//! - One validated type, [`Lexicon`], made at the boundary from JSON ([`RawLexicon`]) or W3C PLS
//!   ([`pls::parse`]), and checked again whenever it is read back (a stored row, a job payload):
//!   names, sizes, languages and every phoneme symbol. A worker applies the entries it finds in
//!   the request without asking the database, so they travel inside [`crate::SynthesisRequest`].
//! - Phonemes are written in the model's own alphabet (Kokoro's IPA, misaki's symbols for English
//!   diphthongs: `A I O W Y Q`), checked symbol by symbol against [`PHONEME_SYMBOLS`], the
//!   vocabulary of the one model we ship. A symbol the model has no id for would be dropped
//!   silently downstream; refusing it up front tells the author instead.
//! - [`Lexicon::digest`] covers every entry, so a result cache keyed on it can never serve audio
//!   made with an older reading, whatever happened to the version counter (a lexicon deleted and
//!   made again starts over at version 1).
//!
//! Matching rules (implemented by the text front end, documented here with the data): a
//! grapheme written all in lower case matches any case of the word ("polyvox" matches "Polyvox"
//! and "POLYVOX"); a grapheme with an upper-case letter matches only that spelling ("US" is not
//! "us"). A match must start and end at a word boundary (no letter or digit on either side;
//! Japanese, Chinese and Korean characters have no boundaries, so they match anywhere).
//! Whitespace inside a grapheme matches any run of whitespace. Where several graphemes match at
//! one place, the longest wins; between lexicons, the one named first in the request.

pub mod pls;

use sha2::{Digest, Sha256};

use crate::{Error, ErrorCode, Lang};

/// Every symbol of Kokoro-82M's phoneme vocabulary (`vocab.json`, 114 symbols): what a
/// `phoneme` entry may contain. The text crate checks the loaded vocabulary against it.
pub const PHONEME_SYMBOLS: &str = ";:,.!?—…\"()“” \u{303}ʣʥʦʨᵝ\u{AB67}AIOQSTWYᵊabcdefhijklmnopqrstuvwxyzɑɐɒæβɔɕçɖðʤəɚɛɜɟɡɥɨɪʝɯɰŋɳɲɴøɸθœɹɾɻʁɽʂʃʈʧʊʋʌɣɤχʎʒʔˈˌːʰʲ↓→↗↘ᵻ";

/// Bounds on lexicons; the defaults are the API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LexiconLimits {
    /// Entries in one lexicon.
    pub max_entries: usize,
    /// Characters of one grapheme.
    pub max_grapheme_chars: usize,
    /// Characters of one alias or phoneme string.
    pub max_reading_chars: usize,
    /// Lexicons one owner (API key) may keep.
    pub max_per_owner: usize,
    /// Lexicons one request may name.
    pub max_per_request: usize,
}

impl Default for LexiconLimits {
    fn default() -> Self {
        Self {
            max_entries: 1_000,
            max_grapheme_chars: 100,
            max_reading_chars: 200,
            max_per_owner: 100,
            max_per_request: 4,
        }
    }
}

/// Longest lexicon name (`[a-z0-9_-]{1,64}`).
pub const MAX_NAME_CHARS: usize = 64;

/// What an entry says instead of the grapheme.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reading {
    /// Phonemes in the model's alphabet, spoken as given.
    Phoneme(String),
    /// Text read in the grapheme's place (with the front end's usual rules).
    Alias(String),
}

/// One validated entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Sanitized, trimmed, inner whitespace runs folded to one space.
    pub grapheme: String,
    /// The language this entry applies to; `None` = the lexicon's, or every language.
    pub lang: Option<Lang>,
    pub reading: Reading,
}

/// A validated lexicon. `version` is 0 until stored; the store bumps it on every write.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(into = "WireLexicon", try_from = "WireLexicon")]
pub struct Lexicon {
    pub name: String,
    pub version: u64,
    /// The language of entries that name none; `None` = they apply in every language.
    pub lang: Option<Lang>,
    pub entries: Vec<Entry>,
}

impl Lexicon {
    /// The language `entry` applies to, if it is restricted to one.
    pub fn lang_of(&self, entry: &Entry) -> Option<Lang> {
        entry.lang.or(self.lang)
    }

    /// Hex SHA-256 over the name, the version and every entry, length-prefixed: the lexicon's
    /// identity in cache keys.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        let version = self.version.to_string();
        let lang = self.lang.map(Lang::code).unwrap_or("");
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        field("polyvox-lexicon-v1");
        field(&self.name);
        field(&version);
        field(lang);
        for e in &self.entries {
            field(&e.grapheme);
            field(e.lang.map(Lang::code).unwrap_or(""));
            match &e.reading {
                Reading::Phoneme(p) => {
                    field("phoneme");
                    field(p);
                }
                Reading::Alias(a) => {
                    field("alias");
                    field(a);
                }
            }
        }
        hex::encode(h.finalize())
    }
}

/// An entry as a client writes it (JSON): exactly one of `phoneme` and `alias`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEntry {
    pub grapheme: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phoneme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

/// The body of `PUT /v1/lexicons/{name}` in JSON.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLexicon {
    #[serde(default)]
    pub lang: Option<String>,
    pub entries: Vec<RawEntry>,
}

fn invalid(message: String) -> Error {
    Error::new(ErrorCode::InvalidLexicon, message)
}

fn too_large(message: String) -> Error {
    Error::new(ErrorCode::LexiconTooLarge, message)
}

/// Checks a lexicon name: `[a-z0-9_-]{1,64}`. `field` names it in the error.
pub fn check_name(name: &str, field: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        return Ok(());
    }
    // The value is echoed only when it is short and printable, like other short fields.
    let shown: String = name.chars().take(MAX_NAME_CHARS).collect();
    let shown = if shown.chars().all(|c| !c.is_control()) {
        format!(" '{shown}'")
    } else {
        String::new()
    };
    Err(invalid(format!(
        "{field}{shown} is not a lexicon name: use 1 to {MAX_NAME_CHARS} characters of a-z, 0-9, _ and -"
    )))
}

fn parse_lang(s: Option<&str>, field: &str) -> Result<Option<Lang>, Error> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            crate::request::check_short_field(s, field, crate::request::MAX_LANG_CHARS)?;
            Lang::parse(s, field)
                .map(Some)
                .map_err(|e| invalid(e.message))
        }
    }
}

/// Sanitizes a grapheme or alias like request text, folds inner whitespace to one space and
/// checks its length.
fn clean_text(s: &str, field: &str, max: usize) -> Result<String, Error> {
    let s = crate::text::sanitize(s, field).map_err(|e| invalid(e.message))?;
    let folded = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.is_empty() {
        return Err(invalid(format!("{field} is empty")));
    }
    let n = folded.chars().count();
    if n > max {
        return Err(too_large(format!(
            "{field} has {n} characters; the limit is {max}"
        )));
    }
    Ok(folded)
}

/// Checks phonemes against the model's vocabulary. `g` is taken for the IPA `ɡ` (U+0261): they
/// look the same and only the latter is in the vocabulary.
fn clean_phonemes(s: &str, field: &str, max: usize) -> Result<String, Error> {
    let p: String = s.trim().replace('g', "ɡ");
    if p.is_empty() {
        return Err(invalid(format!("{field} is empty")));
    }
    let n = p.chars().count();
    if n > max {
        return Err(too_large(format!(
            "{field} has {n} characters; the limit is {max}"
        )));
    }
    if let Some((i, c)) = p
        .chars()
        .enumerate()
        .find(|(_, c)| !PHONEME_SYMBOLS.contains(*c))
    {
        return Err(invalid(format!(
            "{field} has '{c}' (U+{:04X}) at character {}, which is not in the model's phoneme vocabulary; \
             GET /v1/lexicons documents the symbols",
            c as u32,
            i + 1
        )));
    }
    Ok(p)
}

impl RawEntry {
    fn validate(&self, k: usize, limits: &LexiconLimits) -> Result<Entry, Error> {
        let field = |f: &str| format!("entries[{k}].{f}");
        let grapheme = clean_text(
            &self.grapheme,
            &field("grapheme"),
            limits.max_grapheme_chars,
        )?;
        let reading = match (&self.phoneme, &self.alias) {
            (Some(p), None) => Reading::Phoneme(clean_phonemes(
                p,
                &field("phoneme"),
                limits.max_reading_chars,
            )?),
            (None, Some(a)) => {
                Reading::Alias(clean_text(a, &field("alias"), limits.max_reading_chars)?)
            }
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "entries[{k}] has both phoneme and alias; give exactly one"
                )));
            }
            (None, None) => {
                return Err(invalid(format!(
                    "entries[{k}] has neither phoneme nor alias; give exactly one"
                )));
            }
        };
        Ok(Entry {
            grapheme,
            lang: parse_lang(self.lang.as_deref(), &field("lang"))?,
            reading,
        })
    }
}

impl RawLexicon {
    /// Validates every entry (the first error wins) into a lexicon named `name`.
    pub fn validate(&self, name: &str, limits: &LexiconLimits) -> Result<Lexicon, Error> {
        check_name(name, "name")?;
        if self.entries.len() > limits.max_entries {
            return Err(too_large(format!(
                "entries has {} items; the limit is {}",
                self.entries.len(),
                limits.max_entries
            )));
        }
        if self.entries.is_empty() {
            return Err(invalid("entries is empty: give at least one".into()));
        }
        let lang = parse_lang(self.lang.as_deref(), "lang")?;
        let entries = self
            .entries
            .iter()
            .enumerate()
            .map(|(k, e)| e.validate(k, limits))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Lexicon {
            name: name.to_string(),
            version: 0,
            lang,
            entries,
        })
    }
}

impl From<&Entry> for RawEntry {
    fn from(e: &Entry) -> Self {
        let (phoneme, alias) = match &e.reading {
            Reading::Phoneme(p) => (Some(p.clone()), None),
            Reading::Alias(a) => (None, Some(a.clone())),
        };
        Self {
            grapheme: e.grapheme.clone(),
            phoneme,
            alias,
            lang: e.lang.map(|l| l.code().to_string()),
        }
    }
}

/// [`Lexicon`] as stored and carried in job payloads: plain strings, checked again on reading.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireLexicon {
    name: String,
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lang: Option<String>,
    entries: Vec<RawEntry>,
}

impl From<Lexicon> for WireLexicon {
    fn from(l: Lexicon) -> Self {
        Self {
            entries: l.entries.iter().map(RawEntry::from).collect(),
            lang: l.lang.map(|l| l.code().to_string()),
            version: l.version,
            name: l.name,
        }
    }
}

impl TryFrom<WireLexicon> for Lexicon {
    type Error = String;

    fn try_from(w: WireLexicon) -> Result<Self, String> {
        let raw = RawLexicon {
            lang: w.lang,
            entries: w.entries,
        };
        let mut lex = raw
            .validate(&w.name, &LexiconLimits::default())
            .map_err(|e| e.message)?;
        lex.version = w.version;
        Ok(lex)
    }
}

/// Checks the `lexicons` of a request: at most `limits.max_per_request` valid names, no
/// repeats. Returns them in order.
pub fn check_request_names(names: &[String], limits: &LexiconLimits) -> Result<(), Error> {
    if names.len() > limits.max_per_request {
        return Err(Error::new(
            ErrorCode::TooManyLexicons,
            format!(
                "lexicons names {} lexicons; the limit is {} per request",
                names.len(),
                limits.max_per_request
            ),
        ));
    }
    for (i, n) in names.iter().enumerate() {
        check_name(n, &format!("lexicons[{i}]"))?;
        if names[..i].contains(n) {
            return Err(invalid(format!("lexicons[{i}] repeats '{n}'")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
