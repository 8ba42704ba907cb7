"""Decoding helpers: soundfile's bundled libsndfile decodes MP3, Ogg Opus, FLAC and WAV, so a
test proves a byte string is a playable file, not just that it has the right magic bytes."""
import subprocess
import tempfile

import numpy as np
import soundfile as sf

SR = 24000


def decode(data: bytes, fmt: str):
    """Returns (samples as float32 mono, sample rate)."""
    if fmt == "pcm":
        assert len(data) % 2 == 0, "PCM is whole 16-bit samples"
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, SR
    with tempfile.NamedTemporaryFile(suffix="." + fmt) as tmp:
        tmp.write(data)
        tmp.flush()
        if fmt == "flac":
            # A streamed FLAC says "length unknown" (total samples 0 in STREAMINFO), as any FLAC
            # written to a pipe does; libsndfile cannot read those ("psf_fseek() failed"), while
            # libFLAC-based decoders such as sox can.
            raw = subprocess.run(["sox", tmp.name, "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-"],
                                 check=True, capture_output=True).stdout
            return np.frombuffer(raw, dtype="<f4"), 24000
        return _read_blocks(tmp.name)


def _read_blocks(path):
    with sf.SoundFile(path) as f:
        rate = f.samplerate
        parts = []
        while True:
            block = f.read(65536, dtype="float32", always_2d=True)
            if len(block) == 0:
                break
            parts.append(block[:, 0])
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), rate


def duration(data: bytes, fmt: str) -> float:
    samples, rate = decode(data, fmt)
    return len(samples) / rate


def rms(samples) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0
