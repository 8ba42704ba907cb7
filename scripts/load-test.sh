#!/usr/bin/env bash
# Load test of the local cluster (scripts/cluster.sh up first) through nginx with wrk:
# LOAD_CONNS (default 10,000) concurrent connections on each of three paths in turn, LOAD_SECS each:
#   submit  POST /v1/jobs, LOAD_TEXTS (20) distinct tiny texts: each is synthesized once, every other
#           submission joins the in-flight job or is born succeeded from the cache
#   poll    GET /v1/jobs/{id} over 50 finished jobs
#   cache   POST /v1/audio/speech for 5 texts synthesized beforehand: cache hits served from S3
# Prints a Markdown table (p50/p90/p99, errors) for BENCHMARKS.md and the synthesis count, then a
# verdict: exit 1 on any socket error (connect/read/write/timeout), any answer other than 2xx or
# 429 (admission control's documented refusal, README "Limits"), any 429 without Retry-After, or
# a submitted job that ended failed or never finished.
# Loopback only; bounded by LOAD_SECS per path (plus wrk's 30 s request timeout).
source "$(dirname "$0")/lib.sh"
CDIR="${POLYVOX_CLUSTER_DIR:-$HOME/.cache/polyvox-cluster}"
[ -f "$CDIR/cluster.env" ] || die "no cluster at $CDIR: run scripts/cluster.sh up"
source "$CDIR/cluster.env"
"$ROOT/scripts/cluster.sh" status >/dev/null || die "cluster is not fully up: scripts/cluster.sh status"
command -v wrk >/dev/null || apt_ensure wrk

CONNS=${LOAD_CONNS:-10000}; SECS=${LOAD_SECS:-20}; THREADS=${LOAD_THREADS:-2}
export LOAD_TEXTS=${LOAD_TEXTS:-20} LOAD_WARM_TEXTS=5 LOAD_RUN
LOAD_RUN="$(date +%s)"
export LOAD_DIR="$ROOT/scripts/load" LOAD_IDS="$CDIR/load-ids.txt"
BASE="http://127.0.0.1:$NGINX_PORT"
OUT="$CDIR/load-$LOAD_RUN"; mkdir -p "$OUT"
# wrk needs a descriptor per connection; the hard limit on this machine kind is 20,000.
ulimit -n "$(( CONNS + 1000 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt "$CONNS" ] || die "ulimit -n is $(ulimit -n): too low for $CONNS connections"

syntheses() { cat "$CDIR"/logs/worker-*.log 2>/dev/null | grep -c '"job succeeded"' || true; }

log "warming the cache with $LOAD_WARM_TEXTS texts (run $LOAD_RUN)"
for i in $(seq 1 "$LOAD_WARM_TEXTS"); do
  body="{\"input\":\"Cached phrase $i of run $LOAD_RUN.\",\"response_format\":\"mp3\"}"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 180 -H 'Content-Type: application/json' -d "$body" "$BASE/v1/audio/speech")
  [ "$code" = 200 ] || die "warm-up request $i answered $code"
  # The worker writes the cache entry after the job has succeeded, which is after the relay has handed
  # the client its last byte: a repeat sent at once can still miss (seen once, 34 ms after the first
  # answer ended). So the repeat is tried for up to 10 s; a cache that never answers still fails here.
  hit=""
  for _ in $(seq 1 20); do
    hit=$(curl -s -D - -o /dev/null --max-time 30 -H 'Content-Type: application/json' -d "$body" "$BASE/v1/audio/speech" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-polyvox-cache"{print $2}')
    [ "$hit" = hit ] && break
    sleep 0.5
  done
  [ "$hit" = hit ] || die "warm-up text $i is not a cache hit on repeat within 10 s (x-polyvox-cache: '$hit')"
done
: >"$LOAD_IDS"
for i in $(seq 1 50); do
  body="{\"input\":\"Cached phrase $(( i % LOAD_WARM_TEXTS + 1 )) of run $LOAD_RUN.\",\"response_format\":\"mp3\"}"
  curl -s --max-time 30 -H 'Content-Type: application/json' -d "$body" "$BASE/v1/jobs" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' >>"$LOAD_IDS"
done

before=$(syntheses)
jobs_before=$($PSQL -c "SELECT count(*) FROM jobs")
results=()
for s in submit poll cache; do
  log "wrk: $s, $CONNS connections, $SECS s"
  wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --timeout 30s -s "$LOAD_DIR/$s.lua" "$BASE" >"$OUT/$s.txt" 2>&1 || true
  line=$(grep '^RESULT' "$OUT/$s.txt" || true)
  [ -n "$line" ] || { cat "$OUT/$s.txt"; die "wrk printed no result for $s"; }
  results+=("$line")
  echo "$line"
done

# Let the submit path's jobs finish, so the synthesis count is final and nothing is left hanging.
log "waiting for the submitted jobs to finish"
for _ in $(seq 1 240); do
  open=$($PSQL -c "SELECT count(*) FROM jobs WHERE status IN ('queued','running')")
  [ "$open" = 0 ] && break; sleep 1
done
after=$(syntheses)
read -r created ok failed open < <($PSQL -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE status='succeeded'),
  count(*) FILTER (WHERE status='failed'), count(*) FILTER (WHERE status IN ('queued','running'))
  FROM jobs WHERE created_at >= $(( LOAD_RUN * 1000 ))")
jobs_now=$($PSQL -c "SELECT count(*) FROM jobs")

echo
echo "| path | connections | requests | req/s | p50 | p90 | p99 | max | non-2xx | socket errors (connect/read/write/timeout) | statuses |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for line in "${results[@]}"; do
  python3 - "$line" "$CONNS" <<'PY'
import sys
kv = dict(p.split("=", 1) for p in sys.argv[1].split()[1:])
names = {"submit": "`POST /v1/jobs` (submit)", "poll": "`GET /v1/jobs/{id}` (poll)", "cache": "`POST /v1/audio/speech` (cache hit)"}
print(f"| {names[kv['scenario']]} | {sys.argv[2]} | {kv['requests']} | {kv['rps']} | {kv['p50_ms']} ms | {kv['p90_ms']} ms | "
      f"{kv['p99_ms']} ms | {kv['max_ms']} ms | {kv['non2xx']} | {kv['connect']}/{kv['read']}/{kv['write']}/{kv['timeout']} | {kv['codes']} |")
PY
done
echo
echo "Jobs created during the run: $created (succeeded $ok, failed $failed, still open $open; table $jobs_before → $jobs_now rows)."
echo "Syntheses by the workers during the test: $(( after - before )) (distinct submit texts: $LOAD_TEXTS)."
# API capacity per core for `polyvox bench capacity --api-rps-per-core`: the submit path (the
# heaviest API path: a database write per request) in successful requests/s, over every core of the
# machine, since nginx, wrk, PostgreSQL, Redis and SeaweedFS shared those cores too (conservative).
python3 - "${results[0]}" "$(nproc)" <<'PY'
import sys
kv = dict(p.split("=", 1) for p in sys.argv[1].split()[1:])
ok = sum(int(n) for c, n in (x.split(":") for x in kv["codes"].split(",") if x) if c.isdigit() and c.startswith("2"))
print(f"api_rps_per_core={ok / float(kv['secs']) / int(sys.argv[2]):.0f} (submit path: {ok} 2xx in {kv['secs']} s over {sys.argv[2]} cores)")
PY
echo "Raw wrk output: $OUT"

verdict=$(python3 - "$failed" "$open" "${results[@]}" <<'PY'
import sys
failed, still_open, lines = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
bad = []
for line in lines:
    kv = dict(p.split("=", 1) for p in line.split()[1:])
    sock = sum(int(kv[k]) for k in ("connect", "read", "write", "timeout"))
    if sock:
        bad.append(f"{kv['scenario']}: {sock} socket errors")
    for part in filter(None, kv["codes"].split(",")):
        code, n = part.split(":")
        if code.isdigit() and not (code.startswith("2") or code == "429"):
            bad.append(f"{kv['scenario']}: {n} answers {code}")
    if int(kv.get("no_retry_after", 0)):
        bad.append(f"{kv['scenario']}: {kv['no_retry_after']} 429s without Retry-After")
if failed:
    bad.append(f"{failed} submitted jobs failed")
if still_open:
    bad.append(f"{still_open} submitted jobs never finished")
print("; ".join(bad))
PY
)
[ -z "$verdict" ] || die "load test failed: $verdict"
log "load test passed: no socket errors, only 2xx and documented 429s, every job finished"
