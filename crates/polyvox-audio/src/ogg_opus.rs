//! Opus in Ogg (RFC 7845) through libopus and the `ogg` crate.
//!
//! Timing: libopus runs at 24 kHz (a native Opus rate, so no resampling) with 20 ms frames (480
//! samples). Ogg granule positions are always in 48 kHz units, so each packet advances the granule
//! by 960, and OpusHead's pre-skip is the encoder lookahead × 2. The end is trimmed precisely: we
//! encode enough padding frames to push the lookahead out, and the final page's granule is
//! `pre_skip + 2 × input samples`, so a decoder outputs exactly the input length.
//!
//! Latency: every `push` that completes at least one frame ends its page, so bytes leave at once.
//! The Ogg serial number is fixed, which makes output deterministic (same PCM → same bytes, useful
//! for caching and for comparing streamed with whole-file output).

use ogg::writing::{PacketWriteEndInfo, PacketWriter};
use polyvox_core::{AudioFormat, SAMPLE_RATE};

use crate::{AudioError, Codec, sample};

/// 20 ms at 24 kHz.
const FRAME: usize = SAMPLE_RATE as usize / 50;
/// Granule units (48 kHz samples) per input sample.
const GRANULE_PER_SAMPLE: u64 = 48_000 / SAMPLE_RATE as u64;
/// Recommended maximum Opus packet size.
const MAX_PACKET: usize = 4000;
/// "poly" — any fixed value is valid for a single logical stream.
const SERIAL: u32 = 0x706f_6c79;

fn opus_err(e: impl std::fmt::Display) -> AudioError {
    AudioError::codec(AudioFormat::Opus, e)
}

/// Streaming Ogg Opus encoder.
pub(crate) struct OpusCodec {
    encoder: opus::Encoder,
    writer: PacketWriter<'static, Vec<u8>>,
    /// Samples waiting for a full frame.
    pending: Vec<f32>,
    /// Encoder lookahead in 24 kHz samples.
    lookahead: usize,
    /// Input samples accepted so far.
    input_samples: u64,
    /// Audio packets written so far.
    packets: u64,
    headers_written: bool,
    packet_buf: Vec<u8>,
}

impl OpusCodec {
    pub(crate) fn new(bitrate_kbps: u32) -> Result<Self, AudioError> {
        let mut encoder =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Audio)
                .map_err(opus_err)?;
        let bits = i32::try_from(bitrate_kbps.saturating_mul(1000)).map_err(opus_err)?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(bits))
            .map_err(opus_err)?;
        let lookahead =
            usize::try_from(encoder.get_lookahead().map_err(opus_err)?).map_err(opus_err)?;
        Ok(Self {
            encoder,
            writer: PacketWriter::new(Vec::new()),
            pending: Vec::with_capacity(FRAME * 2),
            lookahead,
            input_samples: 0,
            packets: 0,
            headers_written: false,
            packet_buf: vec![0; MAX_PACKET],
        })
    }

    fn pre_skip(&self) -> u64 {
        self.lookahead as u64 * GRANULE_PER_SAMPLE
    }

    fn write_headers(&mut self) -> Result<(), AudioError> {
        if self.headers_written {
            return Ok(());
        }
        let pre_skip = u16::try_from(self.pre_skip()).map_err(opus_err)?;
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(1); // channels
        head.extend_from_slice(&pre_skip.to_le_bytes());
        head.extend_from_slice(&SAMPLE_RATE.to_le_bytes()); // original input rate, informational
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // channel mapping family 0: mono/stereo, no mapping table
        self.writer
            .write_packet(head, SERIAL, PacketWriteEndInfo::EndPage, 0)
            .map_err(opus_err)?;

        let vendor = format!("polyvox (libopus {})", opus::version());
        let mut tags = Vec::with_capacity(16 + vendor.len());
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor.as_bytes());
        tags.extend_from_slice(&0u32.to_le_bytes()); // no user comments
        self.writer
            .write_packet(tags, SERIAL, PacketWriteEndInfo::EndPage, 0)
            .map_err(opus_err)?;
        self.headers_written = true;
        Ok(())
    }

    /// Encodes one 480-sample frame and hands the packet to the Ogg writer.
    fn write_frame(
        &mut self,
        frame: &[f32],
        end: PacketWriteEndInfo,
        granule: u64,
    ) -> Result<(), AudioError> {
        let n = self
            .encoder
            .encode_float(frame, &mut self.packet_buf)
            .map_err(opus_err)?;
        let packet = self
            .packet_buf
            .get(..n)
            .ok_or_else(|| opus_err("packet larger than its buffer"))?;
        self.packets += 1;
        self.writer
            .write_packet(packet.to_vec(), SERIAL, end, granule)
            .map_err(opus_err)
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        out.append(self.writer.inner_mut());
    }
}

impl Codec for OpusCodec {
    fn push(&mut self, pcm: &[f32], out: &mut Vec<u8>) -> Result<(), AudioError> {
        self.write_headers()?;
        self.input_samples += pcm.len() as u64;
        self.pending.extend(pcm.iter().map(|&x| sample::clean(x)));
        let frames = self.pending.len() / FRAME;
        let pending = std::mem::take(&mut self.pending);
        for (i, frame) in pending.chunks_exact(FRAME).enumerate() {
            // End the page with this push's last packet so the bytes can leave now.
            let end = if i + 1 == frames {
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            let granule = (self.packets + 1) * FRAME as u64 * GRANULE_PER_SAMPLE;
            self.write_frame(frame, end, granule)?;
        }
        self.pending = pending;
        self.pending.drain(..frames * FRAME);
        self.drain(out);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), AudioError> {
        self.write_headers()?;
        // Enough packets to cover every input sample plus the lookahead, and at least one more
        // packet to carry the end-of-stream flag.
        let needed = (self.input_samples as usize + self.lookahead).div_ceil(FRAME) as u64;
        let remaining = needed.max(self.packets + 1) - self.packets;
        let mut tail = std::mem::take(&mut self.pending);
        tail.resize(remaining as usize * FRAME, 0.0);
        let last_granule = self.pre_skip() + self.input_samples * GRANULE_PER_SAMPLE;
        for (i, frame) in tail.chunks_exact(FRAME).enumerate() {
            let (end, granule) = if i as u64 + 1 == remaining {
                (PacketWriteEndInfo::EndStream, last_granule)
            } else {
                (
                    PacketWriteEndInfo::NormalPacket,
                    (self.packets + 1) * FRAME as u64 * GRANULE_PER_SAMPLE,
                )
            };
            self.write_frame(frame, end, granule)?;
        }
        self.drain(out);
        Ok(())
    }
}
