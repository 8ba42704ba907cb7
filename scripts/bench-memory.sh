#!/usr/bin/env bash
# Peak resident memory (VmHWM) of `polyvox worker` and `polyvox serve` (API only) against the size of
# one job's audio: for each format and input size, a fresh API and worker (PostgreSQL + Redis for the
# job path, files for audio) render one job, the API streams the file to /dev/null, then both
# processes' VmHWM is read from /proc. The text is one paragraph repeated to the size, so the
# sentence cache renders it once and the job is mostly encoding and storage (the part that scales
# with the output). Prints a Markdown table row per job.
#
#   scripts/bench-memory.sh [POLYVOX_BINARY]
#   SIZES="10000 30000 100000" FORMATS="wav mp3" scripts/bench-memory.sh target/release/polyvox
#   STORAGE=s3 scripts/bench-memory.sh ...   # audio on a private SeaweedFS (S3 multipart) instead of
#       files; each job is then also checked byte for byte: ranges through the API and through a
#       presigned URL (a second, presigning API instance) against the whole download.
#
# Needs PostgreSQL and Redis (scripts/services.sh; POLYVOX_TEST_DATABASE_URL / POLYVOX_TEST_REDIS_URL)
# and the model assets.
#
# Exits non-zero when any job's worker peak exceeds MAX_WORKER_MIB or its API peak MAX_API_MIB (after
# printing every row). The defaults are the bounds BENCHMARKS.md states ("Peak memory vs output size":
# worker <= 672 MiB, API <= 176 MiB, flat in the output size) plus headroom for allocator and build
# variance; a regression to holding the file (the worker +759 MiB, the API +200 MiB at 100,000 WAV
# characters) still fails.
source "$(dirname "$0")/lib.sh"

BIN="${1:-$CARGO_TARGET_DIR/release/polyvox}"
[ -x "$BIN" ] || die "no polyvox binary at $BIN (cargo build --release -p polyvox)"
SIZES="${SIZES:-10000 30000 100000}"
MAX_WORKER_MIB="${MAX_WORKER_MIB:-800}"
MAX_API_MIB="${MAX_API_MIB:-240}"
OVER=()
FORMATS="${FORMATS:-wav mp3}"
DB="${POLYVOX_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
REDIS="${POLYVOX_TEST_REDIS_URL:-redis://127.0.0.1:6379/}"
WORK="$(mktemp -d)"
PIDS=()
WEED_PID=""
cleanup() {
  for p in "${PIDS[@]}" $WEED_PID; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true; rm -rf "$WORK"
}
trap cleanup EXIT

STORAGE="${STORAGE:-fs}"
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# A private SeaweedFS (the S3 server the tests use, from PyPI via scripts/tools.sh).
start_s3() {
  local weed="$POLYVOX_TOOLS_DIR/s3-venv/bin/weed" p
  [ -x "$weed" ] || die "no SeaweedFS at $weed (scripts/tools.sh installs it)"
  read -r -a p <<<"$(free_ports 11)"
  mkdir -p "$WORK/weed"
  echo '{"identities":[{"name":"bench","credentials":[{"accessKey":"bench","secretKey":"benchsecret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}' >"$WORK/s3.json"
  "$weed" mini -dir="$WORK/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -webdav=false -admin.ui=false \
    -s3.port.iceberg=0 -s3.port.lance=0 -bucket=polyvox-audio -s3.config="$WORK/s3.json" \
    -master.port="${p[0]}" -master.port.grpc="${p[1]}" -volume.port="${p[2]}" -volume.port.grpc="${p[3]}" \
    -filer.port="${p[4]}" -filer.port.grpc="${p[5]}" -s3.port="${p[10]}" -s3.port.grpc="${p[6]}" \
    -admin.port="${p[7]}" -admin.port.grpc="${p[8]}" -metricsPort="${p[9]}" >"$WORK/weed.log" 2>&1 &
  WEED_PID=$!
  S3_ENDPOINT="http://127.0.0.1:${p[10]}"
  for _ in $(seq 1 120); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$S3_ENDPOINT/")" != 000 ] && return 0; sleep 0.5
  done
  die "SeaweedFS did not start (log: $WORK/weed.log)"
}

# The same bytes for each range through the API and through the presigned URL as in the whole file.
check_ranges() { # API_URL PRESIGNED_URL WHOLE_FILE
  local len; len=$(stat -c %s "$3")
  python3 - "$1" "$2" "$3" "$len" <<'PY'
import sys, urllib.request
api, signed, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
whole = open(path, "rb")
def get(url, a, b):
    r = urllib.request.urlopen(urllib.request.Request(url, headers={"Range": f"bytes={a}-{b}"}))
    assert r.status == 206, (url, r.status)
    assert r.headers["Content-Range"] == f"bytes {a}-{b}/{n}", r.headers["Content-Range"]
    return r.read()
part = 5 * 1024 * 1024
for a, b in [(0, 43), (0, part), (part - 7, part + 7), (n // 2, n // 2 + 99999), (n - 100, n - 1)]:
    if a >= n:
        continue
    b = min(b, n - 1)  # a range past the end is answered up to the end (RFC 9110)
    whole.seek(a); want = whole.read(b - a + 1)
    for name, url in (("api", api), ("presigned", signed)):
        got = get(url, a, b)
        assert got == want, f"{name} bytes {a}-{b}: {len(got)} bytes differ from the file"
print(f"ranges byte-exact through the API and the presigned URL ({n} bytes)")
PY
}

hwm_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

text_of() {
  python3 - "$1" <<'PY'
import json, sys
n = int(sys.argv[1])
p = ("The keeper climbed the stairs of the lighthouse every evening, lit the great lamp, "
     "and watched the boats come home across the dark water.")
t = "\n\n".join([p] * (n // (len(p) + 2) + 1))[:n]
print(json.dumps(t[: t.rfind(".") + 1]))
PY
}

run_one() {
  local fmt="$1" chars="$2" tag
  tag="bm$(date +%s%N | tail -c 9)"
  export DATABASE_URL="$DB" POLYVOX_DB_SCHEMA="$tag" REDIS_URL="$REDIS" POLYVOX_REDIS_PREFIX="$tag" \
    POLYVOX_STORAGE_URL="file://$WORK/audio" POLYVOX_DATA_DIR="$WORK/data" POLYVOX_NO_AUTH=true \
    POLYVOX_NO_FETCH=true POLYVOX_LOG=warn
  if [ "$STORAGE" = s3 ]; then
    export POLYVOX_STORAGE_URL="s3://polyvox-audio/$tag" POLYVOX_S3_ENDPOINT="$S3_ENDPOINT" \
      AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchsecret
  fi
  "$BIN" serve --bind 127.0.0.1:0 >"$WORK/serve.log" 2>&1 & local api=$!; PIDS+=("$api")
  local base=""
  for _ in $(seq 600); do
    base="$(grep -o 'listening on http://[0-9.:]*' "$WORK/serve.log" | head -1 | sed 's/listening on //')" || true
    [ -n "$base" ] && break; sleep 0.2
  done
  [ -n "$base" ] || die "serve did not start: $(tail -5 "$WORK/serve.log")"
  "$BIN" worker --concurrency 1 >"$WORK/worker.log" 2>&1 & local worker=$!; PIDS+=("$worker")
  local body id status=""
  body="{\"input\": $(text_of "$chars"), \"response_format\": \"$fmt\"}"
  id="$(curl -sf -X POST "$base/v1/jobs" -H 'content-type: application/json' -d "$body" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
  local t0=$SECONDS
  while :; do
    status="$(curl -sf "$base/v1/jobs/$id" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["status"], j.get("audio_bytes") or 0)')"
    case "$status" in succeeded*|failed*|cancelled*) break ;; esac
    [ $((SECONDS - t0)) -lt 7200 ] || die "job $id still ${status} after 2 h"
    sleep 1
  done
  local secs=$((SECONDS - t0))
  [[ "$status" == succeeded* ]] || die "job $id: $status ($(tail -3 "$WORK/worker.log"))"
  local got
  local keep=/dev/null; [ "$STORAGE" = s3 ] && keep="$WORK/whole"
  got="$(curl -sf -o "$keep" -w '%{size_download}' "$base/v1/jobs/$id/audio")"
  [ "$got" = "${status#* }" ] || die "downloaded $got bytes, job says ${status#* }"
  if [ "$STORAGE" = s3 ]; then
    # A second API instance that hands out presigned URLs (started after the peaks were read
    # would not matter: it is a separate process).
    POLYVOX_PRESIGN_SECS=600 "$BIN" serve --bind 127.0.0.1:0 >"$WORK/signer.log" 2>&1 & local signer=$!
    local sbase=""
    for _ in $(seq 600); do
      sbase="$(grep -o 'listening on http://[0-9.:]*' "$WORK/signer.log" | head -1 | sed 's/listening on //')" || true
      [ -n "$sbase" ] && break; sleep 0.2
    done
    local signed; signed="$(curl -s -o /dev/null -w '%{redirect_url}' "$sbase/v1/jobs/$id/audio")"
    kill "$signer"; wait "$signer" 2>/dev/null || true
    [ -n "$signed" ] || die "no presigned redirect for job $id"
    check_ranges "$base/v1/jobs/$id/audio" "$signed" "$WORK/whole" >&2 || die "range check failed for job $id"
    rm -f "$WORK/whole"
  fi
  local wpeak apeak
  wpeak="$(hwm_mb "$worker")"; apeak="$(hwm_mb "$api")"
  printf '| %s | %s | %.1f | %s | %s | %s |\n' "$fmt" "$chars" "$(echo "$got / 1048576" | bc -l)" \
    "$wpeak" "$apeak" "$secs"
  [ "$wpeak" -le "$MAX_WORKER_MIB" ] || OVER+=("$fmt $chars: worker peak $wpeak MiB > MAX_WORKER_MIB=$MAX_WORKER_MIB")
  [ "$apeak" -le "$MAX_API_MIB" ] || OVER+=("$fmt $chars: API peak $apeak MiB > MAX_API_MIB=$MAX_API_MIB")
  kill "$worker" "$api"; wait "$worker" "$api" 2>/dev/null || true
  PIDS=()
  rm -rf "$WORK/audio"
}

[ "$STORAGE" = s3 ] && start_s3
log "binary $BIN; storage $STORAGE; load: $(uptime)"
echo "| format | characters | audio MiB | worker peak RSS MiB | API peak RSS MiB | job s |"
echo "|---|---|---|---|---|---|"
for fmt in $FORMATS; do for n in $SIZES; do run_one "$fmt" "$n"; done; done
log "load after: $(uptime)"
if [ "${#OVER[@]}" -gt 0 ]; then
  printf '%s\n' "${OVER[@]}" >&2
  die "peak RSS above its bound for ${#OVER[@]} measurement(s)"
fi
log "every peak within MAX_WORKER_MIB=$MAX_WORKER_MIB and MAX_API_MIB=$MAX_API_MIB"
