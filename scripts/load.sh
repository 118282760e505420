#!/usr/bin/env bash
# `make load`: a load run through the gateway, and the memory that comes back after it.
#
# Release builds of identity, the scraper, the app and the gateway on a throwaway
# PostgreSQL and Redis; companies from a scrape of the demo site; users registered and
# their tokens minted. Then wrk (benches/load.lua) drives a mix of public and
# authenticated routes through the gateway with the gateway's rate limits on:
# LOAD_CONNECTIONS (1024) connections for LOAD_DURATION (60) seconds.
#
# It prints requests/s, latency percentiles, statuses per route, and the rate-limit
# arithmetic per key (what each key sent against what its quota allows), then the
# resident memory of every service after start, right after the run and after
# LOAD_IDLE_SECONDS (60) of idleness. It fails on any 5xx or socket error, on a 429
# to a key under its quota, on a key allowed more than its quota, and when a
# service's idle RSS is above twice its after-start RSS. `make soak` is the same with
# a steady, moderate load for 10 minutes, and also fails when memory grows.
# The method and the last results are in docs/benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
cd "$root"
ensure_packages postgresql redis-server wrk curl iproute2
target="${CARGO_TARGET_DIR:-$root/target}"
CONNECTIONS="${LOAD_CONNECTIONS:-1024}"
DURATION="${LOAD_DURATION:-60}"
DELAY_MS="${LOAD_DELAY_MS:-0}"
IDLE_SECONDS="${LOAD_IDLE_SECONDS:-60}"
SAMPLE_SECONDS="${LOAD_SAMPLE_SECONDS:-30}"
USERS="${LOAD_USERS:-256}"
ADDRESSES="${LOAD_ADDRESSES:-512}"
COMPANIES="${LOAD_COMPANIES:-500}"
RATE="${LOAD_RATE_LIMIT_PER_SECOND:-10}"
BURST="${LOAD_RATE_LIMIT_BURST:-20}"
THREADS="${LOAD_THREADS:-2}"
[ "$CONNECTIONS" -lt "$THREADS" ] && THREADS="$CONNECTIONS"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
services=(identity scraper app gateway)

if [ "${LOAD_BUILD:-1}" = 1 ]; then
  log "building the services and the demo site (release)"
  cargo build -q --release --bins -p gleaner-identity -p gleaner-scraper -p gleaner-app \
    -p gleaner-gateway -p gleaner-demo-site
fi
work="$(mktemp -d /tmp/gleaner-load-XXXXXX)"; chmod 755 "$work"
pg_port="$(free_port)"; redis_port="$(free_port)"; site_port="$(free_port)"
declare -A port pid
for s in "${services[@]}"; do port[$s]="$(free_port)"; done
cleanup() {
  [ -n "${sampler_pid:-}" ] && kill "$sampler_pid" 2>/dev/null || true
  [ -n "${site_pid:-}" ] && kill "$site_pid" 2>/dev/null || true
  for s in "${services[@]}"; do [ -n "${pid[$s]:-}" ] && kill "${pid[$s]}" 2>/dev/null || true; done
  stop_redis "$work/redis"; stop_postgres "$work/pg"
  if [ "${LOAD_KEEP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
start_postgres "$work/pg" "$pg_port"
start_redis "$work/redis" "$redis_port"
admin="postgres://postgres@127.0.0.1:$pg_port"
redis="redis://127.0.0.1:$redis_port"
for db in identity scraper app; do psql "$admin/postgres" -qc "CREATE DATABASE $db" >/dev/null; done
"$target/release/identity" migrate --database-url "$admin/identity" >/dev/null
"$target/release/scraper" migrate --database-url "$admin/scraper" >/dev/null
"$target/release/app" migrate --database-url "$admin/app" >/dev/null
"$target/release/identity" keygen --out "$work/key.pem" >/dev/null

# --- Companies: a scrape of the demo site --------------------------------------------
log "scraping $COMPANIES companies from the demo site"
LISTEN_ADDR="127.0.0.1:$site_port" RUST_LOG=warn "$target/release/demo-site" \
  --companies "$COMPANIES" --seed 42 >"$work/demo-site.log" 2>&1 &
site_pid=$!
wait_http "http://127.0.0.1:$site_port/health" 30 || die "the demo site did not start"
site="http://127.0.0.1:$site_port"
egress=(SCRAPER_ALLOWED_HOSTS=127.0.0.1 SCRAPER_ALLOWED_NETWORKS=127.0.0.0/8)
spec="{\"baseUrl\":\"$site\",\"apiUrl\":\"$site\",\"targets\":{\"listPages\":{\"from\":1,\"to\":$(((COMPANIES + 99) / 100))}},\"concurrency\":8,\"requestsPerSecond\":100,\"maxRetries\":3,\"timeoutSeconds\":600}"
env DATABASE_URL="$admin/scraper" SCRAPEJOB_SPEC="$spec" SCRAPEJOB_NAME=load TERMINATION_LOG="$work/scrape.json" \
  RUST_LOG=warn "${egress[@]}" "$target/release/scraper" run >"$work/scrape.log" 2>&1 \
  || die "the scrape failed: $(tail -n 5 "$work/scrape.log")"
kill "$site_pid"; wait "$site_pid" 2>/dev/null || true; site_pid=""
log "scrape: $(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["status"], s["companies_created"], "companies")' "$work/scrape.json")"

# --- The services ----------------------------------------------------------------------
url() { echo "http://127.0.0.1:${port[$1]}"; }
admin_env=(GLEANER_ADMIN_EMAIL=admin@load.test GLEANER_ADMIN_PASSWORD=load-test-admin-passphrase)
start() { # start NAME ARGS -- VAR=value...
  local name="$1"; shift
  local args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  env "$@" LISTEN_ADDR="127.0.0.1:${port[$name]}" RUST_LOG=warn \
    "$target/release/$name" "${args[@]}" >"$work/$name.log" 2>&1 &
  pid[$name]=$!
}
# Registrations and logins of the setup all come from 127.0.0.1: their per-address
# throttles are lifted (the load itself sends neither). Tokens outlive a soak.
start identity serve -- DATABASE_URL="$admin/identity" REDIS_URL="$redis" JWT_SIGNING_KEY_FILE="$work/key.pem" \
  BCRYPT_COST=4 TRUSTED_PROXIES=1 ACCESS_TOKEN_TTL=2h REGISTRATIONS_PER_ADDRESS=1000000 \
  LOGINS_PER_ADDRESS=1000000 "${admin_env[@]}"
wait_http "$(url identity)/ready" 30 || die "identity did not start: $(tail -n 5 "$work/identity.log")"
jwks="$(url identity)/.well-known/jwks.json"
start scraper serve -- DATABASE_URL="$admin/scraper" REDIS_URL="$redis" JWKS_URL="$jwks" TRUSTED_PROXIES=1 "${egress[@]}"
start app serve -- DATABASE_URL="$admin/app" REDIS_URL="$redis" JWKS_URL="$jwks" TRUSTED_PROXIES=1 \
  SCRAPER_URL="$(url scraper)" IDENTITY_URL="$(url identity)" APP_JOBS_BACKEND=database "${admin_env[@]}"
# The gateway trusts one proxy in front (an ingress), so the load can simulate many
# client addresses with X-Forwarded-For; its rate limits are the configured ones.
start gateway -- REDIS_URL="$redis" JWKS_URL="$jwks" IDENTITY_URL="$(url identity)" SCRAPER_URL="$(url scraper)" \
  APP_URL="$(url app)" TRUSTED_PROXIES=1 RATE_LIMIT_PER_SECOND="$RATE" RATE_LIMIT_BURST="$BURST"
for s in "${services[@]}"; do
  wait_http "$(url "$s")/ready" 60 || die "$s did not become ready: $(tail -n 5 "$work/$s.log")"
done

# rss_row LABEL: one line "LABEL svc=rss_kb/hwm_kb/connections/threads ..." into
# $work/rss.txt: resident and peak memory, the TCP connections the service holds open
# on its port (clients, and for identity, the scraper and the app the gateway's pool)
# and its threads.
rss_row() {
  local line="$1" s p
  for s in "${services[@]}"; do
    p="${pid[$s]}"
    line+=" $s=$(awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {printf "%s/%s", r, h}' "/proc/$p/status")"
    line+="/$(ss -Htn state established "( sport = :${port[$s]} )" 2>/dev/null | wc -l)"
    line+="/$(find "/proc/$p/task" -mindepth 1 -maxdepth 1 | wc -l)"
  done
  echo "$line" >>"$work/rss.txt"
}
rss_row start
log "every service is ready; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- Users, tokens, watchlists ---------------------------------------------------------
log "registering $((USERS + 1)) users (one of them the hot user), minting their tokens"
python3 - "$(url identity)" "$(url scraper)" "$(url app)" "$USERS" "$work" <<'PY'
import json, sys, urllib.request
identity, scraper, app, users, work = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
def call(method, url, body=None, token=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
        return json.loads(raw) if raw else None
idnos = []
page = 1
while True:
    got = call("GET", f"{scraper}/api/v1/companies?per_page=100&page={page}&sort=name")
    idnos += [c["idno"] for c in got["items"]]
    if len(got["items"]) < 100:
        break
    page += 1
assert idnos, "no companies"
tokens = []
for i in range(users + 1):
    name = f"load{i:05d}"
    call("POST", f"{identity}/api/v1/auth/register",
         {"email": f"{name}@load.test", "username": name, "password": "load test passphrase"})
    token = call("POST", f"{identity}/api/v1/auth/login", {"username": name, "password": "load test passphrase"})["access_token"]
    tokens.append(token)
    for k in range(3):  # a short watchlist each, so listing it reads rows
        call("PUT", f"{app}/api/v1/watchlist/{idnos[(i * 3 + k) % len(idnos)]}", token=token)
open(f"{work}/tokens.txt", "w").write("\n".join(tokens) + "\n")
open(f"{work}/idnos.txt", "w").write("\n".join(idnos) + "\n")
print(f"{len(tokens)} users, {len(idnos)} companies", file=sys.stderr)
PY
curl -fsS -o /dev/null -H "authorization: Bearer $(head -n 1 "$work/tokens.txt")" "$(url gateway)/api/v1/users/me" \
  || die "a token does not pass the gateway"
rss_row ready

# --- The load ---------------------------------------------------------------------------
sample_during_load() {
  local t=0
  while sleep "$SAMPLE_SECONDS"; do
    t=$((t + SAMPLE_SECONDS))
    rss_row "load+${t}s"
  done
}
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
log "wrk: $CONNECTIONS connections, $THREADS threads, ${DURATION}s, ${DELAY_MS} ms between a connection's requests; load average $load_before"
sample_during_load &
sampler_pid=$!
LOAD_DELAY_MS="$DELAY_MS" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency \
  -s benches/load.lua "$(url gateway)" -- "$work/tokens.txt" "$work/idnos.txt" "$ADDRESSES" "$work/results.txt" \
  >"$work/wrk.txt"
kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""
rss_row after
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
curl -fsS "$(url gateway)/metrics" | grep -E '^gateway_rate_limiter_(fallbacks_total|local)' >"$work/limiter.txt" || true

log "idle for ${IDLE_SECONDS}s"
for ((t = 10; t <= IDLE_SECONDS; t += 10)); do
  sleep 10  # idleness is what is measured here, not an ordering of events
  rss_row "idle+${t}s"
done
for s in "${services[@]}"; do
  kill -0 "${pid[$s]}" 2>/dev/null || die "$s exited during the run: $(tail -n 5 "$work/$s.log")"
done

python3 - "$work" "$RATE" "$BURST" "$USERS" "$ADDRESSES" "$load_before" "$load_after" "$DURATION" <<'PY'
import collections, re, sys
work, rate, burst = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
users, addresses, load_before, load_after, duration = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7], int(sys.argv[8])
failures = []
wrk = open(f"{work}/wrk.txt").read()
vals = {}
for line in wrk.splitlines():
    if line.startswith("LOAD "):
        parts = line.split()[1:]
        for k, v in zip(parts[::2], parts[1::2]):
            vals[k] = int(v)
seconds = vals["duration_us"] / 1e6
rps = vals["requests"] / seconds
ms = lambda us: us / 1000
print(f"\n== Load: {vals['requests']:,} requests in {seconds:.1f} s = {rps:,.0f} requests/s "
      f"(load average before {load_before}, after {load_after})")
print(f"latency p50 {ms(vals['p50_us']):.1f} ms, p90 {ms(vals['p90_us']):.1f} ms, p99 {ms(vals['p99_us']):.1f} ms, "
      f"p99.9 {ms(vals['p99.9_us']):.1f} ms, max {ms(vals['max_us']):.1f} ms")
errors = {k: vals[k] for k in ("connect", "read", "write", "timeout")}
print("socket errors: " + ", ".join(f"{k} {v}" for k, v in errors.items()))
if sum(errors.values()):
    failures.append(f"socket errors {errors}")

by_route = collections.defaultdict(collections.Counter)
by_key = collections.defaultdict(collections.Counter)
status_total = collections.Counter()
for line in open(f"{work}/results.txt"):
    route, key, status, n = line.split()
    status, n = int(status), int(n)
    by_route[route][status] += n
    by_key[key][status] += n
    status_total[status] += n
print("statuses: " + ", ".join(f"{s}: {n:,}" for s, n in sorted(status_total.items())))
print(f"{'route':<18} " + " ".join(f"{s:>8}" for s in sorted(status_total)))
for route in sorted(by_route):
    print(f"{route:<18} " + " ".join(f"{by_route[route][s]:>8,}" for s in sorted(status_total)))
fivexx = sum(n for s, n in status_total.items() if s >= 500)
if fivexx:
    failures.append(f"{fivexx} responses were 5xx")
unexpected = {s: n for s, n in status_total.items() if not (200 <= s < 300 or s == 429 or s >= 500)}
if unexpected:
    failures.append(f"unexpected statuses {unexpected}")
if "?" in by_key:
    failures.append(f"{sum(by_key['?'].values())} responses without the request's X-Request-Id")

# The arithmetic: GCRA lets a key through at most burst + rate * t in t seconds.
bound = burst + rate * seconds
print(f"\n== Rate limits: {rate:g}/s, burst {burst}, per user (bearer) or client address (anonymous); "
      f"in {seconds:.1f} s a key may pass at most {burst} + {rate:g} x {seconds:.1f} = {bound:.0f} requests")
def key_class(k):
    return {"o": "ops", "uh": "hot user", "ah": "hot address"}.get(k, "users" if k.startswith("u") else "addresses")
classes = collections.defaultdict(list)
for k, c in by_key.items():
    classes[key_class(k)].append((k, c))
print(f"{'keys':<13} {'count':>6} {'sent':>9} {'max sent/key':>13} {'max rate/key':>13} {'passed':>9} {'max passed/key':>15} {'429':>8}")
for name in ("ops", "users", "addresses", "hot user", "hot address"):
    keys = classes.get(name, [])
    if not keys:
        continue
    sent = [sum(c.values()) for _, c in keys]
    passed = [sum(n for s, n in c.items() if s != 429) for _, c in keys]
    refused = sum(c[429] for _, c in keys)
    print(f"{name:<13} {len(keys):>6} {sum(sent):>9,} {max(sent):>13,} {max(sent) / seconds:>11.1f}/s "
          f"{sum(passed):>9,} {max(passed):>15,} {refused:>8,}")
    if name == "ops":
        if refused:
            failures.append(f"{refused} of the gateway's own routes (not limited) were refused")
        continue
    if max(passed) > bound:
        failures.append(f"{name}: a key passed {max(passed)} requests, more than the {bound:.0f} its quota allows")
    if name in ("users", "addresses"):
        # Keys sending well under the rate must never be refused.
        for (k, c), s in zip(keys, sent):
            if c[429] and s / seconds < 0.8 * rate:
                failures.append(f"{name}: key {k} sent {s / seconds:.1f}/s (under the quota) and got {c[429]} 429s")
    else:
        s, p = sent[0], passed[0]
        print(f"  {name}: sent {s:,} = {s / seconds:.1f}/s, passed {p:,} "
              f"(quota {burst} + {rate:g}/s x {seconds:.1f} s = {bound:.0f}), refused {keys[0][1][429]:,}")
        # Sending at twice the rate or more, a key must get (nearly) its whole quota:
        # the limiter refuses what is beyond it, not more. (Closer to the rate, bursts
        # of arrivals queued elsewhere are refused legitimately.)
        if s >= 2 * bound and p < 0.9 * rate * seconds:
            failures.append(f"{name}: only {p} passed, the quota allows {bound:.0f}")
limiter = open(f"{work}/limiter.txt").read().strip()
print("gateway limiter: " + (" ".join(limiter.split()) or "no metrics"))

# Memory.
rows = []
for line in open(f"{work}/rss.txt"):
    label, *cells = line.split()
    rows.append((label, {c.split("=")[0]: tuple(int(x) for x in c.split("=")[1].split("/")) for c in cells}))
names = list(rows[0][1])
mib = lambda kb: kb / 1024
print(f"\n== Resident memory (VmRSS, MiB; peak = VmHWM)")
print(f"{'when':<12} " + " ".join(f"{n:>9}" for n in names))
for label, cells in rows:
    print(f"{label:<12} " + " ".join(f"{mib(cells[n][0]):>9.1f}" for n in names))
print(f"{'peak':<12} " + " ".join(f"{mib(rows[-1][1][n][1]):>9.1f}" for n in names))
print(f"\n{'open connections / threads':<26}")
print(f"{'when':<12} " + " ".join(f"{n:>11}" for n in names))
for label, cells in rows:
    print(f"{label:<12} " + " ".join(f"{cells[n][2]:>5} /{cells[n][3]:>4}" for n in names))
print()
start, idle = rows[0][1], rows[-1][1]
for n in names:
    ratio = idle[n][0] / start[n][0]
    print(f"{n}: after start {mib(start[n][0]):.1f} MiB, after {rows[-1][0]} {mib(idle[n][0]):.1f} MiB = {ratio:.2f}x")
    if ratio > 2:
        failures.append(f"{n}: idle RSS {mib(idle[n][0]):.1f} MiB is above twice its after-start {mib(start[n][0]):.1f} MiB")
# A soak: no growth while the load is steady. The first minute warms up (pools fill,
# caches settle); from then on the last samples must not exceed the early ones by
# more than 10 % (and 4 MiB).
during = [(label, cells) for label, cells in rows if label.startswith("load+")]
if duration >= 300 and len(during) >= 6:
    warm = [cells for label, cells in during if int(label[5:-1]) >= 60]
    for n in names:
        early = sum(c[n][0] for c in warm[:3]) / 3
        late = sum(c[n][0] for c in warm[-3:]) / 3
        print(f"{n}: steady load, mean of the first three samples after a minute {mib(early):.1f} MiB, "
              f"of the last three {mib(late):.1f} MiB")
        if late > early * 1.10 and late - early > 4 * 1024:
            failures.append(f"{n}: RSS grew under steady load from {mib(early):.1f} to {mib(late):.1f} MiB")

if failures:
    print("\nFAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("\nOK: no 5xx, 429 only beyond the quotas, memory back within 2x of after-start")
PY
