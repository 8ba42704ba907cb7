//! Decoding for verification: proves a byte stream is a valid, playable file and measures it.
//!
//! Each format goes through an independent decoder (symphonia for WAV, MP3 and FLAC; libopus plus
//! an Ogg reader for Opus; plain arithmetic for raw PCM), not through our own encoder's
//! assumptions, so a passing decode means a real player would accept the bytes. MP3 is decoded
//! gaplessly (encoder delay and padding from the LAME tag are removed), Opus honours pre-skip and
//! the end-trimming granule, so durations are what a listener hears.

mod media;
mod opus;

use polyvox_core::{AudioFormat, SAMPLE_RATE};

use crate::AudioError;

/// A decoded file.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Output rate of the decoder (Opus always decodes at 48 kHz).
    pub sample_rate: u32,
    pub channels: u16,
    /// Samples per channel.
    pub samples: usize,
    /// Interleaved samples in [-1, 1].
    pub pcm: Vec<f32>,
}

impl Decoded {
    /// Playing time in seconds.
    pub fn duration_secs(&self) -> f64 {
        if self.sample_rate == 0 {
            0.0
        } else {
            self.samples as f64 / f64::from(self.sample_rate)
        }
    }
}

/// Decodes a whole file of `format`. Raw PCM is taken as s16le mono at 24 kHz.
pub fn decode(format: AudioFormat, bytes: &[u8]) -> Result<Decoded, AudioError> {
    match format {
        AudioFormat::Pcm => decode_pcm(bytes),
        AudioFormat::Wav => media::decode(format, &with_known_wav_sizes(bytes)?),
        AudioFormat::Mp3 | AudioFormat::Flac => media::decode(format, bytes),
        AudioFormat::Opus => opus::decode(bytes),
    }
}

fn decode_pcm(bytes: &[u8]) -> Result<Decoded, AudioError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(AudioError::decode(
            AudioFormat::Pcm,
            "odd byte count for 16-bit samples",
        ));
    }
    let pcm: Vec<f32> = bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
        .collect();
    Ok(Decoded {
        sample_rate: SAMPLE_RATE,
        channels: 1,
        samples: pcm.len(),
        pcm,
    })
}

/// A streamed WAV says "size unknown" (0xFFFFFFFF); players then read to EOF. symphonia accepts the
/// marker but reads in fixed-size packets and would drop a short final packet, so we do what the
/// players do and substitute the real sizes before decoding.
fn with_known_wav_sizes(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, AudioError> {
    let bad = |why: &str| AudioError::decode(AudioFormat::Wav, why);
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    if bytes.get(..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err(bad("missing RIFF/WAVE header"));
    }
    if u32_at(4) != Some(crate::wav::STREAMING_SIZE) {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    // Walk the chunks to the data chunk, whose size field is the one to fix.
    let mut at = 12;
    while let Some(len) = u32_at(at + 4) {
        let id = &bytes[at..at + 4];
        if id == b"data" {
            let data_start = at + 8;
            let data_len =
                u32::try_from(bytes.len() - data_start).map_err(|_| bad("data over 4 GiB"))?;
            let riff_len = u32::try_from(bytes.len() - 8).map_err(|_| bad("file over 4 GiB"))?;
            let mut fixed = bytes.to_vec();
            fixed[4..8].copy_from_slice(&riff_len.to_le_bytes());
            fixed[at + 4..at + 8].copy_from_slice(&data_len.to_le_bytes());
            return Ok(std::borrow::Cow::Owned(fixed));
        }
        // Chunks are padded to even sizes.
        at = at
            .saturating_add(8)
            .saturating_add(len as usize + (len as usize & 1));
    }
    Err(bad("no data chunk"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_decodes_and_rejects_odd_lengths() {
        let d = decode(AudioFormat::Pcm, &[0x00, 0x40, 0x00, 0xC0]).unwrap();
        assert_eq!(d.pcm, [0.5, -0.5]);
        assert_eq!(d.samples, 2);
        assert!(decode(AudioFormat::Pcm, &[1, 2, 3]).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let junk: Vec<u8> = (0..3000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for format in [
            AudioFormat::Wav,
            AudioFormat::Mp3,
            AudioFormat::Flac,
            AudioFormat::Opus,
        ] {
            for bytes in [&[][..], &junk[..], b"RIFF\xff\xff\xff\xffWAVEfmt "] {
                let result = decode(format, bytes);
                assert!(
                    result.is_err(),
                    "{format:?} accepted {} junk bytes: {result:?}",
                    bytes.len()
                );
            }
        }
    }
}
