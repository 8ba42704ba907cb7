#!/usr/bin/env bash
# Supply-chain checks with cargo deny (rules in deny.toml): licences, banned and duplicate
# crates, sources, and security advisories against the RustSec advisory database.
# cargo-deny comes from crates.io (scripts/tools.sh). The advisory database is a git repository
# that cargo deny fetches into $POLYVOX_TOOLS_DIR/advisory-dbs; where that cannot be done (no
# route to its host) and no copy is there from an earlier run, the advisories check FAILS, after
# the other checks have run and been reported: a supply-chain check that cannot see advisories
# must not pass as if it had.
# Usage: scripts/deny.sh [policy|advisories|all]   (policy: licences, bans, sources; default all)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export POLYVOX_TOOLS_DIR
deny="$POLYVOX_TOOLS_DIR/bin/cargo-deny"
[ -x "$deny" ] || die "cargo-deny missing at $deny: run scripts/tools.sh"

what=${1:-all}
case $what in policy|advisories|all) ;; *) die "usage: scripts/deny.sh [policy|advisories|all]" ;; esac
if [ "$what" != advisories ]; then "$deny" --locked check licenses bans sources; fi
[ "$what" = policy ] && exit 0

dbs="$POLYVOX_TOOLS_DIR/advisory-dbs"
if ! "$deny" --locked fetch db >"$POLYVOX_TOOLS_DIR/deny-fetch.log" 2>&1; then
  if ! compgen -G "$dbs/*/.git" >/dev/null; then
    sed 's/^/    /' "$POLYVOX_TOOLS_DIR/deny-fetch.log" >&2
    die "cargo deny: the RustSec advisory database could not be fetched and there is no copy in $dbs.
    The advisories check cannot run, so the supply-chain check fails (it is not skipped).
    Put a clone of the advisory database there (a directory per database, as cargo deny fetch
    db makes it) and run again."
  fi
  log "advisory database not refreshed (see $POLYVOX_TOOLS_DIR/deny-fetch.log); checking against the copy in $dbs"
fi
"$deny" --locked check --disable-fetch advisories
