#!/usr/bin/env bash
# The full registry, measured (`make bench-scale`; method and last results in docs/scale.md).
#
# Release `scraper` and demo site on a throwaway PostgreSQL (with pg_stat_statements) and
# Redis, all on loopback:
#   1. first crawl and re-crawl (conditional requests: 304s) of SCALE_COMPANIES companies
#      with 1, 2 and 4 shards, politeness off: documents/s, wall time, peak RSS of each
#      shard process, PostgreSQL time per statement of the upsert;
#   2. database size per 1,000 companies, in total and per table;
#   3. the re-transform of every stored document: time, and RSS sampled once a second;
#   4. the rate limit held by the shards of one run through Redis: a fixed sample at a
#      polite rate and at the 100 requests/s maximum, with the busiest one-second window
#      at the site.
#
# Settings (environment): SCALE_COMPANIES (100000), SCALE_SHARDS ("1 2 4"),
# SCALE_CONCURRENCY (32 per shard), SCALE_POLITE ("2:1 2:4 100:4": rate:shards pairs),
# SCALE_POLITE_DOCS (about this many documents per polite sample, 120; the 100/s samples
# take 40 times as many; "" skips them), SCALE_RETRANSFORM (0 skips the size and
# re-transform steps), SCALE_BIN (a directory of release binaries built before, laid out
# as target/release: no build), SCALE_RESULTS (where the report is written, besides stdout),
# SCALE_KEEP (1: keep the work directory).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
cd "$root"
ensure_packages postgresql postgresql-contrib redis-server curl time
target="${CARGO_TARGET_DIR:-$root/target}"
COMPANIES="${SCALE_COMPANIES:-100000}"
SHARDS="${SCALE_SHARDS:-1 2 4}"
CONCURRENCY="${SCALE_CONCURRENCY:-32}"
POLITE="${SCALE_POLITE:-2:1 2:4 100:4}"
POLITE_DOCS="${SCALE_POLITE_DOCS:-120}"
RESULTS="${SCALE_RESULTS:-$target/bench-scale.txt}"
pages=$(((COMPANIES + 99) / 100))

if [ -n "${SCALE_BIN:-}" ]; then
  bin="$SCALE_BIN" # release binaries built before: scraper, demo-site, examples/{unthrottled_run,retransform}
else
  log "building release binaries"
  cargo build -q --release -p gleaner-scraper -p gleaner-demo-site --bins \
    --example unthrottled_run --example retransform
  bin="$target/release"
fi

work="$(mktemp -d /tmp/gleaner-scale-XXXXXX)"
chmod 755 "$work"
pg_port="$(free_port)"; redis_port="$(free_port)"; site_port="$(free_port)"; polite_port="$(free_port)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_redis "$work/redis"
  stop_postgres "$work/pg"
  if [ "${SCALE_KEEP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"
report() { printf '%s\n' "$*" | tee -a "$RESULTS"; }

# PostgreSQL with pg_stat_statements, so time per statement comes from the server itself.
mkdir -p "$work/pg"
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$work/pg"; chmod 700 "$work/pg"; fi
pg_run "$PG_BIN_DIR/initdb" -D "$work/pg" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
pg_run sh -c "printf '%s\n' \"shared_preload_libraries = 'pg_stat_statements'\" 'pg_stat_statements.track_utility = off' >>'$work/pg/postgresql.conf'"
start_postgres "$work/pg" "$pg_port"
start_redis "$work/redis" "$redis_port"
admin="postgres://postgres@127.0.0.1:$pg_port"
sql() { psql "$admin/$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
sql postgres "CREATE EXTENSION pg_stat_statements" >/dev/null

site="http://127.0.0.1:$site_port"
start=$(date +%s.%N)
LISTEN_ADDR="127.0.0.1:$site_port" RUST_LOG=warn "$bin/demo-site" --companies "$COMPANIES" --seed 42 \
  >"$work/site.log" 2>&1 &
site_pid=$!
pids+=("$site_pid")
wait_http "$site/health" 60 || die "demo site did not start"
ready=$(date +%s.%N)
vm() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status" 2>/dev/null || true; }

uuid() { python3 -c 'import uuid; print(uuid.uuid4())'; }
spec() { # spec RPS TARGETS_JSON
  printf '{"baseUrl":"%s","apiUrl":"%s","targets":%s,"concurrency":%d,"requestsPerSecond":%s,"maxRetries":1,"timeoutSeconds":86400,"respectRobotsTxt":false}' \
    "$2" "$2" "$3" "$CONCURRENCY" "$1"
}

# crawl LABEL DB SHARDS SPEC COMMAND...: the shards of one run as parallel processes, each
# under GNU time; prints one line of JSON (wall time, documents, statuses, peak RSS per shard).
crawl() {
  local label="$1" db="$2" n="$3" spec_json="$4" run_id i t0 t1 shard_pids=()
  shift 4
  run_id="$(uuid)"
  sql postgres "SELECT pg_stat_statements_reset()" >/dev/null
  t0=$(date +%s.%N)
  for ((i = 0; i < n; i++)); do
    /usr/bin/time -f '%M' -o "$work/$label.$i.rss" env DATABASE_URL="$admin/$db" \
      SCRAPEJOB_SPEC="$spec_json" SCRAPE_RUN_ID="$run_id" SCRAPE_SHARDS="$n" JOB_COMPLETION_INDEX="$i" \
      REDIS_URL="redis://127.0.0.1:$redis_port" SCRAPER_ALLOWED_HOSTS=127.0.0.1 \
      SCRAPER_ALLOWED_NETWORKS=127.0.0.0/8 TERMINATION_LOG="$work/$label.$i.json" RUST_LOG=warn \
      OTEL_SDK_DISABLED=true "$@" >/dev/null 2>>"$work/$label.$i.log" &
    shard_pids+=($!)
  done
  for p in "${shard_pids[@]}"; do wait "$p" || true; done
  t1=$(date +%s.%N)
  python3 - "$work" "$label" "$n" "$t0" "$t1" <<'PY'
import json, sys
work, label, n, t0, t1 = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
out = {"label": label, "shards": n, "seconds": round(t1 - t0, 2), "documents": 0, "unchanged": 0,
       "failed": 0, "created": 0, "updated": 0, "status": [], "rss_kib": []}
for i in range(n):
    try:
        s = json.load(open(f"{work}/{label}.{i}.json"))
    except (OSError, ValueError):
        s = {"status": "no summary"}
    out["status"].append(s.get("status"))
    for k, f in [("documents", "pages_fetched"), ("unchanged", "pages_unchanged"), ("failed", "pages_failed"),
                 ("created", "companies_created"), ("updated", "companies_updated")]:
        out[k] += s.get(f, 0)
    try:
        out["rss_kib"].append(int(open(f"{work}/{label}.{i}.rss").read().split()[-1]))
    except (OSError, ValueError, IndexError):
        out["rss_kib"].append(None)
out["per_second"] = round(out["documents"] / max(out["seconds"], 1e-9), 1)
print(json.dumps(out))
PY
}

# statements DB COMPANIES: PostgreSQL's own time for the run's statements (pg_stat_statements).
statements() {
  sql postgres "SELECT json_agg(s) FROM (SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, \
    round(mean_exec_time::numeric, 3) AS mean_ms, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS query \
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$1') \
    ORDER BY total_exec_time DESC LIMIT 8) s"
}

show_crawl() { # show_crawl JSON STATEMENTS_JSON
  python3 - "$1" "$2" "$COMPANIES" <<'PY'
import json, sys
c = json.loads(sys.argv[1]); st = json.loads(sys.argv[2] or "null") or []; companies = int(sys.argv[3])
rss = ", ".join(f"{r // 1024} MiB" if r else "?" for r in c["rss_kib"])
print(f"  {c['label']}: {c['shards']} shard(s), {c['documents']:,} documents ({c['unchanged']:,} unchanged, "
      f"{c['failed']} failed) in {c['seconds']:.1f} s = {c['per_second']:,.0f} documents/s; "
      f"created {c['created']:,}, updated {c['updated']:,}; status {','.join(map(str, c['status']))}; "
      f"peak RSS per shard {rss}")
total = sum(s["total_ms"] for s in st)
print(f"    PostgreSQL execution time (top statements): {total / 1000:.1f} s, "
      f"{total / max(companies, 1):.3f} ms per company")
for s in st:
    print(f"      {s['calls']:>8,} calls  mean {s['mean_ms']:>7.3f} ms  total {s['total_ms'] / 1000:>7.1f} s  {s['query']}")
PY
}

report "# bench-scale $(date -u +%Y-%m-%dT%H:%M:%SZ): $COMPANIES companies, shards: $SHARDS, concurrency $CONCURRENCY per shard"
report "machine: $(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MiB; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
report "demo site: ready in $(python3 -c "print(round($ready-$start, 2))") s, RSS $(( $(vm "$site_pid" VmRSS) / 1024 )) MiB with $COMPANIES companies"

first_db=""
for n in $SHARDS; do
  db="scale_$n"
  sql postgres "CREATE DATABASE $db" >/dev/null
  all="$(spec 100 "$site" "{\"listPages\":{\"from\":1,\"to\":$pages}}")"
  log "first crawl, $n shard(s)"
  first="$(crawl "first$n" "$db" "$n" "$all" "$bin/examples/unthrottled_run")"
  report "$(show_crawl "$first" "$(statements "$db")")"
  log "re-crawl, $n shard(s)"
  again="$(crawl "again$n" "$db" "$n" "$all" "$bin/examples/unthrottled_run")"
  report "$(show_crawl "$again" "$(statements "$db")")"
  report "  load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ -z "$first_db" ]; then first_db="$db"; else sql postgres "DROP DATABASE $db" >/dev/null; fi
done
report "demo site after the crawls: RSS $(( $(vm "$site_pid" VmRSS) / 1024 )) MiB, peak $(( $(vm "$site_pid" VmHWM) / 1024 )) MiB"

# size_and_retransform DB: database size per table, then the re-transform of every stored document.
size_and_retransform() {
  local first_db="$1" t0 t1 rt_pid r docs
  log "database size"
  sql "$first_db" "VACUUM ANALYZE" >/dev/null
  report "$(python3 - "$COMPANIES" "$(sql "$first_db" "SELECT json_build_object( \
    'database', pg_database_size(current_database()), \
    'raw_bytes', (SELECT coalesce(sum(size_bytes), 0) FROM raw_documents), \
    'raw_rows', (SELECT count(*) FROM raw_documents), \
    'companies_rows', (SELECT count(*) FROM companies), \
    'history_rows', (SELECT count(*) FROM company_history), \
    'tables', (SELECT json_object_agg(relname, pg_total_relation_size(oid)) FROM pg_class \
               WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace))")" <<'PY'
import json, sys
n = int(sys.argv[1]); d = json.loads(sys.argv[2]); k = max(n, 1) / 1000
mib = lambda b: b / 1048576
print(f"database after first crawl + re-crawl: {mib(d['database']):,.0f} MiB = {mib(d['database']) / k:.2f} MiB per 1,000 companies "
        f"({d['raw_rows']:,} raw documents, {mib(d['raw_bytes']):,.0f} MiB of bodies; {d['companies_rows']:,} companies; "
        f"{d['history_rows']:,} history rows)")
for t, b in sorted(d["tables"].items(), key=lambda x: -x[1]):
    if b >= 65536:
        print(f"  {t:<20} {mib(b):>9,.1f} MiB  {mib(b) / k:>7.3f} MiB per 1,000 companies")
PY
  )"

  log "re-transform of every stored document"
  docs="$(sql "$first_db" "SELECT count(DISTINCT url) FROM raw_documents WHERE kind <> 'company_list'")"
  sql postgres "SELECT pg_stat_statements_reset()" >/dev/null
  t0=$(date +%s.%N)
  DATABASE_URL="$admin/$first_db" RUST_LOG=warn OTEL_SDK_DISABLED=true "$bin/examples/retransform" \
    >"$work/retransform.json" 2>"$work/retransform.log" &
  rt_pid=$!
  : >"$work/retransform.rss"
  while kill -0 "$rt_pid" 2>/dev/null; do
    r="$(vm "$rt_pid" VmRSS)"
    [ -n "$r" ] && echo "$r" >>"$work/retransform.rss"
    sleep 1
  done
  wait "$rt_pid" || true
  t1=$(date +%s.%N)
  report "$(python3 - "$t0" "$t1" "$work/retransform.json" "$work/retransform.rss" "$docs" <<'PY'
import json, sys
t0, t1 = float(sys.argv[1]), float(sys.argv[2])
docs = int(sys.argv[5])
try:
    s = json.loads(open(sys.argv[3]).read().strip().splitlines()[-1])
except (OSError, ValueError, IndexError):
    s = {"status": "no summary", "pages_fetched": 0}
rss = [int(x) // 1024 for x in open(sys.argv[4]).read().split()]
secs = t1 - t0
print(f"re-transform: {docs:,} documents in {secs:.1f} s = {docs / max(secs, 1e-9):,.0f} documents/s, status {s.get('status')}, "
        f"updated {s.get('companies_updated', 0)}")
if rss:
    tenth = max(len(rss) // 10, 1)
    steady = rss[tenth:] or rss
    print(f"  RSS sampled every second ({len(rss)} samples): first {rss[0]} MiB, min {min(rss)} MiB, "
            f"max {max(rss)} MiB; after the first tenth min {min(steady)} MiB, max {max(steady)} MiB")
    step = max(len(rss) // 20, 1)
    print("  series (MiB): " + " ".join(str(x) for x in rss[::step]))
PY
  )"
  report "$(show_crawl '{"label":"retransform","shards":1,"seconds":0,"documents":0,"unchanged":0,"failed":0,"created":0,"updated":0,"status":[],"rss_kib":[],"per_second":0}' "$(statements "$first_db")" | tail -n +2)"
}
if [ "${SCALE_RETRANSFORM:-1}" != 0 ]; then size_and_retransform "$first_db"; fi

# The polite samples: the shards of one run share one limit in Redis; a second demo site
# logs every request so the busiest one-second window can be counted.
LISTEN_ADDR="127.0.0.1:$polite_port" RUST_LOG=info LOG_FORMAT=json "$bin/demo-site" \
  --companies "$COMPANIES" --seed 42 >"$work/polite-site.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$polite_port/health" 60 || die "second demo site did not start"
for pair in $POLITE; do
  rate="${pair%%:*}"; n="${pair##*:}"
  docs="$POLITE_DOCS"
  [ "${rate%.*}" -ge 50 ] && docs=$((POLITE_DOCS * 40))
  companies=$(((docs + 1) / 2))
  db="polite_${rate%.*}_$n"
  sql postgres "CREATE DATABASE $db" >/dev/null
  idnos="$(python3 - "$companies" <<PY
import json, sys, urllib.request
n = int(sys.argv[1]); out = []; page = 1
while len(out) < n:
    with urllib.request.urlopen(f"http://127.0.0.1:$polite_port/api/companies?page={page}&size=100") as r:
        data = json.load(r)["data"]
    if not data: break
    out += [c["idno"] for c in data]; page += 1
print(json.dumps({"idnos": out[:n]}))
PY
)"
  log "polite sample: $companies companies at $rate requests/s, $n shard(s)"
  mark="$(wc -l <"$work/polite-site.log")"
  result="$(crawl "polite${rate%.*}x$n" "$db" "$n" "$(spec "$rate" "http://127.0.0.1:$polite_port" "$idnos")" "$bin/scraper" run)"
  report "$(python3 - "$result" "$rate" "$work/polite-site.log" "$mark" <<'PY'
import json, sys
from datetime import datetime, timedelta
c = json.loads(sys.argv[1]); rate = float(sys.argv[2]); mark = int(sys.argv[4])
times = []
with open(sys.argv[3]) as f:
    for i, line in enumerate(f):
        if i < mark: continue
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("message") != "request" or e.get("path") in ("/health", "/ready"): continue
        end = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00"))
        times.append(end - timedelta(milliseconds=int(e.get("elapsed_ms", 0))))
times.sort()
best = lo = 0
for hi in range(len(times)):
    while times[hi] - times[lo] >= timedelta(seconds=1): lo += 1
    best = max(best, hi - lo + 1)
span = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0
rss = ", ".join(f"{r // 1024} MiB" if r else "?" for r in c["rss_kib"])
print(f"  polite {rate:g}/s, {c['shards']} shard(s): {c['documents']:,} documents in {c['seconds']:.1f} s "
      f"= {c['per_second']:.2f} documents/s; the site saw {len(times)} requests over {span:.1f} s, "
      f"busiest one-second window {best} (ceiling {rate:g}); status {','.join(map(str, c['status']))}; "
      f"peak RSS per shard {rss}")
PY
)"
  sql postgres "DROP DATABASE $db" >/dev/null
done
report "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
log "results in $RESULTS"
