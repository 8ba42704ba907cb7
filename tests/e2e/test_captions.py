"""Captions of a timed job, with the real model: the WebVTT and SubRip files validate with
independent parsers from PyPI (webvtt-py, srt), show the input's words in order with times
inside the audio, and a real browser's media element loads the WebVTT as a text track and shows
the right cue when the audio is sought into it."""
import json
import time

import srt
import webvtt

from calls import call
from test_page import run_scenario

TEXT = ("Dr. Patel arrived at 9:45 am, two hours late. The ticket cost $42.50, which Maria thought "
        "was far too much for a seat so close to the back of the hall; still, she stayed until the end!")




def timed_job(server):
    status, _, body = call(server, "POST", "/v1/jobs",
                           {"input": TEXT, "voice": "af_heart", "response_format": "mp3", "timestamps": "word"})
    assert status == 202, body
    job_id = json.loads(body)["id"]
    deadline = time.time() + 600
    while time.time() < deadline:
        _, _, body = call(server, "GET", f"/v1/jobs/{job_id}")
        job = json.loads(body)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            assert job["status"] == "succeeded", job
            return job
        time.sleep(0.5)
    raise AssertionError("the job did not finish")


def spoken_words(text):
    return [w.strip(".,;:!?") for w in text.split()]


def test_vtt_and_srt_validate_and_follow_the_text(server):
    job = timed_job(server)
    status, headers, body = call(server, "GET", f"/v1/jobs/{job['id']}/captions?format=vtt")
    assert status == 200 and headers["content-type"].startswith("text/vtt"), body[:200]
    vtt = webvtt.from_string(body.decode())
    status, headers, body = call(server, "GET", f"/v1/jobs/{job['id']}/captions?format=srt")
    assert status == 200 and headers["content-type"].startswith("application/x-subrip"), body[:200]
    subs = list(srt.parse(body.decode(), ignore_errors=False))
    assert len(vtt) == len(subs) >= 3, (len(vtt), len(subs))
    for cues in ([(_secs(c.start), _secs(c.end), c.text) for c in vtt],
                 [(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in subs]):
        shown = " ".join(t for _, _, t in cues)
        assert spoken_words(shown) == spoken_words(TEXT), shown
        assert all(len(t) <= 42 for _, _, t in cues), [t for _, _, t in cues]
        assert all(a < b for a, b, _ in cues)
        assert all(p[1] <= n[0] for p, n in zip(cues, cues[1:])), "cues overlap"
        assert cues[-1][1] <= job["audio_seconds"] + 0.001
        assert cues[0][2].startswith("Dr. Patel arrived"), cues[0]
        assert any(t.endswith("late.") for _, _, t in cues), "a sentence end closes a cue"
    status, _, body = call(server, "GET", f"/v1/jobs/{job['id']}/captions?format=ttml")
    assert status == 400 and json.loads(body)["error"]["code"] == "unsupported_format", body


def _secs(stamp):
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_a_browser_shows_the_vtt_as_a_text_track(server, tmp_path):
    job = timed_job(server)
    out = run_scenario(server, "captions", tmp_path, job["id"])
    assert out["readyState"] == 2, out  # HTMLTrackElement.LOADED
    assert len(out["cues"]) >= 3, out
    assert out["active"] == [out["expected"]], out
    assert abs(out["duration"] - job["audio_seconds"]) < 0.1, out
