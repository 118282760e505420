#!/usr/bin/env bash
# `make down`: stop what `make up` started (services, and PostgreSQL/Redis if it started
# them), and return once each has exited. Data stays in .gleaner/ for the next `make up`.
# `scripts/down.sh NAME...` stops only those services (`make up` restarts a service whose
# binary was rebuilt this way).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
state="$root/.gleaner"

# service_pid NAME: the pid of a service `make up` started, if it still runs that binary.
service_pid() {
  local pidf="$state/run/$1.pid" pid exe
  [ -f "$pidf" ] || return 1
  pid="$(cat "$pidf")"
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
  exe="${exe% (deleted)}"
  [ "${exe##*/}" = "$1" ] || return 1
  printf '%s\n' "$pid"
}

# stop_pid NAME PID: SIGTERM, up to 15 s to finish, then SIGKILL; returns once it has exited.
stop_pid() {
  local name="$1" pid="$2"
  kill -0 "$pid" 2>/dev/null || return 0
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" 15 && return 0
  log "$name did not stop within 15 s: killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 5 || die "$name (pid $pid) is still running"
}

# stop_service NAME: stop it if it runs, forget its pid.
stop_service() {
  local pid
  if pid="$(service_pid "$1")"; then stop_pid "$1" "$pid"; fi
  rm -f "$state/run/$1.pid" "$state/run/$1.stamp"
}

if [ $# -gt 0 ]; then
  for name in "$@"; do stop_service "$name"; done
  exit 0
fi
[ -d "$state/run" ] || { log "nothing to stop"; exit 0; }
for pidf in "$state"/run/*.pid; do
  [ -e "$pidf" ] || continue
  stop_service "$(basename "$pidf" .pid)"
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
