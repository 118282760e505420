#!/usr/bin/env bash
# `make down`: stop what `make up` started (services, and PostgreSQL/Redis if
# it started them). Data stays in .gleaner/ for the next `make up`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
state="$root/.gleaner"
[ -d "$state/run" ] || { log "nothing to stop"; exit 0; }
for pidf in "$state"/run/*.pid; do
  [ -e "$pidf" ] || continue
  name="$(basename "$pidf" .pid)"
  pid="$(cat "$pidf")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidf"
done
if [ -f "$state/run/redis.ours" ]; then log "stopping Redis"; stop_redis "$state/redis"; rm -f "$state/run/redis.ours"; fi
if [ -f "$state/run/postgres.ours" ]; then log "stopping PostgreSQL"; stop_postgres "$state/pgdata"; rm -f "$state/run/postgres.ours"; fi
log "stopped"
