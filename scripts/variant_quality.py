"""Speed and quality of a Kokoro model variant against the int8 graph, on the same inputs.

Both graphs get identical phoneme ids and style vectors (kokoro-onnx's own tokenizer, voice
af_heart), one intra-op thread, runs alternating ABAB. Speed is reported as wall time and as process CPU
time: with one intra-op thread and no spinning, CPU time is the model's own work, which a busy
neighbour inflates far less than wall time. Quality: the ASR judge's WER on both
outputs (written as WAVs with a batch list for judge.py), and the distance between their long-term
average log spectra (dB): the durations differ between graphs, so frame-by-frame distances would
measure misalignment, not timbre.

After the timed rounds, one more pass per graph runs with ORT's profiler on, and the time per
operator type is printed: the profile says where each graph spends its time, which a loaded
machine distorts far less than it distorts the totals.

Usage: python variant_quality.py INT8 VARIANT VOICE_BIN OUT_DIR [ROUNDS] [THREADS]
"""

import collections
import json
import os
import sys
import time
import wave

import numpy as np
import onnxruntime as rt
from kokoro_onnx.tokenizer import Tokenizer

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Polyvox turns text into natural speech on your own hardware, with no per character bill.",
    "She opened the window, listened to the rain for a while, and then went back to her book.",
    "Every request is validated, queued, synthesized in chunks and encoded as it is produced.",
    "The train to Boston leaves at half past seven, so please be at the station by seven.",
    "Our team measured every change twice before we decided which one to keep.",
]


def session(path, threads=1, profile_prefix=None):
    o = rt.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.log_severity_level = 3
    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_prefix:
        o.enable_profiling = True
        o.profile_file_prefix = profile_prefix
    return rt.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def profile_ops(path, inputs, threads, prefix):
    """Seconds per operator type over one pass of `inputs`, largest first."""
    s = session(path, threads, prefix)
    for i in inputs:
        s.run(None, i)
    per_op = collections.Counter()
    with open(s.end_profiling()) as f:
        for ev in json.load(f):
            if ev.get("cat") == "Node" and ev["name"].endswith("_kernel_time"):
                per_op[ev["args"]["op_name"]] += ev["dur"] / 1e6
    return per_op.most_common()


def ltas_db(x):
    frames = np.lib.stride_tricks.sliding_window_view(x, 512)[::256] * np.hanning(512)
    return 10 * np.log10(np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0) + 1e-12)


def main(int8, variant, voice_bin, out, rounds=2, threads=1):
    os.makedirs(out, exist_ok=True)
    voice = np.fromfile(voice_bin, dtype="<f4").reshape(510, 1, 256)
    tok = Tokenizer()
    inputs = []
    for s in SENTENCES:
        ids = tok.tokenize(tok.phonemize(s, "en-us"))
        inputs.append({"tokens": np.array([[0, *ids, 0]], dtype=np.int64), "style": voice[len(ids) - 1],
                       "speed": np.array([1.0], dtype=np.float32)})
    sessions = {"int8": session(int8, threads), "variant": session(variant, threads)}
    times = {k: [] for k in sessions}
    cpu = {k: [] for k in sessions}
    audio = {k: [] for k in sessions}
    for r in range(rounds):
        for name in (["int8", "variant"] if r % 2 == 0 else ["variant", "int8"]):
            t, c = time.time(), time.process_time()
            outs = [sessions[name].run(None, i)[0].ravel() for i in inputs]
            times[name].append(time.time() - t)
            cpu[name].append(time.process_time() - c)
            audio[name] = outs
    secs = sum(len(a) for a in audio["int8"]) / 24000
    for name in times:
        print(f"{name}: median {np.median(times[name]):.2f} s for {secs:.1f} s of audio "
              f"({secs / np.median(times[name]):.2f}x real time), runs {[round(t, 2) for t in times[name]]}")
        print(f"{name}: median CPU {np.median(cpu[name]):.2f} s, runs {[round(t, 2) for t in cpu[name]]}")
    print(f"speed ratio variant/int8: wall {np.median(times['int8']) / np.median(times['variant']):.2f}, "
          f"CPU {np.median(cpu['int8']) / np.median(cpu['variant']):.2f}")
    for name, path in (("int8", int8), ("variant", variant)):
        ops = profile_ops(path, inputs, threads, f"{out}/profile-{name}")
        total = sum(t for _, t in ops)
        top = ", ".join(f"{op} {t:.2f} s ({100 * t / total:.0f} %)" for op, t in ops[:5])
        print(f"{name} profile: {total:.2f} s in operators; {top}")
    dists, lens = [], []
    with open(f"{out}/judge.tsv", "w") as tsv:
        for k, s in enumerate(SENTENCES):
            a, b = audio["int8"][k], audio["variant"][k]
            dists.append(float(np.sqrt(np.mean((ltas_db(a) - ltas_db(b)) ** 2))))
            lens.append(len(b) / len(a))
            for name in audio:
                path = f"{out}/{name}-{k}.wav"
                with wave.open(path, "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(24000)
                    w.writeframes((np.clip(audio[name][k], -1, 1) * 32767).astype("<i2").tobytes())
                tsv.write(f"{path}\t{s}\n")
    print(f"long-term spectrum distance: median {np.median(dists):.2f} dB (max {max(dists):.2f}); "
          f"length ratio median {np.median(lens):.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 2,
         int(sys.argv[6]) if len(sys.argv) > 6 else 1)
