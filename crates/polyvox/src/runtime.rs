//! Builds the synthesis stack (assets → front end → model threads → pipeline) from flags.
//! Shared by `say` and `serve` so both load the model the same way.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use polyvox_engine::assets::AssetDir;
use polyvox_engine::{Engine, EngineConfig, OrtBackend, OrtConfig, VoiceBank};
use polyvox_synth::{SynthConfig, Synthesizer};
use polyvox_text::{EspeakMode, Frontend, Resources};

use crate::cli::{AssetArgs, EngineArgs, EspeakArg};

pub fn asset_dir(args: &AssetArgs) -> AssetDir {
    match &args.assets_dir {
        Some(p) => AssetDir::new(p.clone()),
        None => AssetDir::from_env_or_default(),
    }
}

/// Makes sure the assets are there, fetching them on first use unless told not to.
pub fn ensure_assets(args: &EngineArgs) -> anyhow::Result<AssetDir> {
    let assets = asset_dir(&args.assets);
    if let Err(missing) = assets.ensure_present() {
        if args.no_fetch {
            return Err(anyhow::anyhow!(missing));
        }
        eprintln!(
            "Model assets are missing in {} ({missing}); fetching them now.",
            assets.root().display()
        );
        crate::models::fetch(&assets)?;
    } else if !polyvox_text::ja_dict::is_built(&polyvox_text::ja_dict::dictionary_path(
        assets.root(),
    )) && !args.no_fetch
    {
        crate::models::build_japanese_dictionary(&assets);
    }
    Ok(assets)
}

/// Model sessions: explicit, or one per core (each can still use every core through the shared
/// pool when it is the only one busy).
pub fn sessions(args: &EngineArgs) -> usize {
    if args.sessions > 0 {
        return args.sessions;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn synth_config(args: &EngineArgs) -> SynthConfig {
    let mut cfg = SynthConfig {
        max_chunk_ids: usize::from(args.max_chunk_ids),
        first_chunk_ids: usize::from(args.first_chunk_ids),
        // Enough of a long request's chunks queued to keep every session busy with it.
        inflight_per_request: sessions(args).max(2),
        ..SynthConfig::default()
    };
    cfg.encode.mp3_bitrate_kbps = args.mp3_bitrate;
    cfg.encode.opus_bitrate_kbps = args.opus_bitrate;
    cfg
}

/// Loads everything and warms the model; returns when the pipeline is ready to serve.
pub fn build_synthesizer(args: &EngineArgs) -> anyhow::Result<Arc<Synthesizer>> {
    let started = Instant::now();
    let assets = ensure_assets(args)?;
    let espeak_langs = args
        .espeak_g2p
        .iter()
        .map(|l| {
            polyvox_core::Lang::parse(l, "--espeak-g2p").map_err(|e| anyhow::anyhow!(e.message))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let resources = Resources {
        espeak: match args.espeak {
            EspeakArg::Auto => EspeakMode::Auto,
            EspeakArg::Off => EspeakMode::Off,
        },
        espeak_langs,
        ..Resources::from_assets_dir(assets.root())
    };
    // The lexicons (~0.3 s of JSON) load on their own thread while the model session is created
    // and warmed: start-to-ready is the longer of the two, not their sum.
    let frontend = std::thread::spawn(move || Frontend::load(&resources));
    let ort = OrtConfig {
        cpu_arena: args.cpu_arena,
        shrink_arena: args.cpu_arena_shrink,
        ..OrtConfig::from_assets(&assets, args.intra_threads)
    };
    let engine_cfg = EngineConfig {
        sessions: sessions(args),
        queue_capacity: args.engine_queue.max(1),
        warmup_ids: usize::from(args.warmup_ids),
    };
    let engine = Engine::start(&engine_cfg, move |_session| {
        OrtBackend::load(&ort).map(|b| Box::new(b) as Box<dyn polyvox_engine::Backend>)
    })
    .context("starting the model sessions")?;
    let frontend = Arc::new(
        frontend
            .join()
            .map_err(|_| anyhow::anyhow!("the text front end loader panicked"))?
            .context("loading the text front end")?,
    );
    let voices = Arc::new(VoiceBank::new(assets.voices_dir()));
    tracing::info!(
        sessions = engine_cfg.sessions,
        intra_threads = args.intra_threads,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "model loaded and warmed"
    );
    Ok(Arc::new(Synthesizer::new(
        frontend,
        engine,
        voices,
        synth_config(args),
    )))
}
