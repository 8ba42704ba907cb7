//! Ogg Opus decoding (RFC 7845): OpusHead, OpusTags, audio packets decoded by libopus at 48 kHz,
//! then pre-skip removed from the start and the final granule position honoured at the end.

use std::io::Cursor;

use ogg::reading::PacketReader;
use polyvox_core::AudioFormat;

use super::Decoded;
use crate::AudioError;

/// The Opus decoder's output rate; granule positions count samples at this rate too.
const RATE: u32 = 48_000;
/// Largest Opus packet duration (120 ms) at 48 kHz, per channel.
const MAX_PACKET_SAMPLES: usize = 5760;

fn bad(message: impl std::fmt::Display) -> AudioError {
    AudioError::decode(AudioFormat::Opus, message)
}

pub(super) fn decode(bytes: &[u8]) -> Result<Decoded, AudioError> {
    let mut reader = PacketReader::new(Cursor::new(bytes));
    let head = reader
        .read_packet()
        .map_err(bad)?
        .ok_or_else(|| bad("empty stream"))?;
    let (channels, pre_skip) = parse_head(&head.data)?;
    let tags = reader
        .read_packet()
        .map_err(bad)?
        .ok_or_else(|| bad("missing OpusTags"))?;
    if !tags.data.starts_with(b"OpusTags") {
        return Err(bad("second packet is not OpusTags"));
    }

    let opus_channels = if channels == 1 {
        opus::Channels::Mono
    } else {
        opus::Channels::Stereo
    };
    let mut decoder = opus::Decoder::new(RATE, opus_channels).map_err(bad)?;
    let per_channel = usize::from(channels);
    let mut pcm = Vec::new();
    let mut buf = vec![0f32; MAX_PACKET_SAMPLES * per_channel];
    let mut end_granule = None;
    let mut saw_end = false;
    while let Some(packet) = reader.read_packet().map_err(bad)? {
        let n = decoder
            .decode_float(&packet.data, &mut buf, false)
            .map_err(bad)?;
        pcm.extend_from_slice(&buf[..n * per_channel]);
        if packet.last_in_page() {
            end_granule = Some(packet.absgp_page());
        }
        saw_end |= packet.last_in_stream();
    }
    if !saw_end {
        return Err(bad("no end-of-stream page (truncated?)"));
    }
    let decoded = pcm.len() / per_channel;
    // Granule = samples from the stream start including pre-skip; it may cut the last packet short.
    let end = end_granule
        .map_or(decoded, |g| usize::try_from(g).unwrap_or(usize::MAX))
        .min(decoded);
    let start = usize::from(pre_skip).min(end);
    pcm.truncate(end * per_channel);
    pcm.drain(..start * per_channel);
    Ok(Decoded {
        sample_rate: RATE,
        channels: u16::from(channels),
        samples: end - start,
        pcm,
    })
}

/// Returns (channels, pre-skip) from an OpusHead packet.
fn parse_head(data: &[u8]) -> Result<(u8, u16), AudioError> {
    if data.len() < 19 || !data.starts_with(b"OpusHead") {
        return Err(bad("first packet is not OpusHead"));
    }
    if data[8] >> 4 != 0 {
        return Err(bad(format!("unsupported OpusHead version {}", data[8])));
    }
    let channels = data[9];
    let mapping = data[18];
    if mapping != 0 || !(1..=2).contains(&channels) {
        return Err(bad(format!(
            "unsupported channel layout ({channels} channels, mapping {mapping})"
        )));
    }
    Ok((channels, u16::from_le_bytes([data[10], data[11]])))
}
