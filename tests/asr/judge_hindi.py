#!/usr/bin/env python3
"""Scores Hindi clips with our ASR judge (judge.py), whichever script Whisper writes them in.

Whisper base writes most Hindi speech in Urdu script: the same spoken Hindustani in the other
script (our "आज मौसम बहुत अच्छा है" came back as "آج موسم بہت اچھا ہے", word for word right), which
a Devanagari reference cannot be compared with: every word counts as wrong. Steering it to
Devanagari does not help: a Devanagari prompt leaked its own words into the transcripts and
set off repetition loops, and forbidding Urdu-script tokens made it romanise or translate into
English (QUALITY.md has the figures).

So the clips are transcribed exactly as `judge.py` does (imported as a library: its model,
audio loading and decoding), and only the comparison changes: reference and transcript
are both reduced to a consonant skeleton that the two scripts share. Urdu script leaves out short
vowels, so vowels are dropped on both sides, and so are the letters that are vowels or
consonants depending on the word (Urdu و ی ا, Hindi व य); aspirates are the consonant plus h in
both (भ = ب + ھ); letters Urdu keeps apart for one sound (س ص ث, ز ذ ض ظ, ت ط, ح ہ) merge; a
doubled consonant counts once, as Urdu rarely marks it. The error rate is edits over the
reference skeleton's length. It is lossy by design: a wrong vowel goes unseen, so it measures
whether the consonants (most of a word's identity) were heard. Latin letters (Whisper sometimes
romanises) never match, so they count as errors. The plain Devanagari WER is reported too.

  python judge_hindi.py --batch list.tsv
      list.tsv: path<TAB>reference per line; prints one JSON object per clip, like judge.py

Run it with the judge's venv (scripts/tools.sh makes it; ASR_JUDGE_MODEL_DIR as for judge.py).
"""
import argparse
import json
import os
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import judge  # noqa: E402  (beside this file)

# Devanagari letters (after NFD, so nukta letters arrive as base + U+093C).
DEVANAGARI = {
    "क": "k", "ख": "kh", "ग": "g", "घ": "gh", "ङ": "n",
    "च": "c", "छ": "ch", "ज": "j", "झ": "jh", "ञ": "n",
    "ट": "T", "ठ": "Th", "ड": "D", "ढ": "Dh", "ण": "n",
    "त": "t", "थ": "th", "द": "d", "ध": "dh", "न": "n",
    "प": "p", "फ": "ph", "ब": "b", "भ": "bh", "म": "m",
    "र": "r", "ल": "l", "ळ": "l", "श": "S", "ष": "S", "स": "s", "ह": "h",
    "ं": "n", "ँ": "n", "ः": "h", "ऋ": "r", "ृ": "r",
}
# Nukta letters: the sounds borrowed from Persian and Arabic, and the flapped ड़ ढ़.
NUKTA = {"क": "k", "ख": "kh", "ग": "g", "ज": "z", "ड": "R", "ढ": "Rh", "फ": "f"}
URDU = {
    "ب": "b", "پ": "p", "ت": "t", "ٹ": "T", "ث": "s", "ج": "j", "چ": "c", "ح": "h", "خ": "kh",
    "د": "d", "ڈ": "D", "ذ": "z", "ر": "r", "ڑ": "R", "ز": "z", "ژ": "z", "س": "s", "ش": "S",
    "ص": "s", "ض": "z", "ط": "t", "ظ": "z", "غ": "g", "ف": "f", "ق": "k", "ک": "k", "ك": "k",
    "گ": "g", "ل": "l", "م": "m", "ن": "n", "ں": "n", "ھ": "h", "ہ": "h", "ه": "h",
}


def skeleton(text):
    """The consonant skeleton of Devanagari or Urdu-script text, as a list of sounds."""
    out = []
    for word in unicodedata.normalize("NFD", text).split():
        sounds = []
        chars = list(word)
        for i, ch in enumerate(chars):
            nukta = i + 1 < len(chars) and chars[i + 1] == "\u093c"
            if nukta and ch in NUKTA:
                s = NUKTA[ch]
            elif ch in DEVANAGARI:
                s = DEVANAGARI[ch]
            elif ch in URDU:
                s = URDU[ch]
            elif unicodedata.category(ch)[0] == "L" and "LATIN" in unicodedata.name(ch, ""):
                s = "latin:" + ch.lower()  # never matches a sound
            elif ch.isdigit():
                s = "digit:" + ch
            else:
                continue  # vowels, semivowels, virama, diacritics, punctuation
            for sound in ([s[0], "h"] if len(s) == 2 and s[1] == "h" else [s]):
                if not sounds or sounds[-1] != sound:
                    sounds.append(sound)
        out += sounds
    return out


# Word pairs the two scripts write differently; each pair must reduce to one skeleton.
SELF_CHECK = [
    ("पानी", "پانی"), ("ख़ुश", "خوش"), ("पढ़ना", "پڑھنا"), ("हिंदुस्तान", "ہندوستان"),
    ("भारत", "بھارت"), ("ज़िंदगी", "زندگی"), ("दोस्त", "دوست"), ("छोटा", "چھوٹا"),
    ("दुनिया", "دنیا"), ("क़लम", "قلم"), ("मुश्किल", "مشکل"), ("सच्चा", "سچا"),
]


def script_of(text):
    """Which script the transcript's letters are in: devanagari, arabic, latin or mixed."""
    names = set()
    for ch in text:
        if ch.isalpha():
            names.add(unicodedata.name(ch, "").split(" ")[0].lower())
    names &= {"devanagari", "arabic", "latin"}
    return names.pop() if len(names) == 1 else ("mixed" if names else "none")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", required=True, help="TSV: path<TAB>reference per line")
    ap.add_argument("--model-dir", default=judge.default_model_dir())
    a = ap.parse_args()
    for hindi, urdu in SELF_CHECK:
        if skeleton(hindi) != skeleton(urdu):
            raise SystemExit(f"skeletons differ: {hindi} {skeleton(hindi)} vs {urdu} {skeleton(urdu)}")
    clips = judge.read_batch(a.batch)
    model = judge.load_whisper(a.model_dir)
    for path, ref in clips:
        audio = judge.read_audio(path)
        hyp = judge.transcribe(model, audio, "hi")
        r, h = skeleton(ref), skeleton(hyp)
        s, d, i = judge.edits(r, h)
        by_words = judge.score(ref, hyp, "hi")
        print(json.dumps({
            "file": path, "lang": "hi", "transcript": hyp, "script": script_of(hyp), "ref": ref,
            "audio_s": round(len(audio) / judge.SAMPLE_RATE, 3),
            "metric": "consonant skeleton error rate", "error_rate": (s + d + i) / max(len(r), 1),
            "sub": s, "del": d, "ins": i, "ref_len": len(r),
            "ref_norm": " ".join(r), "hyp_norm": " ".join(h),
            "judge_wer": by_words["error_rate"],
        }, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
