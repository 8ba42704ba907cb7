#!/usr/bin/env bash
# Fault tests of the local cluster (scripts/cluster.sh up first). For each fault, jobs are submitted
# through nginx (distinct texts, so each is a real synthesis) while wrk polls job status through
# nginx (FAULT_CONNS connections), the fault is injected, the cluster is repaired, and every
# accepted job is followed to its end (scripts/fault/jobload.py). Faults:
#   api-kill       SIGKILL one API instance under load (restarted afterwards)
#   worker-kill    SIGKILL the worker holding a running job, mid-job (restarted afterwards)
#   redis-restart  SHUTDOWN NOSAVE + start of the cluster's Redis: queue, cache and group are gone
#   pg-restart     pg_ctl restart -m fast of the cluster's PostgreSQL (connections dropped)
# Usage: scripts/fault-test.sh [FAULT ...]   (default: all four). Exit 1 if any job is lost.
# Bounded: FAULT_JOBS jobs per fault (24), a 300 s deadline per fault; loopback only.
source "$(dirname "$0")/lib.sh"
CDIR="${POLYVOX_CLUSTER_DIR:-$HOME/.cache/polyvox-cluster}"
[ -f "$CDIR/cluster.env" ] || die "no cluster at $CDIR: run scripts/cluster.sh up"
source "$CDIR/cluster.env"
CLUSTER="$ROOT/scripts/cluster.sh"
"$CLUSTER" status >/dev/null || die "cluster is not fully up: scripts/cluster.sh status"
BASE="http://127.0.0.1:$NGINX_PORT"
JOBS=${FAULT_JOBS:-24}; CONNS=${FAULT_CONNS:-200}; LOAD_SECS=${FAULT_LOAD_SECS:-25}
OUT="$CDIR/faults-$(date +%s)"; mkdir -p "$OUT"
faults=("$@"); [ ${#faults[@]} -eq 0 ] && faults=(api-kill worker-kill redis-restart pg-restart)
ulimit -n 4096 2>/dev/null || true

# The worker holding one of this run's jobs in `running` state, once there is one (max 120 s).
running_owner() {
  local ids=$1
  for _ in $(seq 1 480); do
    if [ -s "$ids" ]; then
      local list; list=$(sed "s/.*/'&'/" "$ids" | paste -sd,)
      local row; row=$($PSQL -F ' ' -c "SELECT id, lease_owner FROM jobs WHERE status='running' AND id IN ($list) LIMIT 1")
      [ -n "$row" ] && { echo "$row"; return 0; }
    fi
    sleep 0.25
  done
  return 1
}

inject() { # FAULT: runs the fault; prints what it did
  case "$1" in
    api-kill) "$CLUSTER" kill api-2 KILL; echo "SIGKILL api-2" ;;
    worker-kill)
      local row; row=$(running_owner "$OUT/$1.ids") || { echo "no job ever ran"; return 1; }
      set -- $row
      "$CLUSTER" kill "$2" KILL
      echo "SIGKILL $2 while it ran job $1"; echo "$1" >"$OUT/worker-kill.victim" ;;
    redis-restart) "$CLUSTER" restart redis; echo "Redis SHUTDOWN NOSAVE and started again (empty)" ;;
    pg-restart) "$CLUSTER" restart postgres; echo "PostgreSQL restarted (pg_ctl restart -m fast)" ;;
    *) die "unknown fault $1" ;;
  esac
}

repair() {
  case "$1" in
    api-kill) "$CLUSTER" start api-2 ;;
    # Only the dead worker: asking `status` (which exits 1 while one is down) restarted a live one too.
    worker-kill) local hp=($WORKER_HEALTH_PORTS) w
                 for w in $(seq 1 "$WORKERS"); do
                   [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${hp[$((w-1))]}/health/live")" = 200 ] ||
                     "$CLUSTER" start "worker-$w"; done ;;
    *) : ;;
  esac
}

summary=()
lost_total=0
for f in "${faults[@]}"; do
  run="$f-$(date +%s)"
  log "fault $f: $JOBS jobs, wrk polling with $CONNS connections for $LOAD_SECS s"
  # Poll targets must exist before wrk starts: one finished job per run is enough.
  seed=$(curl -s --max-time 120 -H 'Content-Type: application/json' -d '{"input":"Fault seed."}' "$BASE/v1/jobs" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  echo "$seed" >"$OUT/$f.poll-ids"
  : >"$OUT/$f.ids"
  # Poll ids must include jobs in flight: the submitter writes accepted ids only at the end, so
  # wrk polls the seed job; the submitter's own polling covers the run's jobs.
  LOAD_DIR="$ROOT/scripts/load" LOAD_IDS="$OUT/$f.poll-ids" \
    wrk -t1 -c"$CONNS" -d"${LOAD_SECS}s" --timeout 10s -s "$ROOT/scripts/load/poll.lua" "$BASE" >"$OUT/$f.wrk" 2>&1 &
  wrk_pid=$!
  long=2; [ "$f" = worker-kill ] && long=4
  python3 "$ROOT/scripts/fault/jobload.py" --base "$BASE" --run "$run" --jobs "$JOBS" --long "$long" \
    --ids-file "$OUT/$f.accepted" --out "$OUT/$f.json" >"$OUT/$f.summary" 2>"$OUT/$f.err" &
  py_pid=$!
  # Ids as they are accepted, for the worker-kill probe: read them from the job table by text.
  ( for _ in $(seq 1 600); do
      $PSQL -c "SELECT id FROM jobs WHERE request LIKE '%Fault run $run,%'" >"$OUT/$f.ids.tmp" 2>/dev/null &&
        mv "$OUT/$f.ids.tmp" "$OUT/$f.ids"
      kill -0 "$py_pid" 2>/dev/null || break; sleep 0.5; done ) &
  ids_pid=$!
  sleep 3
  what=$(inject "$f" 2>&1 | tail -n1)
  log "$f: $what"
  wait "$wrk_pid" || true
  repair "$f"
  wait "$py_pid" || true
  kill "$ids_pid" 2>/dev/null || true; wait "$ids_pid" 2>/dev/null || true
  res=$(cat "$OUT/$f.summary")
  [ -n "$res" ] || { cat "$OUT/$f.err"; die "$f: the job driver printed nothing"; }
  wrk_line=$(grep '^RESULT' "$OUT/$f.wrk" || echo "RESULT requests=0 non2xx=? connect=? read=? write=? timeout=?")
  victim_note=""
  if [ -f "$OUT/worker-kill.victim" ] && [ "$f" = worker-kill ]; then
    v=$(cat "$OUT/worker-kill.victim")
    victim_note=" victim job $v: $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['jobs'].get(sys.argv[2],{'state':'not accepted'})['state'])" "$OUT/$f.json" "$v")"
  fi
  line=$(python3 - "$f" "$res" "$wrk_line" "$what$victim_note" <<'PY'
import json, sys
f, res, wrk, what = sys.argv[1:]
r = json.loads(res)
w = dict(p.split("=", 1) for p in wrk.split()[1:])
print(f"| {f} | {what} | {r['submitted']} | {r['accepted']} | {r['completed']} | {r['failed']} | {r['lost']} | "
      f"{r['submit_retries']} | {w.get('requests')} polls, {w.get('non2xx')} non-2xx, "
      f"{w.get('connect')}/{w.get('read')}/{w.get('write')}/{w.get('timeout')} socket errors, {w.get('codes', '')} |")
PY
)
  echo "$line"
  summary+=("$line")
  lost_total=$(( lost_total + $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["lost"] + r["rejected"])' "$res") ))
  "$CLUSTER" status >/dev/null || die "cluster not healthy after $f: scripts/cluster.sh status"
done

echo
echo "| fault | injected | submitted | accepted | completed | failed | lost | submit retries | poll traffic during the fault (connect/read/write/timeout) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${summary[@]}"
echo
echo "Details (per-job states, wrk output): $OUT"
[ "$lost_total" = 0 ] || die "$lost_total job(s) lost or never accepted"
log "no job lost"
