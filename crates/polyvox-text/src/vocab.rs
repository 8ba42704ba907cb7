//! Kokoro's phoneme vocabulary: one symbol (one `char`) per id.
//!
//! Every phoneme string the front end produces is filtered through this table, so "one char = one
//! id" holds everywhere downstream and the chunker can budget ids by counting chars.

use std::collections::HashMap;
use std::path::Path;

use crate::TextError;

/// Symbol → id table loaded from `vocab.json`.
#[derive(Debug, Clone)]
pub(crate) struct Vocab {
    ids: HashMap<char, i64>,
}

impl Vocab {
    /// Reads `{"vocab": {symbol: id}}` (kokoro-onnx layout) or a bare `{symbol: id}` map.
    pub(crate) fn load(path: &Path) -> Result<Self, TextError> {
        let bytes = std::fs::read(path).map_err(|source| TextError::AssetMissing {
            path: path.into(),
            source,
        })?;
        Self::from_json(&bytes).map_err(|reason| TextError::AssetInvalid {
            path: path.into(),
            reason,
        })
    }

    pub(crate) fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let root: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let map = root
            .get("vocab")
            .unwrap_or(&root)
            .as_object()
            .ok_or("expected a JSON object of symbol → id")?;
        let mut ids = HashMap::with_capacity(map.len());
        for (symbol, id) in map {
            let mut chars = symbol.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                return Err(format!("symbol '{symbol}' is not a single character"));
            };
            // Id 0 is the model's pad; a symbol mapped to it would be indistinguishable from padding.
            let id = id
                .as_i64()
                .filter(|&i| i > 0)
                .ok_or_else(|| format!("symbol '{symbol}' has no positive id"))?;
            ids.insert(c, id);
        }
        if ids.is_empty() {
            return Err("vocabulary is empty".into());
        }
        Ok(Self { ids })
    }

    /// Every symbol, sorted.
    pub(crate) fn symbols(&self) -> Vec<char> {
        let mut s: Vec<char> = self.ids.keys().copied().collect();
        s.sort_unstable();
        s
    }

    pub(crate) fn contains(&self, c: char) -> bool {
        self.ids.contains_key(&c)
    }

    /// Ids of a phoneme string; symbols outside the vocabulary are skipped (callers filter first).
    pub(crate) fn encode(&self, phonemes: &str) -> Vec<i64> {
        phonemes
            .chars()
            .filter_map(|c| self.ids.get(&c).copied())
            .collect()
    }

    /// Keeps only symbols the model knows.
    pub(crate) fn filter(&self, phonemes: &str) -> String {
        phonemes.chars().filter(|&c| self.contains(c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_layouts_and_encodes() {
        let v = Vocab::from_json(br#"{"vocab": {"a": 43, " ": 16, ".": 4}}"#).unwrap();
        assert_eq!(v.encode("a a."), vec![43, 16, 43, 4]);
        assert_eq!(v.filter("a?b ."), "a .");
        let bare = Vocab::from_json(br#"{"a": 43}"#).unwrap();
        assert_eq!(bare.encode("ab"), vec![43]);
    }

    #[test]
    fn rejects_bad_tables() {
        assert!(Vocab::from_json(br#"{"vocab": {"ab": 1}}"#).is_err());
        assert!(Vocab::from_json(br#"{"vocab": {"a": 0}}"#).is_err());
        assert!(Vocab::from_json(br#"{"vocab": {}}"#).is_err());
        assert!(Vocab::from_json(b"[1, 2]").is_err());
    }
}
