//! [`S3AudioStore`]: objects in an S3 bucket via the `object_store` crate (AWS S3, SeaweedFS,
//! MinIO, ...). The client's own retries are capped to the call timeout so `instrumented`'s
//! timeout stays the single bound a caller has to reason about.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, ClientOptions, GetOptions, GetRange, ObjectStore, PutOptions,
    PutPayload, RetryConfig,
};

use super::{AudioStore, Fetched, ObjectInfo, clamp_range, validate_key};
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
    /// Bound on every call.
    pub call_timeout: Duration,
}

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
            .finish()
    }
}

/// S3 [`AudioStore`].
#[derive(Debug)]
pub struct S3AudioStore {
    store: AmazonS3,
    timeout: Duration,
}

impl S3AudioStore {
    /// Builds the client (no request is made; the first call surfaces bad credentials).
    pub fn new(cfg: &S3Config) -> Result<Self> {
        let mut b = AmazonS3Builder::new()
            .with_region(&cfg.region)
            .with_bucket_name(&cfg.bucket)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(&cfg.secret_access_key)
            .with_virtual_hosted_style_request(!cfg.path_style)
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(cfg.call_timeout)
                    .with_connect_timeout(cfg.call_timeout),
            )
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

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Fetched> {
        let path = Self::path(key)?;
        instrumented(S3, "get", self.timeout, async {
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
            let r = self
                .store
                .get_opts(&path, opts)
                .await
                .map_err(|e| not_found(key, e))?;
            let info = ObjectInfo {
                len: r.meta.size,
                content_type: content_type(&r.attributes),
            };
            let range = r.range.clone();
            let bytes = r.bytes().await?;
            Ok(Fetched { bytes, range, info })
        })
        .await
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
