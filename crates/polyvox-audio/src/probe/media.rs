//! WAV, MP3 and FLAC through symphonia, with gapless trimming on.

use std::io::Cursor;

use polyvox_core::AudioFormat;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::default::formats::{FlacReader, MpaReader, WavReader};

use super::Decoded;
use crate::AudioError;

pub(super) fn decode(format: AudioFormat, bytes: &[u8]) -> Result<Decoded, AudioError> {
    if format == AudioFormat::Flac
        && let Some(empty) = flac_without_frames(bytes)
    {
        return Ok(empty);
    }
    // symphonia 0.5 has unchecked arithmetic on header fields (e.g. an MP3 Info tag whose delay
    // exceeds its length overflows in debug builds). Hostile bytes must give an error, not a panic.
    std::panic::catch_unwind(|| decode_unguarded(format, bytes)).unwrap_or_else(|_| {
        Err(AudioError::decode(
            format,
            "decoder panicked on malformed input",
        ))
    })
}

fn decode_unguarded(format: AudioFormat, bytes: &[u8]) -> Result<Decoded, AudioError> {
    let err = |e: SymError| AudioError::decode(format, e);
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let opts = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let mut reader: Box<dyn FormatReader> = match format {
        AudioFormat::Wav => Box::new(WavReader::try_new(source, &opts).map_err(err)?),
        AudioFormat::Mp3 => Box::new(MpaReader::try_new(source, &opts).map_err(err)?),
        AudioFormat::Flac => Box::new(FlacReader::try_new(source, &opts).map_err(err)?),
        AudioFormat::Pcm | AudioFormat::Opus => {
            return Err(AudioError::decode(format, "not a symphonia format"));
        }
    };
    let track = reader
        .default_track()
        .ok_or_else(|| AudioError::decode(format, "no audio track"))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let sample_rate = params
        .sample_rate
        .ok_or_else(|| AudioError::decode(format, "no sample rate"))?;
    let channels = params.channels.map_or(0, |c| c.count());
    let channels =
        u16::try_from(channels).map_err(|_| AudioError::decode(format, "too many channels"))?;
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(err)?;

    let mut pcm = Vec::new();
    let mut buf: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match reader.next_packet() {
            Ok(p) => p,
            // symphonia reports the end of the data as an unexpected EOF.
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(err(e)),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let audio = decoder.decode(&packet).map_err(err)?;
        let spec = *audio.spec();
        let capacity = audio.capacity() as u64;
        let b = match &mut buf {
            Some(b) if b.capacity() >= audio.capacity() * spec.channels.count() => b,
            _ => buf.insert(SampleBuffer::new(capacity, spec)),
        };
        b.copy_interleaved_ref(audio);
        pcm.extend_from_slice(b.samples());
    }
    if channels == 0 {
        return Err(AudioError::decode(format, "no channels"));
    }
    let samples = pcm.len() / usize::from(channels);
    Ok(Decoded {
        sample_rate,
        channels,
        samples,
        pcm,
    })
}

/// A FLAC file of zero samples is only "fLaC" and metadata: valid (libFLAC writes it for empty
/// input), but symphonia insists on finding a first frame. Recognise it here: metadata blocks that
/// end exactly at the end of the bytes, starting with a STREAMINFO.
fn flac_without_frames(bytes: &[u8]) -> Option<Decoded> {
    if bytes.get(..4)? != b"fLaC" || bytes.get(4)? & 0x7F != 0 {
        return None;
    }
    let mut at = 4;
    loop {
        let header = bytes.get(at..at + 4)?;
        let len =
            usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
        at += 4 + len;
        if header[0] & 0x80 != 0 {
            break;
        }
    }
    if at != bytes.len() {
        return None;
    }
    // STREAMINFO (after the 8-byte preamble): 20 bits rate, 3 bits channels - 1 at byte offset 10.
    let info = bytes.get(8..8 + 34)?;
    let sample_rate =
        u32::from(info[10]) << 12 | u32::from(info[11]) << 4 | u32::from(info[12]) >> 4;
    let channels = u16::from((info[12] >> 1) & 0x7) + 1;
    Some(Decoded {
        sample_rate,
        channels,
        samples: 0,
        pcm: Vec::new(),
    })
}
