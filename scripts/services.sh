#!/usr/bin/env bash
# Makes sure the real services the tests talk to are answering, starting (and installing) them when
# they are not. Never stops or wipes a service it did not start.
# Usage: scripts/services.sh [postgres] [redis]   (default: both)
source "$(dirname "$0")/lib.sh"

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then return 0; fi
  apt_ensure postgresql
  log "starting PostgreSQL"
  local ver; ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  [ -n "$ver" ] || die "PostgreSQL is installed but has no cluster in /etc/postgresql"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL did not come up on 127.0.0.1:5432"
  # The tests use a database `test` reachable without a password from loopback.
  as_root su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='test'\" | grep -q 1 || createdb test" || true
}

ensure_redis() {
  if command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; then return 0; fi
  apt_ensure redis-server redis-tools
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp \
    --logfile /tmp/polyvox-redis.log
  for _ in $(seq 1 30); do [ "$(redis-cli -h 127.0.0.1 ping 2>/dev/null)" = PONG ] && break; sleep 0.5; done
  [ "$(redis-cli -h 127.0.0.1 ping 2>/dev/null)" = PONG ] || die "Redis did not come up on 127.0.0.1:6379"
}

wanted=("$@"); [ ${#wanted[@]} -eq 0 ] && wanted=(postgres redis)
for s in "${wanted[@]}"; do "ensure_$s"; log "$s is up"; done
