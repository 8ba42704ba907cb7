#!/usr/bin/env bash
# The cache-hit path of an embedded `polyvox serve`: a whole-file `/v1/audio/speech` request
# ("stream": false) whose audio is already in the result cache, hammered by wrk on loopback.
# Usage: scripts/bench-cache-hit.sh URL [SECONDS] [CONNECTIONS]
# The first request synthesizes and caches the file; wrk then measures hits only (the script
# checks the X-Polyvox-Cache header says hit before it starts). With API keys on, set POLYVOX_API_KEY
# to a token from `polyvox keys create --max-concurrent 0` (more than 8 connections on one key would
# otherwise meet the per-key concurrency cap); against `serve --no-auth` leave it unset.
source "$(dirname "$0")/lib.sh"
url="${1:?usage: bench-cache-hit.sh URL [SECONDS] [CONNECTIONS]}"
secs="${2:-10}"
conns="${3:-32}"
command -v wrk >/dev/null || apt_ensure wrk
auth=()
[ -n "${POLYVOX_API_KEY:-}" ] && auth=(-H "Authorization: Bearer $POLYVOX_API_KEY")
body='{"model":"tts-1","input":"Your order has shipped.","voice":"af_heart","response_format":"mp3","stream":false}'
curl -sf -o /dev/null "${auth[@]}" -H 'Content-Type: application/json' -d "$body" "$url/v1/audio/speech" \
  || die "priming request failed"
hit=$(curl -sf -D - -o /dev/null "${auth[@]}" -H 'Content-Type: application/json' -d "$body" "$url/v1/audio/speech" \
  | tr -d '\r' | awk -F': ' 'tolower($1)=="x-polyvox-cache"{print $2}')
[ "$hit" = hit ] || die "second request was not a cache hit (X-Polyvox-Cache: ${hit:-absent})"
lua=$(mktemp --suffix .lua)
trap 'rm -f "$lua"' EXIT
cat > "$lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA
[ -n "${POLYVOX_API_KEY:-}" ] && echo "wrk.headers[\"Authorization\"] = \"Bearer $POLYVOX_API_KEY\"" >> "$lua"
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$lua" "$url/v1/audio/speech"
