#!/usr/bin/env python3
"""Word timings heard by the ASR judge, compared with the ones Polyvox reported.

The judge's Whisper (see judge.py) transcribes each clip with word_timestamps=True. Our words and
Whisper's are matched by their normalized spelling (the longest common subsequence, so a word
either side mis-spells or reads differently — "$42.50" against "42.50" — is left out rather than
mismatched); for ja and zh, where Whisper's "words" and ours are cut differently, by character:
the first character of each of our words is looked up in Whisper's character sequence, and a
match counts only where Whisper also starts a word at that character.

  word_times.py --batch list.tsv      list.tsv: clip.wav<TAB>lang<TAB>ours.json per line
                                      (ours.json: {"words": [{"text", "start", ...}]})

Prints one JSON object per clip: our word count, matched pairs and every |Δ start| in seconds.
"""
import argparse
import difflib
import json
import os
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import judge  # noqa: E402

CJK = {"ja", "zh", "ko"}


def norm(text):
    kept = "".join(c for c in unicodedata.normalize("NFKC", text).lower()
                   if c.isalnum() or c in "'$%.")
    return kept.strip(".'")


def heard_words(model, audio, lang):
    segments, _ = model.transcribe(
        audio, language=lang, task="transcribe", beam_size=5, temperature=0.0,
        condition_on_previous_text=False, word_timestamps=True, vad_filter=False)
    out = []
    for seg in segments:
        for w in seg.words or []:
            out.append({"word": w.word.strip(), "start": float(w.start), "end": float(w.end)})
    return out


def pairs_by_word(ours, theirs):
    a = [norm(w["text"]) for w in ours]
    b = [norm(w["word"]) for w in theirs]
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    out = []
    for block in sm.get_matching_blocks():
        for k in range(block.size):
            i, j = block.a + k, block.b + k
            if a[i]:
                out.append((ours[i], theirs[j]))
    return out


def pairs_by_char(ours, theirs, lang):
    def chars(text):
        return [c for c in judge.characters(text, lang)]

    # Our character sequence, remembering which characters start a word.
    a, a_word = [], []
    for w in ours:
        cs = chars(w["text"])
        for k, c in enumerate(cs):
            a.append(c)
            a_word.append(w if k == 0 else None)
    b, b_word = [], []
    for w in theirs:
        cs = chars(w["word"])
        for k, c in enumerate(cs):
            b.append(c)
            b_word.append(w if k == 0 else None)
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    out = []
    for block in sm.get_matching_blocks():
        for k in range(block.size):
            i, j = block.a + k, block.b + k
            if a_word[i] is not None and b_word[j] is not None:
                out.append((a_word[i], b_word[j]))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", required=True)
    ap.add_argument("--model-dir", default=judge.default_model_dir())
    a = ap.parse_args(argv)
    model = judge.load_whisper(a.model_dir)
    with open(a.batch, encoding="utf-8") as fh:
        rows = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    for clip, lang, ours_path in rows:
        with open(ours_path, encoding="utf-8") as fh:
            ours = json.load(fh)["words"]
        theirs = heard_words(model, judge.read_audio(clip), lang)
        pairs = pairs_by_char(ours, theirs, lang) if lang in CJK else pairs_by_word(ours, theirs)
        deltas = [abs(o["start"] - t["start"]) for o, t in pairs]
        print(json.dumps({
            "file": clip, "lang": lang, "ours": len(ours), "heard": len(theirs),
            "matched": len(pairs), "deltas": [round(d, 3) for d in deltas],
            "pairs": [[o["text"], round(o["start"], 3), t["word"], round(t["start"], 3)] for o, t in pairs],
        }, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    sys.exit(main())
