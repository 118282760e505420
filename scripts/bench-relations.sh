#!/usr/bin/env bash
# People and relations at scale (method and last results: docs/benchmarks.md, "People and
# relations"). On a throwaway PostgreSQL (fsync off), all on loopback:
#   1. a first crawl of RELATIONS_COMPANIES demo companies (100,000) with the unthrottled
#      pipeline of docs/scale.md (politeness off, 32 concurrent requests, seed 42), which now
#      writes people and roles in each company's transaction: documents/s;
#   2. the size of the relation tables per company, after VACUUM ANALYZE;
#   3. latency percentiles of GET /api/v1/people?q=, /companies/{idno}/related and
#      /companies/{idno}/graph?depth=2 through the release scraper (examples/relations_bench);
#   4. the re-transform of every stored document (examples/retransform, the pipeline of
#      POST /api/v1/transform): documents/s, as docs/scale.md measures it;
#   5. the same re-transform after the relation tables are emptied, as on a database
#      written before they existed: it fills them in (documents/s, and the rows it wrote).
#
# Settings (environment): RELATIONS_COMPANIES (100000), RELATIONS_ROUNDS (requests per
# endpoint, 300), RELATIONS_BIN (release binaries built before, laid out as target/release:
# no build), RELATIONS_RESULTS (where the report is written besides stdout),
# RELATIONS_DATABASE_URL (a registry crawled before, e.g. by scripts/bench-data.sh: no crawl,
# and steps 2 to 4 run on it; the re-transform writes nothing there when its documents are
# unchanged, and step 5, which empties the relation tables, is left out).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_start postgresql postgresql-contrib redis-server curl
COMPANIES="${RELATIONS_COMPANIES:-100000}"
ROUNDS="${RELATIONS_ROUNDS:-300}"
RESULTS="${RELATIONS_RESULTS:-$target/bench-relations.txt}"
pages=$(((COMPANIES + 99) / 100))

if [ -n "${RELATIONS_BIN:-}" ]; then
  bin="$RELATIONS_BIN"
else
  log "building release binaries"
  cargo build -q --release -p gleaner-scraper -p gleaner-demo-site --bins \
    --example unthrottled_run --example retransform --example relations_bench
  bin="$target/release"
fi

work="$(mktemp -d /tmp/gleaner-relations-XXXXXX)"
chmod 755 "$work"
pg_port="$(free_port)"; redis_port="$(free_port)"; site_port="$(free_port)"; api_port="$(free_port)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_redis "$work/redis"
  stop_postgres "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"
report() { printf '%s\n' "$*" | tee -a "$RESULTS"; }

start_redis "$work/redis" "$redis_port"
if [ -n "${RELATIONS_DATABASE_URL:-}" ]; then
  db="$RELATIONS_DATABASE_URL"
else
  start_postgres "$work/pg" "$pg_port"
  admin="postgres://postgres@127.0.0.1:$pg_port"
  db="$admin/relations"
  psql "$admin/postgres" -XAtq -c "CREATE DATABASE relations" >/dev/null
fi
sql() { psql "$db" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

report "# bench-relations $(date -u +%Y-%m-%dT%H:%M:%SZ): $(git -C "$root" rev-parse --short HEAD)"
report "machine: $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# seconds_of COMMAND...: run it, print its wall time in seconds.
seconds_of() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  python3 -c "print(round($t1 - $t0, 2))"
}

if [ -z "${RELATIONS_DATABASE_URL:-}" ]; then
  LISTEN_ADDR="127.0.0.1:$site_port" RUST_LOG=warn "$bin/demo-site" --companies "$COMPANIES" --seed 42 \
    >"$work/site.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$site_port/health" 60 || die "demo site did not start"
  site="http://127.0.0.1:$site_port"
  log "first crawl of $COMPANIES companies"
  spec="$(printf '{"baseUrl":"%s","apiUrl":"%s","targets":{"listPages":{"from":1,"to":%d}},"concurrency":32,"requestsPerSecond":100,"maxRetries":1,"timeoutSeconds":86400,"respectRobotsTxt":false}' \
    "$site" "$site" "$pages")"
  crawl() {
    DATABASE_URL="$db" SCRAPEJOB_SPEC="$spec" TERMINATION_LOG="$work/crawl.json" RUST_LOG=warn \
      OTEL_SDK_DISABLED=true "$bin/examples/unthrottled_run" >/dev/null 2>>"$work/crawl.log" || true
  }
  secs="$(seconds_of crawl)"
  report "$(python3 - "$secs" "$work/crawl.json" <<'PY'
import json, sys
secs = float(sys.argv[1])
try:
    s = json.load(open(sys.argv[2]))
except (OSError, ValueError):
    s = {"status": "no summary"}
d = s.get("pages_fetched", 0)
print(f"first crawl: {d:,} documents in {secs:.1f} s = {d / max(secs, 1e-9):,.0f} documents/s, "
      f"status {s.get('status')}, created {s.get('companies_created', 0):,}, failed {s.get('pages_failed', 0)}")
PY
)"
  report "load average after the crawl: $(cut -d' ' -f1-3 /proc/loadavg)"
  sql "VACUUM ANALYZE" >/dev/null
else
  report "registry: $db (crawled before)"
fi

log "latency through the scraper"
DATABASE_URL="$db" REDIS_URL="redis://127.0.0.1:$redis_port" JWKS_URL="http://127.0.0.1:1/jwks" \
  LISTEN_ADDR="127.0.0.1:$api_port" RUST_LOG=warn OTEL_SDK_DISABLED=true "$bin/scraper" serve >"$work/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
wait_http "http://127.0.0.1:$api_port/health" 60 || die "scraper did not start"
DATABASE_URL="$db" SCRAPER_URL="http://127.0.0.1:$api_port" ROUNDS="$ROUNDS" \
  "$bin/examples/relations_bench" | tee -a "$RESULTS"
kill "$api_pid" 2>/dev/null || true
report "load average after the reads: $(cut -d' ' -f1-3 /proc/loadavg)"

# retransform LABEL: re-transform every stored document; documents/s as docs/scale.md counts them.
retransform() {
  local label="$1" docs secs
  docs="$(sql "SELECT count(DISTINCT url) FROM raw_documents WHERE kind <> 'company_list'")"
  run() {
    DATABASE_URL="$db" RUST_LOG=warn OTEL_SDK_DISABLED=true "$bin/examples/retransform" \
      >"$work/retransform.json" 2>"$work/retransform.log" || true
  }
  secs="$(seconds_of run)"
  report "$(python3 - "$label" "$docs" "$secs" "$work/retransform.json" <<'PY'
import json, sys
label, docs, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    s = json.loads(open(sys.argv[4]).read().strip().splitlines()[-1])
except (OSError, ValueError, IndexError):
    s = {"status": "no summary"}
print(f"{label}: {docs:,} documents in {secs:.1f} s = {docs / max(secs, 1e-9):,.0f} documents/s, "
      f"status {s.get('status')}, created {s.get('companies_created', 0)}, updated {s.get('companies_updated', 0)}")
PY
)"
}
log "re-transform"
retransform "re-transform (relations in place)"
report "  rows after: $(sql "SELECT count(*) || ' people, ' || (SELECT count(*) FROM company_roles) || ' roles' FROM people")"
report "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -z "${RELATIONS_DATABASE_URL:-}" ]; then
  log "re-transform of a database written before relations were kept"
  sql "TRUNCATE company_roles, people" >/dev/null
  sql "UPDATE company_search SET name_norm = NULL" >/dev/null
  sql "VACUUM ANALYZE" >/dev/null
  retransform "re-transform (relations filled in)"
  report "  rows after: $(sql "SELECT count(*) || ' people, ' || (SELECT count(*) FROM company_roles) || ' roles, ' || (SELECT count(*) FROM company_search WHERE name_norm IS NULL) || ' names not folded' FROM people")"
fi
report "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
log "results in $RESULTS"
