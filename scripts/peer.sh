#!/usr/bin/env bash
# Installs the peer that `polyvox bench throughput --peer` measures against: the Python library
# kokoro-onnx (PyPI), pinned, with the same onnxruntime version Polyvox loads, in a venv outside
# the repository. It reads the int8 model and voices from Polyvox's own asset cache, so both sides
# run the same weights. Idempotent.
# Usage: scripts/peer.sh   (prints the venv's python)
source "$(dirname "$0")/lib.sh"
venv="$POLYVOX_TOOLS_DIR/peer-venv"
want="kokoro-onnx==0.6.1 onnxruntime==1.32.0"
if [ ! -f "$venv/.polyvox-ok" ] || [ "$(cat "$venv/.polyvox-ok")" != "$want" ]; then
  log "installing the peer ($want) into $venv"
  apt_ensure python3-venv
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q $want
  echo "$want" > "$venv/.polyvox-ok"
fi
echo "$venv/bin/python"
