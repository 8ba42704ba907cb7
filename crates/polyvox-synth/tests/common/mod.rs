//! The rig the pipeline tests with a test backend share: the real front end and voices from the
//! asset cache (no model), and an engine whose sessions all run the given backend.

use std::path::PathBuf;
use std::sync::Arc;

use polyvox_core::request::FieldNames;
use polyvox_core::{Limits, RawSynthesisRequest, SynthesisRequest};
use polyvox_engine::{Backend, Engine, EngineConfig, EngineError, VoiceBank};
use polyvox_synth::{SynthConfig, Synthesizer};
use polyvox_text::{EspeakMode, Frontend, Resources};

/// `POLYVOX_ASSETS_DIR`, else `~/.cache/polyvox`: where `polyvox models fetch` puts the assets.
pub fn assets() -> PathBuf {
    std::env::var_os("POLYVOX_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/polyvox")
        })
}

/// A synthesizer over `sessions` model threads, each running a backend made by `backend`.
pub fn synthesizer(
    sessions: usize,
    cfg: SynthConfig,
    backend: impl Fn() -> Box<dyn Backend> + Send + Sync + 'static,
) -> Arc<Synthesizer> {
    let root = assets();
    assert!(
        root.join("lexicons/us_gold.json").exists(),
        "lexicons missing in {}: run `polyvox models fetch`",
        root.display()
    );
    let frontend = Frontend::load(&Resources {
        espeak: EspeakMode::Off,
        ..Resources::from_assets_dir(&root)
    })
    .expect("front end");
    let engine = Engine::start(
        &EngineConfig {
            sessions,
            queue_capacity: 8,
            warmup_ids: 0,
        },
        move |_| Ok::<_, EngineError>(backend()),
    )
    .expect("engine");
    Arc::new(Synthesizer::new(
        Arc::new(frontend),
        engine,
        Arc::new(VoiceBank::new(root.join("voices"))),
        cfg,
    ))
}

/// A validated request for `text` in voice af_heart and `format`.
pub fn request(text: &str, format: &str) -> SynthesisRequest {
    RawSynthesisRequest {
        text: text.into(),
        voice: Some("af_heart".into()),
        format: Some(format.into()),
        ..Default::default()
    }
    .validate(&Limits::default(), FieldNames::CLI)
    .expect("valid request")
}
