#!/usr/bin/env bash
# Change feed benchmark (docs/benchmarks.md, "Change feed"): walk 1,000,000 changes by
# pages of 1,000 over HTTP, then the time from a change's commit to its event on an
# open stream. The example starts the scraper service in its own process on a fresh
# database of the throwaway PostgreSQL below, with a private redis-server.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_start postgresql redis-server

log "building the change feed bench (release)"
cargo build -q --release -p gleaner-scraper --example change_feed_bench
work="$(mktemp -d /tmp/gleaner-bench-XXXXXX)"; chmod 755 "$work"
pg_port="$(free_port)"
cleanup() { stop_postgres "$work/pg"; rm -rf "$work"; }
trap cleanup EXIT
start_postgres "$work/pg" "$pg_port"

log "1,000,000 changes walked by pages of 1,000; commit to event on an open stream"
TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres" RUST_LOG=warn \
  "$target/release/examples/change_feed_bench"
