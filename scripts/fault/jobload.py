#!/usr/bin/env python3
"""Job traffic for scripts/fault-test.sh: submits jobs while a fault is injected, then follows every
accepted job to its end and downloads its audio.

Counts (the goal is lost == 0):
  accepted   POST /v1/jobs answered 202 with an id (retried with the same Idempotency-Key on
             connection errors, 5xx and 429, as a well-behaved client would)
  rejected   never accepted within --submit-window seconds
  completed  reached `succeeded` and its audio downloaded with the advertised length
  failed     reached `failed` or `cancelled` (an error the service admitted to)
  lost       accepted, but not finished by --deadline, unknown to the API (404), or `succeeded`
             without downloadable audio
Standard library only, so it runs wherever the cluster does.
"""
import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request

SENTENCE = ("The night ferry left the harbour on time, and the passengers watched the lights of the "
            "town grow small behind them. ")


def call(method, url, body=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError, TimeoutError):
        return 0, b""


def submit(args, i, out):
    text = f"Fault run {args.run}, job {i}. " + (SENTENCE * 3 if i < args.long else "A short line.")
    key = f"fault-{args.run}-{i}"
    give_up = time.monotonic() + args.submit_window
    tries = 0
    while time.monotonic() < give_up:
        tries += 1
        status, body = call("POST", f"{args.base}/v1/jobs", {"input": text, "response_format": "mp3"},
                            {"Idempotency-Key": key})
        if status == 202:
            out[i] = {"id": json.loads(body)["id"], "tries": tries}
            return
        if 400 <= status < 500 and status != 429:
            out[i] = {"error": f"{status} {body[:200]!r}", "tries": tries}
            return
        time.sleep(0.5)
    out[i] = {"error": "not accepted before the submit window closed", "tries": tries}


def follow(args, job, deadline):
    """Polls until the job ends; returns (state, detail)."""
    url = f"{args.base}/v1/jobs/{job['id']}"
    while time.monotonic() < deadline:
        status, body = call("GET", url)
        if status == 404:
            return "lost", "404: the API does not know the job"
        if status == 200:
            j = json.loads(body)
            if j["status"] == "succeeded":
                code, audio = call("GET", args.base + j["audio_url"], timeout=60)
                if code == 200 and len(audio) == j.get("audio_bytes") and len(audio) > 0:
                    return "completed", ""
                # The store may be the thing that is restarting: retry the download until the deadline.
                time.sleep(0.5)
                continue
            if j["status"] in ("failed", "cancelled"):
                return "failed", f"{j['status']}: {j.get('error')}"
        time.sleep(0.5)
    return "lost", "not finished before the deadline"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="cluster entry point (nginx)")
    p.add_argument("--run", required=True, help="run id, part of every text and idempotency key")
    p.add_argument("--jobs", type=int, default=24)
    p.add_argument("--long", type=int, default=2, help="the first N jobs are long (~10 s of audio)")
    p.add_argument("--interval", type=float, default=0.25, help="seconds between submissions")
    p.add_argument("--submit-window", type=float, default=90)
    p.add_argument("--deadline", type=float, default=300, help="seconds after the last submission")
    p.add_argument("--ids-file", help="append accepted ids here as they are accepted")
    p.add_argument("--out", required=True)
    args = p.parse_args()

    subs = {}
    threads = []
    for i in range(args.jobs):
        t = threading.Thread(target=submit, args=(args, i, subs))
        t.start()
        threads.append(t)
        time.sleep(args.interval)
    for t in threads:
        t.join()
    accepted = [subs[i] | {"i": i} for i in sorted(subs) if "id" in subs[i]]
    if args.ids_file:
        with open(args.ids_file, "w") as f:
            f.writelines(a["id"] + "\n" for a in accepted)
    deadline = time.monotonic() + args.deadline
    outcome = {}

    def run(job):
        outcome[job["id"]] = follow(args, job, deadline)

    followers = [threading.Thread(target=run, args=(a,)) for a in accepted]
    for t in followers:
        t.start()
    for t in followers:
        t.join()
    counts = {k: sum(1 for s, _ in outcome.values() if s == k) for k in ("completed", "failed", "lost")}
    result = {
        "submitted": args.jobs,
        "accepted": len(accepted),
        "rejected": args.jobs - len(accepted),
        **counts,
        "submit_retries": sum(s["tries"] - 1 for s in subs.values()),
        "rejections": [s["error"] for s in subs.values() if "error" in s],
        "jobs": {a["id"]: {"i": a["i"], "state": outcome[a["id"]][0], "detail": outcome[a["id"]][1]}
                 for a in accepted},
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: result[k] for k in ("submitted", "accepted", "rejected", "completed", "failed",
                                             "lost", "submit_retries")}))
    return 0 if counts["lost"] == 0 and result["rejected"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
