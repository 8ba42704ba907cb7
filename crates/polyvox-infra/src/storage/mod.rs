//! Object storage for finished audio: S3 (any S3-compatible server) in production, a directory
//! on local disk for the single-binary default.
//!
//! Keys are validated the same way for both backends before any IO (ASCII letters, digits, `.`,
//! `_`, `-`, `/`-separated segments, no empty, dot-leading or `..` segments), so a key can never
//! name a path outside the store. Keys made by [`new_object_key`] carry 128 random bits: knowing
//! one object's key tells nothing about another's.
//!
//! Audio can be hours long (a 100,000-character job), so nothing here needs a whole object in
//! memory: [`AudioStore::put_stream`] takes the bytes as the encoder makes them and patches the
//! header (whose sizes are known only at the end) into the start before the object appears, and
//! [`AudioStore::get`] hands back a byte stream. Short calls (open, head, complete, delete) keep
//! the call timeout; transfers are bounded by an idle timeout instead (no progress for that long
//! is an error), since no single figure fits a file of any size.

mod fs;
mod s3;
mod stream;

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::{InfraError, Result};

pub use self::fs::FsAudioStore;
pub use self::s3::{S3AudioStore, S3Config};

/// How long a streamed transfer may go without progress (a chunk read, a chunk or part written)
/// when the operator sets nothing else.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes of an object as storage delivers them.
pub type ByteStream = futures::stream::BoxStream<'static, Result<Bytes>>;

/// Size and type of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Total length in bytes.
    pub len: u64,
    /// The content type given at `put`, when the backend kept it.
    pub content_type: Option<String>,
}

/// A (possibly partial) read: what it covers, and its bytes as they arrive.
pub struct Fetched {
    /// Exactly `range.end - range.start` bytes, or an error as the last item (an idle timeout
    /// included): a reader that got fewer bytes than the range must treat the read as failed.
    pub body: ByteStream,
    /// Byte range returned, half-open, within `0..info.len` (what `Content-Range` reports).
    pub range: Range<u64>,
    pub info: ObjectInfo,
}

impl Fetched {
    /// Collects the body into memory: for small objects and tests, never for audio of any size.
    pub async fn bytes(mut self) -> Result<Bytes> {
        let mut out = bytes::BytesMut::new();
        while let Some(chunk) = self.body.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out.freeze())
    }
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("range", &self.range)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// An object being written by [`AudioStore::put_stream`]. Nothing is visible under the key until
/// [`AudioWriter::finish`]; dropping an unfinished writer aborts it (in the background for S3).
#[async_trait::async_trait]
pub trait AudioWriter: Send {
    /// Appends `bytes`. Returns once storage has taken them (or buffered them towards a part).
    async fn write(&mut self, bytes: Bytes) -> Result<()>;

    /// Overwrites the first `head.len()` bytes written with `head` (empty: no patch), then makes
    /// the object visible under the key, replacing any previous one. Returns its length. A
    /// `head` longer than the bytes written, or than [`MAX_HEAD_PATCH`], is `InvalidWrite`.
    async fn finish(self: Box<Self>, head: Bytes) -> Result<u64>;

    /// Discards what was written; a previous object under the key is left as it was.
    async fn abort(self: Box<Self>) -> Result<()>;
}

/// Longest header patch [`AudioWriter::finish`] accepts: S3 keeps this much of the start in
/// memory (its first part) until the end. Audio headers are tens to hundreds of bytes.
pub const MAX_HEAD_PATCH: usize = 64 * 1024;

/// Where finished audio is kept.
#[async_trait::async_trait]
pub trait AudioStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing any previous object (small objects; audio of any
    /// size goes through [`AudioStore::put_stream`]).
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<()>;

    /// Starts writing an object under `key` whose bytes are not all known yet.
    async fn put_stream(&self, key: &str, content_type: &str) -> Result<Box<dyn AudioWriter>>;

    /// Opens the object, or the half-open byte `range` of it (an end past the object is clamped;
    /// a range starting at or after the end is `RangeNotSatisfiable`), for streaming. `NotFound`
    /// if absent. The open is bounded by the call timeout, the body by the idle timeout.
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

/// Checks a header patch against the bytes written so far.
fn check_head(head: &Bytes, written: u64) -> Result<()> {
    if head.len() > MAX_HEAD_PATCH || head.len() as u64 > written {
        return Err(InfraError::InvalidWrite(format!(
            "a {}-byte header patch on {written} written bytes (at most {MAX_HEAD_PATCH})",
            head.len()
        )));
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
