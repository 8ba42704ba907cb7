# Shared helpers for Polyvox's scripts. Sourced, not run.
# Why one file: setup, run and test must agree on where builds and assets live, or CI would
# rebuild and re-download what a developer's run already has.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Build output outside the clone, so a fresh CI clone on the same machine reuses earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/polyvox-target}"
# Model assets (model, voices, ONNX Runtime, lexicons): fetched by `polyvox models fetch`.
export POLYVOX_ASSETS_DIR="${POLYVOX_ASSETS_DIR:-$HOME/.cache/polyvox}"
# Tool venvs (ASR judge, OpenAI SDK, browser driver) live beside the assets, never in the repo.
export POLYVOX_TOOLS_DIR="${POLYVOX_TOOLS_DIR:-$HOME/.cache/polyvox-tools}"

log() { printf '\033[1;34m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[1;31merror: %s\033[0m\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $*"; fi
}

APT_UPDATED=0
# Installs Debian packages that are missing; a no-op (no network) when all are present.
apt_ensure() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing system packages: ${missing[*]} (install them with your package manager)"
  log "installing system packages: ${missing[*]}"
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Build and runtime needs of the default build. espeak-ng (GPL-3.0) is only ever run as a separate
# process for out-of-lexicon words; Polyvox builds and runs without it.
ensure_system_deps() {
  # mecab-ipadic: the IPADIC sources `polyvox models fetch` builds the Japanese dictionary from.
  apt_ensure pkg-config libopus-dev libmp3lame-dev espeak-ng python3-venv mecab-ipadic
  command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
}

polyvox_bin() { echo "$CARGO_TARGET_DIR/${1:-debug}/polyvox"; }
