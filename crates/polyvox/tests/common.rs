//! Helpers shared by the binary's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn polyvox() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyvox"));
    cmd.env("POLYVOX_LOG", "warn")
        .env_remove("POLYVOX_LOG_FORMAT");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawning polyvox")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Samples of a 16-bit mono WAV file as f32, found by walking the RIFF chunks.
pub fn read_wav(path: &Path) -> (u32, Vec<f32>) {
    let b = std::fs::read(path).expect("reading wav");
    assert_eq!(&b[0..4], b"RIFF", "not a RIFF file");
    assert_eq!(&b[8..12], b"WAVE", "not a WAVE file");
    let mut pos = 12;
    let mut rate = 0;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            assert_eq!(u16::from_le_bytes([b[body], b[body + 1]]), 1, "PCM");
            assert_eq!(u16::from_le_bytes([b[body + 2], b[body + 3]]), 1, "mono");
            rate = u32::from_le_bytes(b[body + 4..body + 8].try_into().unwrap());
            assert_eq!(
                u16::from_le_bytes([b[body + 14], b[body + 15]]),
                16,
                "16-bit"
            );
        } else if id == b"data" {
            let end = body.saturating_add(len).min(b.len());
            let pcm = b[body..end]
                .chunks_exact(2)
                .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                .collect();
            return (rate, pcm);
        }
        pos = body + len + (len & 1);
    }
    panic!("no data chunk in {}", path.display());
}

pub struct AudioCheck {
    pub seconds: f64,
    pub rms: f32,
    pub peak: f32,
    pub clipped: usize,
}

pub fn check_audio(rate: u32, pcm: &[f32]) -> AudioCheck {
    assert_eq!(rate, 24_000);
    let rms = (pcm.iter().map(|x| x * x).sum::<f32>() / pcm.len().max(1) as f32).sqrt();
    let peak = pcm.iter().fold(0f32, |m, x| m.max(x.abs()));
    let clipped = pcm.iter().filter(|x| x.abs() >= 0.999).count();
    AudioCheck {
        seconds: pcm.len() as f64 / f64::from(rate),
        rms,
        peak,
        clipped,
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

pub fn shared_dir() -> PathBuf {
    std::env::var_os("POLYVOX_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

pub fn tools_dir() -> PathBuf {
    std::env::var_os("POLYVOX_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var("HOME").expect("HOME")).join(".cache/polyvox-tools")
        })
}
