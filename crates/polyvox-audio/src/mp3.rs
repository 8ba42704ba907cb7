//! MP3: CBR, mono, 24 kHz (MPEG-2 Layer III) through LAME.
//!
//! Gapless playback needs an "Info" tag (Xing header + LAME extension) in a silent first frame:
//! it tells decoders the encoder delay to drop at the start and the padding to drop at the end.
//! We write that tag ourselves rather than use LAME's, because LAME's must be patched into the
//! start of the output after the flush and is skipped at bitrates below 56 kbps here.
//! - Whole files: the tag carries the frame count, delay and padding, so decoders that honour it
//!   (symphonia, ffmpeg, most players) output exactly the input length.
//! - Streams cannot know their length up front, so the tag carries only the delay: the start lines
//!   up with the whole file and only < 1 frame of trailing padding remains.
//!
//! At 8 and 16 kbps a frame (24/48 bytes) cannot hold the tag, so those files have no gapless
//! information (up to ~3 frames longer than the input). Decoders that ignore the tag play one
//! frame of silence, as they do for any LAME file.

use polyvox_core::AudioFormat;

use crate::lame::Lame;
use crate::{AudioError, Codec, MP3_BITRATES_KBPS, sample};

/// Samples per MPEG-2 Layer III frame.
const FRAME_SAMPLES: u64 = 576;
/// Header + side information length of a mono MPEG-2 Layer III frame.
const PREAMBLE_LEN: usize = 4 + 9;
/// The LAME extension, up to and including its CRC.
const LAME_EXT_LEN: usize = 36;

fn mp3_err(message: impl std::fmt::Display) -> AudioError {
    AudioError::codec(AudioFormat::Mp3, message)
}

/// Streaming MP3 encoder.
pub(crate) struct Mp3Codec {
    lame: Lame,
    bitrate_kbps: u32,
    /// The stream's leading Info frame, sent with the first output.
    pending_tag: Option<Vec<u8>>,
    /// LAME's frames so far, for the whole file's tag.
    frames: FrameCounter,
    samples: u64,
}

impl Mp3Codec {
    pub(crate) fn streaming(bitrate_kbps: u32) -> Result<Self, AudioError> {
        let lame = Lame::new(bitrate_kbps)?;
        let pending_tag = info_frame(bitrate_kbps, lame.encoder_delay(), None);
        Ok(Self {
            lame,
            bitrate_kbps,
            pending_tag,
            frames: FrameCounter::default(),
            samples: 0,
        })
    }

    fn send_tag(&mut self, out: &mut Vec<u8>) {
        if let Some(tag) = self.pending_tag.take() {
            out.extend_from_slice(&tag);
        }
    }
}

impl Codec for Mp3Codec {
    fn push(&mut self, pcm: &[f32], out: &mut Vec<u8>) -> Result<(), AudioError> {
        self.send_tag(out);
        let start = out.len();
        self.lame.encode(&sample::to_i16_vec(pcm), out)?;
        self.samples += pcm.len() as u64;
        self.frames.feed(&out[start..])
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), AudioError> {
        self.send_tag(out);
        let start = out.len();
        self.lame.flush(out)?;
        self.frames.feed(&out[start..])
    }

    fn file_header(&self) -> Result<Vec<u8>, AudioError> {
        let frames = self.frames.total()?;
        let delay = self.lame.encoder_delay();
        // Whatever the frames hold beyond delay + input is padding.
        let padding = (frames * FRAME_SAMPLES)
            .checked_sub(u64::from(delay) + self.samples)
            .ok_or_else(|| {
                mp3_err(format!(
                    "{frames} frames cannot hold {} samples",
                    self.samples
                ))
            })?;
        let frames = u32::try_from(frames).map_err(|_| mp3_err("too many frames for the tag"))?;
        let padding = u32::try_from(padding).map_err(|_| mp3_err("padding out of range"))?;
        Ok(info_frame(self.bitrate_kbps, delay, Some((frames, padding))).unwrap_or_default())
    }
}

/// Whole-file MP3 with a complete gapless tag.
pub(crate) fn encode_file(pcm: &[f32], bitrate_kbps: u32) -> Result<Vec<u8>, AudioError> {
    let mut lame = Lame::new(bitrate_kbps)?;
    let mut audio = Vec::with_capacity(pcm.len() * bitrate_kbps as usize / 192 + 8192);
    lame.encode(&sample::to_i16_vec(pcm), &mut audio)?;
    lame.flush(&mut audio)?;
    let frames = count_frames(&audio)?;
    let delay = lame.encoder_delay();
    // Whatever the frames hold beyond delay + input is padding.
    let padding = (frames * FRAME_SAMPLES)
        .checked_sub(u64::from(delay) + pcm.len() as u64)
        .ok_or_else(|| mp3_err(format!("{frames} frames cannot hold {} samples", pcm.len())))?;
    let frames = u32::try_from(frames).map_err(|_| mp3_err("too many frames for the tag"))?;
    let padding = u32::try_from(padding).map_err(|_| mp3_err("padding out of range"))?;
    let mut out = info_frame(bitrate_kbps, delay, Some((frames, padding))).unwrap_or_default();
    out.append(&mut audio);
    Ok(out)
}

/// Length of the frame whose 4-byte header is `h` (MPEG-2 Layer III, 24 kHz mono).
fn frame_len(h: &[u8], at: u64) -> Result<usize, AudioError> {
    if h.len() < 4 || h[0] != 0xFF || h[1] & 0xFE != 0xF2 {
        return Err(mp3_err(format!("no MPEG-2 Layer III frame at byte {at}")));
    }
    let index = usize::from(h[2] >> 4);
    let kbps = index
        .checked_sub(1)
        .and_then(|i| MP3_BITRATES_KBPS.get(i))
        .ok_or_else(|| mp3_err("bad bitrate index"))?;
    // 72 × bitrate / 24 kHz bytes, plus one if the padding bit is set.
    Ok(3 * *kbps as usize + usize::from((h[2] >> 1) & 1))
}

/// Counts the frames LAME produced by walking their headers.
fn count_frames(bytes: &[u8]) -> Result<u64, AudioError> {
    let mut counter = FrameCounter::default();
    counter.feed(bytes)?;
    counter.total()
}

/// Walks frame headers across output pieces cut anywhere, so a stream's frames are counted
/// without keeping its bytes.
#[derive(Default)]
struct FrameCounter {
    frames: u64,
    /// Bytes of the current frame still to come after its header.
    skip: usize,
    /// A header split across pieces.
    partial: Vec<u8>,
    /// Bytes seen, for error messages.
    at: u64,
}

impl FrameCounter {
    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), AudioError> {
        loop {
            if self.skip >= bytes.len() {
                self.skip -= bytes.len();
                self.at += bytes.len() as u64;
                return Ok(());
            }
            bytes = &bytes[self.skip..];
            self.at += self.skip as u64;
            self.skip = 0;
            let need = 4 - self.partial.len();
            if bytes.len() < need {
                self.partial.extend_from_slice(bytes);
                self.at += bytes.len() as u64;
                return Ok(());
            }
            self.partial.extend_from_slice(&bytes[..need]);
            bytes = &bytes[need..];
            let start = self.at + need as u64 - 4;
            self.at += need as u64;
            let len = frame_len(&self.partial, start)?;
            self.partial.clear();
            self.frames += 1;
            self.skip = len - 4;
        }
    }

    /// The frame count, if the bytes ended on a frame boundary.
    fn total(&self) -> Result<u64, AudioError> {
        if self.skip != 0 || !self.partial.is_empty() {
            return Err(mp3_err("last frame is truncated"));
        }
        Ok(self.frames)
    }
}

/// A silent CBR frame holding an "Info" tag. `totals` is (audio frames, padding samples) when
/// known. None when the frame at this bitrate is too small for the tag.
fn info_frame(
    bitrate_kbps: u32,
    encoder_delay: u32,
    totals: Option<(u32, u32)>,
) -> Option<Vec<u8>> {
    let index = MP3_BITRATES_KBPS.iter().position(|&b| b == bitrate_kbps)? + 1;
    // MPEG-2 Layer III: 72 × bitrate / sample rate bytes, i.e. 3 bytes per kbit/s at 24 kHz.
    let frame_len = 3 * bitrate_kbps as usize;
    if frame_len < PREAMBLE_LEN + 8 + 4 + LAME_EXT_LEN {
        return None;
    }
    let mut f = Vec::with_capacity(frame_len);
    // Sync, MPEG-2, Layer III, no CRC | bitrate index, 24 kHz, no padding | mono, original.
    f.extend_from_slice(&[0xFF, 0xF3, ((index as u8) << 4) | 0x04, 0xC4]);
    // All-zero side information: the frame decodes as silence, and marks it as a tag frame.
    f.extend_from_slice(&[0; PREAMBLE_LEN - 4]);
    f.extend_from_slice(b"Info");
    let (frames, padding) = match totals {
        // Flag 0x1: a frame count follows. No byte count, TOC or quality: CBR needs no seek table.
        Some((frames, padding)) => {
            f.extend_from_slice(&1u32.to_be_bytes());
            f.extend_from_slice(&frames.to_be_bytes());
            (frames, padding)
        }
        None => {
            f.extend_from_slice(&0u32.to_be_bytes());
            (0, 0)
        }
    };
    // Encoder: "LAME" + version in 9 bytes, as LAME writes it; decoders only trust the delay
    // and padding fields when the string starts with "LAME".
    let mut encoder = format!("LAME{}", crate::lame::version()).into_bytes();
    encoder.resize(9, b' ');
    f.extend_from_slice(&encoder);
    f.push(0x01); // tag revision 0, CBR
    f.push(0); // lowpass unknown
    f.extend_from_slice(&[0; 4 + 2 + 2]); // peak, radio and audiophile replay gain: unknown
    f.push(0); // encoding flags, ATH type
    f.push(bitrate_kbps.min(255) as u8);
    // 12 bits delay, 12 bits padding. The padding is everything after the input, which includes
    // the 529 samples LAME adds to flush the decoder's own delay (decoders subtract them again).
    let delay = encoder_delay.min(0xFFF);
    let padding = if frames == 0 { 0 } else { padding.min(0xFFF) };
    f.extend_from_slice(&[
        (delay >> 4) as u8,
        (((delay & 0xF) << 4) | (padding >> 8)) as u8,
        padding as u8,
    ]);
    f.extend_from_slice(&[0; 1 + 1 + 2 + 4 + 2]); // misc, gain, preset, music length, music CRC
    let crc = crc16_arc(&f);
    f.extend_from_slice(&crc.to_be_bytes());
    f.resize(frame_len, 0);
    Some(f)
}

/// CRC-16/ARC (poly 0x8005 reflected, init 0), the checksum of the LAME tag.
fn crc16_arc(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trim_field(f: &[u8], at: usize) -> (u32, u32) {
        let v = u32::from(f[at]) << 16 | u32::from(f[at + 1]) << 8 | u32::from(f[at + 2]);
        (v >> 12, v & 0xFFF)
    }

    #[test]
    fn crc16_arc_matches_the_catalogue_check_value() {
        assert_eq!(crc16_arc(b"123456789"), 0xBB3D);
    }

    #[test]
    fn stream_tag_has_delay_only() {
        let f = info_frame(64, 576, None).unwrap();
        assert_eq!(f.len(), 192);
        assert_eq!(&f[13..17], b"Info");
        assert_eq!(f[17..21], [0; 4], "no frame count while streaming");
        assert_eq!(&f[21..25], b"LAME");
        assert_eq!(trim_field(&f, 42), (576, 0));
        assert!(info_frame(16, 576, None).is_none());
        assert_eq!(info_frame(24, 576, None).map(|f| f.len()), Some(72));
    }

    #[test]
    fn file_tag_has_frames_and_padding() {
        let f = info_frame(24, 576, Some((100, 300))).unwrap();
        assert_eq!(f[17..21], [0, 0, 0, 1]);
        assert_eq!(f[21..25], 100u32.to_be_bytes());
        assert_eq!(&f[25..29], b"LAME");
        assert_eq!(trim_field(&f, 46), (576, 300));
    }

    #[test]
    fn hostile_tag_does_not_panic_the_probe() {
        // Claims zero frames but a 576-sample delay: symphonia's length arithmetic underflows.
        let mut bytes = info_frame(64, 576, Some((0, 0))).unwrap();
        let mut lame = Lame::new(64).unwrap();
        lame.encode(&[0; 2000], &mut bytes).unwrap();
        lame.flush(&mut bytes).unwrap();
        let _ = crate::probe::decode(AudioFormat::Mp3, &bytes);
    }

    #[test]
    fn counts_lame_frames() {
        let mut lame = Lame::new(64).unwrap();
        let mut out = Vec::new();
        lame.encode(&vec![1000; 576 * 20], &mut out).unwrap();
        lame.flush(&mut out).unwrap();
        let frames = count_frames(&out).unwrap();
        assert_eq!(frames as usize * 192, out.len());
        assert!(frames >= 20, "{frames}");
        assert!(count_frames(&out[..out.len() - 1]).is_err());
        assert!(count_frames(&[0; 10]).is_err());
        // Cut into pieces anywhere, headers included: the same count.
        for piece in [1, 3, 5, 191, 193, 1000] {
            let mut c = FrameCounter::default();
            for p in out.chunks(piece) {
                c.feed(p).unwrap();
            }
            assert_eq!(c.total().unwrap(), frames, "pieces of {piece}");
        }
    }
}
