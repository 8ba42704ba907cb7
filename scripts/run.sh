#!/usr/bin/env bash
# One command from a fresh machine to a running Polyvox (embedded default: one process, no
# external services): installs what is missing, builds a release binary, fetches the model
# assets, then serves on http://127.0.0.1:8080. Extra arguments go to `polyvox serve`.
# It runs without API keys on purpose, for one person on a laptop: the bind address is loopback and the
# server logs a warning. Anything reachable by others should create keys (`polyvox keys create`) and drop
# --no-auth.
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh" release
exec "$(polyvox_bin release)" serve --no-auth "$@"
