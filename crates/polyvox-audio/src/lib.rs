//! Turns the model's f32 PCM (mono, 24 kHz, nominally in [-1, 1]) into bytes a client can play:
//! WAV, raw PCM, MP3 (LAME), Ogg Opus (libopus) and FLAC, either as one file ([`encode`]) or as an
//! incremental stream ([`stream_encoder`]) whose bytes leave as soon as the codec produces them.
//!
//! Design:
//! - Every format has one codec type that implements a private `Codec` trait (push/finish into a
//!   caller-owned buffer). `Guarded` wraps it into the public [`StreamEncoder`] and owns the
//!   lifecycle rule (nothing after `finish` or after an error), so no codec re-implements it.
//! - Whole-file encoding reuses the streaming codecs and then fixes what a stream cannot know up
//!   front: exact WAV sizes, the MP3 LAME/Info tag, FLAC's total samples and MD5. Opus and PCM are
//!   byte-identical either way. In every format that fix is a header of the same length as the
//!   stream's, so [`file_encoder`] can hand out a whole file's bytes as they are made and give the
//!   header at the end, to be written over the start: a job's file never has to sit in memory.
//!   The result is byte for byte what [`encode`] makes, except that Opus ends an Ogg page where
//!   each push ended (same packets, same decoded samples).
//! - One sample policy for all formats (see `sample`): NaN → 0, clamp to [-1, 1].
//! - [`probe`] really decodes the bytes, so tests prove a stream is a playable file and measure it.
//! - [`join`] and [`stats`] are the small DSP pieces the pipeline needs between model and encoder.

mod error;
mod flac;
mod lame;
mod mp3;
mod ogg_opus;
mod sample;
mod wav;

pub mod join;
pub mod probe;
pub mod stats;

pub use error::AudioError;
use polyvox_core::AudioFormat;

/// Codec settings. Sample rate and channel count are fixed by the model (24 kHz mono).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// MP3 constant bitrate in kbit/s; one of the MPEG-2 Layer III rates valid at 24 kHz
    /// (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160).
    pub mp3_bitrate_kbps: u32,
    /// Opus target bitrate in kbit/s, 6..=510.
    pub opus_bitrate_kbps: u32,
    /// FLAC effort, 0 (fastest, fixed predictors, small blocks) ..= 8 (smallest files), like `flac -0..-8`.
    pub flac_compression: u8,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            mp3_bitrate_kbps: 64,
            opus_bitrate_kbps: 48,
            flac_compression: 5,
        }
    }
}

/// MPEG-2 Layer III bitrates (kbit/s), the only ones a 24 kHz MP3 frame header can express.
pub(crate) const MP3_BITRATES_KBPS: [u32; 14] =
    [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

impl EncodeOptions {
    /// Checks every field; the error names the field and the accepted range.
    pub fn validate(&self) -> Result<(), AudioError> {
        if !MP3_BITRATES_KBPS.contains(&self.mp3_bitrate_kbps) {
            return Err(AudioError::InvalidOption(format!(
                "mp3_bitrate_kbps {} is not one of {MP3_BITRATES_KBPS:?}",
                self.mp3_bitrate_kbps
            )));
        }
        if !(6..=510).contains(&self.opus_bitrate_kbps) {
            return Err(AudioError::InvalidOption(format!(
                "opus_bitrate_kbps {} is outside [6, 510]",
                self.opus_bitrate_kbps
            )));
        }
        if self.flac_compression > 8 {
            return Err(AudioError::InvalidOption(format!(
                "flac_compression {} is outside [0, 8]",
                self.flac_compression
            )));
        }
        Ok(())
    }
}

/// Incremental encoder for one stream: bytes come out as soon as the codec can emit them.
///
/// The concatenation of every returned buffer is a complete file of the chosen format. Samples are
/// f32 mono at [`polyvox_core::SAMPLE_RATE`]; NaN is encoded as silence and values beyond ±1.0 are
/// clamped.
pub trait StreamEncoder: Send {
    /// Encodes more samples; returns whatever bytes are ready (possibly none).
    fn push(&mut self, pcm: &[f32]) -> Result<Vec<u8>, AudioError>;
    /// Flushes the codec and ends the stream. Afterwards `push` and `finish` return
    /// [`AudioError::Finished`]; so do they after any error.
    fn finish(&mut self) -> Result<Vec<u8>, AudioError>;
}

/// A whole file made incrementally: [`StreamEncoder`]'s bytes for the same samples, and after
/// `finish` the header that, written over the start of those bytes, makes them exactly what
/// [`encode`] returns for all the samples at once (Opus: the same packets and samples, in Ogg
/// pages cut where the pushes ended).
pub trait FileEncoder: StreamEncoder {
    /// After `finish`, once: the bytes that replace the output's first `len()` bytes; empty when
    /// the stream already is the file (Opus, PCM, MP3 at 8 and 16 kbit/s, which carry no tag).
    /// Before `finish`, a second time, or after a failure: [`AudioError::Finished`].
    fn file_header(&mut self) -> Result<Vec<u8>, AudioError>;
}

/// Starts a streaming encoder for `format`.
pub fn stream_encoder(
    format: AudioFormat,
    opts: &EncodeOptions,
) -> Result<Box<dyn StreamEncoder>, AudioError> {
    Ok(build(format, opts, false)?)
}

/// Starts a whole-file encoder for `format` (see [`FileEncoder`]).
pub fn file_encoder(
    format: AudioFormat,
    opts: &EncodeOptions,
) -> Result<Box<dyn FileEncoder>, AudioError> {
    build(format, opts, true)
}

fn build(
    format: AudioFormat,
    opts: &EncodeOptions,
    file: bool,
) -> Result<Box<dyn FileEncoder>, AudioError> {
    opts.validate()?;
    Ok(match format {
        AudioFormat::Wav => Box::new(Guarded::new(format, wav::WavCodec::streaming(), file)),
        AudioFormat::Pcm => Box::new(Guarded::new(format, wav::PcmCodec, file)),
        AudioFormat::Mp3 => Box::new(Guarded::new(
            format,
            mp3::Mp3Codec::streaming(opts.mp3_bitrate_kbps)?,
            file,
        )),
        AudioFormat::Opus => Box::new(Guarded::new(
            format,
            ogg_opus::OpusCodec::new(opts.opus_bitrate_kbps)?,
            file,
        )),
        AudioFormat::Flac => Box::new(Guarded::new(
            format,
            flac::FlacCodec::new(opts.flac_compression)?,
            file,
        )),
    })
}

/// Whole-file encoding: like a stream, plus the metadata only known at the end (exact WAV sizes,
/// MP3 gapless tag, FLAC total samples and MD5).
pub fn encode(
    format: AudioFormat,
    pcm: &[f32],
    opts: &EncodeOptions,
) -> Result<Vec<u8>, AudioError> {
    opts.validate()?;
    match format {
        AudioFormat::Wav => wav::encode_wav(pcm),
        AudioFormat::Pcm => {
            let mut out = Vec::new();
            sample::extend_s16le(&mut out, pcm);
            Ok(out)
        }
        AudioFormat::Mp3 => mp3::encode_file(pcm, opts.mp3_bitrate_kbps),
        AudioFormat::Opus => {
            let mut codec = ogg_opus::OpusCodec::new(opts.opus_bitrate_kbps)?;
            let mut out = Vec::new();
            codec.push(pcm, &mut out)?;
            codec.finish(&mut out)?;
            Ok(out)
        }
        AudioFormat::Flac => flac::encode_file(pcm, opts.flac_compression),
    }
}

/// One format's encoder, writing into a caller-owned buffer. Lifecycle rules live in [`Guarded`].
trait Codec: Send {
    fn push(&mut self, pcm: &[f32], out: &mut Vec<u8>) -> Result<(), AudioError>;
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), AudioError>;
    /// After `finish`: the whole file's header, the same length as the stream's (empty when the
    /// stream is the file).
    fn file_header(&self) -> Result<Vec<u8>, AudioError> {
        Ok(Vec::new())
    }
}

/// Enforces "nothing after finish or failure" for any codec, and releases the codec (and its native
/// state) as soon as the stream is over.
struct Guarded<C> {
    format: AudioFormat,
    codec: Option<C>,
    /// Built as a [`FileEncoder`]: work out the header at `finish`.
    file: bool,
    header: Option<Result<Vec<u8>, AudioError>>,
}

impl<C: Codec> Guarded<C> {
    fn new(format: AudioFormat, codec: C, file: bool) -> Self {
        Self {
            format,
            codec: Some(codec),
            file,
            header: None,
        }
    }
}

impl<C: Codec> FileEncoder for Guarded<C> {
    fn file_header(&mut self) -> Result<Vec<u8>, AudioError> {
        self.header.take().unwrap_or(Err(AudioError::Finished {
            format: self.format,
        }))
    }
}

impl<C: Codec> StreamEncoder for Guarded<C> {
    fn push(&mut self, pcm: &[f32]) -> Result<Vec<u8>, AudioError> {
        let codec = self.codec.as_mut().ok_or(AudioError::Finished {
            format: self.format,
        })?;
        let mut out = Vec::new();
        match codec.push(pcm, &mut out) {
            Ok(()) => Ok(out),
            Err(e) => {
                // A codec that failed halfway has an unknown internal state; refuse to continue
                // rather than emit a corrupt stream.
                self.codec = None;
                Err(e)
            }
        }
    }

    fn finish(&mut self) -> Result<Vec<u8>, AudioError> {
        let mut codec = self.codec.take().ok_or(AudioError::Finished {
            format: self.format,
        })?;
        let mut out = Vec::new();
        codec.finish(&mut out)?;
        if self.file {
            // Kept (error included) rather than raised: the stream itself ended fine.
            self.header = Some(codec.file_header());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_are_valid_and_bad_ones_name_the_field() {
        assert!(EncodeOptions::default().validate().is_ok());
        let cases = [
            (
                EncodeOptions {
                    mp3_bitrate_kbps: 65,
                    ..Default::default()
                },
                "mp3_bitrate_kbps",
            ),
            (
                EncodeOptions {
                    mp3_bitrate_kbps: 320,
                    ..Default::default()
                },
                "mp3_bitrate_kbps",
            ),
            (
                EncodeOptions {
                    opus_bitrate_kbps: 5,
                    ..Default::default()
                },
                "opus_bitrate_kbps",
            ),
            (
                EncodeOptions {
                    opus_bitrate_kbps: 511,
                    ..Default::default()
                },
                "opus_bitrate_kbps",
            ),
            (
                EncodeOptions {
                    flac_compression: 9,
                    ..Default::default()
                },
                "flac_compression",
            ),
        ];
        for (opts, field) in cases {
            let err = opts.validate().unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
            assert_eq!(err.code(), polyvox_core::ErrorCode::InvalidRequest);
            for format in AudioFormat::ALL {
                assert!(encode(format, &[0.0; 10], &opts).is_err());
                assert!(stream_encoder(format, &opts).is_err());
            }
        }
    }

    #[test]
    fn push_and_finish_after_finish_fail_for_every_format() {
        for format in AudioFormat::ALL {
            let mut enc = stream_encoder(format, &EncodeOptions::default()).unwrap();
            enc.push(&[0.1; 1000]).unwrap();
            let tail = enc.finish().unwrap();
            assert!(
                format == AudioFormat::Pcm || format == AudioFormat::Wav || !tail.is_empty(),
                "{format:?}"
            );
            assert!(
                matches!(enc.push(&[0.0; 10]), Err(AudioError::Finished { .. })),
                "{format:?}"
            );
            assert!(
                matches!(enc.finish(), Err(AudioError::Finished { .. })),
                "{format:?}"
            );
        }
    }
}
