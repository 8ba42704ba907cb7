//! Sample conversion shared by every encoder, so all formats agree on one policy:
//! NaN becomes silence (0) and anything beyond full scale is clamped, never wrapped.
//! The model can emit NaN on pathological inputs; zeroing keeps a stream alive, and
//! [`crate::stats::analyze`] counts NaNs for callers that would rather reject such audio.

/// Full-scale for the f32 → i16 mapping. Symmetric (32767, not 32768) so +1.0 and -1.0 have the
/// same magnitude and +1.0 cannot overflow.
const I16_SCALE: f32 = 32_767.0;

/// One f32 sample as a clean value in [-1, 1].
#[inline]
pub(crate) fn clean(x: f32) -> f32 {
    if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) }
}

/// One f32 sample as 16-bit PCM.
#[inline]
pub(crate) fn to_i16(x: f32) -> i16 {
    // `clean` bounds the product to ±32767, so the cast cannot saturate or wrap.
    (clean(x) * I16_SCALE).round() as i16
}

/// A block of f32 samples as 16-bit PCM.
pub(crate) fn to_i16_vec(pcm: &[f32]) -> Vec<i16> {
    pcm.iter().map(|&x| to_i16(x)).collect()
}

/// Appends `pcm` as signed 16-bit little-endian bytes.
pub(crate) fn extend_s16le(out: &mut Vec<u8>, pcm: &[f32]) {
    out.reserve(pcm.len() * 2);
    for &x in pcm {
        out.extend_from_slice(&to_i16(x).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_instead_of_wrapping() {
        assert_eq!(to_i16(1.0), 32_767);
        assert_eq!(to_i16(1.5), 32_767);
        assert_eq!(to_i16(1e30), 32_767);
        assert_eq!(to_i16(f32::INFINITY), 32_767);
        assert_eq!(to_i16(-1.0), -32_767);
        assert_eq!(to_i16(-7.0), -32_767);
        assert_eq!(to_i16(f32::NEG_INFINITY), -32_767);
        assert_eq!(to_i16(0.5), 16_384);
    }

    #[test]
    fn nan_becomes_silence() {
        assert_eq!(to_i16(f32::NAN), 0);
        assert_eq!(clean(f32::NAN), 0.0);
        let mut out = Vec::new();
        extend_s16le(&mut out, &[f32::NAN, 1.0]);
        assert_eq!(out, [0, 0, 0xFF, 0x7F]);
    }
}
