#!/usr/bin/env bash
# Short end-to-end check of scripts/cluster.sh for the test command (~1-3 min): a private cluster
# (debug build) comes up, a few jobs go through nginx to the workers and back, a repeat is a cache
# hit, the cluster's Prometheus has every API and worker up, evaluates every rule and answers every
# dashboard panel's query with data (scripts/prometheus-check.py), requests survive one API instance
# being killed (which Prometheus then reports down), and everything is torn down and deleted.
source "$(dirname "$0")/lib.sh"
export POLYVOX_CLUSTER_DIR; POLYVOX_CLUSTER_DIR="$(mktemp -d /tmp/polyvox-smoke.XXXXXX)"
export POLYVOX_CLUSTER_PROFILE="${POLYVOX_CLUSTER_PROFILE:-debug}"
CLUSTER="$ROOT/scripts/cluster.sh"
trap '"$CLUSTER" purge >/dev/null 2>&1 || true; rm -rf "$POLYVOX_CLUSTER_DIR"' EXIT
"$CLUSTER" up
source "$POLYVOX_CLUSTER_DIR/cluster.env"
BASE="http://127.0.0.1:$NGINX_PORT"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

ids=()
for i in 1 2 3; do
  ids+=("$(curl -sf --max-time 30 -H 'Content-Type: application/json' \
    -d "{\"input\":\"Smoke test job $i.\",\"response_format\":\"mp3\"}" "$BASE/v1/jobs" | json '["id"]')")
done
for id in "${ids[@]}"; do
  status=queued
  for _ in $(seq 1 240); do
    status=$(curl -sf --max-time 10 "$BASE/v1/jobs/$id" | json '["status"]') || status=error
    case "$status" in succeeded|failed|cancelled) break ;; esac; sleep 0.5
  done
  [ "$status" = succeeded ] || die "job $id ended as $status (logs: $POLYVOX_CLUSTER_DIR/logs)"
  bytes=$(curl -sf --max-time 30 "$BASE/v1/jobs/$id/audio" | wc -c)
  [ "$bytes" -gt 500 ] || die "job $id audio is $bytes bytes"
  log "job $id succeeded, $bytes bytes of audio through nginx"
done
hit=$(curl -s -D - -o /dev/null --max-time 30 -H 'Content-Type: application/json' \
  -d '{"input":"Smoke test job 1.","response_format":"mp3"}' "$BASE/v1/audio/speech" |
  tr -d '\r' | awk -F': ' 'tolower($1)=="x-polyvox-cache"{print $2}')
[ "$hit" = hit ] || die "repeat request was not a cache hit (x-polyvox-cache: '$hit')"
python3 "$ROOT/scripts/prometheus-check.py" "$POLYVOX_CLUSTER_DIR/cluster.env" ||
  die "Prometheus check failed (logs: $POLYVOX_CLUSTER_DIR/logs)"
"$CLUSTER" kill api-1 KILL
for i in $(seq 1 20); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/v1/jobs/${ids[0]}")
  [ "$code" = 200 ] || die "request $i after killing api-1 answered $code"
done
log "20 polls after SIGKILL of api-1: all 200 (nginx skipped the dead instance)"
python3 "$ROOT/scripts/prometheus-check.py" "$POLYVOX_CLUSTER_DIR/cluster.env" --down api-1
"$CLUSTER" down
log "cluster smoke test passed"
