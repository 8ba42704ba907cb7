"""Pronunciation lexicons through a real server and the real model, judged by ear: the ASR judge
(Whisper base, tests/asr/judge.py, in its own venv) hears a lexicon's alias where the input says
"Polyvox"; after one entry changes, the next answer is synthesized anew (not the cached audio of
the old entry) and the judge hears the new alias; word timestamps still give the written word."""
import base64
import json
import os
import subprocess

from calls import call

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TOOLS = os.environ.get("POLYVOX_TOOLS_DIR", os.path.expanduser("~/.cache/polyvox-tools"))
TEXT = "Our new product is called Polyvox and everyone loves it."




def heard(wav_bytes, tmp_path, name):
    path = tmp_path / f"{name}.wav"
    path.write_bytes(wav_bytes)
    python = os.path.join(TOOLS, "judge-venv", "bin", "python")
    assert os.path.exists(python), f"ASR judge venv missing at {python}; run scripts/tools.sh"
    out = subprocess.run(
        [python, os.path.join(ROOT, "tests", "asr", "judge.py"), "--lang", "en", "--ref", TEXT, str(path)],
        env={**os.environ, "ASR_JUDGE_MODEL_DIR": os.path.join(TOOLS, "whisper-base")},
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    row = json.loads(next(l for l in out.stdout.splitlines() if l.startswith("{")))
    return row["transcript"].lower()


def speak(server):
    return call(server, "POST", "/v1/audio/speech",
                {"input": TEXT, "voice": "af_heart", "response_format": "wav", "stream": False,
                 "lexicons": ["brand"]})


def test_the_judge_hears_the_alias_and_a_changed_entry_is_not_served_from_the_cache(server, tmp_path):
    entry = lambda alias: {"lang": "en-us", "entries": [{"grapheme": "Polyvox", "alias": alias}]}
    status, _, body = call(server, "PUT", "/v1/lexicons/brand", entry("banana split"))
    assert status in (200, 201), body
    version = json.loads(body)["version"]

    status, headers, first = speak(server)
    assert status == 200, first
    text = heard(first, tmp_path, "first")
    assert "banana" in text, text
    assert "polyvox" not in text.replace(" ", ""), text

    status, _, body = call(server, "PUT", "/v1/lexicons/brand", entry("chocolate cake"))
    assert status == 200, body
    assert json.loads(body)["version"] == version + 1
    status, headers, second = speak(server)
    assert status == 200, second
    assert headers.get("x-polyvox-cache") == "miss", headers
    assert second != first
    text = heard(second, tmp_path, "second")
    assert "chocolate" in text and "banana" not in text, text

    # Timed: the word list names the grapheme as written.
    status, _, body = call(server, "POST", "/v1/audio/speech",
                           {"input": TEXT, "voice": "af_heart", "response_format": "wav",
                            "timestamps": "word", "lexicons": ["brand"]})
    assert status == 200, body
    words = json.loads(body)["words"]
    brand = [w for w in words if w["text"] == "Polyvox"]
    assert len(brand) == 1, words
    assert TEXT[brand[0]["char_start"]:brand[0]["char_end"]] == "Polyvox"
    assert brand[0]["end"] > brand[0]["start"]
    assert not any("chocolate" in w["text"] for w in words)
    assert base64.b64decode(json.loads(body)["audio_base64"])[:4] == b"RIFF"
