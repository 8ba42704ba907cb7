//! Object storage for finished audio: S3 (any S3-compatible server) in production, a directory
//! on local disk for the single-binary default.
//!
//! Keys are validated the same way for both backends before any IO (ASCII letters, digits, `.`,
//! `_`, `-`, `/`-separated segments, no empty, dot-leading or `..` segments), so a key can never
//! name a path outside the store. Keys made by [`new_object_key`] carry 128 random bits: knowing
//! one object's key tells nothing about another's.

mod fs;
mod s3;

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;

use crate::{InfraError, Result};

pub use self::fs::FsAudioStore;
pub use self::s3::{S3AudioStore, S3Config};

/// Size and type of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Total length in bytes.
    pub len: u64,
    /// The content type given at `put`, when the backend kept it.
    pub content_type: Option<String>,
}

/// The bytes of a (possibly partial) read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: Bytes,
    /// Byte range returned, half-open, within `0..info.len` (what `Content-Range` reports).
    pub range: Range<u64>,
    pub info: ObjectInfo,
}

/// Where finished audio is kept.
#[async_trait::async_trait]
pub trait AudioStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing any previous object.
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<()>;

    /// Reads the object, or the half-open byte `range` of it (an end past the object is clamped;
    /// a range starting at or after the end is `RangeNotSatisfiable`). `NotFound` if absent.
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Fetched>;

    /// Size and type without the bytes. `NotFound` if absent.
    async fn head(&self, key: &str) -> Result<ObjectInfo>;

    /// Removes the object; removing an absent object succeeds.
    async fn delete(&self, key: &str) -> Result<()>;

    /// A URL that lets anyone holding it GET the object until `expires_in` passes, or `None`
    /// when the backend cannot make one (filesystem: serve through the API instead).
    async fn presigned_get(&self, key: &str, expires_in: Duration) -> Result<Option<String>>;
}

/// A fresh unguessable key: `{prefix}/{2 hex}/{32 hex}.{ext}`. The two-character shard keeps
/// filesystem directories small.
pub fn new_object_key(prefix: &str, ext: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}/{}/{id}.{ext}", &id[..2])
}

/// Longest key accepted (S3 allows 1024 bytes; ours are far shorter).
const MAX_KEY_LEN: usize = 512;

/// Checks a key against the rules in the module note.
pub fn validate_key(key: &str) -> Result<()> {
    let bad = |why: &str| Err(InfraError::InvalidKey(format!("{key:?}: {why}")));
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return bad("must be 1 to 512 bytes");
    }
    for seg in key.split('/') {
        if seg.is_empty() {
            return bad("empty path segment (leading, trailing or double '/')");
        }
        if seg.starts_with('.') {
            return bad("segments may not start with '.'");
        }
        if !seg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return bad("only ASCII letters, digits, '.', '_', '-' and '/' are allowed");
        }
    }
    Ok(())
}

/// Clamps a requested range to an object of `len` bytes.
fn clamp_range(range: Option<Range<u64>>, len: u64) -> Result<Range<u64>> {
    match range {
        None => Ok(0..len),
        Some(r) if r.start >= r.end || r.start >= len => {
            Err(InfraError::RangeNotSatisfiable { len })
        }
        Some(r) => Ok(r.start..r.end.min(len)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_odd_keys_are_refused() {
        for bad in [
            "",
            "../etc/passwd",
            "audio/../../x",
            "/etc/passwd",
            "a//b",
            "a/",
            ".hidden",
            "a/./b",
            "a/..",
            "a\\b",
            "a b",
            "a/%2e%2e/b",
            "caf\u{e9}",
            "a\0b",
        ] {
            assert!(
                matches!(validate_key(bad), Err(InfraError::InvalidKey(_))),
                "{bad:?} accepted"
            );
        }
        for good in ["a", "audio/ab/0123.mp3", "x-y_z.1/2"] {
            assert!(validate_key(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn new_keys_are_valid_and_distinct() {
        let a = new_object_key("audio", "mp3");
        let b = new_object_key("audio", "mp3");
        assert_ne!(a, b);
        validate_key(&a).unwrap();
        assert!(a.starts_with("audio/") && a.ends_with(".mp3"));
        let id = a.rsplit('/').next().unwrap().trim_end_matches(".mp3");
        assert_eq!(id.len(), 32, "128 random bits in hex");
        assert_eq!(a.split('/').nth(1), Some(&id[..2]));
    }

    #[test]
    fn ranges_are_clamped_or_refused() {
        assert_eq!(clamp_range(None, 10).unwrap(), 0..10);
        assert_eq!(clamp_range(Some(2..5), 10).unwrap(), 2..5);
        assert_eq!(clamp_range(Some(8..100), 10).unwrap(), 8..10);
        #[allow(clippy::reversed_empty_ranges)]
        // a reversed range is exactly the bad input under test
        for r in [10..12, 5..5, 7..3] {
            assert!(matches!(
                clamp_range(Some(r), 10),
                Err(InfraError::RangeNotSatisfiable { len: 10 })
            ));
        }
    }
}
