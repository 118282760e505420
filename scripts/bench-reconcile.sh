#!/usr/bin/env bash
# Reconciliation latency and quality over 100,000 demo companies (docs/benchmarks.md,
# "Reconciliation"): a copy of the shared registry of scripts/bench-data.sh (crawled
# once, kept), a release `scraper serve` on it (its migrations bring the trigram
# indexes), and
# services/scraper/examples/reconcile_bench.rs sending BATCHES (300) batches of 10
# reconciliation queries one after another. RECONCILE_DB names the copy (reconcile_bench).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
cd "$root"
ensure_packages postgresql postgresql-contrib redis-server curl
target="${CARGO_TARGET_DIR:-$root/target}"

log "building release binaries"
cargo build -q --release -p gleaner-scraper --bin scraper --example reconcile_bench
shared="$("$root/scripts/bench-data.sh" | tail -n 1 | sed 's/^DATABASE_URL=//')"
# A private copy of the shared registry: this build's migrations are applied to the copy,
# never to the registry other benchmarks read with their own builds.
admin="${shared%/*}"
copy="${RECONCILE_DB:-reconcile_bench}"
if [ "$(psql "$admin/postgres" -XAtqc "SELECT count(*) FROM pg_database WHERE datname = '$copy'")" != 1 ]; then
  log "copying ${shared##*/} to $copy"
  for _ in $(seq 1 60); do
    psql "$admin/postgres" -XAtqc "CREATE DATABASE $copy TEMPLATE ${shared##*/}" 2>/dev/null && break
    sleep 5 # the template must have no other session
  done
fi
db_url="$admin/$copy"

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
