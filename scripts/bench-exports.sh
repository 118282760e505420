#!/usr/bin/env bash
# Exports of 100,000 demo companies (docs/benchmarks.md, "Exports"): the shared registry
# of scripts/bench-data.sh (crawled once, kept), and services/scraper/examples/export_bench.rs
# starting a release `scraper serve` on it and downloading each format ROUNDS (3) times,
# with companies per second and the scraper's RSS before and at its peak.
# Settings (environment): ROUNDS (3), FORMATS ("ndjson csv ftm"), GZIP (1: each format
# gzip-compressed too), BENCH_BIN (release binaries built before: no build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
cd "$root"
ensure_packages postgresql postgresql-contrib redis-server curl
target="${CARGO_TARGET_DIR:-$root/target}"

if [ -n "${BENCH_BIN:-}" ]; then
  bin="$BENCH_BIN"
else
  log "building release binaries"
  cargo build -q --release -p gleaner-scraper --bin scraper --example export_bench
  bin="$target/release"
fi
db_url="$("$root/scripts/bench-data.sh" | tail -n 1 | sed 's/^DATABASE_URL=//')"

work="$(mktemp -d /tmp/gleaner-bench-exports-XXXXXX)"
chmod 755 "$work"
redis_port="$(free_port)"
cleanup() {
  stop_redis "$work/redis"
  rm -rf "$work"
}
trap cleanup EXIT
start_redis "$work/redis" "$redis_port"
DATABASE_URL="$db_url" "$bin/scraper" migrate >/dev/null
DATABASE_URL="$db_url" REDIS_URL="redis://127.0.0.1:$redis_port" SCRAPER_BIN="$bin/scraper" \
  ROUNDS="${ROUNDS:-3}" FORMATS="${FORMATS:-ndjson csv ftm}" GZIP="${GZIP:-1}" \
  "$bin/examples/export_bench"
