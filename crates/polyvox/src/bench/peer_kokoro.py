"""The peer for `polyvox bench throughput`: kokoro-onnx on the same int8 model and voices.

Run by the bench (never imported): it loads the model once, then answers one JSON request per
stdin line with one JSON line on stdout, so the bench can interleave its own runs with the peer's
inside one invocation. Each request synthesizes `sentences` with `concurrency` threads sharing
one kokoro-onnx instance (onnxruntime's Run is thread-safe and releases the GIL), exactly as a
Python server would, and reports audio seconds, wall seconds and the resident memory seen.
"""

import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from kokoro_onnx import Kokoro


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def load_kokoro(model, voices_dir):
    """kokoro-onnx on `model` with Polyvox's voices (also used by scripts/ttfb_vs_peer.py)."""
    # kokoro-onnx reads voices from one .npz; ours are raw float32 (510, 1, 256) files.
    voices = {
        name[:-4]: np.fromfile(os.path.join(voices_dir, name), dtype="<f4").reshape(510, 1, 256)
        for name in sorted(os.listdir(voices_dir))
        if name.endswith(".bin")
    }
    npz = os.path.join(tempfile.mkdtemp(prefix="polyvox-peer-"), "voices.npz")
    np.savez(npz, **voices)
    return Kokoro(model, npz)


def main():
    model, voices_dir = sys.argv[1], sys.argv[2]
    started = time.time()
    kokoro = load_kokoro(model, voices_dir)
    print(json.dumps({"ready_s": time.time() - started, "rss_mb": rss_mb()}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        sentences, voice = req["sentences"], req.get("voice", "af_heart")
        peak = [rss_mb()]
        done = threading.Event()

        def sample():
            while not done.wait(0.1):
                peak[0] = max(peak[0], rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        def one(text):
            audio, rate = kokoro.create(text, voice=voice, speed=1.0, lang="en-us")
            return len(audio) / rate

        t0 = time.time()
        with ThreadPoolExecutor(max_workers=req["concurrency"]) as pool:
            audio_s = sum(pool.map(one, sentences))
        wall = time.time() - t0
        done.set()
        sampler.join()
        print(json.dumps({"audio_s": audio_s, "wall_s": wall, "rss_mb": max(peak[0], rss_mb())}), flush=True)


if __name__ == "__main__":
    main()
