//! Kokoro on ONNX Runtime, loaded at run time from the library in the asset directory.
//!
//! The library is loaded once per process (`ort::init_from`, guarded by a mutex so a failed load
//! can be retried after `polyvox models fetch`). Sessions use one inter-op thread (the graph is a
//! chain; batch size is fixed at 1) and either the process's shared intra-op pool (the default) or
//! a pool of their own, with spinning disabled: on a small machine shared with G2P and encoders,
//! spinning threads steal the cores they wait for.
//!
//! Graph optimization costs a large part of session creation, so when `optimized_cache` is set the
//! first session saves its optimized graph there and later sessions load that file with
//! optimizations off. The cache is keyed by being newer than the model file; one that fails to
//! load is deleted and rebuilt, so a stale or foreign cache costs one slow start, never a failure.
//!
//! The model is loaded with its per-token durations added to the graph outputs (see
//! `graph_patch`), so every run returns them beside the audio; the optimized cache is made from
//! that patched graph and carries the extra output too (its file name says so, so a cache made
//! from the unpatched graph is never picked up).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ort::environment::{Environment, GlobalThreadPoolOptions};
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::{RunOptions, Session};
use ort::value::Tensor;

use crate::EngineError;
use crate::assets::AssetDir;
use crate::backend::{Backend, Interrupter, STYLE_DIM, Voiced, validate_input, validate_output};
use crate::graph_patch::FRAME_SAMPLES;

/// How to build an [`OrtBackend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtConfig {
    pub model_path: PathBuf,
    /// `libonnxruntime.so.*`, loaded with `dlopen` on first use.
    pub ort_lib_path: PathBuf,
    /// Intra-op threads of this session's own pool; 0 puts the session on the process's shared
    /// pool of one thread per core instead (see [`environment`]).
    pub intra_threads: usize,
    /// Where to keep the optimized graph; `None` optimizes at every session creation.
    pub optimized_cache: Option<PathBuf>,
    /// ONNX Runtime's CPU arena: tensors are carved from blocks it keeps for the session's life
    /// (fast, but the resident size stays at the largest call's peak). Off, each tensor is a
    /// plain heap allocation returned after the call.
    pub cpu_arena: bool,
    /// With the arena, give back after every call the blocks it grew by (ONNX Runtime's arena
    /// shrinkage): the resident size then follows the calls in flight instead of staying at the
    /// largest call's peak for the process's life. Measured: steady RSS under load 647 → 475 MiB,
    /// throughput within 2 % (BENCHMARKS.md).
    pub shrink_arena: bool,
}

impl OrtConfig {
    /// The model and library of an asset directory, caching the optimized graph in its `cache/`.
    pub fn from_assets(assets: &AssetDir, intra_threads: usize) -> Self {
        Self {
            model_path: assets.model_path(),
            ort_lib_path: assets.ort_lib_path(),
            intra_threads,
            optimized_cache: Some(
                assets
                    .cache_dir()
                    .join("kokoro-v1.0.int8.durations.ort1.32.optimized.onnx"),
            ),
            cpu_arena: true,
            shrink_arena: true,
        }
    }
}

/// One Kokoro session on ONNX Runtime.
pub struct OrtBackend {
    session: Session,
    /// Every run goes through these options, so that [`Interrupter::raise`] (ONNX Runtime's
    /// terminate flag) can stop it from another thread between graph nodes.
    run_options: Arc<RunOptions>,
    stop: Interrupter,
    /// Whether this session came from the optimized-graph cache (for logs and measurements).
    from_cache: bool,
    /// The graph output holding each token's duration in frames, when the graph has one.
    durations: Option<String>,
}

impl std::fmt::Debug for OrtBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtBackend")
            .field("from_cache", &self.from_cache)
            .finish_non_exhaustive()
    }
}

static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// Loads the ONNX Runtime library (once per process) and returns the shared environment.
///
/// The environment owns one intra-op pool of a thread per core, without spinning, that every
/// session built with `intra_threads: 0` runs on. With it, N sessions can each give one call every
/// core when they are alone and still never run more threads than there are cores when they are
/// all busy: with a pool per session, one call used one session's share of the cores (N
/// single-threaded sessions) or N busy sessions oversubscribed them (N pools of all cores).
fn environment(lib: &Path) -> Result<Environment, EngineError> {
    let mut slot = ENVIRONMENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(env) = slot.as_ref() {
        return Ok(env.clone());
    }
    if !lib.is_file() {
        return Err(EngineError::AssetMissing {
            what: "the ONNX Runtime library".into(),
            path: lib.into(),
        });
    }
    let builder = ort::init_from(lib).map_err(|e| {
        EngineError::ModelUnavailable(format!(
            "cannot load ONNX Runtime from {}: {e}",
            lib.display()
        ))
    })?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = GlobalThreadPoolOptions::default()
        .with_intra_threads(cores)
        .and_then(|p| p.with_inter_threads(1))
        .and_then(|p| p.with_spin_control(false))
        .map_err(|e| {
            EngineError::ModelUnavailable(format!("cannot configure the shared thread pool: {e}"))
        })?;
    let env = builder
        .with_name("polyvox")
        .with_telemetry(false)
        .with_global_thread_pool(pool)
        .build()
        .map_err(|e| {
            EngineError::ModelUnavailable(format!(
                "cannot create the ONNX Runtime environment: {e}"
            ))
        })?;
    *slot = Some(env.clone());
    Ok(env)
}

fn runtime(context: &str) -> impl Fn(ort::Error) -> EngineError + '_ {
    move |e| EngineError::ModelUnavailable(format!("{context}: {e}"))
}

fn builder_err<R>(e: ort::Error<R>) -> EngineError {
    EngineError::ModelUnavailable(format!("session options: {e}"))
}

impl OrtBackend {
    /// Loads the library if needed and creates a session for the model.
    pub fn load(cfg: &OrtConfig) -> Result<Self, EngineError> {
        if !cfg.model_path.is_file() {
            return Err(EngineError::AssetMissing {
                what: "the Kokoro model".into(),
                path: cfg.model_path.clone(),
            });
        }
        let env = environment(&cfg.ort_lib_path)?;
        let Some(cache) = cfg.optimized_cache.as_deref() else {
            let session = Self::builder(&env, cfg, GraphOptimizationLevel::All)?
                .commit_from_memory(&patched_model(&cfg.model_path)?)
                .map_err(runtime("loading the model"))?;
            return Self::checked(session, false, cfg);
        };
        if is_fresh(cache, &cfg.model_path) {
            match Self::builder(&env, cfg, GraphOptimizationLevel::Disable)?.commit_from_file(cache)
            {
                Ok(session) => return Self::checked(session, true, cfg),
                Err(e) => {
                    tracing::warn!(cache = %cache.display(), "optimized graph unusable ({e}); rebuilding it");
                    let _ = std::fs::remove_file(cache);
                }
            }
        }
        let session = Self::build_and_cache(&env, cfg, cache)?;
        Self::checked(session, false, cfg)
    }

    fn builder(
        env: &Environment,
        cfg: &OrtConfig,
        level: GraphOptimizationLevel,
    ) -> Result<SessionBuilder, EngineError> {
        let mut builder = Session::builder(env)
            .map_err(runtime("session builder"))?
            .with_optimization_level(level)
            .map_err(builder_err)?;
        if cfg.intra_threads > 0 {
            builder = builder
                .with_independent_thread_pool()
                .map_err(builder_err)?
                .with_intra_threads(cfg.intra_threads)
                .map_err(builder_err)?
                .with_inter_threads(1)
                .map_err(builder_err)?
                .with_intra_op_spinning(false)
                .map_err(builder_err)?
                .with_inter_op_spinning(false)
                .map_err(builder_err)?;
        }
        builder
            .with_execution_providers([ort::ep::CPU::default()
                .with_arena_allocator(cfg.cpu_arena)
                .build()])
            .map_err(builder_err)
    }

    /// Optimizes the model, saving the result to a private temp name that is renamed into place,
    /// so sessions built concurrently never read a half-written cache.
    fn build_and_cache(
        env: &Environment,
        cfg: &OrtConfig,
        cache: &Path,
    ) -> Result<Session, EngineError> {
        let tmp = cache.with_extension(format!(
            "tmp-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let saving = cache
            .parent()
            .map(std::fs::create_dir_all)
            .transpose()
            .is_ok();
        let mut builder = Self::builder(env, cfg, GraphOptimizationLevel::All)?;
        if saving {
            builder = builder
                .with_optimized_model_path(&tmp)
                .map_err(builder_err)?;
        }
        let session = builder
            .commit_from_memory(&patched_model(&cfg.model_path)?)
            .map_err(runtime("loading the model"))?;
        if saving && let Err(e) = std::fs::rename(&tmp, cache) {
            tracing::warn!(cache = %cache.display(), "cannot save the optimized graph: {e}");
            let _ = std::fs::remove_file(&tmp);
        }
        Ok(session)
    }

    /// Rejects a graph that lacks Kokoro's inputs, so a wrong file fails at load, not per request.
    fn checked(session: Session, from_cache: bool, cfg: &OrtConfig) -> Result<Self, EngineError> {
        let inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
        let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        for want in ["tokens", "style", "speed"] {
            if !inputs.contains(&want) {
                return Err(EngineError::ModelUnavailable(format!(
                    "the model has inputs {inputs:?}; expected tokens, style and speed"
                )));
            }
        }
        if !outputs.contains(&"audio") {
            return Err(EngineError::ModelUnavailable(format!(
                "the model has outputs {outputs:?}; expected audio"
            )));
        }
        let durations = outputs
            .iter()
            .find(|&&o| o != "audio")
            .map(|o| o.to_string());
        if durations.is_none() {
            tracing::warn!("the model returns no durations; word timestamps are unavailable");
        }
        let run_err = |e| EngineError::ModelUnavailable(format!("cannot create run options: {e}"));
        let mut run_options = RunOptions::new().map_err(run_err)?;
        if cfg.cpu_arena && cfg.shrink_arena {
            run_options
                .set("memory.enable_memory_arena_shrinkage", "cpu:0")
                .map_err(run_err)?;
        }
        let run_options = Arc::new(run_options);
        let (raise, lower) = (Arc::clone(&run_options), Arc::clone(&run_options));
        let stop = Interrupter::new(
            move || {
                if let Err(e) = raise.terminate() {
                    tracing::warn!("cannot interrupt a model run: {e}");
                }
            },
            move || {
                if let Err(e) = lower.unterminate() {
                    tracing::warn!("cannot clear a model run's interrupt: {e}");
                }
            },
        );
        Ok(Self {
            session,
            run_options,
            stop,
            from_cache,
            durations,
        })
    }

    /// Whether this session was created from the optimized-graph cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }
}

/// The model file with its duration tensor exposed as an output; the file as it is when the graph
/// cannot be patched (timings are then unavailable, synthesis is not).
fn patched_model(path: &Path) -> Result<Vec<u8>, EngineError> {
    let bytes = std::fs::read(path).map_err(|e| {
        EngineError::ModelUnavailable(format!("cannot read {}: {e}", path.display()))
    })?;
    match crate::graph_patch::expose_durations(&bytes) {
        Ok((patched, name)) => {
            tracing::debug!(output = %name, "exposing per-token durations");
            Ok(patched)
        }
        Err(why) => {
            tracing::warn!(model = %path.display(), "cannot expose durations ({why}); loading the model as it is");
            Ok(bytes)
        }
    }
}

/// A cache file is usable when it is non-empty and not older than the model it was made from.
fn is_fresh(cache: &Path, model: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let nonempty = std::fs::metadata(cache)
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    match (modified(cache), modified(model)) {
        (Some(c), Some(m)) => nonempty && c >= m,
        _ => false,
    }
}

impl Backend for OrtBackend {
    fn infer(&mut self, ids: &[i64], style: &[f32], speed: f32) -> Result<Vec<f32>, EngineError> {
        self.infer_timed(ids, style, speed).map(|v| v.pcm)
    }

    fn infer_timed(
        &mut self,
        ids: &[i64],
        style: &[f32],
        speed: f32,
    ) -> Result<Voiced, EngineError> {
        validate_input(ids, style, speed)?;
        let mut tokens = Vec::with_capacity(ids.len() + 2);
        tokens.push(0);
        tokens.extend_from_slice(ids);
        tokens.push(0);
        let n = tokens.len();
        let infer_err = |e: ort::Error| EngineError::Inference(e.to_string());
        let tokens = Tensor::from_array(([1usize, n], tokens)).map_err(infer_err)?;
        let style = Tensor::from_array(([1usize, STYLE_DIM], style.to_vec())).map_err(infer_err)?;
        let speed = Tensor::from_array(([1usize], vec![speed])).map_err(infer_err)?;
        let outputs = self
            .session
            .run_with_options(
                ort::inputs! { "tokens" => tokens, "style" => style, "speed" => speed },
                &self.run_options,
            )
            .map_err(|e| {
                // A run stopped by its terminate flag fails like any other; the flag says why.
                if self.stop.is_raised() {
                    EngineError::Interrupted
                } else {
                    infer_err(e)
                }
            })?;
        let audio = outputs
            .get("audio")
            .ok_or_else(|| EngineError::Inference("the model returned no `audio` output".into()))?;
        let (_, samples) = audio.try_extract_tensor::<f32>().map_err(infer_err)?;
        validate_output(samples)?;
        let durations = match self.durations.as_deref().and_then(|name| outputs.get(name)) {
            Some(d) => Some(frames_to_samples(d, n)?),
            None => None,
        };
        Ok(Voiced {
            pcm: samples.to_vec(),
            durations,
        })
    }

    fn interrupter(&self) -> Option<Interrupter> {
        Some(self.stop.clone())
    }

    fn name(&self) -> &str {
        "onnxruntime"
    }
}

/// Frame counts per token (the graph computes them as int64; a float graph would give floats)
/// as sample counts, checked to cover the `tokens` the model saw.
fn frames_to_samples(value: &ort::value::DynValue, tokens: usize) -> Result<Vec<u32>, EngineError> {
    let frames: Vec<f64> = if let Ok((_, d)) = value.try_extract_tensor::<i64>() {
        d.iter().map(|&f| f as f64).collect()
    } else if let Ok((_, d)) = value.try_extract_tensor::<f32>() {
        d.iter().map(|&f| f64::from(f)).collect()
    } else {
        return Err(EngineError::Inference(
            "the duration output is neither int64 nor float".into(),
        ));
    };
    if frames.len() != tokens {
        return Err(EngineError::Inference(format!(
            "the model timed {} tokens of {tokens}",
            frames.len()
        )));
    }
    Ok(frames
        .iter()
        .map(|&f| (f.max(0.0).round() as u32).saturating_mul(FRAME_SAMPLES as u32))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_ask_for_a_fetch() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = OrtConfig::from_assets(&AssetDir::new(dir.path()), 1);
        let err = OrtBackend::load(&cfg).unwrap_err();
        assert!(matches!(err, EngineError::AssetMissing { .. }), "{err:?}");
        assert!(err.to_string().contains("polyvox models fetch"), "{err}");
    }

    #[test]
    fn a_cache_older_than_the_model_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let (model, cache) = (dir.path().join("m"), dir.path().join("c"));
        std::fs::write(&cache, b"x").unwrap();
        assert!(!is_fresh(&cache, &model), "no model, no freshness");
        std::fs::write(&model, b"m").unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        std::fs::File::options()
            .write(true)
            .open(&cache)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(!is_fresh(&cache, &model));
        std::fs::File::options()
            .write(true)
            .open(&cache)
            .unwrap()
            .set_modified(std::time::SystemTime::now())
            .unwrap();
        assert!(is_fresh(&cache, &model));
        std::fs::write(&cache, b"").unwrap();
        assert!(!is_fresh(&cache, &model), "an empty cache is never used");
    }
}
