#!/usr/bin/env bash
# Scraper benchmarks:
#   1. transform throughput per core (criterion, JSON documents and ~30 KB HTML pages);
#   2. a whole run (extract + load + transform) against the local demo site with
#      politeness off: documents per second;
#   3. peak memory of runs of 1,000 and 10,000 companies (flat means it does not grow);
#   4. search latency percentiles over 100,000 companies, through HTTP.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_start postgresql redis-server curl time
SEARCH_COMPANIES="${SEARCH_COMPANIES:-100000}"

criterion gleaner-scraper transform '^transform/|thrpt:|time:|average'

log "building release binaries"
cargo build -q --release -p gleaner-scraper -p gleaner-demo-site --bins --examples
work="$(mktemp -d /tmp/gleaner-bench-XXXXXX)"; chmod 755 "$work"
pg_port="$(free_port)"; redis_port="$(free_port)"; site_port="$(free_port)"; api_port="$(free_port)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_redis "$work/redis"; stop_postgres "$work/pg"; rm -rf "$work"
}
trap cleanup EXIT
start_postgres "$work/pg" "$pg_port"
start_redis "$work/redis" "$redis_port"
admin="postgres://postgres@127.0.0.1:$pg_port"
LISTEN_ADDR="127.0.0.1:$site_port" RUST_LOG=warn "$target/release/demo-site" --companies 10000 --seed 42 >"$work/site.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$site_port/health" 30 || die "demo site did not start"
site="http://127.0.0.1:$site_port"

# A spec caps requestsPerSecond; the unthrottled_run example lifts the cap (loopback only).
spec() { # spec PAGES
  printf '{"baseUrl":"%s","apiUrl":"%s","targets":{"listPages":{"from":1,"to":%d}},"concurrency":32,"requestsPerSecond":100,"maxRetries":1,"timeoutSeconds":3600,"respectRobotsTxt":false}' "$site" "$site" "$1"
}
run_scrape() { # run_scrape DB PAGES → prints "seconds max_rss_kb summary"
  psql "$admin/postgres" -qc "CREATE DATABASE $1" >/dev/null
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/rss" env DATABASE_URL="$admin/$1" SCRAPEJOB_SPEC="$(spec "$2")" \
    TERMINATION_LOG="$work/summary.json" RUST_LOG=warn "$target/release/examples/unthrottled_run" >/dev/null 2>>"$work/run.log" || true
  end=$(date +%s.%N)
  echo "$(python3 -c "print(round($end-$start,2))") $(cat "$work/rss") $(cat "$work/summary.json")"
}

log "whole run, politeness off: 2,000 companies"
read -r secs rss summary < <(run_scrape extract 20)
python3 - "$secs" "$summary" <<'PY'
import json, sys
secs = float(sys.argv[1]); s = json.loads(sys.argv[2])
print(f"  {s['pages_fetched']} documents in {secs:.2f} s = {s['pages_fetched']/secs:.0f} documents/s "
      f"(status {s['status']}, {s['companies_created']} companies)")
PY

log "peak memory: 1,000 vs 10,000 companies"
read -r secs1 rss1 _ < <(run_scrape mem1k 10)
read -r secs10 rss10 summary10 < <(run_scrape mem10k 100)
echo "  1,000 companies:  max RSS $((rss1 / 1024)) MiB ($secs1 s)"
echo "  10,000 companies: max RSS $((rss10 / 1024)) MiB ($secs10 s) $(python3 -c "import json,sys; s=json.loads(sys.argv[1]); print(s['status'], s['pages_fetched'], 'documents')" "$summary10")"

log "search latency over $SEARCH_COMPANIES companies"
psql "$admin/postgres" -qc "CREATE DATABASE search" >/dev/null
DATABASE_URL="$admin/search" "$target/release/scraper" migrate >/dev/null
DATABASE_URL="$admin/search" REDIS_URL="redis://127.0.0.1:$redis_port" JWKS_URL="http://127.0.0.1:1/jwks" \
  LISTEN_ADDR="127.0.0.1:$api_port" RUST_LOG=warn "$target/release/scraper" serve >"$work/api.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$api_port/health" 30 || die "scraper did not start"
DATABASE_URL="$admin/search" SCRAPER_URL="http://127.0.0.1:$api_port" COMPANIES="$SEARCH_COMPANIES" \
  "$target/release/examples/search_bench"
