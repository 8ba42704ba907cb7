//! [`FsAudioStore`]: objects as files under a root directory. Writes go to a temporary file and
//! are renamed into place, so a reader never sees half an object. The content type lives in a
//! hidden sidecar file (`.name.ct`), which valid keys can never collide with.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{AudioStore, Fetched, ObjectInfo, clamp_range, validate_key};
use crate::call::instrumented;
use crate::names::system::FS;
use crate::{InfraError, Result};

/// Filesystem [`AudioStore`].
#[derive(Debug, Clone)]
pub struct FsAudioStore {
    root: PathBuf,
    timeout: Duration,
}

impl FsAudioStore {
    /// Uses (and creates) `root`; every call is bounded by `call_timeout`.
    pub async fn open(root: impl Into<PathBuf>, call_timeout: Duration) -> Result<Self> {
        let root = root.into();
        tokio::fs::create_dir_all(&root).await?;
        Ok(Self {
            root,
            timeout: call_timeout,
        })
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

async fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_file_name(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
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

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Fetched> {
        let (path, sidecar) = self.paths(key)?;
        instrumented(FS, "get", self.timeout, async {
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| missing(key, e))?;
            let len = file.metadata().await?.len();
            let range = clamp_range(range, len)?;
            file.seek(std::io::SeekFrom::Start(range.start)).await?;
            let want = usize::try_from(range.end - range.start)
                .map_err(|_| InfraError::RangeNotSatisfiable { len })?;
            let mut buf = vec![0; want];
            file.read_exact(&mut buf).await?;
            let info = ObjectInfo {
                len,
                content_type: content_type(&sidecar).await,
            };
            Ok(Fetched {
                bytes: Bytes::from(buf),
                range,
                info,
            })
        })
        .await
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
