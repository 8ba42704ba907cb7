//! Every format, encoded whole and streamed, must decode (through an independent decoder) to the
//! right length and the right signal.

use polyvox_audio::probe::{self, Decoded};
use polyvox_audio::{EncodeOptions, StreamEncoder, encode, file_encoder, stream_encoder};
use polyvox_core::{AudioFormat, SAMPLE_RATE};

const RATE: f32 = SAMPLE_RATE as f32;
/// One MP3 frame at 24 kHz (MPEG-2 Layer III).
const MP3_FRAME_SECS: f64 = 576.0 / 24_000.0;
const PUSHES: [usize; 5] = [1, 999, 24_000, 3, 5_000];

fn sine(secs: f32, freq: f32, amp: f32) -> Vec<f32> {
    (0..(secs * RATE) as usize)
        .map(|i| amp * (std::f32::consts::TAU * freq * i as f32 / RATE).sin())
        .collect()
}

/// A linear 200 → 3000 Hz sweep: unlike a sine, it only matches itself when aligned.
fn chirp(secs: f32) -> Vec<f32> {
    let (f0, f1) = (200.0, 3000.0);
    (0..(secs * RATE) as usize)
        .map(|i| {
            let t = i as f32 / RATE;
            0.5 * (std::f32::consts::TAU * (f0 * t + (f1 - f0) * t * t / (2.0 * secs))).sin()
        })
        .collect()
}

fn decode(format: AudioFormat, bytes: &[u8]) -> Decoded {
    probe::decode(format, bytes).unwrap_or_else(|e| panic!("{format:?} does not decode: {e}"))
}

/// Decoded samples back at 24 kHz mono (Opus decodes at 48 kHz: take every other sample).
fn at_24k(d: &Decoded) -> Vec<f32> {
    assert_eq!(d.channels, 1);
    let step = (d.sample_rate / SAMPLE_RATE) as usize;
    assert_eq!(
        d.sample_rate,
        SAMPLE_RATE * step as u32,
        "unexpected rate {}",
        d.sample_rate
    );
    d.pcm.iter().step_by(step).copied().collect()
}

/// Normalized correlation over the common length.
fn correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for i in 0..n {
        ab += f64::from(a[i]) * f64::from(b[i]);
        aa += f64::from(a[i]).powi(2);
        bb += f64::from(b[i]).powi(2);
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        (ab / (aa * bb).sqrt()) as f32
    }
}

fn rms(pcm: &[f32]) -> f32 {
    (pcm.iter().map(|x| x * x).sum::<f32>() / pcm.len().max(1) as f32).sqrt()
}

fn quantize(pcm: &[f32]) -> Vec<i32> {
    pcm.iter()
        .map(|&x| (if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) } * 32_767.0).round() as i32)
        .collect()
}

/// Decoded lossless samples as the integers that were stored.
fn stored(d: &Decoded) -> Vec<i32> {
    d.pcm
        .iter()
        .map(|&x| (x * 32_768.0).round() as i32)
        .collect()
}

fn stream(format: AudioFormat, pcm: &[f32], pushes: &[usize]) -> (Vec<u8>, Vec<usize>) {
    let mut enc: Box<dyn StreamEncoder> =
        stream_encoder(format, &EncodeOptions::default()).unwrap();
    let mut bytes = Vec::new();
    let mut sizes = Vec::new();
    let mut at = 0;
    for &n in pushes {
        let out = enc.push(&pcm[at..at + n]).unwrap();
        sizes.push(out.len());
        bytes.extend(out);
        at += n;
    }
    assert_eq!(at, pcm.len(), "pushes must cover the input");
    bytes.extend(enc.finish().unwrap());
    (bytes, sizes)
}

const LOSSLESS: [AudioFormat; 3] = [AudioFormat::Wav, AudioFormat::Pcm, AudioFormat::Flac];

#[test]
fn every_format_round_trips_a_sine_with_the_right_duration() {
    let pcm = sine(1.5, 440.0, 0.5);
    for format in AudioFormat::ALL {
        let bytes = encode(format, &pcm, &EncodeOptions::default()).unwrap();
        let d = decode(format, &bytes);
        let tolerance = if format == AudioFormat::Mp3 {
            MP3_FRAME_SECS
        } else {
            1.5 * 0.02
        };
        assert!(
            (d.duration_secs() - 1.5).abs() <= tolerance,
            "{format:?}: {} s",
            d.duration_secs()
        );
        let level = rms(&d.pcm);
        assert!(level > 0.3, "{format:?} decodes near-silent (rms {level})");
        if LOSSLESS.contains(&format) {
            assert_eq!(stored(&d), quantize(&pcm), "{format:?} must be lossless");
        }
    }
}

#[test]
fn whole_files_have_the_exact_length_thanks_to_gapless_metadata() {
    // MP3 through the LAME tag, Opus through pre-skip and the final granule.
    for len in [1, 480, 1_000, 36_001] {
        let pcm = sine(len as f32 / RATE, 300.0, 0.4);
        for format in AudioFormat::ALL {
            let d = decode(
                format,
                &encode(format, &pcm, &EncodeOptions::default()).unwrap(),
            );
            let expected = len as f64 / f64::from(SAMPLE_RATE);
            assert!(
                (d.duration_secs() - expected).abs() < 1e-9,
                "{format:?} {len}: {} s",
                d.duration_secs()
            );
        }
    }
}

#[test]
fn lossy_formats_stay_sample_aligned_with_the_input() {
    let pcm = chirp(1.5);
    for format in [AudioFormat::Mp3, AudioFormat::Opus] {
        let d = at_24k(&decode(
            format,
            &encode(format, &pcm, &EncodeOptions::default()).unwrap(),
        ));
        let aligned = correlation(&pcm, &d);
        // A shift of even a few samples decorrelates the upper part of the sweep.
        let shifted = correlation(&pcm[8..], &d);
        assert!(aligned > 0.9, "{format:?} correlation {aligned}");
        assert!(
            shifted < aligned - 0.2,
            "{format:?}: shifted {shifted} vs aligned {aligned}"
        );
    }
}

#[test]
fn uneven_streaming_decodes_like_the_whole_file() {
    let pcm = sine(PUSHES.iter().sum::<usize>() as f32 / RATE, 523.0, 0.5);
    for format in AudioFormat::ALL {
        let (streamed, _) = stream(format, &pcm, &PUSHES);
        let whole = encode(format, &pcm, &EncodeOptions::default()).unwrap();
        let (s, w) = (decode(format, &streamed), decode(format, &whole));
        let diff = (s.duration_secs() - w.duration_secs()).abs();
        assert!(
            diff <= w.duration_secs() * 0.02,
            "{format:?}: streamed {} s, whole {} s",
            s.duration_secs(),
            w.duration_secs()
        );
        if format == AudioFormat::Mp3 {
            // Only the trailing padding is unknown to a stream; its start delay is trimmed.
            assert!(
                s.samples >= w.samples && s.samples - w.samples < 576,
                "{} vs {}",
                s.samples,
                w.samples
            );
        } else if format == AudioFormat::Opus {
            assert_eq!(s.samples, w.samples);
        }
        assert!(rms(&s.pcm) > 0.3, "{format:?} stream decodes near-silent");
        if LOSSLESS.contains(&format) {
            assert_eq!(
                s.pcm, w.pcm,
                "{format:?}: streamed samples must be identical"
            );
        }
    }
}

#[test]
fn streams_emit_bytes_while_they_run() {
    // The 24 000-sample push (1 s) completes frames in every format, so bytes must come out then,
    // not only at finish.
    let pcm = sine(PUSHES.iter().sum::<usize>() as f32 / RATE, 523.0, 0.5);
    for format in AudioFormat::ALL {
        let (_, sizes) = stream(format, &pcm, &PUSHES);
        assert!(
            sizes[2] > 0,
            "{format:?} held back a full second: {sizes:?}"
        );
        if format != AudioFormat::Flac {
            // 5 000 samples complete MP3 and Opus frames too (FLAC needs 4 096 more than were pending).
            assert!(sizes[4] > 0, "{format:?}: {sizes:?}");
        }
    }
}

#[test]
fn empty_streams_are_valid_empty_files() {
    for format in AudioFormat::ALL {
        let (bytes, _) = stream(format, &[], &[0]);
        let d = decode(format, &bytes);
        assert!(
            d.duration_secs() < MP3_FRAME_SECS,
            "{format:?}: {} s",
            d.duration_secs()
        );
        let (bytes, _) = stream(format, &[], &[]);
        assert!(
            probe::decode(format, &bytes).is_ok(),
            "{format:?} finish-only stream"
        );
    }
}

#[test]
fn over_full_scale_clamps_instead_of_wrapping() {
    let loud = sine(0.5, 440.0, 3.0);
    let clamped: Vec<f32> = loud.iter().map(|x| x.clamp(-1.0, 1.0)).collect();
    for format in AudioFormat::ALL {
        let d = decode(
            format,
            &encode(format, &loud, &EncodeOptions::default()).unwrap(),
        );
        if LOSSLESS.contains(&format) {
            assert_eq!(stored(&d), quantize(&loud), "{format:?}");
            assert!(d.pcm.iter().all(|x| x.abs() <= 1.0));
        }
        // Wrapped samples would flip sign at every peak and wreck the correlation.
        let c = correlation(&clamped, &at_24k(&d));
        assert!(
            c > 0.9,
            "{format:?} correlation with the clamped signal {c}"
        );
    }
}

#[test]
fn nan_is_encoded_as_silence_in_every_format() {
    let mut pcm = sine(0.5, 440.0, 0.5);
    for i in (0..pcm.len()).step_by(97) {
        pcm[i] = f32::NAN;
    }
    for format in AudioFormat::ALL {
        let bytes = encode(format, &pcm, &EncodeOptions::default()).unwrap();
        let d = decode(format, &bytes);
        assert!(d.pcm.iter().all(|x| x.is_finite()), "{format:?}");
        if LOSSLESS.contains(&format) {
            let s = stored(&d);
            assert!((0..pcm.len()).step_by(97).all(|i| s[i] == 0), "{format:?}");
        }
        let mut enc = stream_encoder(format, &EncodeOptions::default()).unwrap();
        assert!(
            enc.push(&[f32::NAN; 3000]).is_ok() && enc.finish().is_ok(),
            "{format:?}"
        );
    }
}

#[test]
fn every_mp3_bitrate_and_flac_level_decodes() {
    let pcm = sine(0.3, 440.0, 0.5);
    for kbps in [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160] {
        let opts = EncodeOptions {
            mp3_bitrate_kbps: kbps,
            ..Default::default()
        };
        let bytes = encode(AudioFormat::Mp3, &pcm, &opts).unwrap();
        assert_eq!(
            bytes[..2],
            [0xFF, 0xF3],
            "{kbps} kbps: must start with an MPEG-2 Layer III frame"
        );
        let d = decode(AudioFormat::Mp3, &bytes);
        // 8 and 16 kbps frames are too small for LAME's gapless tag: up to ~3 frames longer.
        let frames = if kbps < 24 { 3.0 } else { 1.0 };
        assert!(
            (d.duration_secs() - 0.3).abs() <= frames * MP3_FRAME_SECS,
            "{kbps} kbps: {} s",
            d.duration_secs()
        );
        let mut enc = stream_encoder(AudioFormat::Mp3, &opts).unwrap();
        let mut bytes = enc.push(&pcm).unwrap();
        bytes.extend(enc.finish().unwrap());
        let s = decode(AudioFormat::Mp3, &bytes);
        assert_eq!(bytes[..2], [0xFF, 0xF3], "{kbps} kbps stream");
        assert!(
            (s.duration_secs() - 0.3).abs() <= 3.0 * MP3_FRAME_SECS,
            "{kbps} kbps stream: {} s",
            s.duration_secs()
        );
    }
    let mut sizes = Vec::new();
    for level in 0..=8 {
        let opts = EncodeOptions {
            flac_compression: level,
            ..Default::default()
        };
        let bytes = encode(AudioFormat::Flac, &pcm, &opts).unwrap();
        assert_eq!(
            stored(&decode(AudioFormat::Flac, &bytes)),
            quantize(&pcm),
            "level {level}"
        );
        sizes.push(bytes.len());
    }
    assert!(
        sizes[8] <= sizes[0],
        "level 8 ({}) larger than level 0 ({})",
        sizes[8],
        sizes[0]
    );
}

#[test]
fn streamed_wav_plays_to_the_end_despite_unknown_sizes() {
    let pcm = sine(0.25, 440.0, 0.5);
    let (bytes, _) = stream(AudioFormat::Wav, &pcm, &[1, pcm.len() - 1]);
    assert_eq!(&bytes[4..8], &[0xFF; 4]);
    assert_eq!(&bytes[40..44], &[0xFF; 4]);
    assert_eq!(decode(AudioFormat::Wav, &bytes).samples, pcm.len());
}

/// A job's file is written to storage as it is encoded, then its header is written over the
/// start: that must give the very bytes the whole-file encoder gives for the same samples, in
/// every format and at every MP3 bitrate and FLAC level.
#[test]
fn a_file_encoded_piece_by_piece_and_patched_is_the_whole_file() {
    let pcm = chirp(PUSHES.iter().sum::<usize>() as f32 / RATE);
    let mut cases: Vec<(AudioFormat, EncodeOptions)> = AudioFormat::ALL
        .iter()
        .map(|&f| (f, EncodeOptions::default()))
        .collect();
    for kbps in [8, 16, 24, 32, 64, 160] {
        let opts = EncodeOptions {
            mp3_bitrate_kbps: kbps,
            ..Default::default()
        };
        cases.push((AudioFormat::Mp3, opts));
    }
    for level in [0, 8] {
        let opts = EncodeOptions {
            flac_compression: level,
            ..Default::default()
        };
        cases.push((AudioFormat::Flac, opts));
    }
    for (format, opts) in cases {
        let mut enc = file_encoder(format, &opts).unwrap();
        assert!(
            enc.file_header().is_err(),
            "{format:?}: no header before finish"
        );
        let mut bytes = Vec::new();
        let mut at = 0;
        for &n in &PUSHES {
            bytes.extend(enc.push(&pcm[at..at + n]).unwrap());
            at += n;
        }
        bytes.extend(enc.finish().unwrap());
        let head = enc.file_header().unwrap();
        assert!(
            enc.file_header().is_err(),
            "{format:?}: the header is given once"
        );
        bytes[..head.len()].copy_from_slice(&head);
        let whole = encode(format, &pcm, &opts).unwrap();
        if matches!(format, AudioFormat::Opus | AudioFormat::Pcm) {
            assert!(head.is_empty(), "{format:?} needs no patch");
        }
        if format == AudioFormat::Opus {
            // Ogg pages end where each push ended (so stream bytes leave at once): the same
            // packets in other pages, which decode to the very same samples.
            let (a, b) = (decode(format, &bytes), decode(format, &whole));
            assert_eq!(a.samples, b.samples);
            assert!(a.pcm == b.pcm, "Opus: decoded samples differ");
            continue;
        }
        assert_eq!(bytes.len(), whole.len(), "{format:?} {opts:?}");
        assert!(bytes == whole, "{format:?} {opts:?}: bytes differ");
    }
}

#[test]
fn an_empty_file_encoded_piece_by_piece_is_the_empty_whole_file() {
    for format in AudioFormat::ALL {
        let opts = EncodeOptions::default();
        let mut enc = file_encoder(format, &opts).unwrap();
        let mut bytes = enc.finish().unwrap();
        let head = enc.file_header().unwrap();
        bytes[..head.len()].copy_from_slice(&head);
        let whole = encode(format, &[], &opts).unwrap();
        if format == AudioFormat::Opus {
            assert_eq!(
                decode(format, &bytes).samples,
                decode(format, &whole).samples
            );
            continue;
        }
        assert_eq!(bytes, whole, "{format:?}");
    }
}
