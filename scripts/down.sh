#!/usr/bin/env bash
# `make down`: stop what `make up` started (services, and PostgreSQL/Redis if
# it started them), and return once each has exited. Data stays in .gleaner/
# for the next `make up`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
state="$root/.gleaner"
[ -d "$state/run" ] || { log "nothing to stop"; exit 0; }
for pidf in "$state"/run/*.pid; do
  [ -e "$pidf" ] || continue
  name="$(basename "$pidf" .pid)"
  if pid="$(service_pid "$state" "$name")"; then
    stop_pid "$name" "$pid"
  fi
  rm -f "$pidf" "$state/run/$name.stamp"
done
if [ -f "$state/run/redis.ours" ]; then
  log "stopping Redis"
  stop_redis "$state/redis"
  rm -f "$state/run/redis.ours"
fi
if [ -f "$state/run/postgres.ours" ]; then
  log "stopping PostgreSQL"
  stop_postgres "$state/pgdata"
  rm -f "$state/run/postgres.ours"
fi
log "stopped"
