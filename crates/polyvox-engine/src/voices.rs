//! Voice style vectors.
//!
//! A Kokoro voice is a (510, 1, 256) f32 table: row `n - 1` is the style for an input of `n`
//! phoneme ids. Tables are read on first use and kept (54 voices × 510 KB ≈ 28 MB at most), so the
//! first request for a voice pays one small file read and every later one a copy of 256 floats.
//! A blend is the weighted sum of its components' rows, weights already normalized by
//! [`VoiceSpec`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use polyvox_core::{MODEL_MAX_IDS, VoiceSpec};

use crate::EngineError;
use crate::assets::manifest::VOICE_BYTES;
use crate::backend::STYLE_DIM;

/// Lazily loaded, cached voice tables from one directory.
#[derive(Debug)]
pub struct VoiceBank {
    dir: PathBuf,
    tables: RwLock<HashMap<String, Arc<[f32]>>>,
}

impl VoiceBank {
    /// A bank reading `<voices_dir>/<id>.bin`; nothing is read until a voice is used.
    pub fn new(voices_dir: PathBuf) -> Self {
        Self {
            dir: voices_dir,
            tables: RwLock::new(HashMap::new()),
        }
    }

    /// The style vector for `spec` and an input of `n_ids` phoneme ids (pads excluded): row
    /// `min(n_ids, 510) - 1` of each table, weighted and summed.
    pub fn style(&self, spec: &VoiceSpec, n_ids: usize) -> Result<Vec<f32>, EngineError> {
        if n_ids == 0 {
            return Err(EngineError::InvalidInput(
                "a style needs at least one phoneme id".into(),
            ));
        }
        if spec.parts.is_empty() {
            return Err(EngineError::InvalidInput(
                "the voice spec has no voices".into(),
            ));
        }
        let row = n_ids.min(MODEL_MAX_IDS) - 1;
        let mut style = vec![0.0f32; STYLE_DIM];
        for (id, weight) in &spec.parts {
            let table = self.table(id)?;
            let values = table
                .get(row * STYLE_DIM..(row + 1) * STYLE_DIM)
                .ok_or_else(|| EngineError::AssetCorrupt {
                    what: format!("voice {id}"),
                    path: self.path(id),
                    detail: "table too short".into(),
                })?;
            for (acc, v) in style.iter_mut().zip(values) {
                *acc += weight * v;
            }
        }
        Ok(style)
    }

    /// The whole table of one voice, loading it on first use.
    pub fn table(&self, id: &str) -> Result<Arc<[f32]>, EngineError> {
        if let Some(t) = self
            .tables
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            return Ok(Arc::clone(t));
        }
        // Two threads may both load a voice the first time; both get identical data, one insert wins.
        let table = self.load(id)?;
        let mut tables = self.tables.write().unwrap_or_else(|p| p.into_inner());
        Ok(Arc::clone(tables.entry(id.to_string()).or_insert(table)))
    }

    /// Number of voices loaded so far.
    pub fn loaded(&self) -> usize {
        self.tables.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.bin"))
    }

    fn load(&self, id: &str) -> Result<Arc<[f32]>, EngineError> {
        // Ids come from the catalogue, but the spec's fields are public: never let one escape `dir`.
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(EngineError::InvalidInput(format!(
                "'{id}' is not a voice id"
            )));
        }
        let path = self.path(id);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(EngineError::AssetMissing {
                    what: format!("voice {id}"),
                    path,
                });
            }
            Err(e) => return Err(EngineError::io("read", path)(e)),
        };
        if bytes.len() as u64 != VOICE_BYTES {
            return Err(EngineError::AssetCorrupt {
                what: format!("voice {id}"),
                path,
                detail: format!("{} bytes, expected {VOICE_BYTES}", bytes.len()),
            });
        }
        let table: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if table.iter().any(|v| !v.is_finite()) {
            return Err(EngineError::AssetCorrupt {
                what: format!("voice {id}"),
                path,
                detail: "non-finite values".into(),
            });
        }
        Ok(table.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table whose row r, column c holds `base + r + c / 1000`.
    fn write_voice(dir: &std::path::Path, id: &str, base: f32) {
        let mut bytes = Vec::with_capacity(VOICE_BYTES as usize);
        for r in 0..MODEL_MAX_IDS {
            for c in 0..STYLE_DIM {
                bytes.extend_from_slice(&(base + r as f32 + c as f32 / 1000.0).to_le_bytes());
            }
        }
        std::fs::write(dir.join(format!("{id}.bin")), bytes).unwrap();
    }

    #[test]
    fn picks_the_row_for_the_input_length() {
        let dir = tempfile::tempdir().unwrap();
        write_voice(dir.path(), "af_heart", 0.0);
        let bank = VoiceBank::new(dir.path().into());
        let spec = VoiceSpec::single("af_heart").unwrap();
        let s = bank.style(&spec, 1).unwrap();
        assert_eq!(s.len(), STYLE_DIM);
        assert_eq!((s[0], s[5]), (0.0, 0.005));
        assert_eq!(bank.style(&spec, 40).unwrap()[0], 39.0);
        assert_eq!(bank.style(&spec, 510).unwrap()[0], 509.0);
        assert_eq!(
            bank.style(&spec, 9_999).unwrap()[0],
            509.0,
            "longer inputs use the last row"
        );
        assert!(bank.style(&spec, 0).is_err());
        assert_eq!(bank.loaded(), 1);
    }

    #[test]
    fn blends_are_weighted_sums() {
        let dir = tempfile::tempdir().unwrap();
        write_voice(dir.path(), "af_bella", 0.0);
        write_voice(dir.path(), "af_sky", 100.0);
        let bank = VoiceBank::new(dir.path().into());
        let spec = VoiceSpec::parse("af_bella(3)+af_sky(1)", "voice").unwrap();
        let s = bank.style(&spec, 11).unwrap();
        // 0.75 * (10 + c/1000) + 0.25 * (110 + c/1000)
        assert!((s[0] - 35.0).abs() < 1e-4, "{}", s[0]);
        assert!((s[100] - 35.1).abs() < 1e-4, "{}", s[100]);
    }

    #[test]
    fn missing_short_and_malicious_voices_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let bank = VoiceBank::new(dir.path().into());
        let err = bank
            .style(&VoiceSpec::single("af_nova").unwrap(), 5)
            .unwrap_err();
        assert!(matches!(err, EngineError::AssetMissing { .. }), "{err:?}");
        assert!(err.to_string().contains("polyvox models fetch"), "{err}");

        std::fs::write(dir.path().join("af_sky.bin"), [0u8; 1024]).unwrap();
        let err = bank
            .style(&VoiceSpec::single("af_sky").unwrap(), 5)
            .unwrap_err();
        assert!(
            matches!(err, EngineError::AssetCorrupt { .. }) && err.to_string().contains("522240"),
            "{err}"
        );

        let evil = VoiceSpec {
            parts: vec![("../../etc/passwd", 1.0)],
        };
        assert!(matches!(
            bank.style(&evil, 5),
            Err(EngineError::InvalidInput(_))
        ));
        assert_eq!(bank.loaded(), 0);
    }
}
