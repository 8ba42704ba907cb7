//! Word timings through the pipeline, with a backend whose durations are known exactly: every id
//! lasts `PER_ID` samples of tone, and the pads at both ends `PAD` samples of silence (as the
//! model pads its output). So each word's place in the joined audio can be computed from the chunk
//! plan alone — after edge trimming (which cuts all but 50 ms of the pads), pauses and the chunks
//! before — and compared with what the pipeline reports, in the blocking renderer, a whole-file
//! stream and an encoded stream.

use std::sync::Arc;

use futures::StreamExt;
use polyvox_core::{AudioFormat, SynthesisRequest, WordTiming};
use polyvox_engine::{Backend, EngineError, Voiced};
use polyvox_synth::{Chunk, Delivery, SynthConfig, Synthesizer};

mod common;

const PER_ID: usize = 1_000;
const PAD: usize = 4_800;

struct Paced;

impl Backend for Paced {
    fn infer(&mut self, ids: &[i64], style: &[f32], speed: f32) -> Result<Vec<f32>, EngineError> {
        self.infer_timed(ids, style, speed).map(|v| v.pcm)
    }

    fn infer_timed(&mut self, ids: &[i64], _: &[f32], _: f32) -> Result<Voiced, EngineError> {
        let mut pcm = vec![0.0; PAD];
        pcm.extend(std::iter::repeat_n(0.3, ids.len() * PER_ID));
        pcm.extend(std::iter::repeat_n(0.0, PAD));
        let mut durations = vec![PAD as u32];
        durations.extend(std::iter::repeat_n(PER_ID as u32, ids.len()));
        durations.push(PAD as u32);
        Ok(Voiced {
            pcm,
            durations: Some(durations),
        })
    }

    fn name(&self) -> &str {
        "paced"
    }
}

fn synthesizer() -> Arc<Synthesizer> {
    common::synthesizer(1, SynthConfig::default(), || Box::new(Paced))
}

fn request(text: &str, format: AudioFormat) -> SynthesisRequest {
    common::request(text, format.as_str())
}

const TEXT: &str = "Dr. Smith paid $42.50 for 3 tickets, then left. \
    The show began at 8:15 pm and ended late; everyone went home happy. \
    Naïve résumés 😀 were read aloud, twice!";

/// Where the words must land, from the plan: a chunk keeps 50 ms (1,200 samples) of each pad.
fn expected(text: &str, chunks: &[Chunk]) -> Vec<WordTiming> {
    let keep = 1_200;
    let chars = polyvox_core::timing::CharOffsets::new(text);
    let mut offset = 0;
    let mut out = Vec::new();
    for c in chunks {
        for w in &c.words {
            let at = |id: usize| offset + keep + id * PER_ID;
            out.push(WordTiming::from_samples(
                text,
                w.span.clone(),
                &chars,
                (at(w.ids.start), at(w.ids.end)),
            ));
        }
        offset += keep * 2 + c.ids.len() * PER_ID + c.pause_after_ms as usize * 24;
    }
    out
}

#[test]
fn the_blocking_render_places_every_word_where_its_ids_are_spoken() {
    let synth = synthesizer();
    let req = request(TEXT, AudioFormat::Wav);
    let chunks = synth.plan(&req, true).unwrap();
    assert!(chunks.len() > 2, "the streaming plan cuts this text");
    let rendered = synth
        .render_blocking(&req, &chunks, &mut |_, _| {})
        .unwrap();
    assert_eq!(rendered.words, expected(TEXT, &chunks));
    let texts: Vec<&str> = rendered.words.iter().map(|w| w.text.as_str()).collect();
    assert!(
        texts.contains(&"$42.50") && texts.contains(&"Dr."),
        "{texts:?}"
    );
    assert!(
        !texts.iter().any(|t| t.contains('😀')),
        "an emoji is not a word: {texts:?}"
    );
    let last = rendered.words.last().unwrap();
    assert!(
        last.end <= rendered.duration_secs(),
        "{last:?} past the audio"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_report_the_same_words_as_they_go_whole_file_or_encoded() {
    let synth = synthesizer();
    for (whole_file, format) in [
        (true, AudioFormat::Wav),
        (false, AudioFormat::Pcm),
        (false, AudioFormat::Mp3),
    ] {
        let req = request(TEXT, format);
        let chunks = synth.plan(&req, true).unwrap();
        let delivery = Delivery {
            low_latency: true,
            whole_file,
            timestamps: true,
            ..Delivery::default()
        };
        let mut stream = synth.stream(req, delivery).await.unwrap();
        let words = Arc::clone(&stream.words);
        let mut pieces = 0;
        while let Some(piece) = stream.next().await {
            piece.unwrap();
            pieces += 1;
            // Words are announced before the audio that speaks them: by the time a piece
            // arrives, the words of its chunk are known.
            assert!(!words.all().is_empty(), "a piece arrived before any word");
        }
        assert!(pieces > 0);
        assert_eq!(
            words.all(),
            expected(TEXT, &chunks),
            "whole_file {whole_file}, {format:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_timestamps_no_words_are_logged() {
    let synth = synthesizer();
    let mut stream = synth
        .stream(
            request("Hello there.", AudioFormat::Pcm),
            Delivery::default(),
        )
        .await
        .unwrap();
    while stream.next().await.is_some() {}
    assert!(stream.words.all().is_empty());
}
