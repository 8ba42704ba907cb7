"""Start-to-ready time and resident memory of `polyvox worker` with its default engine layout.

Start: the worker is launched ROUNDS times against the same queue and database; the time from the
launch to its stdout line `polyvox worker ready` (model loaded, sessions built, warm-up run) is
each round's figure. The first launch may build ONNX Runtime's optimized-graph cache and is
reported apart.

Memory: one API instance (`polyvox serve` with REDIS_URL and DATABASE_URL is API-only) and one
worker; CLIENTS threads keep requests going for LOAD_SECS: half stream `/v1/audio/speech` (relayed
through the worker), half submit a job and wait for it. Texts are 2-5 sentences (200-600 characters), each with a
fresh number so no cache answers. The worker's VmRSS is sampled every 0.25 s; the median over the
loaded period is the steady figure, and VmHWM the peak. Needs PostgreSQL, Redis (scripts/services.sh) and the model assets.

Usage: python3 scripts/bench_worker.py BIN [ROUNDS] [LOAD_SECS] [CLIENTS]
"""

import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SENTENCES = [
    "The keeper climbed the stairs of the lighthouse every evening and lit the great lamp.",
    "On the third of March, 2026, the ferry left the harbour at 7:45 with 212 passengers aboard.",
    "She asked whether the library would stay open late on Friday, and the answer was no.",
    "Every request is validated, queued, synthesized in chunks and encoded as it is produced.",
    "Doctor Patel reviewed the results twice before she called the family with the good news.",
    "The quick brown fox jumps over the lazy dog, then naps in the warm afternoon sun.",
]


def env_for(tag, work):
    e = dict(os.environ)
    e.update({
        "DATABASE_URL": os.environ.get("POLYVOX_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        "REDIS_URL": os.environ.get("POLYVOX_TEST_REDIS_URL", "redis://127.0.0.1:6379/"),
        "POLYVOX_DB_SCHEMA": tag, "POLYVOX_REDIS_PREFIX": tag,
        "POLYVOX_STORAGE_URL": f"file://{work}/audio", "POLYVOX_DATA_DIR": f"{work}/data",
        "POLYVOX_NO_AUTH": "true", "POLYVOX_NO_FETCH": "true", "POLYVOX_LOG": "warn",
    })
    return e


def launch(cmd, env, ready):
    """Starts `cmd` with stdout and stderr on one pipe and reads it up to the first line matching
    `ready`; returns (process, the match, seconds from launch to that line)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in p.stdout:
        m = re.search(ready, line)
        if m:
            # Keep draining the pipe so the process never blocks on it.
            threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
            return p, m, time.monotonic() - t0
    raise SystemExit(f"{cmd[1]} exited before ready (code {p.wait()})")


def start_worker(binary, env):
    """Launches a worker; returns (process, seconds to its ready line)."""
    p, _, secs = launch([binary, "worker"], env, r"^polyvox worker ready")
    return p, secs


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()


def kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1))


def text():
    # A fresh number in every sentence: no request, and no sentence, is served from a cache.
    n = random.randint(2, 5)
    return " ".join(f"{random.choice(SENTENCES)} That was number {random.randint(1, 10**6)}." for _ in range(n))


def client(base, i, deadline, done, errors):
    while time.monotonic() < deadline:
        body = {"input": text(), "response_format": "mp3", "voice": "af_heart"}
        try:
            if i % 2 == 0:
                req = urllib.request.Request(f"{base}/v1/audio/speech", json.dumps(body).encode(),
                                             {"content-type": "application/json"})
                with urllib.request.urlopen(req, timeout=600) as r:
                    while r.read(65536):
                        pass
            else:
                req = urllib.request.Request(f"{base}/v1/jobs", json.dumps(body).encode(),
                                             {"content-type": "application/json"})
                job = json.load(urllib.request.urlopen(req, timeout=60))["id"]
                while True:
                    s = json.load(urllib.request.urlopen(f"{base}/v1/jobs/{job}", timeout=60))["status"]
                    if s in ("succeeded", "failed", "cancelled"):
                        if s != "succeeded":
                            errors.append(f"job {job} {s}")
                        break
                    time.sleep(0.5)
            done.append(1)
        except Exception as e:  # counted and printed: a failed request must not pass unseen
            errors.append(repr(e))


def cleanup(env, tag, work):
    """Drops the bench's schema and Redis keys (psql and redis-cli, which scripts/services.sh installs)."""
    subprocess.run(["psql", "-q", env["DATABASE_URL"], "-c", f'drop schema if exists "{tag}" cascade'],
                   capture_output=True)
    keys = subprocess.run(["redis-cli", "-u", env["REDIS_URL"], "--scan", "--pattern", f"{{{tag}}}*"],
                          capture_output=True, text=True).stdout.split()
    for i in range(0, len(keys), 500):
        subprocess.run(["redis-cli", "-u", env["REDIS_URL"], "del", *keys[i:i + 500]], capture_output=True)
    shutil.rmtree(work, ignore_errors=True)


def main(binary, rounds=5, load_secs=120, clients=4):
    work = tempfile.mkdtemp()
    tag = f"bw{os.getpid()}"
    env = env_for(tag, work)
    try:
        measure(binary, env, rounds, load_secs, clients)
    finally:
        cleanup(env, tag, work)


def measure(binary, env, rounds, load_secs, clients):
    subprocess.run([binary, "migrate"], env=env, check=True, capture_output=True)
    starts = []
    for _ in range(rounds + 1):
        p, secs = start_worker(binary, env)
        starts.append(secs)
        stop(p)
    print(f"start to ready: first launch {starts[0]:.2f} s; then median {statistics.median(starts[1:]):.2f} s, "
          f"runs {[round(s, 2) for s in starts[1:]]}")

    api, m, _ = launch([binary, "serve", "--bind", "127.0.0.1:0"], env, r"listening on (http://[0-9.:]+)")
    base = m.group(1)
    worker, _ = start_worker(binary, env)
    idle = kib(worker.pid, "VmRSS")
    deadline = time.monotonic() + load_secs
    done, errors = [], []
    threads = [threading.Thread(target=client, args=(base, i, deadline, done, errors)) for i in range(clients)]
    for t in threads:
        t.start()
    samples = []
    while any(t.is_alive() for t in threads):
        samples.append(kib(worker.pid, "VmRSS"))
        time.sleep(0.25)
    peak = kib(worker.pid, "VmHWM")
    stop(worker)
    stop(api)
    print(f"worker RSS: idle after warm-up {idle / 1024:.0f} MiB; under load ({clients} clients, {load_secs} s, "
          f"{len(done)} requests) median {statistics.median(samples) / 1024:.0f} MiB, "
          f"max sampled {max(samples) / 1024:.0f} MiB, VmHWM {peak / 1024:.0f} MiB")
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, first: {errors[0]}")


if __name__ == "__main__":
    a = sys.argv
    main(a[1], *(int(x) for x in a[2:5]))
