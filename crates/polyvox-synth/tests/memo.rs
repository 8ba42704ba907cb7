//! The sentence-cache hook with a counting fake backend: a second text that shares sentences
//! with the first makes fewer model calls (exactly one per chunk the cache does not hold), and
//! audio assembled from cached chunks is byte-identical to freshly synthesized audio — the joins
//! (fades, pauses) are applied the same way either way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use polyvox_core::SynthesisRequest;
use polyvox_engine::{Backend, EngineError, Voiced};
use polyvox_synth::{ChunkKey, ChunkMemo, Delivery, SynthConfig, Synthesizer};

mod common;
use common::request;

/// Answers every chunk with a ramp whose shape depends on the ids, so fades and joins show.
struct Counting(Arc<AtomicUsize>);

impl Backend for Counting {
    fn infer(&mut self, ids: &[i64], _style: &[f32], speed: f32) -> Result<Vec<f32>, EngineError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let seed = ids.iter().fold(7i64, |h, &x| (h * 31 + x) % 1009) as f32;
        let n = 1_200 + ids.len() * 20;
        Ok((0..n)
            .map(|i| ((i as f32 * (seed + 1.0) / 5_000.0).sin() * 0.4) / speed)
            .collect())
    }
    /// Times its ramp: 600 samples for each pad, 20 per id (as `infer`'s length is made).
    fn infer_timed(
        &mut self,
        ids: &[i64],
        style: &[f32],
        speed: f32,
    ) -> Result<Voiced, EngineError> {
        let pcm = self.infer(ids, style, speed)?;
        let mut durations = vec![600];
        durations.extend(std::iter::repeat_n(20, ids.len()));
        durations.push(600);
        Ok(Voiced {
            pcm,
            durations: Some(durations),
        })
    }

    fn name(&self) -> &str {
        "counting"
    }
}

/// An in-memory memo that counts what it answers (cheap clones share the state).
#[derive(Clone, Default)]
struct Memo(Arc<MemoState>);

/// (ids, voice, speed bits): the fields of a [`ChunkKey`], owned.
type Key = (Vec<i64>, String, u32);

#[derive(Default)]
struct MemoState {
    map: Mutex<HashMap<Key, Vec<f32>>>,
    durations: Mutex<HashMap<Key, Vec<u32>>>,
    hits: AtomicUsize,
    misses: AtomicUsize,
}

impl std::ops::Deref for Memo {
    type Target = MemoState;
    fn deref(&self) -> &MemoState {
        &self.0
    }
}

impl Memo {
    fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

fn key(k: ChunkKey<'_>) -> Key {
    (k.ids.to_vec(), k.voice.to_string(), k.speed.to_bits())
}

impl ChunkMemo for Memo {
    fn lookup(&self, k: ChunkKey<'_>) -> BoxFuture<'static, Option<Vec<f32>>> {
        let found = self.map.lock().unwrap().get(&key(k)).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::SeqCst);
        async move { found }.boxed()
    }

    fn remember(&self, k: ChunkKey<'_>, pcm: &[f32]) -> BoxFuture<'static, ()> {
        let (this, k, pcm) = (self.clone(), key(k), pcm.to_vec());
        async move {
            this.map.lock().unwrap().insert(k, pcm);
        }
        .boxed()
    }

    fn lookup_durations(&self, k: ChunkKey<'_>) -> BoxFuture<'static, Option<Vec<u32>>> {
        let found = self.durations.lock().unwrap().get(&key(k)).cloned();
        async move { found }.boxed()
    }

    fn remember_durations(&self, k: ChunkKey<'_>, d: &[u32]) -> BoxFuture<'static, ()> {
        let (this, k, d) = (self.clone(), key(k), d.to_vec());
        async move {
            this.durations.lock().unwrap().insert(k, d);
        }
        .boxed()
    }
}

fn synthesizer(calls: Arc<AtomicUsize>) -> Arc<Synthesizer> {
    let cfg = SynthConfig {
        max_chunk_ids: 120,
        ..SynthConfig::default()
    };
    common::synthesizer(1, cfg, move || Box::new(Counting(Arc::clone(&calls))))
}

fn paragraphs(range: std::ops::Range<usize>) -> String {
    range
        .map(|i| {
            format!(
                "Paragraph {i} describes the harbour at dawn. The boats number {}, and the gulls are loud.",
                i * 3 + 1
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

async fn render(synth: &Arc<Synthesizer>, req: SynthesisRequest, whole_file: bool) -> Vec<u8> {
    let delivery = Delivery {
        low_latency: false,
        whole_file,
        ..Delivery::default()
    };
    let mut s = synth.stream(req, delivery).await.expect("stream");
    let mut out = Vec::new();
    while let Some(b) = s.next().await {
        out.extend_from_slice(&b.expect("audio"));
    }
    out
}

/// Waits until the memo holds `n` entries (it is written by spawned tasks).
async fn settle(memo: &Memo, n: usize) {
    for _ in 0..500 {
        if memo.len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("memo holds {} of {n} chunks", memo.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_text_sharing_sentences_makes_fewer_model_calls() {
    let calls = Arc::new(AtomicUsize::new(0));
    let synth = synthesizer(Arc::clone(&calls));
    let memo = Memo::default();
    synth.set_chunk_memo(Arc::new(memo.clone()));

    let first = request(&paragraphs(0..8), "wav");
    let chunks_a = synth.plan(&first, false).unwrap().len();
    assert!(chunks_a >= 6, "a long text: {chunks_a} chunks");
    render(&synth, first, true).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        chunks_a,
        "empty cache: one call per chunk"
    );
    settle(&memo, chunks_a).await;

    // Same eight paragraphs plus two new ones.
    let second = request(&paragraphs(0..10), "wav");
    let chunks_b = synth.plan(&second, false).unwrap().len();
    let (hits0, misses0) = (
        memo.hits.load(Ordering::SeqCst),
        memo.misses.load(Ordering::SeqCst),
    );
    calls.store(0, Ordering::SeqCst);
    render(&synth, second, true).await;
    let model_calls = calls.load(Ordering::SeqCst);
    let hits = memo.hits.load(Ordering::SeqCst) - hits0;
    let misses = memo.misses.load(Ordering::SeqCst) - misses0;
    assert_eq!(hits + misses, chunks_b, "one lookup per chunk");
    assert_eq!(
        model_calls, misses,
        "exactly the missed chunks went to the model"
    );
    assert!(
        model_calls < chunks_b,
        "{model_calls} calls for {chunks_b} chunks"
    );
    assert!(
        hits + 1 >= chunks_a,
        "the shared paragraphs came from the cache: {hits} hits of {chunks_a} shared chunks"
    );
}

/// A timed synthesis takes chunks from the memo when it kept their durations too, and times the
/// words exactly as the model calls did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_syntheses_reuse_chunks_with_their_durations() {
    let calls = Arc::new(AtomicUsize::new(0));
    let synth = synthesizer(Arc::clone(&calls));
    let memo = Memo::default();
    synth.set_chunk_memo(Arc::new(memo.clone()));
    let text = paragraphs(0..4);
    let n = synth.plan(&request(&text, "wav"), false).unwrap().len();
    let timed = Delivery {
        whole_file: true,
        timestamps: true,
        ..Delivery::default()
    };
    let mut words = vec![];
    for _ in 0..2 {
        let mut s = synth.stream(request(&text, "wav"), timed).await.unwrap();
        while let Some(b) = s.next().await {
            b.unwrap();
        }
        words.push(s.words.all());
        for _ in 0..500 {
            if memo.durations.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        n,
        "the second render made no model call"
    );
    assert!(!words[0].is_empty());
    assert_eq!(
        words[0], words[1],
        "cached chunks time their words as fresh ones"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_chunks_join_exactly_like_fresh_ones() {
    let calls = Arc::new(AtomicUsize::new(0));
    let plain = synthesizer(Arc::clone(&calls));
    let text = paragraphs(0..5);
    let fresh_whole = render(&plain, request(&text, "wav"), true).await;
    let fresh_stream = render(&plain, request(&text, "pcm"), false).await;

    let cached_calls = Arc::new(AtomicUsize::new(0));
    let cached = synthesizer(Arc::clone(&cached_calls));
    let memo = Memo::default();
    cached.set_chunk_memo(Arc::new(memo.clone()));
    let n = cached.plan(&request(&text, "wav"), false).unwrap().len();
    let warm = render(&cached, request(&text, "wav"), true).await;
    assert_eq!(warm, fresh_whole, "a memo that only misses changes nothing");
    settle(&memo, n).await;
    cached_calls.store(0, Ordering::SeqCst);
    let from_cache_whole = render(&cached, request(&text, "wav"), true).await;
    let from_cache_stream = render(&cached, request(&text, "pcm"), false).await;
    assert_eq!(
        cached_calls.load(Ordering::SeqCst),
        0,
        "every chunk came from the cache"
    );
    assert_eq!(from_cache_whole, fresh_whole, "whole file byte-identical");
    assert_eq!(
        from_cache_stream, fresh_stream,
        "streamed encoding byte-identical"
    );
}
