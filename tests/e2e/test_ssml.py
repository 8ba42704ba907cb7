"""SSML through the real server and model: `/v1/audio/speech` and `/v1/jobs` accept the subset
(200 with audio, word timestamps pointing into the SSML source), refuse a malformed document with
400 `invalid_ssml` and its position, and the ASR judge hears a `<sub>`'s alias, not the written
abbreviation."""
import json
import os
import subprocess
import sys
import time
import wave

from calls import call

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.environ.get("POLYVOX_TOOLS_DIR", os.path.expanduser("~/.cache/polyvox-tools"))

SSML = ('<speak><p><s>Welcome to the <sub alias="World Wide Web">WWW</sub>.</s>'
        '<break time="500ms"/><s>Call <say-as interpret-as="telephone">555-0100</say-as> today.</s></p></speak>')




def wav_seconds(path):
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def test_speech_accepts_ssml_and_times_words_in_the_source(server, tmp_path):
    status, headers, body = call(server, "POST", "/v1/audio/speech",
                                 {"input": SSML, "voice": "af_heart", "response_format": "wav",
                                  "stream": False})
    assert status == 200 and headers["content-type"] == "audio/wav", body[:300]
    (tmp_path / "ssml.wav").write_bytes(body)
    assert wav_seconds(tmp_path / "ssml.wav") > 2.0

    status, _, body = call(server, "POST", "/v1/audio/speech",
                           {"input": SSML, "input_format": "ssml", "voice": "af_heart",
                            "response_format": "wav", "timestamps": "word"})
    assert status == 200, body[:300]
    words = json.loads(body)["words"]
    texts = [w["text"] for w in words]
    assert texts == ["Welcome", "to", "the", "WWW", "Call", "555-0100", "today"], texts
    for w in words:
        assert SSML[w["char_start"]:w["char_end"]] == w["text"], w
    # The break is silence between the sentences.
    www, call_word = words[3], words[4]
    assert call_word["start"] - www["end"] >= 0.5, (www, call_word)


def test_a_job_renders_ssml(server):
    status, _, body = call(server, "POST", "/v1/jobs",
                           {"input": SSML, "input_format": "ssml", "voice": "af_heart",
                            "response_format": "mp3", "timestamps": "word"})
    assert status == 202, body
    job_id = json.loads(body)["id"]
    deadline = time.time() + 600
    while time.time() < deadline:
        job = json.loads(call(server, "GET", f"/v1/jobs/{job_id}")[2])
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.5)
    assert job["status"] == "succeeded", job
    status, headers, audio = call(server, "GET", f"/v1/jobs/{job_id}/audio")
    assert status == 200 and headers["content-type"] == "audio/mpeg" and len(audio) > 5000
    status, _, body = call(server, "GET", f"/v1/jobs/{job_id}/timestamps")
    assert status == 200, body
    texts = [w["text"] for w in json.loads(body)["words"]]
    assert "WWW" in texts and "<" not in "".join(texts), texts
    # Captions show the document's text, not its markup.
    status, _, body = call(server, "GET", f"/v1/jobs/{job_id}/captions?format=srt")
    assert status == 200, body
    srt = body.decode()
    assert "Welcome to the WWW." in srt and "<" not in srt and "&lt;" not in srt, srt


def test_malformed_ssml_is_refused_with_its_position(server):
    bad = '<speak>\n  <p>Hello <voice name="x">there</voice></p>\n</speak>'
    for path in ("/v1/audio/speech", "/v1/jobs"):
        status, _, body = call(server, "POST", path, {"input": bad, "voice": "af_heart"})
        assert status == 400, (path, body)
        err = json.loads(body)["error"]
        assert err["code"] == "invalid_ssml", err
        assert "line 2, column 12" in err["message"] and "<voice>" in err["message"], err
    # Asked for as text, the same characters are read literally.
    status, _, _ = call(server, "POST", "/v1/audio/speech",
                        {"input": bad, "input_format": "text", "voice": "af_heart", "stream": False})
    assert status == 200


def test_the_judge_hears_the_alias(server, tmp_path):
    status, _, body = call(server, "POST", "/v1/audio/speech",
                           {"input": '<speak>I love the <sub alias="World Wide Web">WWW</sub>.</speak>',
                            "voice": "af_heart", "response_format": "wav", "stream": False})
    assert status == 200, body[:300]
    clip = tmp_path / "alias.wav"
    clip.write_bytes(body)
    out = subprocess.run(
        [os.path.join(TOOLS, "judge-venv", "bin", "python"), os.path.join(ROOT, "tests", "asr", "judge.py"),
         "--lang", "en", str(clip), "--ref", "I love the World Wide Web."],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "ASR_JUDGE_MODEL_DIR": os.path.join(TOOLS, "whisper-base")})
    assert out.returncode == 0, out.stderr[-2000:]
    heard = json.loads(out.stdout.strip().splitlines()[-1])
    transcript = heard["transcript"].lower()
    assert "world wide web" in transcript or ("world" in transcript and "web" in transcript), heard
