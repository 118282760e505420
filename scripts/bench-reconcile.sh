#!/usr/bin/env bash
# Reconciliation latency and quality over 100,000 demo companies (docs/benchmarks.md,
# "Reconciliation"): the shared registry of scripts/bench-data.sh (crawled once, kept),
# a release `scraper serve` on it (its migrations bring the trigram indexes), and
# services/scraper/examples/reconcile_bench.rs sending BATCHES (300) batches of 10
# reconciliation queries one after another.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
cd "$root"
ensure_packages postgresql postgresql-contrib redis-server curl
target="${CARGO_TARGET_DIR:-$root/target}"

log "building release binaries"
cargo build -q --release -p gleaner-scraper --bin scraper --example reconcile_bench
db_url="$("$root/scripts/bench-data.sh" | tail -n 1 | sed 's/^DATABASE_URL=//')"

work="$(mktemp -d /tmp/gleaner-bench-reconcile-XXXXXX)"
chmod 755 "$work"
redis_port="$(free_port)"; api_port="$(free_port)"
api_pid=""
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null
  stop_redis "$work/redis"
  rm -rf "$work"
}
trap cleanup EXIT
start_redis "$work/redis" "$redis_port"
DATABASE_URL="$db_url" "$target/release/scraper" migrate >/dev/null
DATABASE_URL="$db_url" REDIS_URL="redis://127.0.0.1:$redis_port" JWKS_URL="http://127.0.0.1:1/jwks" \
  LISTEN_ADDR="127.0.0.1:$api_port" RUST_LOG=warn OTEL_SDK_DISABLED=true \
  "$target/release/scraper" serve >"$work/api.log" 2>&1 &
api_pid=$!
wait_http "http://127.0.0.1:$api_port/health" 60 || die "scraper did not start: $(tail -n 5 "$work/api.log")"
DATABASE_URL="$db_url" SCRAPER_URL="http://127.0.0.1:$api_port" BATCHES="${BATCHES:-300}" \
  "$target/release/examples/reconcile_bench"
