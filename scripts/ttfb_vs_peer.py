"""Time to first audio against the peer, in one run: a streamed request to a running `polyvox serve`
and kokoro-onnx's own streaming API (`Kokoro.create_stream`) on the same paragraph, alternating.

Run with the peer's venv (scripts/peer.sh prints its python); the model and voices come from
Polyvox's asset cache, so both sides run the same int8 weights:

    PEER=$(scripts/peer.sh)
    polyvox serve --no-auth --cache off --bind 127.0.0.1:18932 &
    "$PEER" scripts/ttfb_vs_peer.py --url http://127.0.0.1:18932 --runs 9

Ours: time from sending the request to the first byte of the response body (mp3), as `polyvox bench
ttfb` measures it. The peer: time from calling `create_stream` to its first audio chunk, in process
(no HTTP, which favours the peer slightly).
"""

import argparse
import asyncio
import http.client
import json
import os
import statistics
import sys
import time
from urllib.parse import urlparse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates",
                                "polyvox", "src", "bench"))
from peer_kokoro import load_kokoro  # noqa: E402  (the throughput bench's peer, same loading)

# The same paragraph as `polyvox bench ttfb` (crates/polyvox/src/bench/mod.rs, TTFB_PARAGRAPH).
PARAGRAPH = (
    "Polyvox reads text aloud on your own hardware. It streams audio while it is still being "
    "generated, so listeners hear the first words almost at once. Long documents are split into "
    "sentences and clauses, and every piece is joined without clicks or gaps, then encoded as it "
    "arrives. Try it with a page of your own."
)


def assets_dir():
    return os.environ.get("POLYVOX_ASSETS_DIR") or os.path.expanduser("~/.cache/polyvox")


def load_peer():
    root = assets_dir()
    return load_kokoro(os.path.join(root, "kokoro-v1.0.int8.onnx"), os.path.join(root, "voices"))


def ours(url):
    u = urlparse(url)
    body = json.dumps({"model": "kokoro", "input": PARAGRAPH, "voice": "af_heart",
                       "response_format": "mp3"})
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/audio/speech", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        sys.exit(f"server answered {resp.status}: {resp.read()[:300]!r}")
    if resp.getheader("x-polyvox-cache") == "hit":
        sys.exit("the server answered from its result cache; start it with --cache off")
    first = resp.read(1)
    t_first = time.perf_counter() - t0
    rest = resp.read()
    t_last = time.perf_counter() - t0
    conn.close()
    if not first or not rest:
        sys.exit("no audio in the response body")
    return t_first, t_last


async def peer_once(kokoro):
    t0 = time.perf_counter()
    t_first = None
    async for samples, _rate in kokoro.create_stream(PARAGRAPH, voice="af_heart", speed=1.0,
                                                      lang="en-us"):
        if t_first is None and len(samples) > 0:
            t_first = time.perf_counter() - t0
    return t_first, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--runs", type=int, default=9)
    a = ap.parse_args()
    kokoro = load_peer()
    ours(a.url)  # one unmeasured request each: both sides warm
    asyncio.run(peer_once(kokoro))
    o_first, o_last, p_first, p_last = [], [], [], []
    for run in range(max(1, a.runs)):
        # Alternate which side goes first, so neither always follows the other's load.
        order = ("ours", "peer") if run % 2 == 0 else ("peer", "ours")
        for side in order:
            if side == "ours":
                f, t = ours(a.url)
                o_first.append(f)
                o_last.append(t)
            else:
                f, t = asyncio.run(peer_once(kokoro))
                p_first.append(f)
                p_last.append(t)
    med = statistics.median
    print(f"{len(PARAGRAPH)} characters, {len(o_first)} runs per side, alternating.\n")
    print("| side | first audio p50 | first audio min–max | last audio p50 | ratio of first audio to the peer |")
    print("|---|---|---|---|---|")
    for name, f, t in (("polyvox (HTTP stream, mp3)", o_first, o_last),
                       ("kokoro-onnx create_stream (in process)", p_first, p_last)):
        print(f"| {name} | {med(f) * 1e3:.0f} ms | {min(f) * 1e3:.0f}–{max(f) * 1e3:.0f} ms | "
              f"{med(t) * 1e3:.0f} ms | {med(f) / med(p_first):.2f} |")


if __name__ == "__main__":
    main()
