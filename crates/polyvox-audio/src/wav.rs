//! WAV (16-bit PCM, mono, 24 kHz) and raw s16le.
//!
//! A streamed WAV cannot know its length when the header leaves, so both RIFF and data sizes are
//! 0xFFFFFFFF, the value ffmpeg and streaming servers use for "until end of file"; players and our
//! own [`crate::probe`] then read the data to EOF. Whole files get exact sizes.

use polyvox_core::{AudioFormat, SAMPLE_RATE};

use crate::{AudioError, Codec, sample};

/// Bytes before the first sample: RIFF header (12) + fmt chunk (24) + data chunk header (8).
pub(crate) const HEADER_LEN: usize = 44;
/// The "size unknown, read to EOF" marker of streamed WAVs.
pub(crate) const STREAMING_SIZE: u32 = u32::MAX;

/// A canonical 44-byte header for mono s16le at 24 kHz; `data_len` None means streaming sizes.
pub(crate) fn header(data_len: Option<u32>) -> [u8; HEADER_LEN] {
    let (riff_len, data_len) = match data_len {
        // RIFF size counts everything after its own 8-byte chunk header.
        Some(n) => (n.saturating_add(HEADER_LEN as u32 - 8), n),
        None => (STREAMING_SIZE, STREAMING_SIZE),
    };
    let channels: u16 = 1;
    let bits: u16 = 16;
    let block_align = channels * bits / 8;
    let byte_rate = SAMPLE_RATE * u32::from(block_align);
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff_len.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // WAVE_FORMAT_PCM
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&bits.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

/// The data chunk's size for `samples`, if a WAV header can state it.
fn data_len(samples: usize) -> Result<u32, AudioError> {
    // The RIFF size must fit in u32 too, hence the header allowance.
    samples
        .checked_mul(2)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| n.checked_add(HEADER_LEN as u32).is_some())
        .ok_or(AudioError::TooLong {
            format: AudioFormat::Wav,
            samples,
        })
}

/// Whole-file WAV with exact sizes.
pub(crate) fn encode_wav(pcm: &[f32]) -> Result<Vec<u8>, AudioError> {
    let data_len = data_len(pcm.len())?;
    let mut out = Vec::with_capacity(HEADER_LEN + pcm.len() * 2);
    out.extend_from_slice(&header(Some(data_len)));
    sample::extend_s16le(&mut out, pcm);
    Ok(out)
}

/// Streaming WAV: the header goes out with the first bytes, then plain samples.
pub(crate) struct WavCodec {
    header_sent: bool,
    samples: usize,
}

impl WavCodec {
    pub(crate) fn streaming() -> Self {
        Self {
            header_sent: false,
            samples: 0,
        }
    }

    fn ensure_header(&mut self, out: &mut Vec<u8>) {
        if !self.header_sent {
            out.extend_from_slice(&header(None));
            self.header_sent = true;
        }
    }
}

impl Codec for WavCodec {
    fn push(&mut self, pcm: &[f32], out: &mut Vec<u8>) -> Result<(), AudioError> {
        self.ensure_header(out);
        sample::extend_s16le(out, pcm);
        self.samples += pcm.len();
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), AudioError> {
        // An empty stream is still a valid (empty) WAV file.
        self.ensure_header(out);
        Ok(())
    }

    fn file_header(&self) -> Result<Vec<u8>, AudioError> {
        Ok(header(Some(data_len(self.samples)?)).to_vec())
    }
}

/// Raw s16le: no header, nothing buffered.
pub(crate) struct PcmCodec;

impl Codec for PcmCodec {
    fn push(&mut self, pcm: &[f32], out: &mut Vec<u8>) -> Result<(), AudioError> {
        sample::extend_s16le(out, pcm);
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), AudioError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    #[test]
    fn whole_file_header_has_exact_sizes() {
        let wav = encode_wav(&[0.25; 1001]).unwrap();
        assert_eq!(wav.len(), HEADER_LEN + 2002);
        assert_eq!(u32_at(&wav, 4) as usize, wav.len() - 8);
        assert_eq!(u32_at(&wav, 40), 2002);
        assert_eq!(u32_at(&wav, 24), 24_000);
        assert_eq!(u32_at(&wav, 28), 48_000);
    }

    #[test]
    fn streamed_header_uses_the_unknown_size_marker() {
        let mut codec = WavCodec::streaming();
        let mut out = Vec::new();
        codec.push(&[0.5; 3], &mut out).unwrap();
        codec.push(&[0.5; 2], &mut out).unwrap();
        codec.finish(&mut out).unwrap();
        assert_eq!(out.len(), HEADER_LEN + 10);
        assert_eq!(u32_at(&out, 4), STREAMING_SIZE);
        assert_eq!(u32_at(&out, 40), STREAMING_SIZE);
        assert_eq!(
            &out[HEADER_LEN..],
            &encode_wav(&[0.5; 5]).unwrap()[HEADER_LEN..]
        );
    }

    #[test]
    fn empty_stream_is_a_header() {
        let mut out = Vec::new();
        WavCodec::streaming().finish(&mut out).unwrap();
        assert_eq!(out.len(), HEADER_LEN);
        assert_eq!(&out[..4], b"RIFF");
    }
}
