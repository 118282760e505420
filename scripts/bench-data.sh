#!/usr/bin/env bash
# A registry of BENCH_COMPANIES demo companies (100,000 by default), crawled once into a
# PostgreSQL that stays up, for the read benchmarks (people, relations, reconciliation,
# exports, change feed) to share. Prints `DATABASE_URL=...` on its last line.
#
#   scripts/bench-data.sh          start it (crawl first when the database is missing)
#   scripts/bench-data.sh stop     stop its PostgreSQL
#   scripts/bench-data.sh fresh    throw it away and crawl again
#
# Settings (environment): BENCH_COMPANIES (100000), BENCH_DIR (/var/tmp/gleaner-bench-data: the postgres user must reach it),
# BENCH_PG_PORT (55432), BENCH_BIN (release binaries built before, laid out as
# target/release: no build). The crawl is the unthrottled pipeline of docs/scale.md
# (politeness off, 32 concurrent requests) against the release demo site with seed 42.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
cd "$root"
ensure_packages postgresql postgresql-contrib redis-server curl
COMPANIES="${BENCH_COMPANIES:-100000}"
DIR="${BENCH_DIR:-/var/tmp/gleaner-bench-data}"
PORT="${BENCH_PG_PORT:-55432}"
target="${CARGO_TARGET_DIR:-$root/target}"
db="registry_$COMPANIES"
admin="postgres://postgres@127.0.0.1:$PORT"
url="$admin/$db"

case "${1:-start}" in
  stop) stop_postgres "$DIR/pg"; exit 0 ;;
  fresh) stop_postgres "$DIR/pg"; rm -rf "$DIR" ;;
  start) ;;
  *) die "usage: $0 [start|stop|fresh]" ;;
esac

mkdir -p "$DIR"
chmod 755 "$DIR"
if ! pg_isready -q -h 127.0.0.1 -p "$PORT"; then
  start_postgres "$DIR/pg" "$PORT"
fi
sql() { psql "$admin/$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
if [ "$(sql postgres "SELECT count(*) FROM pg_database WHERE datname = '$db'")" = 1 ] &&
  [ "$(sql "$db" "SELECT count(*) FROM companies" 2>/dev/null || echo 0)" -ge "$COMPANIES" ]; then
  log "$db is ready ($COMPANIES companies)"
  echo "DATABASE_URL=$url"
  exit 0
fi

if [ -n "${BENCH_BIN:-}" ]; then
  bin="$BENCH_BIN"
else
  log "building release binaries"
  cargo build -q --release -p gleaner-scraper -p gleaner-demo-site --bins --example unthrottled_run
  bin="$target/release"
fi

sql postgres "DROP DATABASE IF EXISTS $db" >/dev/null
sql postgres "CREATE DATABASE $db" >/dev/null
site_port="$(free_port)"
redis_port="$(free_port)"
work="$(mktemp -d /tmp/gleaner-bench-data-XXXXXX)"
site_pid=""
cleanup() {
  [ -n "$site_pid" ] && kill "$site_pid" 2>/dev/null
  stop_redis "$work/redis"
  rm -rf "$work"
}
trap cleanup EXIT
start_redis "$work/redis" "$redis_port"
site="http://127.0.0.1:$site_port"
LISTEN_ADDR="127.0.0.1:$site_port" RUST_LOG=warn "$bin/demo-site" --companies "$COMPANIES" --seed 42 \
  >"$work/site.log" 2>&1 &
site_pid=$!
wait_http "$site/health" 60 || die "demo site did not start"

pages=$(((COMPANIES + 99) / 100))
spec="$(printf '{"baseUrl":"%s","apiUrl":"%s","targets":{"listPages":{"from":1,"to":%d}},"concurrency":32,"requestsPerSecond":100,"maxRetries":1,"timeoutSeconds":86400,"respectRobotsTxt":false}' \
  "$site" "$site" "$pages")"
log "crawling $COMPANIES companies into $db"
t0=$(date +%s)
DATABASE_URL="$url" SCRAPEJOB_SPEC="$spec" SCRAPE_RUN_ID="$(python3 -c 'import uuid; print(uuid.uuid4())')" \
  REDIS_URL="redis://127.0.0.1:$redis_port" SCRAPER_ALLOWED_HOSTS=127.0.0.1 \
  SCRAPER_ALLOWED_NETWORKS=127.0.0.0/8 TERMINATION_LOG="$work/summary.json" RUST_LOG=warn \
  OTEL_SDK_DISABLED=true "$bin/examples/unthrottled_run" >/dev/null 2>"$work/run.log" ||
  die "the crawl failed: $(tail -n 5 "$work/run.log")"
log "crawled in $(($(date +%s) - t0)) s: $(cat "$work/summary.json" 2>/dev/null)"
sql "$db" "VACUUM ANALYZE" >/dev/null
echo "DATABASE_URL=$url"
