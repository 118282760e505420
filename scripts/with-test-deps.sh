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
start_postgres_on_free_port "$work/pg"
port="$PG_PORT"
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:${port}/postgres"
log "test PostgreSQL on port $port"
"$@"
