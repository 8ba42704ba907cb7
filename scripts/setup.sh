#!/usr/bin/env bash
# Prepares a fresh machine: system packages, a build, and the model assets.
# Usage: scripts/setup.sh [debug|release]
source "$(dirname "$0")/lib.sh"
profile="${1:-release}"
ensure_system_deps
log "building polyvox ($profile)"
if [ "$profile" = release ]; then cargo build --release -p polyvox --manifest-path "$ROOT/Cargo.toml"
else cargo build -p polyvox --manifest-path "$ROOT/Cargo.toml"; fi
log "fetching model assets into $POLYVOX_ASSETS_DIR"
"$(polyvox_bin "$profile")" models fetch
