//! Connects the pipeline's sentence-cache hook ([`ChunkMemo`]) to the infrastructure's chunk
//! stores (Redis | memory | disabled). The key adds the model id and front-end version to what
//! the pipeline gives (ids, voice, speed), so a new model or front end never reuses old audio.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use polyvox_infra::cache::{ChunkCache, chunk_key};
use polyvox_synth::{ChunkKey, ChunkMemo};

use polyvox_core::{FRONTEND_VERSION, MODEL_ID};

/// The sentence cache handed to the synthesizer.
pub struct SentenceCache {
    store: Arc<dyn ChunkCache>,
}

impl SentenceCache {
    pub fn new(store: Arc<dyn ChunkCache>) -> Self {
        Self { store }
    }

    fn key(k: ChunkKey<'_>) -> String {
        chunk_key(k.ids, k.voice, k.speed, MODEL_ID, FRONTEND_VERSION)
    }

    /// Durations live under their own key, beside the PCM entry, in the same sample store: counts
    /// of samples per token stay far below 2^24, so `f32` holds them exactly.
    fn durations_key(k: ChunkKey<'_>) -> String {
        format!("{}:durations", Self::key(k))
    }
}

impl ChunkMemo for SentenceCache {
    fn lookup(&self, key: ChunkKey<'_>) -> BoxFuture<'static, Option<Vec<f32>>> {
        let (store, key) = (Arc::clone(&self.store), Self::key(key));
        async move {
            match store.get_chunk(&key).await {
                Ok(found) => found,
                Err(e) => {
                    // A sick cache costs a model call, never the request.
                    tracing::warn!(error = %e, "sentence cache lookup failed");
                    None
                }
            }
        }
        .boxed()
    }

    fn lookup_durations(&self, key: ChunkKey<'_>) -> BoxFuture<'static, Option<Vec<u32>>> {
        let (store, key) = (Arc::clone(&self.store), Self::durations_key(key));
        async move {
            match store.get_chunk(&key).await {
                Ok(found) => found.map(|d| d.iter().map(|&s| s as u32).collect()),
                Err(e) => {
                    tracing::warn!(error = %e, "sentence cache lookup failed");
                    None
                }
            }
        }
        .boxed()
    }

    fn remember_durations(&self, key: ChunkKey<'_>, durations: &[u32]) -> BoxFuture<'static, ()> {
        let store = Arc::clone(&self.store);
        let key = Self::durations_key(key);
        let values: Vec<f32> = durations.iter().map(|&d| d as f32).collect();
        async move {
            if let Err(e) = store.put_chunk(&key, &values).await {
                tracing::warn!(error = %e, "sentence cache write failed");
            }
        }
        .boxed()
    }

    fn remember(&self, key: ChunkKey<'_>, pcm: &[f32]) -> BoxFuture<'static, ()> {
        let (store, key, pcm) = (Arc::clone(&self.store), Self::key(key), pcm.to_vec());
        async move {
            if let Err(e) = store.put_chunk(&key, &pcm).await {
                tracing::warn!(error = %e, "sentence cache write failed");
            }
        }
        .boxed()
    }
}
