#!/usr/bin/env bash
# The scaled-out path's two latency figures (BENCHMARKS.md, "Speech through the workers"), on one
# build, in one invocation:
#  1. first audio byte of a streamed ~300-character paragraph, embedded `polyvox serve` against the
#     cluster (nginx → 1 API → 2 workers on the cluster's own Redis, PostgreSQL and SeaweedFS),
#     requests alternating between the two;
#  2. the same request on the cluster with only one worker left, idle against busy with a
#     20,000-character batch job (alternating), which is what "interactive first" promises.
# Both sides run one model session with one intra-op thread per process, so they differ only in
# the path (relay, queue, database) and not in compute. Caches are off: every request synthesizes.
#
# Usage: scripts/bench-relay.sh [RUNS]   (default 7; env POLYVOX_BENCH_PROFILE=release|debug)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
RUNS="${1:-7}"
PROFILE="${POLYVOX_BENCH_PROFILE:-release}"
BIN="$(polyvox_bin "$PROFILE")"
[ -x "$BIN" ] || die "no $PROFILE binary at $BIN (cargo build --$PROFILE -p polyvox, or set POLYVOX_BENCH_PROFILE)"
WORK="$(mktemp -d /tmp/polyvox-bench-relay.XXXXXX)"
export POLYVOX_CLUSTER_DIR="$WORK/cluster" POLYVOX_CLUSTER_BIN="$BIN" POLYVOX_CLUSTER_APIS=1 \
  POLYVOX_CLUSTER_WORKERS=2 POLYVOX_CACHE=off POLYVOX_SENTENCE_CACHE_MB=0
EMB_PID=
cleanup() {
  [ -n "$EMB_PID" ] && kill "$EMB_PID" 2>/dev/null
  "$ROOT/scripts/cluster.sh" purge >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "machine load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$ROOT/scripts/cluster.sh" up
CLUSTER="$(grep -o 'http://127.0.0.1:[0-9]*' <("$ROOT/scripts/cluster.sh" status) | tail -n1)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
POLYVOX_NO_AUTH=true POLYVOX_SESSIONS=1 POLYVOX_INTRA_THREADS=1 POLYVOX_DATA_DIR="$WORK/embedded" \
  POLYVOX_LOG=warn "$BIN" serve --bind "127.0.0.1:$PORT" >"$WORK/embedded.log" 2>&1 &
EMB_PID=$!
for _ in $(seq 1 240); do
  curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null && break
  kill -0 "$EMB_PID" 2>/dev/null || die "embedded serve exited: $(tail -5 "$WORK/embedded.log")"
  sleep 0.5
done
EMBEDDED="http://127.0.0.1:$PORT"
log "embedded $EMBEDDED, cluster $CLUSTER ($PROFILE build $BIN)"

log "1/2 first audio: embedded vs cluster, $RUNS runs each, alternating"
"$BIN" bench ttfb --url "$EMBEDDED,$CLUSTER" --runs "$RUNS"
kill "$EMB_PID"; wait "$EMB_PID" 2>/dev/null || true; EMB_PID=

log "2/2 interactive first: the only worker idle vs running a 20,000-character batch job"
"$ROOT/scripts/cluster.sh" kill worker-2
"$BIN" bench ttfb --url "$CLUSTER" --runs "$RUNS" --batch-chars 20000
worker_metrics="$(source "$POLYVOX_CLUSTER_DIR/cluster.env"; echo "${WORKER_METRICS_PORTS%% *}")"
if [ -n "$worker_metrics" ]; then
  log "worker-1 preemptions: $(curl -fs "http://127.0.0.1:$worker_metrics/metrics" | grep '^polyvox_engine_preemptions_total' || echo none)"
fi
log "machine load after: $(cut -d' ' -f1-3 /proc/loadavg)"
