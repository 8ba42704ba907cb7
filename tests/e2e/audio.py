"""Decoding helpers: soundfile's bundled libsndfile decodes MP3, Ogg Opus, FLAC and WAV, so a
test proves a byte string is a playable file, not just that it has the right magic bytes."""
import io

import numpy as np
import soundfile as sf

SR = 24000


def decode(data: bytes, fmt: str):
    """Returns (samples as float32 mono, sample rate)."""
    if fmt == "pcm":
        assert len(data) % 2 == 0, "PCM is whole 16-bit samples"
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, SR
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return samples[:, 0], rate


def duration(data: bytes, fmt: str) -> float:
    samples, rate = decode(data, fmt)
    return len(samples) / rate


def rms(samples) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0
