"""The HTTP API with the real model: OpenAI SDK compatibility, streamed vs whole responses per
format, concurrency and load shedding."""
import base64
import concurrent.futures as cf
import json
import urllib.error
import urllib.request

import pytest
from openai import OpenAI

from audio import decode, duration, rms

PARAGRAPH = ("Polyvox reads text aloud on your own hardware. It streams audio while it is still "
             "being generated, so listeners hear the first words almost at once. Long documents are "
             "split into sentences and clauses, and every piece is joined without clicks or gaps.")


def post(server, body, timeout=300, key=None):
    """POSTs a speech request with the server's API key (or `key`; "" sends none)."""
    key = server.key if key is None else key
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    req = urllib.request.Request(server.url + "/v1/audio/speech", data=json.dumps(body).encode(),
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def test_openai_sdk_create_and_streaming_response(server, tmp_path):
    client = OpenAI(base_url=server.url + "/v1", api_key=server.key)
    resp = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello from the OpenAI client.")
    data = resp.read()
    samples, rate = decode(data, "mp3")
    assert rate == 24000 and len(samples) / rate > 0.5 and rms(samples) > 0.01

    out = tmp_path / "streamed.mp3"
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="nova", input="Streaming through the OpenAI SDK works too.") as r:
        r.stream_to_file(out)
    samples, rate = decode(out.read_bytes(), "mp3")
    assert len(samples) / rate > 0.5 and rms(samples) > 0.01


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac", "wav", "pcm"])
def test_streamed_equals_whole_duration(server, fmt):
    base = {"model": "kokoro", "input": PARAGRAPH, "voice": "af_heart", "response_format": fmt}
    status, headers, streamed = post(server, base)
    assert status == 200, streamed[:300]
    assert headers["content-type"].startswith(fmt_mime(fmt))
    status, _, whole = post(server, {**base, "stream": False})
    assert status == 200, whole[:300]
    d_stream, d_whole = duration(streamed, fmt), duration(whole, fmt)
    assert d_whole > 8.0, f"{fmt}: {d_whole:.2f}s is too short for the paragraph"
    assert abs(d_stream - d_whole) <= 0.05 * d_whole, f"{fmt}: streamed {d_stream:.2f}s vs whole {d_whole:.2f}s"


def fmt_mime(fmt):
    return {"mp3": "audio/mpeg", "opus": "audio/ogg", "flac": "audio/flac", "wav": "audio/wav",
            "pcm": "audio/pcm"}[fmt]


def test_sse_events_carry_the_audio(server):
    req = urllib.request.Request(server.url + "/v1/audio/speech", data=json.dumps(
        {"model": "tts-1", "input": "Server sent events, one chunk at a time.", "voice": "echo",
         "response_format": "pcm", "stream_format": "sse"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + server.key})
    with urllib.request.urlopen(req, timeout=120) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[5:]) for line in r.read().decode().splitlines() if line.startswith("data:")]
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert deltas and events[-1]["type"] == "speech.audio.done"
    pcm = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert duration(pcm, "pcm") > 1.0


def test_voices_blend_and_bad_requests(server):
    status, _, body = post(server, {"model": "tts-1", "input": "A blended voice.",
                                        "voice": "af_bella(2)+af_sky(1)", "response_format": "wav"})
    assert status == 200 and duration(body, "wav") > 0.5
    for body, code in [({"model": "tts-1", "input": "", "voice": "alloy"}, "empty_input"),
                       ({"model": "tts-1", "input": "hi", "voice": "nobody"}, "voice_not_found"),
                       ({"model": "tts-1", "input": "hi", "voice": "af_bella(2"}, "invalid_voice_blend"),
                       ({"model": "tts-1", "input": "hi", "voice": "alloy", "speed": 9}, "speed_out_of_range"),
                       ({"model": "tts-1", "input": "hi", "voice": "alloy", "response_format": "aac"},
                        "unsupported_format")]:
        status, _, raw = post(server, body)
        err = json.loads(raw)["error"]
        assert 400 <= status < 500 and err["code"] == code and err["request_id"], (body, status, raw)


def test_eight_concurrent_requests_all_succeed(server):
    def one(i):
        return post(server, {"model": "tts-1", "input": f"Request number {i} is being spoken now.",
                                 "voice": "af_heart", "response_format": "wav"})
    with cf.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    for status, _, body in results:
        assert status == 200, body[:300]
        assert duration(body, "wav") > 1.0


def test_two_hundred_concurrent_requests_are_shed_fast(small_server):
    def one(i):
        return post(small_server, {"model": "tts-1", "input": "Shed me if you must.", "voice": "af_heart",
                                       "response_format": "pcm"}, timeout=120)
    with cf.ThreadPoolExecutor(200) as pool:
        results = list(pool.map(one, range(200)))
    statuses = [s for s, _, _ in results]
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(429) >= 150, statuses.count(429)
    assert statuses.count(200) >= 1
    for status, headers, body in results:
        if status == 429:
            assert int(headers["retry-after"]) >= 1
            assert json.loads(body)["error"]["code"] == "queue_full"
        else:
            assert duration(body, "pcm") > 0.5


def test_keys_are_required_and_reported_like_openai(server):
    import openai
    bad = OpenAI(base_url=server.url + "/v1", api_key="pvx_" + "0" * 16 + "_" + "0" * 64, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.audio.speech.create(model="tts-1", voice="alloy", input="Who am I?").read()
    assert e.value.status_code == 401
    assert e.value.body["code"] == "unauthorized"
    status, headers, raw = post(server, {"model": "tts-1", "input": "No key.", "voice": "alloy"}, key="")
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert json.loads(raw)["error"]["code"] == "unauthorized"
    status, headers, _ = post(server, {"model": "tts-1", "input": "With a key.", "voice": "alloy",
                                       "response_format": "wav"})
    assert status == 200 and int(headers["ratelimit-limit"]) >= 1
    req = urllib.request.Request(server.url + "/v1/usage", headers={"Authorization": "Bearer " + server.key})
    with urllib.request.urlopen(req, timeout=30) as r:
        usage = json.loads(r.read())
    assert usage["totals"]["requests"] >= 1 and usage["totals"]["characters"] >= len("With a key.")


def test_oversized_bodies_read_their_413(server):
    """Issue 22: a plain client (urllib) sends each 1 MB body whole before reading; 20 of 20 read
    the JSON 413, none a reset connection. A body refused for a missing key is read the same way,
    so its 401 arrives too."""
    big = {"model": "tts-1", "voice": "alloy", "input": "a" * (1024 * 1024)}
    for i in range(20):
        status, _, raw = post(server, big, timeout=60)
        assert status == 413, f"body {i}: {status}"
        assert json.loads(raw)["error"]["code"] == "payload_too_large", f"body {i}"
    for i in range(5):
        status, _, raw = post(server, big, timeout=60, key="")
        assert status == 401, f"keyless body {i}: {status}"
        assert json.loads(raw)["error"]["code"] == "unauthorized"
