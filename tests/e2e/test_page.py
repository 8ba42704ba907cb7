"""Polyvox Studio and the docs page in a real headless Chromium (Debian's), driven by
playwright-core (studio.cjs): each test runs one scenario as a user would and checks what it
reports — audio that decodes, a progress bar that climbs to 100 %, a cancelled job the server
agrees is cancelled, keyboard-only use, a phone-width layout, and docs examples that run."""
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from audio import decode, duration, rms

HERE = Path(__file__).parent


def words(n, seed):
    """`n` sentences of varied English prose, different for each seed (no two texts share
    sentences, so neither the result cache nor the sentence cache shortens a render)."""
    subjects = ["The river", "An old clockmaker", "Our neighbour", "A quiet library", "The night train",
                "A curious child", "The harbour master", "Every lantern", "The village baker", "A lone cyclist"]
    verbs = ["remembers", "carries", "watches", "follows", "gathers", "describes", "answers", "imagines"]
    objects = ["the colour of the morning sky", "a letter written long ago", "the sound of distant bells",
               "seven paper boats", "a map with no names", "the smell of fresh bread", "a song about the sea",
               "the last bus of the evening", "a garden full of mint", "the stories of the hills"]
    tails = ["before the rain begins.", "while the town is still asleep.", "as the tide turns.",
             "without saying a single word.", "on the first day of spring.", "long after midnight."]
    out = []
    for i in range(n):
        k = i * 7 + seed * 13
        out.append(f"In part {i + 1} of story {seed}, {subjects[k % 10].lower()} {verbs[(k // 3) % 8]} "
                   f"{objects[(k // 5) % 10]} {tails[(k // 2) % 6]}")
    return " ".join(out)


def text_of_length(chars, seed):
    text = ""
    n = 50
    while len(text) < chars:
        text = words(n, seed)
        n *= 2
    cut = text[:chars]
    return cut[:cut.rfind(".") + 1] if "." in cut else cut


def run_scenario(server, name, tmp_path, arg=None, timeout=600):
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed (scripts/test.sh installs it)"
    node_modules = Path(os.environ.get("POLYVOX_TOOLS_DIR", Path.home() / ".cache/polyvox-tools")) / "node/node_modules"
    assert (node_modules / "playwright-core").is_dir(), "playwright-core missing; run scripts/tools.sh"
    cmd = ["node", str(HERE / "studio.cjs"), name, server.url, chromium, server.key, str(tmp_path)]
    if arg:
        cmd.append(str(arg))
    r = subprocess.run(cmd, env={**os.environ, "NODE_PATH": str(node_modules)},
                       capture_output=True, text=True, timeout=timeout)
    print(r.stdout[-3000:], r.stderr[-3000:])
    assert r.returncode == 0, r.stderr[-3000:]
    line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    assert line, r.stdout[-2000:]
    return json.loads(line[-1][len("RESULT "):])


def api(server, method, path):
    req = urllib.request.Request(server.url + path, method=method,
                                 headers={"Authorization": "Bearer " + server.key})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.read()


def test_page_speaks_in_a_real_browser(server, tmp_path):
    out = run_scenario(server, "speak", tmp_path)
    assert out["duration"] > 0.5
    assert len(out["history"]) == 1


def test_words_light_up_in_order_while_playing(server, tmp_path):
    out = run_scenario(server, "highlight", tmp_path)
    for fmt in ("mp3", "wav"):
        r = out[fmt]
        shown = r["shown"]
        # The text under the player is the input itself, every written word a timed span
        # ("$12.50" and "9:45" one span each, as written).
        assert shown["text"] == out["text"], shown
        assert "$12.50" in shown["words"] and "9:45" in shown["words"], shown["words"]
        assert shown["count"] == len(shown["words"]) >= 15, shown
        # While it played, the lit word moved forward through most of the text, never back.
        seen = r["seen"]
        assert seen == sorted(seen), seen
        assert len(seen) >= shown["count"] * 3 // 4 and seen[-1] == shown["count"] - 1, (fmt, seen, shown["count"])
        # A click on a word took the player to it.
        assert shown["words"][r["lazy"]] == "lazy"
        assert r["after"]["start"] > 0.5 and abs(r["after"]["time"] - r["after"]["start"]) < 0.6, r["after"]


def test_live_mode_speaks_what_is_typed(server, tmp_path):
    out = run_scenario(server, "live", tmp_path)
    assert out["state"] == "done", out
    # Audio of the first sentence came while the rest was still to be typed.
    assert 0 < out["bytesBeforeStop"] < out["bytes"], out
    # 16-bit samples at 24 kHz: several seconds of speech for the whole text, every character billed once.
    assert out["bytes"] % 2 == 0 and out["bytes"] > 24000 * 2 * 3, out
    assert out["characters"] == len(out["text"]), out


def test_gallery_finds_the_original_voices_and_plays_a_preview(server, tmp_path):
    out = run_scenario(server, "gallery", tmp_path)
    assert out["found"]["Misaki"] == ["jf_alpha"], out["found"]
    assert out["found"]["Sky"] == ["af_sky"], out["found"]
    assert sorted(out["british"]) == ["bm_daniel", "bm_fable", "bm_george", "bm_lewis"], out["british"]
    assert out["count"] == "4 voices"
    assert out["all"] == 54
    assert out["preview"]["played"], out["preview"]
    assert out["preview"]["src"] == "/v1/voices/af_bella/preview"
    assert out["voice"] == "af_bella" and "Voice set to Bella" in out["status"]
    # What the browser played is a real voice: decode the same bytes.
    with urllib.request.urlopen(server.url + out["preview"]["src"], timeout=60) as r:
        assert r.headers["content-type"] == "audio/mpeg"
        data = r.read()
    samples, rate = decode(data, "mp3")
    assert rate == 24000 and len(samples) / rate > 1.5 and rms(samples) > 0.01
    assert abs(len(samples) / rate - out["preview"]["duration"]) < 0.5


def test_blend_builder_writes_the_voice_string_and_speaks_with_it(server, tmp_path):
    out = run_scenario(server, "blend", tmp_path)
    assert out["spec"] == "af_bella(2)+af_sky(1)"
    assert out["voice"] == out["spec"]
    assert out["duration"] > 0.5


def test_cancelling_a_long_text_job(server, tmp_path):
    text = tmp_path / "cancel.txt"
    text.write_text(text_of_length(4000, seed=2))
    out = run_scenario(server, "cancel", tmp_path, text)
    assert "rendered as a job" in out["hint"]
    assert out["cancelHidden"] and out["history"] == 0
    status, raw = api(server, "GET", f"/v1/jobs/{out['jobId']}")
    job = json.loads(raw)
    assert job["status"] == "cancelled", job
    assert job["audio_url"] is None and job["chunks_done"] < job["chunks_total"], job


def refrain_of_length(chars, seed):
    """A text of about `chars` characters whose paragraphs repeat one another: each paragraph is
    its own chunks, so after the first one the sentence cache answers instead of the model. The
    job still plans, joins, encodes and reports every chunk of all 20,000 characters; only the
    model time (about 24 minutes of audio on 2 cores) is spared."""
    paragraph = words(8, seed)
    count = chars // (len(paragraph) + 2)
    return "\n\n".join([paragraph] * count)


def test_a_20000_character_upload_shows_progress_to_100_and_downloads(server, tmp_path):
    text = tmp_path / "story.txt"
    text.write_text(refrain_of_length(20_000, seed=1))
    assert 19_000 <= len(text.read_text()) <= 20_000
    out = run_scenario(server, "long", tmp_path, text, timeout=30 * 60)
    assert f"{len(text.read_text()):,}" in out["hint"], out["hint"]
    assert "rendered as a job" in out["hint"]
    seen = out["seen"]
    assert seen[-1] == 100 and out["bar"]["value"] == out["bar"]["max"] == 100, out
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    assert any(0 < p < 100 for p in seen), f"no progress between 0 and 100: {seen}"
    status, raw = api(server, "GET", f"/v1/jobs/{out['jobId']}")
    job = json.loads(raw)
    assert job["status"] == "succeeded" and job["chunks_done"] == job["chunks_total"], job
    data = Path(out["file"]).read_bytes()
    assert len(data) == job["audio_bytes"], (len(data), job["audio_bytes"])
    seconds = duration(data, "mp3")
    assert abs(seconds - job["audio_seconds"]) < 1.0, (seconds, job["audio_seconds"])
    # About 15 characters a second at speed 1.
    assert 800 < seconds < 2400, seconds
    print(f"20,000 characters: {seconds:.0f} s of audio in {out['seconds']:.0f} s; progress {seen}")


def test_keyboard_only_flow(server, tmp_path):
    out = run_scenario(server, "keyboard", tmp_path)
    assert out["voice"] == "am_michael"
    assert out["duration"] > 0.5
    assert out["unnamed"] == [], out["unnamed"]
    assert out["live"] == "polite"
    assert "API key" in out["stops"], out["stops"]
    # From the search box: the language and gender filters, the preview player, then the card.
    assert out["afterSearch"][:2] == ["Language", "Gender"], out["afterSearch"]
    assert len(out["afterSearch"]) <= 5, out["afterSearch"]


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_phone_width_has_no_horizontal_scroll(server, tmp_path):
    out = run_scenario(server, "phone", tmp_path)
    w = out["widths"]
    assert w["viewport"] == 390
    assert w["doc"] <= 390 and w["body"] <= 390, w
    width, height = png_size(out["shot"])
    assert width == 390 and height > 844, (width, height)


def test_docs_render_markdown_and_their_examples_run(server, tmp_path):
    out = run_scenario(server, "docs", tmp_path)
    assert out["backticks"] == [], out["backticks"]
    assert "POST /v1/audio/speech" in out["codeInDescription"], out["codeInDescription"]
    assert "<img" not in out["hostile"]["html"] and not out["hostile"]["pwned"]
    assert out["hostile"]["links"] == 0 and "<code>c</code>" in out["hostile"]["html"]
    examples = json.loads((tmp_path / "examples.json").read_text())
    assert len(examples) == 2 * out["ops"] and out["ops"] >= 17
    # A job for the routes that take an id, with word timestamps for its /timestamps and /captions.
    req = urllib.request.Request(server.url + "/v1/jobs", data=json.dumps(
        {"input": "A job for the docs examples.", "response_format": "mp3", "timestamps": "word"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + server.key})
    with urllib.request.urlopen(req, timeout=60) as r:
        job_id = json.loads(r.read())["id"]
    deadline = time.time() + 600
    while (status := json.loads(api(server, "GET", f"/v1/jobs/{job_id}")[1])["status"]) != "succeeded":
        assert status in ("queued", "running") and time.time() < deadline, f"the examples' job is {status}"
        time.sleep(0.2)
    env = {**os.environ, "POLYVOX_API_KEY": server.key, "JOB_ID": job_id}
    work = tmp_path / "run"
    work.mkdir()
    failed = []
    # The lexicon's PUT first (the other lexicon examples read it); the deletes last: one would
    # cancel the job the others read (a finished one is unchanged), one removes the lexicon.
    for ex in sorted(examples, key=lambda e: (e["method"] == "delete", e["method"] != "put")):
        if ex["method"] == "delete" and ex["path"].startswith("/v1/lexicons/"):
            # Each of the two delete examples (curl, python) needs the lexicon there to delete.
            put = urllib.request.Request(
                server.url + "/v1/lexicons/brand", method="PUT",
                data=json.dumps({"entries": [{"grapheme": "Polyvox", "alias": "polly vox"}]}).encode(),
                headers={"Content-Type": "application/json", "Authorization": "Bearer " + server.key})
            with urllib.request.urlopen(put, timeout=60) as r:
                assert r.status in (200, 201)
        if ex["kind"] == "curl":
            cmd = ["bash", "-c", ex["text"].replace("curl -sS", "curl -sS --fail-with-body", 1)]
        else:
            cmd = [sys.executable, "-c", ex["text"]]
        r = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            failed.append(f"{ex['kind']} {ex['method']} {ex['path']}: {r.stdout[-300:]} {r.stderr[-600:]}")
    assert not failed, "\n".join(failed)
    # The audio examples wrote real audio.
    for name in ["speech.mp3", "preview.mp3", "live.mp3"]:
        samples, _ = decode((work / name).read_bytes(), "mp3")
        assert rms(samples) > 0.01, name
