//! FLAC, 16-bit mono 24 kHz, through the pure-Rust `flacenc` frame encoder.
//!
//! We drive `flacenc` one block at a time rather than with its whole-stream helper, so streaming
//! and whole files share one code path: a stream sends the header first (total samples 0 =
//! unknown, frame sizes 0 = unknown, MD5 zero = unknown, all allowed by the format) and then one
//! frame per completed block. A whole file is the same bytes with the fixed-size STREAMINFO block
//! rewritten at the end (exact totals, MD5, frame sizes). Blocks are fixed-size; the last may be
//! shorter, which STREAMINFO's minimum block size does not count (we keep it at the nominal size,
//! as some decoders reject a minimum below 16).

use flacenc::bitsink::MemSink;
use flacenc::component::{BitRepr, Stream, StreamInfo};
use flacenc::config;
use flacenc::error::{Verified, Verify};
use flacenc::source::{Context, Fill, FrameBuf};
use polyvox_core::{AudioFormat, SAMPLE_RATE};

use crate::{AudioError, Codec, sample};

const BITS_PER_SAMPLE: usize = 16;
/// "fLaC" + metadata block header (4) + STREAMINFO (34); STREAMINFO is the only metadata we write.
const HEADER_LEN: usize = 4 + 4 + 34;

fn flac_err(e: impl std::fmt::Display) -> AudioError {
    AudioError::codec(AudioFormat::Flac, e)
}

/// Encoder settings for a `flac -N`-like level.
fn config_for(level: u8) -> Result<Verified<config::Encoder>, AudioError> {
    let mut cfg = config::Encoder::default();
    // Threads would compete with the model for the 2 cores; blocks are tiny anyway.
    cfg.multithread = false;
    match level {
        0..=2 => {
            cfg.block_size = 1152;
            cfg.subframe_coding.use_lpc = false;
        }
        3..=5 => {
            cfg.block_size = 4096;
            cfg.subframe_coding.qlpc.lpc_order = 8;
        }
        _ => {
            cfg.block_size = 4096;
            // 12, 16, 20 for levels 6, 7, 8 (flacenc supports up to 24).
            cfg.subframe_coding.qlpc.lpc_order = 12 + 4 * usize::from(level.min(8) - 6);
        }
    }
    cfg.into_verified().map_err(|(_, e)| flac_err(e))
}

fn write_bits<B: BitRepr>(component: &B, out: &mut Vec<u8>) -> Result<(), AudioError> {
    let mut sink = MemSink::<u8>::with_capacity(component.count_bits());
    component.write(&mut sink).map_err(flac_err)?;
    out.extend_from_slice(sink.as_slice());
    Ok(())
}

/// Streaming FLAC encoder; one frame leaves per completed block.
pub(crate) struct FlacCodec {
    config: Verified<config::Encoder>,
    block_size: usize,
    /// STREAMINFO as sent in a stream's header (totals unknown).
    stream_info: StreamInfo,
    /// Frame size extremes seen so far, for the whole-file header.
    frame_sizes: Option<(usize, usize)>,
    framebuf: FrameBuf,
    context: Context,
    pending: Vec<i32>,
    header_written: bool,
}

impl FlacCodec {
    pub(crate) fn new(level: u8) -> Result<Self, AudioError> {
        let config = config_for(level)?;
        let block_size = config.block_size;
        let mut stream_info =
            StreamInfo::new(SAMPLE_RATE as usize, 1, BITS_PER_SAMPLE).map_err(flac_err)?;
        stream_info
            .set_block_sizes(block_size, block_size)
            .map_err(flac_err)?;
        stream_info.set_frame_sizes(0, 0).map_err(flac_err)?;
        Ok(Self {
            config,
            block_size,
            stream_info,
            frame_sizes: None,
            framebuf: FrameBuf::with_size(1, block_size).map_err(flac_err)?,
            context: Context::new(BITS_PER_SAMPLE, 1),
            pending: Vec::with_capacity(block_size * 2),
            header_written: false,
        })
    }

    fn header(info: &StreamInfo) -> Result<Vec<u8>, AudioError> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        write_bits(&Stream::with_stream_info(info.clone()), &mut out)?;
        if out.len() != HEADER_LEN {
            return Err(flac_err(format!(
                "header is {} bytes, expected {HEADER_LEN}",
                out.len()
            )));
        }
        Ok(out)
    }

    fn write_header(&mut self, out: &mut Vec<u8>) -> Result<(), AudioError> {
        if !self.header_written {
            out.extend_from_slice(&Self::header(&self.stream_info)?);
            self.header_written = true;
        }
        Ok(())
    }

    fn encode_block(&mut self, samples: &[i32], out: &mut Vec<u8>) -> Result<(), AudioError> {
        (&mut self.framebuf, &mut self.context)
            .fill_interleaved(samples)
            .map_err(flac_err)?;
        let number = self
            .context
            .current_frame_number()
            .ok_or_else(|| flac_err("no frame was filled"))?;
        let frame = flacenc::encode_fixed_size_frame(
            &self.config,
            &self.framebuf,
            number,
            &self.stream_info,
        )
        .map_err(flac_err)?;
        let before = out.len();
        write_bits(&frame, out)?;
        let size = out.len() - before;
        self.frame_sizes = Some(match self.frame_sizes {
            Some((lo, hi)) => (lo.min(size), hi.max(size)),
            None => (size, size),
        });
        Ok(())
    }

    /// STREAMINFO with everything a whole file knows after the last frame.
    fn complete_header(&self) -> Result<Vec<u8>, AudioError> {
        let mut info = self.stream_info.clone();
        let (lo, hi) = self.frame_sizes.unwrap_or((0, 0));
        info.set_frame_sizes(lo, hi).map_err(flac_err)?;
        info.set_total_samples(self.context.total_samples());
        info.set_md5_digest(&self.context.md5_digest());
        Self::header(&info)
    }
}

impl Codec for FlacCodec {
    fn push(&mut self, pcm: &[f32], out: &mut Vec<u8>) -> Result<(), AudioError> {
        self.write_header(out)?;
        self.pending
            .extend(pcm.iter().map(|&x| i32::from(sample::to_i16(x))));
        let full = self.pending.len() / self.block_size * self.block_size;
        let pending = std::mem::take(&mut self.pending);
        for block in pending[..full].chunks_exact(self.block_size) {
            self.encode_block(block, out)?;
        }
        self.pending = pending;
        self.pending.drain(..full);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), AudioError> {
        self.write_header(out)?;
        if !self.pending.is_empty() {
            let last = std::mem::take(&mut self.pending);
            self.encode_block(&last, out)?;
        }
        Ok(())
    }

    fn file_header(&self) -> Result<Vec<u8>, AudioError> {
        self.complete_header()
    }
}

/// Whole-file FLAC: the stream's bytes with a complete STREAMINFO.
pub(crate) fn encode_file(pcm: &[f32], level: u8) -> Result<Vec<u8>, AudioError> {
    let mut codec = FlacCodec::new(level)?;
    let mut out = Vec::with_capacity(pcm.len() + HEADER_LEN);
    codec.push(pcm, &mut out)?;
    codec.finish(&mut out)?;
    let header = codec.complete_header()?;
    out.get_mut(..HEADER_LEN)
        .ok_or_else(|| flac_err("output shorter than its header"))?
        .copy_from_slice(&header);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_header_says_unknown_and_file_header_knows() {
        let pcm: Vec<f32> = (0..5000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        let mut codec = FlacCodec::new(5).unwrap();
        let mut streamed = Vec::new();
        codec.push(&pcm, &mut streamed).unwrap();
        codec.finish(&mut streamed).unwrap();
        let file = encode_file(&pcm, 5).unwrap();
        // Same frames, different STREAMINFO.
        assert_eq!(streamed[HEADER_LEN..], file[HEADER_LEN..]);
        assert_eq!(&file[..4], b"fLaC");
        // Total samples: low 36 bits of STREAMINFO bytes 10..18 (after the 8-byte preamble).
        let total =
            |b: &[u8]| u64::from_be_bytes(b[8 + 10..8 + 18].try_into().unwrap()) & ((1 << 36) - 1);
        assert_eq!(total(&streamed), 0);
        assert_eq!(total(&file), 5000);
        assert_eq!(streamed[8 + 18..8 + 34], [0; 16], "stream MD5 unknown");
        assert_ne!(file[8 + 18..8 + 34], [0; 16], "file MD5 set");
    }
}
