#!/usr/bin/env python3
"""How much a flood of made-up API keys slows authenticated requests (issue 22, BENCHMARKS.md).

Starts an embedded `polyvox serve` (keys on, SQLite) on a free port, creates a key, primes one
cached speech result, then alternates rounds of three conditions in one invocation:

  baseline   authenticated requests alone;
  control    the same, while 10,000 unauthenticated requests to `/health/live` (no key, no
             lookup) come from one address: what any flood of that rate costs on this machine;
  flood-1    the same, while 10,000 requests with random well-formed tokens come from one
             address (127.0.0.2) at a time;
  flood-256  the same, while the 10,000 come round-robin from 256 addresses (127.0.1.0/24),
             the worst case of the per-address limit: each address gets its own allowance.

The authenticated request is a whole-file `/v1/audio/speech` cache hit (authentication, the
per-key limits and a storage read; no synthesis), sent one at a time from 127.0.0.1 for as long
as the flood lasts. Reports the median and p95 latency per condition, their ratio to the
baseline, the flood's answers, and the key lookups the database served (from /metrics).

With --cpus A,B the server is pinned to CPU A and every client thread to CPU B (taskset), so on a
small machine the flood generator does not take the server's core.

Usage: scripts/bench_auth_flood.py --bin target/release/polyvox [--rounds 5] [--flood 10000]
"""

import argparse
import http.client
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BODY = json.dumps({"model": "tts-1", "input": "Your order has shipped.", "voice": "af_heart",
                   "response_format": "mp3", "stream": False})


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def made_up():
    return f"pvx_{secrets.token_hex(8)}_{secrets.token_hex(32)}"


def request(conn, method, path, token=None, body=None):
    headers = {"Content-Type": "application/json"} if body else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=headers)
    res = conn.getresponse()
    data = res.read()
    return res.status, dict(res.getheaders()), data


def lookups(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    _, _, text = request(conn, "GET", "/metrics")
    m = re.search(r'polyvox_infra_call_seconds_count\{[^}]*op="key_get"[^}]*\} (\d+)', text.decode())
    return int(m.group(1)) if m else 0


def flood(port, sources, total, threads, answers, path="/v1/usage", keyed=True):
    """Sends `total` requests (with made-up keys unless `keyed` is false) from `threads` threads;
    counts answers by status."""
    lock = threading.Lock()
    left = [total]

    def worker(i):
        conns = {}
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
                n = left[0]
            src = sources[(n + i) % len(sources)]
            conn = conns.get(src)
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                                  source_address=(src, 0))
                conns[src] = conn
            try:
                status, _, _ = request(conn, "GET", path, made_up() if keyed else None)
            except (OSError, http.client.HTTPException):
                conn.close()
                conns.pop(src, None)
                status = "error"
            with lock:
                answers[status] = answers.get(status, 0) + 1

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    return ts


def measure(port, token, until=None, count=None):
    """Authenticated cache hits one at a time: until `until` says stop, or `count` of them."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=("127.0.0.1", 0))
    times = []
    while (count is not None and len(times) < count) or (until is not None and not until()):
        t0 = time.perf_counter()
        status, headers, _ = request(conn, "POST", "/v1/audio/speech", token, BODY)
        times.append(time.perf_counter() - t0)
        if status != 200 or headers.get("x-polyvox-cache") != "hit":
            sys.exit(f"authenticated request answered {status} (cache: {headers.get('x-polyvox-cache')})")
    return times


def p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.95 * len(xs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the polyvox binary")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--flood", type=int, default=10_000, help="made-up-key requests per flood round")
    ap.add_argument("--threads", type=int, default=16, help="flood client threads")
    ap.add_argument("--baseline-requests", type=int, default=300)
    ap.add_argument("--cpus", help="SERVER,CLIENT: pin the server and the clients to these CPUs")
    args = ap.parse_args()

    if args.cpus:
        server_cpu, client_cpu = args.cpus.split(",")
    work = tempfile.mkdtemp(prefix="polyvox-auth-flood.")
    env = dict(os.environ, POLYVOX_DATA_DIR=work, POLYVOX_LOG="warn", POLYVOX_SESSIONS="1",
               POLYVOX_INTRA_THREADS="1", POLYVOX_NO_FETCH="true")
    out = subprocess.run([args.bin, "keys", "create", "--name", "bench", "--json",
                          "--requests-per-minute", "0", "--chars-per-minute", "0",
                          "--max-concurrent", "0"],
                         env=env, check=True, capture_output=True, text=True)
    token = json.loads(out.stdout)["token"]
    port = free_port()
    cmd = [args.bin, "serve", "--bind", f"127.0.0.1:{port}"]
    if args.cpus:
        cmd = ["taskset", "-c", server_cpu] + cmd
        os.sched_setaffinity(0, {int(client_cpu)})
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(f"{work}/serve.log", "w"))
    try:
        for _ in range(480):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                if request(conn, "GET", "/health/ready")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None:
                sys.exit(f"serve exited; see {work}/serve.log")
            time.sleep(0.5)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        assert request(conn, "POST", "/v1/audio/speech", token, BODY)[0] == 200, "priming failed"
        # The result is stored and cached just after the answer: wait until it is a hit.
        for _ in range(100):
            if request(conn, "POST", "/v1/audio/speech", token, BODY)[1].get("x-polyvox-cache") == "hit":
                break
            time.sleep(0.1)
        measure(port, token, count=50)  # warm-up

        load = open("/proc/loadavg").read().split()[:3]
        print(f"machine: {os.cpu_count()} CPUs, load average before {' '.join(load)}", flush=True)
        conditions = {"baseline": None, "control": ["127.0.0.3"], "flood-1": ["127.0.0.2"],
                      "flood-256": [f"127.0.1.{i}" for i in range(256)]}
        samples = {c: [] for c in conditions}
        info = {c: [] for c in conditions}
        for r in range(args.rounds):
            for name, sources in conditions.items():
                if sources is None:
                    samples[name] += measure(port, token, count=args.baseline_requests)
                    continue
                before = lookups(port)
                answers = {}
                t0 = time.perf_counter()
                if name == "control":
                    ts = flood(port, sources, args.flood, args.threads, answers, "/health/live", False)
                else:
                    ts = flood(port, sources, args.flood, args.threads, answers)
                samples[name] += measure(port, token, until=lambda: not any(t.is_alive() for t in ts))
                for t in ts:
                    t.join()
                secs = time.perf_counter() - t0
                info[name].append((lookups(port) - before, secs, answers))
            print(f"round {r + 1}/{args.rounds} done", flush=True)
        # Each flood round spends a new allowance only once it has refilled; a 2nd round within
        # the minute finds the addresses' allowances (partly) used up, as a real flood would.
        base = statistics.median(samples["baseline"])
        print()
        print("| condition | authenticated requests | median | p95 | median ratio | key lookups per flood round | flood answers per round (last) | flood rate |")
        print("|---|---|---|---|---|---|---|---|")
        for name, xs in samples.items():
            med = statistics.median(xs)
            if info[name]:
                looked = "/".join(str(i[0]) for i in info[name])
                last = info[name][-1][2]
                answers = ", ".join(f"{k}: {v}" for k, v in sorted(last.items(), key=str))
                rate = f"{statistics.median(args.flood / i[1] for i in info[name]):.0f}/s"
            else:
                looked, answers, rate = "-", "-", "-"
            print(f"| {name} | {len(xs)} | {med * 1000:.2f} ms | {p95(xs) * 1000:.2f} ms | "
                  f"{med / base:.2f}x | {looked} | {answers} | {rate} |")
        load = open("/proc/loadavg").read().split()[:3]
        print(f"\nload average after {' '.join(load)}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
