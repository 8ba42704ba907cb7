#!/usr/bin/env python3
"""Checks the Prometheus that scripts/cluster.sh runs, against the cluster it scrapes (run by
scripts/cluster-smoke.sh; standard library only):

  prometheus-check.py CLUSTER_ENV             targets, rules, traffic, every dashboard query
  prometheus-check.py CLUSTER_ENV --down api-1   that target is reported down and its alert pending

1. Every API instance and worker is a target, and each is up.
2. Every rule of deploy/prometheus evaluates without error.
3. Traffic through nginx in rounds (a job, a streamed speech request, a cache hit, a bad request),
   until every query of every panel of the Grafana dashboard, and every recording rule, returns at
   least one finite value (a recording rule that matches a histogram bucket by a spelling the
   exporter does not use would return nothing).
   Rounds, because a counter's first sample is its baseline: `rate()` sees only increases after
   it, so a query may need a second round of the same traffic before it has a value.
Exits non-zero naming each target, rule or panel query that failed."""
import json
import math
import pathlib
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy/grafana/polyvox-dashboard.json"
# Grafana's $__rate_interval is at least four scrape intervals; this window spans several
# traffic rounds, so a counter that grew in any of them has a rate.
RATE_WINDOW = "2m"
ROUNDS = 8


def log(msg):
    print(f"prometheus check: {msg}", flush=True)


def read_env(path):
    env = {}
    for line in pathlib.Path(path).read_text().splitlines():
        m = re.match(r"^([A-Z_]+)=(?:'([^']*)'|(\S*))$", line.strip())
        if m:
            env[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
    return env


def http(method, url, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def prom(base, path, **params):
    url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else f"{base}{path}"
    status, raw = http("GET", url)
    body = json.loads(raw)
    if status != 200 or body.get("status") != "success":
        raise RuntimeError(f"{path} {params}: HTTP {status}: {body.get('error', raw[:200])}")
    return body["data"]


def finite_values(result):
    """The finite sample values of an instant-query result (vector or scalar)."""
    if result["resultType"] == "scalar":
        return [float(result["result"][1])] if math.isfinite(float(result["result"][1])) else []
    return [float(s["value"][1]) for s in result["result"] if math.isfinite(float(s["value"][1]))]


def targets(pbase, want, deadline):
    """Waits until exactly the `want` instances per job are active targets and all are up."""
    while True:
        active = prom(pbase, "/api/v1/targets", state="active")["activeTargets"]
        seen = {}
        for t in active:
            seen.setdefault(t["labels"]["job"], {})[t["labels"]["instance"]] = t
        problems = []
        for job, instances in want.items():
            got = seen.get(job, {})
            if set(got) != set(instances):
                problems.append(f"{job}: targets {sorted(got)} != {sorted(instances)}")
            for inst in instances:
                t = got.get(inst)
                if t and t["health"] != "up":
                    problems.append(f"{job} {inst}: {t['health']} {t.get('lastError', '')}")
        if not problems:
            return sum(len(v) for v in want.values())
        if time.time() > deadline:
            raise SystemExit("prometheus check: targets not all up: " + "; ".join(problems))
        time.sleep(1)


def rules(pbase, deadline):
    """Waits until every rule has been evaluated; fails on any evaluation error. Returns the
    names of the recording rules."""
    while True:
        groups = prom(pbase, "/api/v1/rules")["groups"]
        every = [r for g in groups for r in g["rules"]]
        bad = [f"{r['name']}: {r.get('lastError')}" for r in every if r["health"] == "err"]
        if bad:
            raise SystemExit("prometheus check: rules fail to evaluate: " + "; ".join(bad))
        pending = [r["name"] for r in every if r["health"] != "ok"]
        if every and not pending:
            return [r["name"] for r in every if r["type"] == "recording"], len(every)
        if time.time() > deadline:
            raise SystemExit(f"prometheus check: rules not evaluated (loaded {len(every)}): {pending[:5]}")
        time.sleep(1)


def panel_queries():
    dash = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            expr = t["expr"].replace("$__rate_interval", RATE_WINDOW)
            out.append((f"{panel['title']} / {t.get('legendFormat', t['refId'])}", expr))
    return out


def traffic(base, n):
    """One round through nginx: a new job, a streamed speech request, a repeat (a cache hit),
    a request that fails validation."""
    text = f"Prometheus check, round {n}."
    status, raw = http("POST", f"{base}/v1/jobs", {"input": text, "response_format": "mp3"})
    if status != 202:
        raise SystemExit(f"prometheus check: job submit answered {status}: {raw[:300]}")
    job = json.loads(raw)["id"]
    status, raw = http("POST", f"{base}/v1/audio/speech",
                       {"model": "tts-1", "input": f"Streaming, round {n}.", "voice": "af_bella"},
                       timeout=120)
    if status != 200 or len(raw) < 500:
        raise SystemExit(f"prometheus check: speech answered {status} with {len(raw)} bytes")
    for _ in range(480):
        status, raw = http("GET", f"{base}/v1/jobs/{job}")
        state = json.loads(raw)["status"] if status == 200 else "error"
        if state in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.25)
    if state != "succeeded":
        raise SystemExit(f"prometheus check: job {job} ended as {state}")
    status, _ = http("POST", f"{base}/v1/jobs", {"input": text, "response_format": "mp3"})
    if status != 202:
        raise SystemExit(f"prometheus check: repeated job answered {status}")
    status, _ = http("POST", f"{base}/v1/audio/speech", {"input": "Hi", "voice": "nobody"})
    if status != 400:
        raise SystemExit(f"prometheus check: a bad voice answered {status}, not 400")


def main():
    env = read_env(sys.argv[1])
    pbase = f"http://127.0.0.1:{env['PROM_PORT']}"
    base = f"http://127.0.0.1:{env['NGINX_PORT']}"
    api = [f"127.0.0.1:{p}" for p in env["API_PORTS"].split()]
    workers = [f"127.0.0.1:{p}" for p in env["WORKER_METRICS_PORTS"].split()]

    if len(sys.argv) > 3 and sys.argv[2] == "--down":
        name = sys.argv[3]
        kind, i = name.rsplit("-", 1)
        inst = (api if kind == "api" else workers)[int(i) - 1]
        job = "polyvox-api" if kind == "api" else "polyvox-worker"
        alert = "PolyvoxApiInstanceDown" if kind == "api" else "PolyvoxWorkerDown"
        deadline = time.time() + 30
        while time.time() < deadline:
            r = prom(pbase, "/api/v1/query", query=f'up{{job="{job}",instance="{inst}"}}')["result"]
            alerts = prom(pbase, "/api/v1/alerts")["alerts"]
            state = next((a["state"] for a in alerts if a["labels"]["alertname"] == alert
                          and a["labels"].get("instance") == inst), None)
            if r and float(r[0]["value"][1]) == 0 and state in ("pending", "firing"):
                log(f"{name} ({inst}) is reported down; {alert} is {state}")
                return 0
            time.sleep(1)
        raise SystemExit(f"prometheus check: {name} ({inst}) not reported down with {alert} pending after 30 s")

    n = targets(pbase, {"polyvox-api": api, "polyvox-worker": workers}, time.time() + 60)
    log(f"all {n} targets up ({len(api)} API instances, {len(workers)} workers)")
    recorded, n = rules(pbase, time.time() + 60)
    log(f"all {n} rules evaluate without error")

    queries = panel_queries() + [(f"recording rule {r}", r) for r in recorded]
    missing = queries
    for rnd in range(1, ROUNDS + 1):
        traffic(base, rnd)
        # Two scrape and evaluation intervals: the round's last increments are in the store.
        time.sleep(5)
        missing = []
        for name, expr in queries:
            if not finite_values(prom(pbase, "/api/v1/query", query=expr)):
                missing.append((name, expr))
        log(f"round {rnd}: {len(queries) - len(missing)} of {len(queries)} panel and recorded queries have data")
        if not missing:
            break
    for name, expr in missing:
        log(f"no data: {name}: {expr}")
    if missing:
        return 1
    log(f"every dashboard panel query ({len(queries) - len(recorded)}) and recording rule "
        f"({len(recorded)}) returns data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
