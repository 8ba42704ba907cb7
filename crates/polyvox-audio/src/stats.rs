//! Level statistics of raw model output, for health checks, logs and tests ("is this silent,
//! clipped, or broken?").

/// Summary of one buffer of samples.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    /// Root mean square over the finite samples (0 if there are none).
    pub rms: f32,
    /// Largest absolute finite sample.
    pub peak: f32,
    /// Samples that are NaN (encoders turn them into silence).
    pub nan_count: usize,
    /// Fraction of all samples at or beyond full scale (|x| ≥ 1, infinities included).
    pub clipped_fraction: f32,
}

/// Computes [`Stats`] in one pass; never panics, whatever the input.
pub fn analyze(pcm: &[f32]) -> Stats {
    let mut sum_sq = 0.0f64;
    let mut finite = 0usize;
    let mut peak = 0.0f32;
    let mut nan_count = 0usize;
    let mut clipped = 0usize;
    for &x in pcm {
        if x.is_nan() {
            nan_count += 1;
            continue;
        }
        if x.abs() >= 1.0 {
            clipped += 1;
        }
        if x.is_finite() {
            finite += 1;
            sum_sq += f64::from(x) * f64::from(x);
            peak = peak.max(x.abs());
        }
    }
    let rms = if finite == 0 {
        0.0
    } else {
        (sum_sq / finite as f64).sqrt() as f32
    };
    let clipped_fraction = if pcm.is_empty() {
        0.0
    } else {
        clipped as f32 / pcm.len() as f32
    };
    Stats {
        rms,
        peak,
        nan_count,
        clipped_fraction,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_has_rms_amplitude_over_root_two() {
        let pcm: Vec<f32> = (0..24_000)
            .map(|i| 0.5 * (i as f32 * 440.0 * std::f32::consts::TAU / 24_000.0).sin())
            .collect();
        let s = analyze(&pcm);
        assert!((s.rms - 0.5 / 2f32.sqrt()).abs() < 1e-3, "{s:?}");
        assert!((s.peak - 0.5).abs() < 1e-3, "{s:?}");
        assert_eq!(s.nan_count, 0);
        assert_eq!(s.clipped_fraction, 0.0);
    }

    #[test]
    fn counts_nan_and_clipping_without_poisoning_levels() {
        let s = analyze(&[f32::NAN, 1.0, -2.0, f32::INFINITY, 0.0]);
        assert_eq!(s.nan_count, 1);
        assert!((s.clipped_fraction - 3.0 / 5.0).abs() < 1e-6);
        assert_eq!(s.peak, 2.0);
        assert!(s.rms.is_finite() && s.rms > 0.0);
        assert_eq!(analyze(&[]), Stats::default());
    }
}
