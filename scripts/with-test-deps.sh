#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL (random port) whose admin URL is
# in TEST_DATABASE_URL. Tests create a fresh database each and start their
# own redis-server processes. Everything is removed afterwards.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
ensure_packages postgresql redis-server
command -v redis-server >/dev/null || die "redis-server not installed"

work="$(mktemp -d /tmp/gleaner-test-XXXXXX)"
chmod 755 "$work"
cleanup() { stop_postgres "$work/pg"; rm -rf "$work"; }
trap cleanup EXIT
# A port free when picked may be taken before the server binds it: then our
# server fails to start (pg_ctl waits for our own data directory's server) and
# another port is tried.
for attempt in 1 2 3 4 5; do
  port="$(free_port)"
  start_postgres "$work/pg" "$port" && break
  [ "$attempt" = 5 ] && die "PostgreSQL did not start; see $work/pg/server.log"
done
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:${port}/postgres"
log "test PostgreSQL on port $port"
"$@"
