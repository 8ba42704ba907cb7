#!/usr/bin/env bash
# One command from a fresh machine to a running Polyvox (embedded default: one process, no
# external services): installs what is missing, builds a release binary, fetches the model
# assets, then serves on http://127.0.0.1:8080. Extra arguments go to `polyvox serve`.
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh" release
exec "$(polyvox_bin release)" serve "$@"
