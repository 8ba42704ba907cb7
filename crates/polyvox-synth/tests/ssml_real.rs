//! SSML through the real pipeline and the real Kokoro model: every supported tag changes the
//! audio (or the ids sent to the model) as it should, and word timestamps point into the SSML
//! source. A recording backend wraps ONNX Runtime to see each call's ids and speed.
//!
//! Ignored by a bare `cargo test`: they need the model assets, which `scripts/test.sh` installs
//! before running them with `--include-ignored`.

use std::sync::{Arc, Mutex, OnceLock};

use futures::StreamExt;
use polyvox_core::request::FieldNames;
use polyvox_core::ssml::InputFormat;
use polyvox_core::{AudioFormat, Lang, Limits, RawSynthesisRequest, SynthesisRequest};
use polyvox_engine::{
    AssetDir, Backend, Engine, EngineConfig, EngineError, OrtBackend, OrtConfig, VoiceBank, Voiced,
};
use polyvox_synth::{Delivery, Rendered, SynthConfig, Synthesizer};
use polyvox_text::{Frontend, Resources};

/// Every model call: (ids, speed).
type Calls = Arc<Mutex<Vec<(Vec<i64>, f32)>>>;

struct Recording {
    inner: OrtBackend,
    calls: Calls,
}

impl Backend for Recording {
    fn infer(&mut self, ids: &[i64], style: &[f32], speed: f32) -> Result<Vec<f32>, EngineError> {
        self.infer_timed(ids, style, speed).map(|v| v.pcm)
    }

    fn infer_timed(
        &mut self,
        ids: &[i64],
        style: &[f32],
        speed: f32,
    ) -> Result<Voiced, EngineError> {
        self.calls.lock().unwrap().push((ids.to_vec(), speed));
        self.inner.infer_timed(ids, style, speed)
    }

    fn name(&self) -> &str {
        "recording"
    }
}

struct Rig {
    synth: Arc<Synthesizer>,
    calls: Calls,
    vocab: std::collections::HashMap<char, i64>,
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let assets = AssetDir::from_env_or_default();
        if let Err(e) = assets.ensure_present() {
            panic!("model assets are not installed ({e}); run `polyvox models fetch`");
        }
        let frontend = Frontend::load(&Resources::from_assets_dir(assets.root())).unwrap();
        let calls: Calls = Arc::default();
        let (ort, rec) = (OrtConfig::from_assets(&assets, 2), Arc::clone(&calls));
        let engine = Engine::start(
            &EngineConfig {
                sessions: 1,
                queue_capacity: 8,
                warmup_ids: 0,
            },
            move |_| {
                Ok(Box::new(Recording {
                    inner: OrtBackend::load(&ort)?,
                    calls: Arc::clone(&rec),
                }) as Box<dyn Backend>)
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(assets.vocab_path()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let vocab = json["vocab"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.chars().next().unwrap(), v.as_i64().unwrap()))
            .collect();
        Rig {
            synth: Arc::new(Synthesizer::new(
                Arc::new(frontend),
                engine,
                Arc::new(VoiceBank::new(assets.voices_dir())),
                SynthConfig::default(),
            )),
            calls,
            vocab,
        }
    })
}

fn request(input: &str, format: Option<InputFormat>) -> SynthesisRequest {
    RawSynthesisRequest {
        text: input.into(),
        voice: Some("af_heart".into()),
        lang: Some("en-us".into()),
        speed: Some(1.0),
        format: Some("wav".into()),
    }
    .validate_as(format, &Limits::default(), FieldNames::OPENAI)
    .unwrap_or_else(|e| panic!("{input}: {e}"))
}

/// Renders `input` (one test at a time holds the rig, so the recorded calls are this one's).
fn render(input: &str) -> (Rendered, Vec<(Vec<i64>, f32)>) {
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let rig = rig();
    rig.calls.lock().unwrap().clear();
    let req = request(input, None);
    let chunks = rig.synth.plan(&req, false).unwrap();
    let out = rig
        .synth
        .render_blocking(&req, &chunks, &mut |_, _| {})
        .unwrap();
    (out, std::mem::take(&mut *rig.calls.lock().unwrap()))
}

/// The longest run of near-silence between the first and the last sound, in seconds.
fn longest_pause(pcm: &[f32]) -> f64 {
    let loud = |x: &f32| x.abs() > 0.01;
    let (Some(a), Some(b)) = (pcm.iter().position(loud), pcm.iter().rposition(loud)) else {
        return 0.0;
    };
    let (mut best, mut run) = (0, 0);
    for x in &pcm[a..=b] {
        run = if loud(x) { 0 } else { run + 1 };
        best = best.max(run);
    }
    best as f64 / 24_000.0
}

fn seconds(pcm: &[f32]) -> f64 {
    pcm.len() as f64 / 24_000.0
}

#[test]
#[ignore = "needs the real model (scripts/test.sh runs it)"]
fn a_500_ms_break_adds_half_a_second_of_silence_in_files_and_streams() {
    let plain = "<speak>The train leaves at noon. Please be on time.</speak>";
    let broken =
        "<speak>The train leaves at noon. <break time=\"500ms\"/> Please be on time.</speak>";
    let (a, _) = render(plain);
    let (b, _) = render(broken);
    let added = longest_pause(&b.pcm) - longest_pause(&a.pcm);
    assert!(
        (0.45..=0.55).contains(&added),
        "the break added {added:.3} s of silence"
    );
    let grown = seconds(&b.pcm) - seconds(&a.pcm);
    assert!(
        (0.45..=0.55).contains(&grown),
        "the audio grew by {grown:.3} s"
    );
    // The words after the break moved by it; those before did not.
    assert_eq!(a.words.len(), b.words.len());
    let please = a.words.iter().position(|w| w.text == "Please").unwrap();
    assert!((a.words[0].start - b.words[0].start).abs() < 0.001);
    let moved = b.words[please].start - a.words[please].start;
    assert!(
        (0.45..=0.55).contains(&moved),
        "Please moved by {moved:.3} s"
    );

    // The streamed output (raw PCM, a short first chunk) carries the same silence.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let streamed: Vec<f32> = rt.block_on(async {
        let mut req = request(broken, None);
        req.format = AudioFormat::Pcm;
        let mut s = rig()
            .synth
            .stream(
                req,
                Delivery {
                    low_latency: true,
                    ..Delivery::default()
                },
            )
            .await
            .unwrap();
        let mut bytes = Vec::new();
        while let Some(piece) = s.next().await {
            bytes.extend_from_slice(&piece.unwrap());
        }
        bytes
            .chunks_exact(2)
            .map(|p| f32::from(i16::from_le_bytes([p[0], p[1]])) / 32768.0)
            .collect()
    });
    let pause = longest_pause(&streamed);
    assert!(pause >= 0.5, "the streamed break is {pause:.3} s");
}

#[test]
#[ignore = "needs the real model (scripts/test.sh runs it)"]
fn say_as_characters_spells_the_letters() {
    let (word, word_calls) = render("<speak>Open the cab.</speak>");
    let (spelled, calls) =
        render("<speak>Open the <say-as interpret-as=\"characters\">cab</say-as>.</speak>");
    let cab = |r: &Rendered| {
        let w = r
            .words
            .iter()
            .find(|w| w.text == "cab")
            .expect("the token is one word");
        w.end - w.start
    };
    let (w, s) = (cab(&word), cab(&spelled));
    assert!(
        s > 1.4 * w,
        "spelled C-A-B ({s:.2} s) is not clearly longer than the word cab ({w:.2} s)"
    );
    assert!(seconds(&spelled.pcm) > seconds(&word.pcm));
    // Three letter names, each with its own stress, where the word has one.
    let stresses = |ids: &[i64]| {
        ids.iter()
            .filter(|&&id| id == rig().vocab[&'ˈ'] || id == rig().vocab[&'ˌ'])
            .count()
    };
    let (spelled_n, word_n) = (stresses(&calls[0].0), stresses(&word_calls[0].0));
    assert!(
        spelled_n >= word_n + 2,
        "{spelled_n} stress marks spelled, {word_n} as a word"
    );
}

#[test]
#[ignore = "needs the real model (scripts/test.sh runs it)"]
fn phoneme_sends_the_given_ipa_to_the_model() {
    let ph = "pˈɑɹsli";
    let src = format!(
        "<speak>I like <phoneme alphabet=\"ipa\" ph=\"{ph}\">tomato</phoneme> soup.</speak>"
    );
    let (out, calls) = render(&src);
    let want: Vec<i64> = ph.chars().map(|c| rig().vocab[&c]).collect();
    let ids = &calls[0].0;
    assert!(
        ids.windows(want.len()).any(|w| w == want.as_slice()),
        "{ids:?} lacks {want:?}"
    );
    let (plain, plain_calls) = render("<speak>I like tomato soup.</speak>");
    assert_ne!(
        plain_calls[0].0, *ids,
        "the written word's own reading was replaced"
    );
    let word = out
        .words
        .iter()
        .find(|w| w.text == "tomato")
        .expect("timed as the written word");
    let chars: Vec<char> = src.chars().collect();
    assert_eq!(
        chars[word.char_start..word.char_end]
            .iter()
            .collect::<String>(),
        "tomato"
    );
    assert_eq!(plain.words.len(), out.words.len());
}

#[test]
#[ignore = "needs the real model (scripts/test.sh runs it)"]
fn sub_speaks_the_alias_and_times_the_written_token() {
    let src = "<speak>Visit the <sub alias=\"World Wide Web\">WWW</sub> today.</speak>";
    let (out, calls) = render(src);
    let (_, alias_calls) = render("<speak>Visit the World Wide Web today.</speak>");
    assert_eq!(
        calls[0].0, alias_calls[0].0,
        "the alias is what the model hears"
    );
    let texts: Vec<&str> = out.words.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(texts, ["Visit", "the", "WWW", "today"]);
    let chars: Vec<char> = src.chars().collect();
    for w in &out.words {
        assert_eq!(
            chars[w.char_start..w.char_end].iter().collect::<String>(),
            w.text
        );
    }
    let www = &out.words[2];
    assert!(
        www.end - www.start > 0.6,
        "three words are spoken for WWW: {www:?}"
    );
}

#[test]
#[ignore = "needs the real model (scripts/test.sh runs it)"]
fn prosody_rate_half_makes_its_part_twice_as_long() {
    let tail = "How are you today, my friend?";
    let (plain, _) = render(&format!("<speak>Hello there. {tail}</speak>"));
    let (slow, calls) = render(&format!(
        "<speak>Hello there. <prosody rate=\"50%\">{tail}</prosody></speak>"
    ));
    let span = |r: &Rendered| {
        let from = r.words.iter().position(|w| w.text == "How").unwrap();
        r.words.last().unwrap().end - r.words[from].start
    };
    let ratio = span(&slow) / span(&plain);
    assert!(
        (1.7..=2.3).contains(&ratio),
        "the slowed part is {ratio:.2}× as long"
    );
    let speeds: Vec<f32> = calls.iter().map(|c| c.1).collect();
    assert_eq!(speeds, [1.0, 0.5], "one model call per rate");
}

#[test]
#[ignore = "needs the real model (scripts/test.sh runs it)"]
fn lang_switches_the_reader_mid_document() {
    let fr = "Bonjour mes amis, comment allez-vous?";
    let src = format!("<speak>Good morning. <lang xml:lang=\"fr\">{fr}</lang></speak>");
    let (out, calls) = render(&src);
    let french = rig().synth.frontend().phonemize(fr, Lang::Fr).unwrap();
    let want: Vec<i64> = french
        .chars()
        .filter_map(|c| rig().vocab.get(&c).copied())
        .collect();
    let ids: Vec<i64> = calls.iter().flat_map(|c| c.0.clone()).collect();
    let tail = &want[..want.len().min(12)];
    assert!(
        ids.windows(tail.len()).any(|w| w == tail),
        "French phonemes {french} not sent: {ids:?}"
    );
    let english = rig().synth.frontend().phonemize(fr, Lang::EnUs).unwrap();
    assert_ne!(french, english);
    let texts: Vec<&str> = out.words.iter().map(|w| w.text.as_str()).collect();
    // espeak-ng languages are timed by clause.
    assert!(texts.iter().any(|t| t.starts_with("Bonjour")), "{texts:?}");
}

#[test]
#[ignore = "needs the real model (scripts/test.sh runs it)"]
fn timestamps_point_into_the_ssml_source() {
    let src = "<speak>\n  <p>Dr. Smith paid <say-as interpret-as=\"cardinal\">1,250</say-as> dollars &amp; left.</p>\n  <p><s>Call <say-as interpret-as=\"telephone\">555-0100</say-as>.</s></p>\n</speak>";
    let (out, _) = render(src);
    let chars: Vec<char> = src.chars().collect();
    let mut last = 0;
    for w in &out.words {
        let written: String = chars[w.char_start..w.char_end].iter().collect();
        assert_eq!(written, w.text);
        assert!(
            !written.contains('<') && !written.contains('>'),
            "{written}"
        );
        assert!(w.char_start >= last, "in order");
        last = w.char_end;
    }
    let texts: Vec<&str> = out.words.iter().map(|w| w.text.as_str()).collect();
    for token in [
        "Dr.", "Smith", "1,250", "dollars", "&amp;", "left", "Call", "555-0100",
    ] {
        assert!(texts.contains(&token), "{token} missing from {texts:?}");
    }
}
