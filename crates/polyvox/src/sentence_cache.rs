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
