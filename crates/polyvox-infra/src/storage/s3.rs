//! [`S3AudioStore`]: objects in an S3 bucket via the `object_store` crate (AWS S3, SeaweedFS,
//! MinIO, ...). The client's own retries are capped to the call timeout; the HTTP client has no
//! total timeout of its own (it would cut off a long download), so every call is bounded here:
//! short calls by the call timeout, transfers step by step by the idle timeout.
//!
//! A streamed write keeps the first part in memory and uploads later parts as they fill. S3
//! orders parts by part number, not upload order, so the first part, with its header patched
//! now that the sizes are known, is uploaded last as part 1. All parts but the last must be
//! at least 5 MiB, which is why the first one is held until it has that much; an object that
//! never outgrows two parts is one plain PUT. A failed or dropped write aborts the upload.
//!
//! `object_store`'s explicit-part-number API (`MultipartStore`) takes no attributes, so the
//! content type of a multipart object comes from the client's per-suffix table, set here for
//! every audio format's key extension.

use std::ops::Range;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, ClientOptions, GetOptions, GetRange, MultipartId, ObjectStore,
    PutOptions, PutPayload, RetryConfig,
};
use polyvox_core::AudioFormat;

use super::stream::{bounded, count_bytes, step};
use super::{
    AudioStore, AudioWriter, DEFAULT_IDLE_TIMEOUT, Fetched, ObjectInfo, check_head, clamp_range,
    validate_key,
};
use crate::call::instrumented;
use crate::names::system::S3;
use crate::{InfraError, Result};

/// Connection settings for an S3-compatible bucket.
#[derive(Clone)]
pub struct S3Config {
    /// Custom endpoint (`http://127.0.0.1:8333`); `None` for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Path-style URLs (`endpoint/bucket/key`), which most self-hosted servers need.
    pub path_style: bool,
    /// Bound on every short call (head, open, complete, delete, presign).
    pub call_timeout: Duration,
    /// Bound on each step of a transfer (one part uploaded, one chunk of a body read).
    pub idle_timeout: Duration,
}

impl S3Config {
    /// The idle timeout used when a caller has no opinion.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = DEFAULT_IDLE_TIMEOUT;
}

/// Size of every part but the last: S3's minimum, which keeps a writer's memory at about two
/// parts (the held first one and the one filling).
pub const PART_SIZE: usize = 5 * 1024 * 1024;

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &"<redacted>")
            .field("secret_access_key", &"<redacted>")
            .field("path_style", &self.path_style)
            .field("call_timeout", &self.call_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// S3 [`AudioStore`].
#[derive(Debug)]
pub struct S3AudioStore {
    store: AmazonS3,
    timeout: Duration,
    idle: Duration,
}

impl S3AudioStore {
    /// Builds the client (no request is made; the first call surfaces bad credentials).
    pub fn new(cfg: &S3Config) -> Result<Self> {
        let client = AudioFormat::ALL.iter().fold(
            ClientOptions::new()
                .with_timeout_disabled()
                .with_connect_timeout(cfg.call_timeout),
            |o, f| o.with_content_type_for_suffix(f.as_str(), f.content_type()),
        );
        let mut b = AmazonS3Builder::new()
            .with_region(&cfg.region)
            .with_bucket_name(&cfg.bucket)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(&cfg.secret_access_key)
            .with_virtual_hosted_style_request(!cfg.path_style)
            .with_client_options(client)
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: cfg.call_timeout,
                ..Default::default()
            });
        if let Some(ep) = &cfg.endpoint {
            b = b
                .with_endpoint(ep)
                .with_allow_http(ep.starts_with("http://"));
        }
        Ok(Self {
            store: b.build()?,
            timeout: cfg.call_timeout,
            idle: cfg.idle_timeout,
        })
    }

    fn path(key: &str) -> Result<Path> {
        validate_key(key)?;
        Path::parse(key).map_err(|e| InfraError::InvalidKey(e.to_string()))
    }

    async fn head_path(&self, key: &str, path: &Path) -> Result<ObjectInfo> {
        let opts = GetOptions {
            head: true,
            ..Default::default()
        };
        let r = self
            .store
            .get_opts(path, opts)
            .await
            .map_err(|e| not_found(key, e))?;
        Ok(ObjectInfo {
            len: r.meta.size,
            content_type: content_type(&r.attributes),
        })
    }
}

fn not_found(key: &str, e: object_store::Error) -> InfraError {
    match e {
        object_store::Error::NotFound { .. } => InfraError::not_found(format!("object {key}")),
        e => e.into(),
    }
}

fn content_type(a: &Attributes) -> Option<String> {
    a.get(&Attribute::ContentType).map(|v| v.to_string())
}

#[async_trait::async_trait]
impl AudioStore for S3AudioStore {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<()> {
        let path = Self::path(key)?;
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.to_string().into());
        let opts = PutOptions {
            attributes,
            ..Default::default()
        };
        instrumented(S3, "put", self.timeout, async {
            self.store
                .put_opts(&path, PutPayload::from_bytes(bytes), opts)
                .await?;
            Ok(())
        })
        .await
    }

    async fn put_stream(&self, key: &str, content_type: &str) -> Result<Box<dyn AudioWriter>> {
        Ok(Box::new(S3Writer {
            store: self.store.clone(),
            path: Self::path(key)?,
            content_type: content_type.to_string(),
            timeout: self.timeout,
            idle: self.idle,
            first: BytesMut::new(),
            filling: BytesMut::new(),
            upload: None,
            parts: Vec::new(),
            written: 0,
            finished: false,
        }))
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Fetched> {
        let path = Self::path(key)?;
        let r = instrumented(S3, "get", self.timeout, async {
            // A range needs the object's length first to be clamped (and reported) exactly.
            let get_range = match range {
                Some(r) => {
                    let info = self.head_path(key, &path).await?;
                    Some(GetRange::Bounded(clamp_range(Some(r), info.len)?))
                }
                None => None,
            };
            let opts = GetOptions {
                range: get_range,
                ..Default::default()
            };
            self.store
                .get_opts(&path, opts)
                .await
                .map_err(|e| not_found(key, e))
        })
        .await?;
        let info = ObjectInfo {
            len: r.meta.size,
            content_type: content_type(&r.attributes),
        };
        let range = r.range.clone();
        let body = r.into_stream().map(|c| c.map_err(InfraError::from)).boxed();
        Ok(Fetched {
            body: bounded(S3, "get_body", self.idle, range.end - range.start, body),
            range,
            info,
        })
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo> {
        let path = Self::path(key)?;
        instrumented(S3, "head", self.timeout, self.head_path(key, &path)).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = Self::path(key)?;
        instrumented(S3, "delete", self.timeout, async {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn presigned_get(&self, key: &str, expires_in: Duration) -> Result<Option<String>> {
        let path = Self::path(key)?;
        instrumented(S3, "presign", self.timeout, async {
            let url = self
                .store
                .signed_url(http::Method::GET, &path, expires_in)
                .await?;
            Ok(Some(url.to_string()))
        })
        .await
    }
}

/// A streamed write: the first part held, later parts uploaded as they fill (module note).
struct S3Writer {
    store: AmazonS3,
    path: Path,
    content_type: String,
    timeout: Duration,
    idle: Duration,
    /// Part 1, kept until `finish` patches its header; grows to [`PART_SIZE`].
    first: BytesMut,
    /// The part being filled after the first.
    filling: BytesMut,
    /// Created with the second part; `None` while everything fits in one PUT.
    upload: Option<MultipartId>,
    /// Parts 2, 3, ... as uploaded.
    parts: Vec<PartId>,
    written: u64,
    finished: bool,
}

impl S3Writer {
    async fn upload_part(&mut self, data: Bytes) -> Result<()> {
        let id = match &self.upload {
            Some(id) => id.clone(),
            None => {
                let id = instrumented(S3, "create_multipart", self.timeout, async {
                    Ok(self.store.create_multipart(&self.path).await?)
                })
                .await?;
                self.upload = Some(id.clone());
                id
            }
        };
        // Index 0 is part 1, uploaded last.
        let index = self.parts.len() + 1;
        let len = data.len();
        let part = step(S3, "put_part", self.idle, async {
            Ok(self
                .store
                .put_part(&self.path, &id, index, PutPayload::from_bytes(data))
                .await?)
        })
        .await?;
        count_bytes(S3, "put_stream", len);
        self.parts.push(part);
        Ok(())
    }

    async fn complete(&mut self, head: Bytes) -> Result<u64> {
        check_head(&head, self.written)?;
        let mut first = std::mem::take(&mut self.first);
        first[..head.len()].copy_from_slice(&head);
        let Some(id) = self.upload.clone() else {
            // Under two parts: one plain PUT, which also carries the given content type.
            first.extend_from_slice(&std::mem::take(&mut self.filling));
            let len = first.len();
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::ContentType, self.content_type.clone().into());
            let opts = PutOptions {
                attributes,
                ..Default::default()
            };
            let payload = PutPayload::from_bytes(first.freeze());
            step(S3, "put", self.idle, async {
                self.store.put_opts(&self.path, payload, opts).await?;
                Ok(())
            })
            .await?;
            count_bytes(S3, "put_stream", len);
            self.finished = true;
            return Ok(self.written);
        };
        if !self.filling.is_empty() {
            let last = std::mem::take(&mut self.filling).freeze();
            self.upload_part(last).await?;
        }
        let len = first.len();
        let part1 = step(S3, "put_part", self.idle, async {
            Ok(self
                .store
                .put_part(&self.path, &id, 0, PutPayload::from_bytes(first.freeze()))
                .await?)
        })
        .await?;
        count_bytes(S3, "put_stream", len);
        let mut parts = Vec::with_capacity(self.parts.len() + 1);
        parts.push(part1);
        parts.append(&mut self.parts);
        // Completing makes the server assemble the parts, which can take a while for a big
        // object: the idle bound, not the short call bound.
        instrumented(S3, "complete_multipart", self.idle, async {
            self.store
                .complete_multipart(&self.path, &id, parts)
                .await?;
            Ok(())
        })
        .await?;
        self.finished = true;
        Ok(self.written)
    }

    async fn abort_upload(&mut self) -> Result<()> {
        self.finished = true;
        let Some(id) = self.upload.take() else {
            return Ok(());
        };
        instrumented(S3, "abort_multipart", self.timeout, async {
            Ok(self.store.abort_multipart(&self.path, &id).await?)
        })
        .await
    }
}

#[async_trait::async_trait]
impl AudioWriter for S3Writer {
    async fn write(&mut self, mut bytes: Bytes) -> Result<()> {
        if self.finished {
            return Err(InfraError::InvalidWrite("the write already ended".into()));
        }
        self.written += bytes.len() as u64;
        if self.first.len() < PART_SIZE {
            let take = bytes.len().min(PART_SIZE - self.first.len());
            self.first.extend_from_slice(&bytes.split_to(take));
        }
        self.filling.extend_from_slice(&bytes);
        // The second part is only uploaded once a third begins: an object of under two parts
        // stays one PUT. Every uploaded part is exactly PART_SIZE.
        while self.filling.len() > PART_SIZE
            || (self.upload.is_some() && self.filling.len() == PART_SIZE)
        {
            let part = self.filling.split_to(PART_SIZE).freeze();
            if let Err(e) = self.upload_part(part).await {
                let _ = self.abort_upload().await;
                return Err(e);
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>, head: Bytes) -> Result<u64> {
        if self.finished {
            return Err(InfraError::InvalidWrite("the write already ended".into()));
        }
        match self.complete(head).await {
            Ok(n) => Ok(n),
            Err(e) => {
                if let Err(abort) = self.abort_upload().await {
                    tracing::warn!(error = %abort, "aborting the multipart upload failed");
                }
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.abort_upload().await
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // Dropped mid-write (job cancelled, render deadline): the parts already uploaded would
        // otherwise be billed storage until the bucket's lifecycle rule, if any, clears them.
        if self.finished {
            return;
        }
        let (Some(id), Ok(rt)) = (self.upload.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        let (store, path, timeout) = (self.store.clone(), self.path.clone(), self.timeout);
        rt.spawn(async move {
            let r = instrumented(S3, "abort_multipart", timeout, async {
                Ok(store.abort_multipart(&path, &id).await?)
            })
            .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "aborting a dropped multipart upload failed");
            }
        });
    }
}
