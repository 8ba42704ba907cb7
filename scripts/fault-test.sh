#!/usr/bin/env bash
# Fault gate of the local cluster (scripts/cluster.sh up first). For each fault, client traffic
# goes through nginx along the path the fault hits (scripts/fault/jobload.py: job submits, polls
# of jobs in flight, audio downloads, /v1/audio/speech, live WebSocket sessions), the fault is
# injected, the cluster heals or is repaired, and then two things must hold:
#   the fault happened   - a check per fault below (victim attempts, re-enqueue counts, a new
#                          Redis run_id, crash recovery in the PostgreSQL log, ...);
#   no client saw it     - no lost or failed/cancelled job, every speech request answered with
#                          audio, every live session done, no 5xx without Retry-After, no socket
#                          error (jobload.py).
# Faults:
#   worker-kill    SIGKILL of the worker holding a running job of this run (restarted afterwards)
#   api-kill       SIGKILL of one API instance behind nginx (restarted afterwards)
#   redis-restart  Redis shut down without saving and started empty while jobs are queued
#   pg-crash       PostgreSQL killed (pg_ctl stop -m immediate: a crash) and started 5 s later
#   s3-stop        SeaweedFS (the S3 store) stopped for 20 s, then started
#   nginx-reload   nginx reloads its configuration (new worker processes) under traffic
# Usage: scripts/fault-test.sh [FAULT ...]   (default: all). Exit 1 if any check fails.
# Bounded: FAULT_JOBS jobs per fault (16), each followed for at most FAULT_DEADLINE s (420) after
# it was accepted; loopback only.
source "$(dirname "$0")/lib.sh"
CDIR="${POLYVOX_CLUSTER_DIR:-$HOME/.cache/polyvox-cluster}"
[ -f "$CDIR/cluster.env" ] || die "no cluster at $CDIR: run scripts/cluster.sh up"
source "$CDIR/cluster.env"
CLUSTER="$ROOT/scripts/cluster.sh"
"$CLUSTER" status >/dev/null || die "cluster is not fully up: scripts/cluster.sh status"
BASE="http://127.0.0.1:$NGINX_PORT"
JOBS=${FAULT_JOBS:-16}
OUT="$CDIR/faults-$(date +%s)"; mkdir -p "$OUT"
all=(worker-kill api-kill redis-restart pg-crash s3-stop nginx-reload)
faults=("$@"); [ ${#faults[@]} -eq 0 ] && faults=("${all[@]}")
ulimit -n 4096 2>/dev/null || true

# This run's jobs in a given status, counted in the job table.
run_jobs() { $PSQL -c "SELECT count(*) FROM jobs WHERE status='$2' AND request LIKE '%Fault run $1,%'"; }
# Waits (max 120 s) for a job of this run to be in `status`; prints "id owner".
wait_job() {
  local row
  for _ in $(seq 1 480); do
    row=$($PSQL -F ' ' -c "SELECT id, coalesce(lease_owner, '-') FROM jobs WHERE status='$2'
      AND request LIKE '%Fault run $1,%' ORDER BY created_at LIMIT 1" 2>/dev/null) || row=""
    [ -n "$row" ] && { echo "$row"; return 0; }
    sleep 0.25
  done
  return 1
}
# Sum of a metric (all label sets matching a regex) over every API instance and worker.
metric_sum() { # NAME LABEL_REGEX
  local p urls=()
  for p in $API_PORTS; do urls+=("http://127.0.0.1:$p/metrics"); done
  for p in $WORKER_METRICS_PORTS; do urls+=("http://127.0.0.1:$p/metrics"); done
  for u in "${urls[@]}"; do curl -s --max-time 5 "$u" || true; done | python3 -c '
import re, sys
name, labels = sys.argv[1], re.compile(sys.argv[2])
total = 0.0
for line in sys.stdin:
    m = re.match(r"^(\w+)(\{[^}]*\})?\s+(\S+)", line)
    if m and m[1] == name and labels.search(m[2] or ""):
        total += float(m[3])
print(int(total))' "$1" "$2"
}
# Byte sizes of the worker logs now, so later checks read only what was written after.
log_marks() { local w; for w in $(seq 1 "$WORKERS"); do stat -c %s "$CDIR/logs/worker-$w.log"; done | paste -sd' '; }
# Sum of a numeric field of the maintenance loop's log lines written since MARKS.
maintenance_sum() { # FIELD MARKS
  python3 - "$1" "$CDIR" "$WORKERS" $2 <<'PY'
import json, sys
field, cdir, n, marks = sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(x) for x in sys.argv[4:]]
total = 0
for w in range(1, n + 1):
    with open(f"{cdir}/logs/worker-{w}.log", "rb") as f:
        f.seek(marks[w - 1])
        for raw in f:
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            fields = rec.get("fields", rec)
            if "re-enqueued" in str(fields.get("message", "")):
                total += int(fields.get(field, 0))
print(total)
PY
}
nginx_workers() { ps -o pid= --ppid "$(cat "$CDIR/run/nginx.pid")" | tr -d ' ' | sort | paste -sd,; }
redis_run_id() { redis-cli -p "$REDIS_PORT" info server | tr -d '\r' | awk -F: '$1=="run_id"{print $2}'; }
pg_pid() { head -n1 "$PG_DIR/data/postmaster.pid" 2>/dev/null || echo none; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
refused() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" = 000 ]; }

CHECKS=()
DIAG=()
# Every component ready again within HEAL_SECS (30) of the fault's traffic ending: a probe that
# caught a dependency mid-reconnect may say "not ready" for a period or two, but one that stays
# down has not healed. For a component still down, its readiness answer and the last lines of
# its log are kept for the end of the output (CI shows the tail).
healed() {
  local t0=$SECONDS st
  while [ $((SECONDS - t0)) -lt "${HEAL_SECS:-30}" ]; do
    if "$CLUSTER" status >/dev/null 2>&1; then
      CHECKS+=("ok   $F: cluster healthy afterwards (after $((SECONDS - t0)) s)"); return
    fi
    sleep 1
  done
  FAILED=1; CHECKS+=("FAIL $F: cluster healthy afterwards (not within ${HEAL_SECS:-30} s)")
  st=$("$CLUSTER" status 2>&1 || true)
  DIAG+=("after $F:" "$st")
  local c
  for c in $(awk '$2 == "down" {print $1}' <<<"$st"); do
    case $c in
      api-*) local p=($API_PORTS)
             DIAG+=("  $c /health/ready: $(curl -s --max-time 5 "http://127.0.0.1:${p[$((${c#api-}-1))]}/health/ready")") ;;
    esac
    [ -f "$CDIR/logs/$c.log" ] && DIAG+=("  $c log (last lines):" "$(tail -n 12 "$CDIR/logs/$c.log" | cut -c1-400 | sed 's/^/    /')")
  done
}
check() { # DESCRIPTION CONDITION...: records one proof that the fault took effect
  local what=$1; shift
  if "$@"; then CHECKS+=("ok   $F: $what"); else CHECKS+=("FAIL $F: $what"); FAILED=1; fi
}

FAILED=0
rows=()
for F in "${faults[@]}"; do
  case " ${all[*]} " in *" $F "*) ;; *) die "unknown fault $F (one of: ${all[*]})" ;; esac
  run="$F-$(date +%s)"
  log "fault $F: $JOBS jobs and speech requests through nginx"
  marks=$(log_marks)
  recreated0=$(metric_sum polyvox_infra_queue_group_recreated_total '')
  s3err0=$(metric_sum polyvox_infra_errors_total 'system="s3"')
  : >"$OUT/$F.ids"
  long=2; speech=20
  # Killing the process that streams a response cuts it, whatever the proxy does: there a cut
  # stream is retried (and counted), elsewhere it fails the fault.
  cut=""
  case $F in worker-kill) long=4; cut=--allow-cut-streams ;; api-kill|redis-restart) cut=--allow-cut-streams ;;
             s3-stop) speech=30 ;; esac
  python3 "$ROOT/scripts/fault/jobload.py" --base "$BASE" --run "$run" --jobs "$JOBS" --long "$long" \
    --speech-secs "$speech" --deadline "${FAULT_DEADLINE:-420}" --ids-file "$OUT/$F.ids" $cut --out "$OUT/$F.json" >"$OUT/$F.summary" 2>"$OUT/$F.err" &
  driver=$!
  what=""
  case $F in
    worker-kill)
      if row=$(wait_job "$run" running); then
        set -- $row; victim=$1; owner=$2
        pid=$(cat "$CDIR/run/$owner.pid")
        "$CLUSTER" kill "$owner" KILL
        what="SIGKILL $owner (pid $pid) while it ran job $victim"
        check "the worker process is gone" bash -c "! kill -0 $pid 2>/dev/null"
        "$CLUSTER" start "$owner"
      else check "a job of this run was running (none within 120 s)" false; fi ;;
    api-kill)
      sleep 4
      pid=$(cat "$CDIR/run/api-2.pid"); port=$(echo "$API_PORTS" | cut -d' ' -f2)
      refused0=$(grep -c "111: Connection refused" "$CDIR/logs/nginx-error.log" 2>/dev/null || true)
      "$CLUSTER" kill api-2 KILL
      what="SIGKILL api-2 (pid $pid); restarted after 10 s"
      check "the instance is gone" bash -c "! kill -0 $pid 2>/dev/null"
      check "its port refuses connections" refused "http://127.0.0.1:$port/health/live"
      sleep 10
      refused1=$(grep -c "111: Connection refused" "$CDIR/logs/nginx-error.log" 2>/dev/null || true)
      check "nginx hit the dead instance and moved on ($refused0 -> $refused1 refused connects)" \
        test "$refused1" -gt "$refused0"
      "$CLUSTER" start api-2 ;;
    redis-restart)
      # Jobs waiting in the queue are what a restart loses: wait for a backlog first.
      for _ in $(seq 1 120); do [ "$(run_jobs "$run" queued)" -ge 3 ] && break; sleep 0.25; done
      queued=$(run_jobs "$run" queued); id0=$(redis_run_id)
      redis-cli -p "$REDIS_PORT" set "polyvox-gate-marker-$run" 1 >/dev/null
      "$CLUSTER" restart redis
      id1=$(redis_run_id)
      # Read at once: a key written before the restart (the queue's streams are repopulated by
      # the reconciler within seconds, so they cannot show the emptiness).
      marker=$(redis-cli -p "$REDIS_PORT" exists "polyvox-gate-marker-$run")
      what="Redis restarted empty with $queued jobs of the run queued (run_id ${id0:0:8} -> ${id1:0:8})"
      check "jobs were queued when Redis went ($queued)" test "$queued" -gt 0
      check "a new Redis process (run_id changed)" test -n "$id1" -a "$id0" != "$id1"
      check "it came back empty (a key set before the restart is gone)" test "$marker" = 0 ;;
    pg-crash)
      sleep 4
      pid0=$(pg_pid); logsize=$(stat -c %s "$PG_DIR/pg.log")
      as_pg "$PGBIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null
      check "PostgreSQL is down" bash -c "! $PSQL -c 'SELECT 1' >/dev/null 2>&1"
      sleep 5
      "$CLUSTER" start postgres
      pid1=$(pg_pid)
      what="pg_ctl stop -m immediate (postmaster $pid0), started again 5 s later (postmaster $pid1)"
      check "a new postmaster" test "$pid0" != "$pid1"
      check "it recovered from a crash (PostgreSQL log)" \
        bash -c "tail -c +$((logsize + 1)) '$PG_DIR/pg.log' | grep -q 'automatic recovery in progress'" ;;
    s3-stop)
      sleep 3
      "$CLUSTER" kill weed TERM
      check "the S3 port refuses while it is stopped" refused "http://127.0.0.1:$S3_PORT/"
      sleep 20
      "$CLUSTER" start weed
      what="SeaweedFS stopped for 20 s, then started" ;;
    nginx-reload)
      sleep 4
      w0=$(nginx_workers); m0=$(cat "$CDIR/run/nginx.pid")
      nginx -c "$CDIR/nginx.conf" -p "$CDIR/" -s reload
      for _ in $(seq 1 40); do [ "$(nginx_workers)" != "$w0" ] && break; sleep 0.25; done
      sleep 1; w1=$(nginx_workers)
      what="nginx -s reload (workers $w0 -> $w1)"
      check "same master, new workers" test "$(cat "$CDIR/run/nginx.pid")" = "$m0" -a -n "$w1" -a "$w1" != "$w0" ;;
  esac
  log "$F: $what"
  rc=0; wait "$driver" || rc=$?
  res=$(cat "$OUT/$F.summary")
  [ -n "$res" ] || { cat "$OUT/$F.err"; die "$F: the traffic driver printed nothing"; }
  check "clients saw no failure (lost/failed jobs, 5xx without Retry-After, socket errors)" test "$rc" = 0
  [ "$rc" = 0 ] || sed 's/^/    /' "$OUT/$F.err" | head -n 20 >&2
  # Proofs that need the run to be over: what the recovery machinery did.
  case $F in
    worker-kill)
      if [ -n "${victim:-}" ]; then
        att=$($PSQL -c "SELECT attempts || ' ' || status FROM jobs WHERE id='$victim'")
        check "victim job $victim ran twice and succeeded ($att)" test "$att" = "2 succeeded"
        reaped=$(maintenance_sum reaped "$marks")
        check "the lease reaper re-enqueued it (reaped $reaped)" test "$reaped" -ge 1
      fi ;;
    redis-restart)
      reconciled=$(maintenance_sum reconciled "$marks")
      check "the reconciler re-enqueued the lost jobs (reconciled $reconciled)" test "$reconciled" -ge 1
      recreated1=$(metric_sum polyvox_infra_queue_group_recreated_total '')
      check "consumer groups recreated ($recreated0 -> $recreated1, /metrics)" test "$recreated1" -gt "$recreated0" ;;
    s3-stop)
      s3err1=$(metric_sum polyvox_infra_errors_total 'system="s3"')
      check "S3 calls failed during the stop ($s3err0 -> $s3err1, /metrics)" test "$s3err1" -gt "$s3err0" ;;
  esac
  rows+=("$(python3 - "$F" "$res" "$what" <<'PY'
import json, sys
f, res, what = sys.argv[1:]
r = json.loads(res)
answers = ", ".join(f"{k} {v}" for k, v in r["answers"].items())
print(f"| {f} | {what} | {r['accepted']}/{r['submitted']} | {r['completed']} | {r['failed']} | {r['lost']} | "
      f"{r['speech_ok']}/{r['speech']} | {r['live_ok']}/{r['live']} | {r['submit_retries']} | {answers} |")
PY
)")
  healed
done

echo
echo "| fault | injected | accepted | completed | failed | lost | speech ok | live sessions ok | submit retries | answers seen by clients (kind:status count) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
printf '%s\n' "${CHECKS[@]}"
[ ${#DIAG[@]} -eq 0 ] || { echo "Components that did not heal:"; printf '%s\n' "${DIAG[@]}"; }
echo "Details (per-job states, every bad answer): $OUT"
[ "$FAILED" = 0 ] || die "fault gate failed"
log "fault gate passed: every fault took effect and no client saw it"
