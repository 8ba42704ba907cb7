//! An audio store around the real one whose reads or whose finishing writes fail while a flag is
//! set, as an overloaded or stopped S3 does; each refusal is counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use polyvox_infra::InfraError;
use polyvox_infra::storage::{AudioStore, AudioWriter, Fetched, ObjectInfo};

/// Switches for [`FaultyStore`], shared with the test that flips them.
#[derive(Clone, Default)]
pub struct Faults {
    /// `get` and `head` time out.
    pub reads_down: Arc<AtomicBool>,
    /// A streamed write's `finish` times out (the object never appears).
    pub finish_down: Arc<AtomicBool>,
    /// Operations refused so far.
    pub refused: Arc<AtomicUsize>,
}

impl Faults {
    fn check(&self, down: &AtomicBool, op: &'static str) -> polyvox_infra::Result<()> {
        if down.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(InfraError::Timeout {
                system: "s3",
                op,
                after_ms: 10_000,
            });
        }
        Ok(())
    }

    /// Wraps `inner` (for `Builder::wrap_audio`).
    pub fn around(&self, inner: Arc<dyn AudioStore>) -> Arc<dyn AudioStore> {
        Arc::new(FaultyStore {
            inner,
            faults: self.clone(),
        })
    }
}

pub struct FaultyStore {
    inner: Arc<dyn AudioStore>,
    faults: Faults,
}

struct FaultyWriter {
    inner: Box<dyn AudioWriter>,
    faults: Faults,
}

#[async_trait::async_trait]
impl AudioWriter for FaultyWriter {
    async fn write(&mut self, bytes: Bytes) -> polyvox_infra::Result<()> {
        self.inner.write(bytes).await
    }
    async fn finish(self: Box<Self>, head: Bytes) -> polyvox_infra::Result<u64> {
        if let Err(e) = self.faults.check(&self.faults.finish_down, "put") {
            let _ = self.inner.abort().await;
            return Err(e);
        }
        self.inner.finish(head).await
    }
    async fn abort(self: Box<Self>) -> polyvox_infra::Result<()> {
        self.inner.abort().await
    }
}

#[async_trait::async_trait]
impl AudioStore for FaultyStore {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> polyvox_infra::Result<()> {
        self.inner.put(key, bytes, content_type).await
    }
    async fn put_stream(
        &self,
        key: &str,
        content_type: &str,
    ) -> polyvox_infra::Result<Box<dyn AudioWriter>> {
        let inner = self.inner.put_stream(key, content_type).await?;
        Ok(Box::new(FaultyWriter {
            inner,
            faults: self.faults.clone(),
        }))
    }
    async fn get(
        &self,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> polyvox_infra::Result<Fetched> {
        self.faults.check(&self.faults.reads_down, "get")?;
        self.inner.get(key, range).await
    }
    async fn head(&self, key: &str) -> polyvox_infra::Result<ObjectInfo> {
        self.faults.check(&self.faults.reads_down, "head")?;
        self.inner.head(key).await
    }
    async fn delete(&self, key: &str) -> polyvox_infra::Result<()> {
        self.inner.delete(key).await
    }
    async fn presigned_get(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> polyvox_infra::Result<Option<String>> {
        self.inner.presigned_get(key, expires_in).await
    }
}
