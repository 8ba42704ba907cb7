//! Proof that a long text loses no chunk and keeps their order, in the blocking renderer and in
//! the stream. A signature backend answers every chunk with a constant tone whose level encodes
//! the chunk's ids, so the joined audio can be read back chunk by chunk. With silence around the
//! tone, the same reading proves that chunk edges are trimmed to a fixed margin, so the chunk
//! plan does not change the audio's length.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use polyvox_core::{AudioFormat, SynthesisRequest};
use polyvox_engine::{Backend, EngineError};
use polyvox_synth::{Chunk, Delivery, SynthConfig, Synthesizer};

mod common;

const SAMPLES_PER_CHUNK: usize = 2_400;

/// Answers with the signature tone, padded with `pad` samples of silence on each side (as the
/// model pads its output).
struct Signature {
    calls: Arc<AtomicUsize>,
    pad: usize,
}

fn level(ids: &[i64]) -> f32 {
    let h = ids.iter().fold(17i64, |h, &x| (h * 31 + x) % 997);
    0.05 + (h as f32) / 997.0 * 0.5
}

impl Backend for Signature {
    fn infer(&mut self, ids: &[i64], _style: &[f32], _speed: f32) -> Result<Vec<f32>, EngineError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut pcm = vec![0.0; self.pad];
        pcm.extend(std::iter::repeat_n(level(ids), SAMPLES_PER_CHUNK));
        pcm.extend(std::iter::repeat_n(0.0, self.pad));
        Ok(pcm)
    }
    fn name(&self) -> &str {
        "signature"
    }
}

fn synthesizer() -> Arc<Synthesizer> {
    synthesizer_counting(Arc::new(AtomicUsize::new(0)))
}

fn synthesizer_counting(calls: Arc<AtomicUsize>) -> Arc<Synthesizer> {
    synthesizer_with(calls, 0)
}

fn synthesizer_with(calls: Arc<AtomicUsize>, pad: usize) -> Arc<Synthesizer> {
    let cfg = SynthConfig {
        fade_ms: 1.0,
        ..SynthConfig::default()
    };
    common::synthesizer(2, cfg, move || {
        Box::new(Signature {
            calls: Arc::clone(&calls),
            pad,
        })
    })
}

fn long_request(format: AudioFormat) -> SynthesisRequest {
    let mut text = String::new();
    let mut i = 0;
    while text.chars().count() < 5_200 {
        i += 1;
        text.push_str(&format!(
            "Sentence {i} talks about the harbour, the ships and {} lanterns; then it goes on, without a pause, \
             through a long clause that keeps going for a while. ",
            i * 7
        ));
    }
    common::request(&text, format.as_str())
}

/// Reads the joined audio back: each chunk's tone sits at its offset, in plan order.
fn assert_in_order(pcm: &[f32], chunks: &[Chunk], tolerance: f32) {
    assert_layout(pcm, chunks, tolerance, SAMPLES_PER_CHUNK);
}

/// Like [`assert_in_order`] for chunks of `chunk_len` samples each (tone plus kept margins).
fn assert_layout(pcm: &[f32], chunks: &[Chunk], tolerance: f32, chunk_len: usize) {
    let mut pos = 0;
    for c in chunks {
        let mid = pos + chunk_len / 2;
        assert!(mid < pcm.len(), "audio ends before chunk {}", c.index);
        let got = pcm[mid];
        assert!(
            (got - level(&c.ids)).abs() < tolerance,
            "chunk {} at {mid}: {got} != {}",
            c.index,
            level(&c.ids)
        );
        pos += chunk_len + (c.pause_after_ms as usize) * 24;
    }
    assert_eq!(
        pos,
        pcm.len(),
        "audio has exactly the planned chunks and pauses"
    );
}

#[test]
fn blocking_render_keeps_every_chunk_in_order() {
    let synth = synthesizer();
    let req = long_request(AudioFormat::Wav);
    let chunks = synth.plan(&req, false).unwrap();
    assert!(
        chunks.len() > 20,
        "5,200 chars should need many chunks, got {}",
        chunks.len()
    );
    let mut seen = vec![];
    let rendered = synth
        .render_blocking(&req, &chunks, &mut |done, total| seen.push((done, total)))
        .unwrap();
    assert_eq!(seen.last(), Some(&(chunks.len(), chunks.len())));
    assert_in_order(&rendered.pcm, &chunks, 1e-5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_keeps_every_chunk_in_order() {
    let synth = synthesizer();
    let req = long_request(AudioFormat::Pcm);
    let chunks = synth.plan(&req, true).unwrap();
    let mut stream = synth
        .stream(
            req,
            Delivery {
                low_latency: true,
                whole_file: false,
                ..Delivery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(stream.chunks, chunks.len());
    let mut bytes = vec![];
    while let Some(piece) = stream.next().await {
        bytes.extend_from_slice(&piece.unwrap());
    }
    let progress = *stream.progress().borrow();
    assert_eq!(
        progress.chunks_done,
        chunks.len(),
        "progress counts every chunk"
    );
    assert_eq!(
        progress.samples * 2,
        bytes.len(),
        "progress counts every sample"
    );
    let pcm: Vec<f32> = bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    assert_in_order(&pcm, &chunks, 1e-3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_stops_the_work() {
    let calls = Arc::new(AtomicUsize::new(0));
    let synth = synthesizer_counting(Arc::clone(&calls));
    let req = long_request(AudioFormat::Pcm);
    let total = synth.plan(&req, true).unwrap().len();
    let mut stream = synth
        .stream(
            req,
            Delivery {
                low_latency: true,
                whole_file: false,
                ..Delivery::default()
            },
        )
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(stream);
    // Let the producer notice the closed channel and the engine drain. The backend is instant, so
    // a producer that kept going would have rendered every chunk by the end of this wait.
    for _ in 0..100 {
        if synth.engine().queue_len() == 0 && synth.engine().busy() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after_drop = calls.load(Ordering::SeqCst);
    // Warm-up (one per session) plus a bounded pipeline: far fewer calls than chunks.
    assert!(
        after_drop < total / 2,
        "{after_drop} model calls for a dropped stream of {total} chunks"
    );
}

#[test]
fn chunk_edges_are_trimmed_to_a_fixed_margin_whatever_the_plan() {
    // 300 ms of model silence on each side; the default trim keeps 50 ms of it.
    let synth = synthesizer_with(Arc::new(AtomicUsize::new(0)), 7_200);
    let keep = synth
        .config()
        .edge_trim
        .expect("trim is on by default")
        .keep_ms as usize
        * 24;
    let req = long_request(AudioFormat::Wav);
    let mut lengths = vec![];
    for low_latency in [false, true] {
        let chunks = synth.plan(&req, low_latency).unwrap();
        let rendered = synth
            .render_blocking(&req, &chunks, &mut |_, _| {})
            .unwrap();
        assert_layout(&rendered.pcm, &chunks, 1e-5, SAMPLES_PER_CHUNK + 2 * keep);
        let pauses: usize = chunks.iter().map(|c| c.pause_after_ms as usize * 24).sum();
        lengths.push((chunks.len(), rendered.pcm.len() - pauses));
    }
    let ((whole_chunks, whole), (stream_chunks, stream)) = (lengths[0], lengths[1]);
    assert!(
        stream_chunks > whole_chunks,
        "the streamed plan has more, smaller chunks"
    );
    // Each chunk adds its tone and two margins, never the 600 ms of padding it came with.
    assert_eq!(whole, whole_chunks * (SAMPLES_PER_CHUNK + 2 * keep));
    assert_eq!(stream, stream_chunks * (SAMPLES_PER_CHUNK + 2 * keep));
}
