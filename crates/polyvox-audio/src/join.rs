//! Joining model chunks into one continuous signal without clicks.
//!
//! A chunk rarely starts or ends exactly at zero (the model leaves DC offset and breath), so butting
//! chunks together, or against silence, makes a step the ear hears as a click. Every chunk gets a
//! short raised-cosine fade at both ends, and pauses are true silence between faded edges. Each
//! chunk is faded at both ends as soon as it arrives, so a streaming caller never has to hold audio
//! back waiting for the next chunk.

use polyvox_core::SAMPLE_RATE;

use crate::sample;

/// Samples in `ms` milliseconds at the model rate.
fn samples_for_ms(ms: f32) -> usize {
    if ms.is_finite() && ms > 0.0 {
        (ms * SAMPLE_RATE as f32 / 1000.0).round() as usize
    } else {
        0
    }
}

/// `ms` milliseconds of silence at 24 kHz.
pub fn silence(ms: u32) -> Vec<f32> {
    vec![0.0; samples_for_ms(ms as f32)]
}

/// Fades the first and last `ms` milliseconds in and out (raised cosine). The fade is shortened to
/// half the chunk if the chunk is shorter than two fades. Gains are strictly between 0 and 1, so a
/// fade never adds a sample of silence of its own: pauses keep their exact length.
pub fn fade_in_out(pcm: &mut [f32], ms: f32) {
    let n = samples_for_ms(ms).min(pcm.len() / 2);
    let len = pcm.len();
    for i in 0..n {
        let t = (i + 1) as f32 / (n + 1) as f32;
        let gain = 0.5 - 0.5 * (std::f32::consts::PI * t).cos();
        pcm[i] *= gain;
        pcm[len - 1 - i] *= gain;
    }
}

/// The part of `pcm` between the first and last sample louder than `threshold`, widened by
/// `keep_ms` on each side (bounded by the input). All-quiet input gives an empty slice. NaN is never
/// "louder" than the threshold.
pub fn trim_silence(pcm: &[f32], threshold: f32, keep_ms: u32) -> &[f32] {
    &pcm[loud_range(pcm, threshold, keep_ms)]
}

/// The index range [`trim_silence`] keeps, for callers that trim an owned buffer in place.
pub fn loud_range(pcm: &[f32], threshold: f32, keep_ms: u32) -> std::ops::Range<usize> {
    let loud = |x: &f32| x.abs() > threshold;
    let (Some(first), Some(last)) = (pcm.iter().position(loud), pcm.iter().rposition(loud)) else {
        return 0..0;
    };
    let keep = samples_for_ms(keep_ms as f32);
    let start = first.saturating_sub(keep);
    let end = last.saturating_add(keep).saturating_add(1).min(pcm.len());
    start..end
}

/// Appends chunks with a pause before every chunk but the first, and a fade at every chunk edge.
///
/// Output samples are clean: NaN becomes 0 and values are clamped to [-1, 1] (the same policy as
/// the encoders, applied before fading so a NaN cannot spread).
#[derive(Debug, Clone)]
pub struct Joiner {
    pause_ms: u32,
    fade_ms: f32,
    trim: Option<(f32, u32)>,
    chunks: usize,
}

impl Joiner {
    /// `pause_ms` of silence between chunks, `fade_ms` fades at each chunk's edges.
    pub fn new(pause_ms: u32, fade_ms: f32) -> Self {
        Self {
            pause_ms,
            fade_ms,
            trim: None,
            chunks: 0,
        }
    }

    /// Also trims each chunk's leading and trailing near-silence (see [`trim_silence`]), so the
    /// audible gap is the configured pause, not the pause plus whatever the model left at the edges.
    pub fn with_trim(mut self, threshold: f32, keep_ms: u32) -> Self {
        self.trim = Some((threshold, keep_ms));
        self
    }

    /// The audio to emit for the next chunk: the default pause (unless first), then the faded chunk.
    pub fn push(&mut self, chunk: &[f32]) -> Vec<f32> {
        self.push_with_pause(chunk, self.pause_ms)
    }

    /// Like [`Joiner::push`] with a pause of `pause_ms` before this chunk (e.g. longer between
    /// paragraphs). The first chunk never gets a pause.
    pub fn push_with_pause(&mut self, chunk: &[f32], pause_ms: u32) -> Vec<f32> {
        let chunk = match self.trim {
            Some((threshold, keep_ms)) => trim_silence(chunk, threshold, keep_ms),
            None => chunk,
        };
        let mut out = if self.chunks == 0 {
            Vec::new()
        } else {
            silence(pause_ms)
        };
        let start = out.len();
        out.extend(chunk.iter().map(|&x| sample::clean(x)));
        fade_in_out(&mut out[start..], self.fade_ms);
        self.chunks += 1;
        out
    }

    /// Joins all `chunks` at once.
    pub fn join<'a>(mut self, chunks: impl IntoIterator<Item = &'a [f32]>) -> Vec<f32> {
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(self.push(chunk));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_jump(pcm: &[f32]) -> f32 {
        pcm.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn silence_has_the_requested_length() {
        assert_eq!(silence(0).len(), 0);
        assert_eq!(silence(250).len(), 6000);
        assert!(silence(1).iter().all(|&x| x == 0.0));
    }

    #[test]
    fn joining_dc_chunks_has_no_click_and_an_exact_pause() {
        let a = vec![0.8f32; 4800];
        let b = vec![-0.6f32; 4800];
        let joined = Joiner::new(200, 10.0).join([&a[..], &b[..]]);
        assert_eq!(joined.len(), 4800 + 4800 + 4800);
        // Unfaded, the steps 0.8 → 0 and 0 → -0.6 would be audible clicks. A 240-sample raised
        // cosine moves at most amplitude × π / 2 / 241 per sample.
        let limit = 0.8 * std::f32::consts::PI / 2.0 / 241.0 * 1.01;
        assert!(
            max_jump(&joined) <= limit,
            "max jump {} > {limit}",
            max_jump(&joined)
        );
        assert!(
            max_jump(&[a.clone(), b.clone()].concat()) > 1.0,
            "the test signal must click unfaded"
        );
        // The pause is exactly 200 ms of zeros, and the chunk bodies are untouched.
        let zeros: Vec<usize> = (0..joined.len()).filter(|&i| joined[i] == 0.0).collect();
        assert_eq!(zeros.len(), 4800);
        assert_eq!((zeros[0], zeros[zeros.len() - 1]), (4800, 9599));
        assert_eq!(joined[2400], 0.8);
        assert_eq!(joined[12_000], -0.6);
    }

    #[test]
    fn per_chunk_pause_and_no_pause_before_the_first() {
        let mut j = Joiner::new(100, 5.0);
        assert_eq!(j.push(&[0.5; 1000]).len(), 1000);
        assert_eq!(j.push_with_pause(&[0.5; 1000], 500).len(), 12_000 + 1000);
        assert_eq!(j.push(&[0.5; 1000]).len(), 2400 + 1000);
    }

    #[test]
    fn joiner_cleans_nan_and_clamps() {
        let out = Joiner::new(0, 0.0).join([&[f32::NAN, 3.0, -3.0][..]]);
        assert_eq!(out, [0.0, 1.0, -1.0]);
    }

    #[test]
    fn fades_short_chunks_without_panicking() {
        for len in 0..5 {
            let mut pcm = vec![1.0f32; len];
            fade_in_out(&mut pcm, 50.0);
            assert!(pcm.iter().all(|x| (0.0..=1.0).contains(x)));
        }
        let mut pcm = vec![1.0f32; 10];
        fade_in_out(&mut pcm, f32::NAN);
        assert_eq!(pcm, vec![1.0; 10]);
    }

    #[test]
    fn trims_to_the_loud_part_plus_margin() {
        let mut pcm = vec![0.001f32; 10_000];
        pcm[4000..5000].fill(0.5);
        let t = trim_silence(&pcm, 0.01, 10);
        assert_eq!(t.len(), 1000 + 2 * 240);
        assert_eq!(t[240], 0.5);
        assert_eq!(t[239], 0.001);
        assert!(trim_silence(&[0.0; 100], 0.01, 10).is_empty());
        assert!(trim_silence(&[f32::NAN; 3], 0.01, 10).is_empty());
        assert_eq!(trim_silence(&[0.5, 0.0], 0.01, 1000).len(), 2);
        let trimmed = Joiner::new(0, 0.0).with_trim(0.01, 10).join([&pcm[..]]);
        assert_eq!(trimmed.len(), 1480);
    }
}
