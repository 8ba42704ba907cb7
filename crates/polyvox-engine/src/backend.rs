//! The model seam: a small synchronous [`Backend`] trait, the input rules every backend shares, and
//! [`FakeBackend`], a deterministic stand-in so callers can test queues, streams and encoders
//! without loading a 90 MB model.
//!
//! The trait is synchronous on purpose: a backend is owned by one OS thread (see
//! [`crate::Engine`]), so it never needs to be `Sync` or to know about async runtimes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use polyvox_core::{MODEL_MAX_IDS, SAMPLE_RATE};

use crate::EngineError;

/// Length of a Kokoro style vector.
pub const STYLE_DIM: usize = 256;
/// Highest phoneme id in Kokoro's vocabulary (its embedding has 178 rows).
pub const MAX_TOKEN_ID: i64 = 177;
/// Accepted speed factors; outside this the model's duration predictor produces nonsense.
pub const SPEED_RANGE: std::ops::RangeInclusive<f32> = 0.1..=10.0;

/// One model session. Owned and called by a single thread.
pub trait Backend: Send {
    /// Synthesizes `ids` (phoneme ids without the framing pads) with a style vector of
    /// [`STYLE_DIM`] values at `speed`, returning mono samples at [`SAMPLE_RATE`].
    fn infer(&mut self, ids: &[i64], style: &[f32], speed: f32) -> Result<Vec<f32>, EngineError>;

    /// [`Backend::infer`] plus how long each token lasts, when the backend knows it. The engine
    /// calls this one; a backend without durations keeps the default.
    fn infer_timed(
        &mut self,
        ids: &[i64],
        style: &[f32],
        speed: f32,
    ) -> Result<Voiced, EngineError> {
        Ok(Voiced {
            pcm: self.infer(ids, style, speed)?,
            durations: None,
        })
    }

    /// A handle with which another thread stops the call in progress (it then returns
    /// [`EngineError::Interrupted`]); `None` for a backend that cannot be stopped mid-call.
    fn interrupter(&self) -> Option<Interrupter> {
        None
    }

    /// A short name for logs and metrics (`onnxruntime`, `fake`).
    fn name(&self) -> &str;
}

/// One model call's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Voiced {
    /// Mono samples at [`SAMPLE_RATE`].
    pub pcm: Vec<f32>,
    /// Samples each token lasts in `pcm`, for the tokens as the model saw them: the leading pad,
    /// every id, the trailing pad (`ids.len() + 2` values, speed already applied). `None` when the
    /// backend cannot tell.
    pub durations: Option<Vec<u32>>,
}

/// Stops a backend's running call from another thread. The engine raises it to preempt a batch
/// call for an interactive one and lowers it once the call has returned, so a raise that came
/// too late to stop anything cannot stop the next call.
#[derive(Clone)]
pub struct Interrupter {
    raised: Arc<AtomicBool>,
    on_raise: Arc<dyn Fn() + Send + Sync>,
    on_lower: Arc<dyn Fn() + Send + Sync>,
}

impl Interrupter {
    /// `on_raise` asks the backend's runtime to stop (e.g. ONNX Runtime's terminate flag);
    /// `on_lower` clears that request again.
    pub fn new(
        on_raise: impl Fn() + Send + Sync + 'static,
        on_lower: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        Self {
            raised: Arc::new(AtomicBool::new(false)),
            on_raise: Arc::new(on_raise),
            on_lower: Arc::new(on_lower),
        }
    }

    /// Asks the running call to stop as soon as it can.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        (self.on_raise)();
    }

    /// Clears a raise; the engine calls it after every interruptible call.
    pub fn lower(&self) {
        (self.on_lower)();
        self.raised.store(false, Ordering::SeqCst);
    }

    /// Whether a stop was asked for since the last [`Interrupter::lower`].
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for Interrupter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupter")
            .field("raised", &self.is_raised())
            .finish()
    }
}

/// Checks an input against the model's limits so no backend is handed something it would choke on.
pub fn validate_input(ids: &[i64], style: &[f32], speed: f32) -> Result<(), EngineError> {
    if ids.is_empty() || ids.len() > MODEL_MAX_IDS {
        return Err(EngineError::InvalidInput(format!(
            "{} phoneme ids; a model call takes 1 to {MODEL_MAX_IDS}",
            ids.len()
        )));
    }
    if let Some(bad) = ids.iter().find(|&&id| !(0..=MAX_TOKEN_ID).contains(&id)) {
        return Err(EngineError::InvalidInput(format!(
            "phoneme id {bad} is outside 0..={MAX_TOKEN_ID}"
        )));
    }
    if style.len() != STYLE_DIM {
        return Err(EngineError::InvalidInput(format!(
            "style has {} values, expected {STYLE_DIM}",
            style.len()
        )));
    }
    if style.iter().any(|v| !v.is_finite()) {
        return Err(EngineError::InvalidInput(
            "style contains a non-finite value".into(),
        ));
    }
    if !SPEED_RANGE.contains(&speed) {
        return Err(EngineError::InvalidInput(format!(
            "speed {speed} is outside [{}, {}]",
            SPEED_RANGE.start(),
            SPEED_RANGE.end()
        )));
    }
    Ok(())
}

/// Checks a model call's output. A voice table or input that drives the network out of range
/// (seen with a voice file of the right size whose values are huge but finite, which the voice
/// loader accepts) makes it return NaN, or exact zeros, for every sample; the encoders would turn
/// that into seconds of silence delivered as a success, so it is a failed call instead
/// (`synthesis_failed`, which a job retries once). Speech is never all zeros, and a few stray
/// non-finite samples in real audio are left to the encoders' sample policy.
pub fn validate_output(samples: &[f32]) -> Result<(), EngineError> {
    if !samples.is_empty() && samples.iter().all(|v| !v.is_finite() || *v == 0.0) {
        return Err(EngineError::Inference(format!(
            "the model returned no signal (all {} samples are zero, NaN or infinite): the voice \
             or the input drives it out of range",
            samples.len()
        )));
    }
    Ok(())
}

/// A deterministic tone generator with Kokoro's input contract: `ids.len() * samples_per_id / speed`
/// samples of a sine whose pitch depends on the first id. Hooks let tests hold it busy, observe
/// calls, and make it fail or panic on a chosen id.
#[derive(Debug)]
pub struct FakeBackend {
    samples_per_id: usize,
    calls: Arc<AtomicUsize>,
    gate: Option<crossbeam_channel::Receiver<()>>,
    entered: Option<crossbeam_channel::Sender<usize>>,
    panic_on: Option<i64>,
    fail_on: Option<i64>,
    stop: Interrupter,
}

/// Clones share the call counter and the test hooks but not the interrupter: each session stops
/// on its own.
impl Clone for FakeBackend {
    fn clone(&self) -> Self {
        Self {
            samples_per_id: self.samples_per_id,
            calls: Arc::clone(&self.calls),
            gate: self.gate.clone(),
            entered: self.entered.clone(),
            panic_on: self.panic_on,
            fail_on: self.fail_on,
            stop: Interrupter::new(|| {}, || {}),
        }
    }
}

impl Default for FakeBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeBackend {
    /// 80 ms of audio per id, close to Kokoro's pace for English at speed 1.
    pub const DEFAULT_SAMPLES_PER_ID: usize = SAMPLE_RATE as usize * 80 / 1000;

    pub fn new() -> Self {
        Self {
            samples_per_id: Self::DEFAULT_SAMPLES_PER_ID,
            calls: Arc::new(AtomicUsize::new(0)),
            gate: None,
            entered: None,
            panic_on: None,
            fail_on: None,
            stop: Interrupter::new(|| {}, || {}),
        }
    }

    /// Samples produced per id at speed 1.
    pub fn with_samples_per_id(mut self, n: usize) -> Self {
        self.samples_per_id = n;
        self
    }

    /// Each call first sends its `ids.len()` here, so a test knows a session is inside `infer`.
    pub fn with_entered(mut self, tx: crossbeam_channel::Sender<usize>) -> Self {
        self.entered = Some(tx);
        self
    }

    /// Each call then waits for one message (or a disconnect, or an interrupt) here, so a test can
    /// hold a session busy.
    pub fn with_gate(mut self, rx: crossbeam_channel::Receiver<()>) -> Self {
        self.gate = Some(rx);
        self
    }

    /// Panics when the first id equals `id` (to exercise panic recovery).
    pub fn panic_on_id(mut self, id: i64) -> Self {
        self.panic_on = Some(id);
        self
    }

    /// Returns [`EngineError::Inference`] when the first id equals `id`.
    pub fn fail_on_id(mut self, id: i64) -> Self {
        self.fail_on = Some(id);
        self
    }

    /// Shared counter of calls that computed audio; clones of this backend share it.
    pub fn calls(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.calls)
    }

    /// The number of samples a call with `n_ids` ids at `speed` returns.
    pub fn expected_len(&self, n_ids: usize, speed: f32) -> usize {
        (n_ids as f32 * self.samples_per_id as f32 / speed).round() as usize
    }
}

impl Backend for FakeBackend {
    /// The fake knows its own pacing: no time for the pads, the samples split evenly over the ids
    /// (the last takes the rounding).
    fn infer_timed(
        &mut self,
        ids: &[i64],
        style: &[f32],
        speed: f32,
    ) -> Result<Voiced, EngineError> {
        let pcm = self.infer(ids, style, speed)?;
        let each = (self.samples_per_id as f32 / speed).round() as u32;
        let mut durations = vec![0];
        durations.extend(std::iter::repeat_n(each, ids.len()));
        durations.push(0);
        let total = each as usize * ids.len();
        let last = durations.len() - 2;
        durations[last] = (each as usize + pcm.len()).saturating_sub(total) as u32;
        Ok(Voiced {
            pcm,
            durations: Some(durations),
        })
    }

    fn infer(&mut self, ids: &[i64], style: &[f32], speed: f32) -> Result<Vec<f32>, EngineError> {
        validate_input(ids, style, speed)?;
        if let Some(tx) = &self.entered {
            let _ = tx.send(ids.len());
        }
        if let Some(rx) = &self.gate {
            // Polled so that an interrupt ends the wait the way ONNX Runtime ends a run.
            loop {
                if self.stop.is_raised() {
                    return Err(EngineError::Interrupted);
                }
                match rx.recv_timeout(std::time::Duration::from_millis(5)) {
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                    _ => break,
                }
            }
        }
        let first = ids[0];
        if self.panic_on == Some(first) {
            panic!("FakeBackend told to panic on id {first}");
        }
        if self.fail_on == Some(first) {
            return Err(EngineError::Inference(format!(
                "FakeBackend told to fail on id {first}"
            )));
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        let freq = 110.0 + 10.0 * first as f32;
        let step = std::f32::consts::TAU * freq / SAMPLE_RATE as f32;
        Ok((0..self.expected_len(ids.len(), speed))
            .map(|i| 0.25 * (step * i as f32).sin())
            .collect())
    }

    fn interrupter(&self) -> Option<Interrupter> {
        Some(self.stop.clone())
    }

    fn name(&self) -> &str {
        "fake"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_limit() {
        let style = vec![0.0; STYLE_DIM];
        let cases: [(&[i64], &[f32], f32, &str); 6] = [
            (&[], &style, 1.0, "1 to 510"),
            (&[1; 511], &style, 1.0, "1 to 510"),
            (&[178], &style, 1.0, "0..=177"),
            (&[-1], &style, 1.0, "0..=177"),
            (&[1], &style[..255], 1.0, "expected 256"),
            (&[1], &style, 0.0, "speed 0"),
        ];
        for (ids, style, speed, needle) in cases {
            let err = validate_input(ids, style, speed).unwrap_err();
            assert!(err.to_string().contains(needle), "{err} lacks {needle}");
        }
        assert!(validate_input(&[0; 510], &style, 1.0).is_ok());
        assert!(validate_input(&[1], &style, f32::NAN).is_err());
    }

    #[test]
    fn output_without_signal_is_a_model_failure() {
        for dead in [
            vec![f32::NAN; 64],
            vec![0.0; 64],
            vec![f32::INFINITY, 0.0, f32::NAN],
        ] {
            let err = validate_output(&dead).unwrap_err();
            assert_eq!(err.code(), polyvox_core::ErrorCode::SynthesisFailed);
            assert!(err.to_string().contains("no signal"), "{err}");
        }
        // Quiet audio with a stray NaN is still audio (the encoders zero the NaN).
        assert!(validate_output(&[0.0, 1e-4, f32::NAN, -0.2]).is_ok());
        assert!(validate_output(&[]).is_ok());
    }

    #[test]
    fn fake_audio_scales_with_ids_and_speed_and_is_deterministic() {
        let mut b = FakeBackend::new();
        let style = vec![0.0; STYLE_DIM];
        let one = b.infer(&[50; 10], &style, 1.0).unwrap();
        let fast = b.infer(&[50; 10], &style, 2.0).unwrap();
        let long = b.infer(&[50; 20], &style, 1.0).unwrap();
        assert_eq!(one.len(), 10 * FakeBackend::DEFAULT_SAMPLES_PER_ID);
        assert_eq!(fast.len(), one.len() / 2);
        assert_eq!(long.len(), one.len() * 2);
        assert_eq!(one, b.infer(&[50; 10], &style, 1.0).unwrap());
        assert!(one.iter().all(|s| s.abs() <= 0.25) && one.iter().any(|s| s.abs() > 0.2));
        assert_eq!(b.calls().load(Ordering::SeqCst), 4);
        let timed = b.infer_timed(&[50; 7], &style, 1.5).unwrap();
        let d = timed.durations.expect("the fake times its ids");
        assert_eq!(d.len(), 9, "pads included");
        assert_eq!(
            d.iter().map(|&s| s as usize).sum::<usize>(),
            timed.pcm.len()
        );
        let mut failing = FakeBackend::new().fail_on_id(7);
        assert!(matches!(
            failing.infer(&[7, 1], &style, 1.0),
            Err(EngineError::Inference(_))
        ));
    }
}
