//! [`FsAudioStore`]: objects as files under a root directory. Writes go to a temporary file in the
//! same directory (hidden, so no valid key can name it) and are renamed into place after an
//! fsync, so a reader never sees half an object and a crash leaves the old object or the new
//! one. A streamed write patches its header by seeking back before the rename; an aborted or
//! dropped one removes its temporary file. The content type lives in a hidden sidecar file
//! (`.name.ct`), which valid keys can never collide with.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::stream::{bounded, count_bytes, step};
use super::{
    AudioStore, AudioWriter, DEFAULT_IDLE_TIMEOUT, Fetched, ObjectInfo, check_head, clamp_range,
    validate_key,
};
use crate::call::instrumented;
use crate::names::system::FS;
use crate::{InfraError, Result};

/// Filesystem [`AudioStore`].
#[derive(Debug, Clone)]
pub struct FsAudioStore {
    root: PathBuf,
    timeout: Duration,
    idle: Duration,
}

/// Bytes per read of a streamed get.
const READ_CHUNK: usize = 64 * 1024;

impl FsAudioStore {
    /// Uses (and creates) `root`; every call is bounded by `call_timeout`.
    pub async fn open(root: impl Into<PathBuf>, call_timeout: Duration) -> Result<Self> {
        let root = root.into();
        tokio::fs::create_dir_all(&root).await?;
        Ok(Self {
            root,
            timeout: call_timeout,
            idle: DEFAULT_IDLE_TIMEOUT,
        })
    }

    /// Bounds each step of a streamed read or write (see the storage module note).
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    fn paths(&self, key: &str) -> Result<(PathBuf, PathBuf)> {
        validate_key(key)?;
        let path = key.split('/').fold(self.root.clone(), |p, seg| p.join(seg));
        let name = key.rsplit('/').next().unwrap_or(key);
        let sidecar = path.with_file_name(format!(".{name}.ct"));
        Ok((path, sidecar))
    }
}

fn missing(key: &str, e: std::io::Error) -> InfraError {
    if e.kind() == std::io::ErrorKind::NotFound {
        InfraError::not_found(format!("object {key}"))
    } else {
        InfraError::Io(e)
    }
}

async fn content_type(sidecar: &Path) -> Option<String> {
    tokio::fs::read_to_string(sidecar).await.ok()
}

fn temp_path(path: &Path) -> PathBuf {
    path.with_file_name(format!(".tmp-{}", uuid::Uuid::new_v4().simple()))
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    tokio::fs::write(&tmp, bytes).await?;
    if let Err(e) = tokio::fs::rename(&tmp, path).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e.into());
    }
    Ok(())
}

#[async_trait::async_trait]
impl AudioStore for FsAudioStore {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<()> {
        let (path, sidecar) = self.paths(key)?;
        instrumented(FS, "put", self.timeout, async {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            write_atomically(&sidecar, content_type.as_bytes()).await?;
            write_atomically(&path, &bytes).await
        })
        .await
    }

    async fn put_stream(&self, key: &str, content_type: &str) -> Result<Box<dyn AudioWriter>> {
        let (path, sidecar) = self.paths(key)?;
        let tmp = temp_path(&path);
        let file = instrumented(FS, "put_stream_open", self.timeout, async {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            Ok(tokio::fs::File::create(&tmp).await?)
        })
        .await?;
        Ok(Box::new(FsWriter {
            file: Some(file),
            tmp,
            path,
            sidecar,
            content_type: content_type.to_string(),
            written: 0,
            idle: self.idle,
        }))
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Fetched> {
        let (path, sidecar) = self.paths(key)?;
        let (file, range, info) = instrumented(FS, "get", self.timeout, async {
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| missing(key, e))?;
            let len = file.metadata().await?.len();
            let range = clamp_range(range, len)?;
            file.seek(std::io::SeekFrom::Start(range.start)).await?;
            let info = ObjectInfo {
                len,
                content_type: content_type(&sidecar).await,
            };
            Ok((file, range, info))
        })
        .await?;
        let want = range.end - range.start;
        let reads =
            futures::stream::try_unfold((file.take(want), want), |(mut file, left)| async move {
                if left == 0 {
                    return Ok(None);
                }
                let mut buf = vec![0; READ_CHUNK.min(usize::try_from(left).unwrap_or(READ_CHUNK))];
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    // Shorter than its length a moment ago: `bounded` reports the cut.
                    return Ok(None);
                }
                buf.truncate(n);
                Ok(Some((Bytes::from(buf), (file, left - n as u64))))
            })
            .boxed();
        Ok(Fetched {
            body: bounded(FS, "get_body", self.idle, want, reads),
            range,
            info,
        })
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo> {
        let (path, sidecar) = self.paths(key)?;
        instrumented(FS, "head", self.timeout, async {
            let meta = tokio::fs::metadata(&path)
                .await
                .map_err(|e| missing(key, e))?;
            if !meta.is_file() {
                return Err(InfraError::not_found(format!("object {key}")));
            }
            Ok(ObjectInfo {
                len: meta.len(),
                content_type: content_type(&sidecar).await,
            })
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let (path, sidecar) = self.paths(key)?;
        instrumented(FS, "delete", self.timeout, async {
            for p in [&path, &sidecar] {
                match tokio::fs::remove_file(p).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
            Ok(())
        })
        .await
    }

    async fn presigned_get(&self, key: &str, _expires_in: Duration) -> Result<Option<String>> {
        validate_key(key)?;
        Ok(None)
    }
}

/// A streamed write into a temporary file beside the final one.
struct FsWriter {
    /// `None` once finished or aborted.
    file: Option<tokio::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    sidecar: PathBuf,
    content_type: String,
    written: u64,
    idle: Duration,
}

impl FsWriter {
    fn file(&mut self) -> Result<&mut tokio::fs::File> {
        self.file
            .as_mut()
            .ok_or_else(|| InfraError::InvalidWrite("the write already ended".into()))
    }

    async fn complete(&mut self, head: Bytes) -> Result<u64> {
        check_head(&head, self.written)?;
        let written = self.written;
        let file = self.file()?;
        file.flush().await?;
        if !head.is_empty() {
            file.seek(std::io::SeekFrom::Start(0)).await?;
            file.write_all(&head).await?;
            file.flush().await?;
        }
        // The bytes must be on disk before the rename makes them the object.
        file.sync_all().await?;
        write_atomically(&self.sidecar, self.content_type.as_bytes()).await?;
        tokio::fs::rename(&self.tmp, &self.path).await?;
        self.file = None;
        Ok(written)
    }
}

#[async_trait::async_trait]
impl AudioWriter for FsWriter {
    async fn write(&mut self, bytes: Bytes) -> Result<()> {
        let idle = self.idle;
        let n = bytes.len();
        let file = self.file()?;
        step(FS, "put_stream", idle, async {
            file.write_all(&bytes).await?;
            Ok(())
        })
        .await?;
        self.written += n as u64;
        count_bytes(FS, "put_stream", n);
        Ok(())
    }

    async fn finish(mut self: Box<Self>, head: Bytes) -> Result<u64> {
        let idle = self.idle;
        // An fsync of a large file may take a while; the idle bound is the right scale for it.
        // On failure, Drop removes the temporary file.
        instrumented(FS, "put_stream_finish", idle, self.complete(head)).await
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.file = None;
        match tokio::fs::remove_file(&self.tmp).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        // Unfinished (dropped mid-render, or `finish` failed): the temporary file must not stay.
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
