#!/usr/bin/env bash
# The gateway's cost: an authenticated `GET /api/v1/users/me` straight to identity
# and through the gateway, with wrk at 16, 64, 256 and 1,024 connections (release
# builds, throwaway PostgreSQL and Redis). The gateway checks the token, counts the
# request in Redis (the limit is lifted so that nothing is refused) and forwards it.
# Prints one table row per target and level, with the CPU time identity and the gateway
# each used per request (from /proc, user + system). Then one client sends twice the default
# rate limit (20 requests a second against 10/s, burst 20) for 60 s to a gateway with
# the default limits: only 429s beyond the limit, never a 5xx. The method and the last
# results are in docs/benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
cd "$root"
ensure_packages postgresql redis-server wrk curl
target="${CARGO_TARGET_DIR:-$root/target}"
DURATION="${BENCH_SECONDS:-15}"
LIMIT_SECONDS="${BENCH_LIMIT_SECONDS:-60}"
LEVELS="${BENCH_CONNECTIONS:-16 64 256 1024}"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if [ "${BENCH_BUILD:-1}" = 1 ]; then
  log "building identity and the gateway (release)"
  cargo build -q --release --bins -p gleaner-identity -p gleaner-gateway
fi
work="$(mktemp -d /tmp/gleaner-bench-gw-XXXXXX)"; chmod 755 "$work"
pg_port="$(free_port)"; redis_port="$(free_port)"; id_port="$(free_port)"; gw_port="$(free_port)"
dead_port="$(free_port)"; limited_port="$(free_port)"
cleanup() {
  for p in ${gw_pid:-} ${limited_pid:-} ${id_pid:-}; do kill "$p" 2>/dev/null || true; done
  stop_redis "$work/redis"; stop_postgres "$work/pg"; rm -rf "$work"
}
trap cleanup EXIT
start_postgres "$work/pg" "$pg_port"
start_redis "$work/redis" "$redis_port"
db="postgres://postgres@127.0.0.1:$pg_port/postgres"
redis="redis://127.0.0.1:$redis_port"
"$target/release/identity" migrate --database-url "$db" >/dev/null
"$target/release/identity" keygen --out "$work/key.pem" >/dev/null
DATABASE_URL="$db" REDIS_URL="$redis" JWT_SIGNING_KEY_FILE="$work/key.pem" \
  LISTEN_ADDR="127.0.0.1:$id_port" BCRYPT_COST=4 RUST_LOG=warn TRUSTED_PROXIES=1 \
  "$target/release/identity" serve >"$work/identity.log" 2>&1 &
id_pid=$!
wait_http "http://127.0.0.1:$id_port/ready" 30 || die "identity did not start"
# Only identity is measured: the other upstreams point at a closed port.
REDIS_URL="$redis" LISTEN_ADDR="127.0.0.1:$gw_port" RUST_LOG=warn \
  IDENTITY_URL="http://127.0.0.1:$id_port" SCRAPER_URL="http://127.0.0.1:$dead_port" \
  APP_URL="http://127.0.0.1:$dead_port" RATE_LIMIT_PER_SECOND=1000000000 RATE_LIMIT_BURST=1000000000 \
  "$target/release/gateway" >"$work/gateway.log" 2>&1 &
gw_pid=$!
wait_http "http://127.0.0.1:$gw_port/health" 30 || die "the gateway did not start"

curl -fsS -o /dev/null -X POST "http://127.0.0.1:$id_port/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.md","username":"bench","password":"benchmark passphrase 1"}'
token="$(curl -fsS -X POST "http://127.0.0.1:$id_port/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"benchmark passphrase 1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
curl -fsS -o /dev/null -H "authorization: Bearer $token" "http://127.0.0.1:$gw_port/api/v1/users/me" \
  || die "the token does not pass the gateway"

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s="$(getconf CLK_TCK)"
printf '%-8s %6s %10s %9s %9s %7s %8s %13s %12s\n' target conns req/s p50_ms p99_ms errors non2xx \
  id_cpu_us/req gw_cpu_us/req
for conns in $LEVELS; do
  threads=2; [ "$conns" -lt 2 ] && threads=1
  for name in identity gateway; do
    port="$id_port"; [ "$name" = gateway ] && port="$gw_port"
    out="$work/$name-$conns.txt"
    id_before="$(cpu_ticks "$id_pid")"; gw_before="$(cpu_ticks "$gw_pid")"
    wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -H "authorization: Bearer $token" \
      "http://127.0.0.1:$port/api/v1/users/me" > "$out"
    id_cpu=$(( $(cpu_ticks "$id_pid") - id_before )); gw_cpu=$(( $(cpu_ticks "$gw_pid") - gw_before ))
    python3 - "$name" "$conns" "$out" "$id_cpu" "$gw_cpu" "$ticks_per_s" <<'PY'
import re, sys
name, conns, path = sys.argv[1], sys.argv[2], sys.argv[3]
id_ticks, gw_ticks, hz = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
text = open(path).read()
def ms(label):
    m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", text, re.M)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else 0
requests = int(re.search(r"(\d+) requests in", text).group(1))
per_request = lambda ticks: ticks / hz * 1e6 / max(requests, 1)
print(f"{name:<8} {conns:>6} {rps:>10.0f} {ms('50'):>9.2f} {ms('99'):>9.2f} {errors:>7} {non2xx:>8}"
      f" {per_request(id_ticks):>13.0f} {per_request(gw_ticks):>12.0f}")
PY
  done
  log "gateway RSS after $conns connections: $(( $(rss "$gw_pid") / 1024 )) MiB"
done

log "twice the rate limit from one client for ${LIMIT_SECONDS}s (gateway with the default limits)"
REDIS_URL="$redis" LISTEN_ADDR="127.0.0.1:$limited_port" RUST_LOG=warn \
  IDENTITY_URL="http://127.0.0.1:$id_port" SCRAPER_URL="http://127.0.0.1:$dead_port" \
  APP_URL="http://127.0.0.1:$dead_port" "$target/release/gateway" >"$work/limited.log" 2>&1 &
limited_pid=$!
wait_http "http://127.0.0.1:$limited_port/health" 30 || die "the second gateway did not start"
python3 - "http://127.0.0.1:$limited_port/api/v1/users/me" "$token" "$LIMIT_SECONDS" <<'PY'
import collections, sys, time, urllib.error, urllib.request
url, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
rate = 20.0  # twice RATE_LIMIT_PER_SECOND's default
counts = collections.Counter()
start = time.monotonic()
n = 0
while time.monotonic() - start < seconds:
    due = start + n / rate
    pause = due - time.monotonic()
    if pause > 0:
        time.sleep(pause)  # pacing the load generator, not ordering events
    req = urllib.request.Request(url, headers={"authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            counts[r.status] += 1
    except urllib.error.HTTPError as e:
        counts[e.code] += 1
    n += 1
elapsed = time.monotonic() - start
allowed = counts[200]
expected = 20 + 10 * elapsed
print(f"sent {n} in {elapsed:.1f}s: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
print(f"allowed {allowed} (the limit allows {expected:.0f}: burst 20 + 10/s); 5xx: {sum(v for k, v in counts.items() if k >= 500)}")
PY
