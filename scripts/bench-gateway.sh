#!/usr/bin/env bash
# The gateway's cost: an authenticated `GET /api/v1/users/me` straight to identity
# and through the gateway, with wrk at 1, 16, 64, 256 and 1,024 connections (release
# builds, throwaway PostgreSQL and Redis; scripts/gateway-pair.sh starts them). The
# gateway checks the token, counts the request in Redis (the limit is lifted so that
# nothing is refused) and forwards it. Prints one table row per target and level, with
# the CPU time identity and the gateway each used per request (from /proc, user +
# system), and for the gateway its throughput as a share of identity's direct one and
# the p50 it adds. Then the resident memory of both after start, after each level and
# after BENCH_IDLE_SECONDS (60) idle. Then one client sends twice the default rate
# limit (20 requests a second against 10/s, burst 20) for 60 s to a gateway with the
# default limits: only 429s beyond the limit, never a 5xx. The method and the last
# results are in docs/benchmarks.md. CARGO_TARGET_DIR is honoured; BENCH_BUILD=0 uses
# the binaries already built there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
# shellcheck source=gateway-pair.sh
. "$root/scripts/gateway-pair.sh"
cd "$root"
ensure_packages postgresql redis-server wrk curl
DURATION="${BENCH_SECONDS:-15}"
LIMIT_SECONDS="${BENCH_LIMIT_SECONDS:-60}"
LEVELS="${BENCH_CONNECTIONS:-1 16 64 256 1024}"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if [ "${BENCH_BUILD:-1}" = 1 ]; then
  log "building identity and the gateway (release)"
  cargo build -q --release --bins -p gleaner-identity -p gleaner-gateway
fi
work="$(mktemp -d /tmp/gleaner-bench-gw-XXXXXX)"; chmod 755 "$work"
limited_port="$(free_port)"
cleanup() {
  [ -n "${limited_pid:-}" ] && kill "$limited_pid" 2>/dev/null || true
  stop_gateway_pair "$work"
}
trap cleanup EXIT
start_gateway_pair "$work"

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s="$(getconf CLK_TCK)"
gw_rss_start="$(rss "$gw_pid")"; id_rss_start="$(rss "$id_pid")"
log "RSS after start: gateway $(( gw_rss_start / 1024 )) MiB, identity $(( id_rss_start / 1024 )) MiB"
printf '%-8s %6s %10s %9s %9s %7s %8s %13s %12s %8s %12s\n' target conns req/s p50_ms p99_ms errors non2xx \
  id_cpu_us/req gw_cpu_us/req vs_direct p50_added_ms
for conns in $LEVELS; do
  threads=2; [ "$conns" -lt 2 ] && threads=1
  for name in identity gateway; do
    port="$id_port"; [ "$name" = gateway ] && port="$gw_port"
    out="$work/$name-$conns.txt"
    id_before="$(cpu_ticks "$id_pid")"; gw_before="$(cpu_ticks "$gw_pid")"
    wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -H "authorization: Bearer $token" \
      "http://127.0.0.1:$port/api/v1/users/me" > "$out"
    id_cpu=$(( $(cpu_ticks "$id_pid") - id_before )); gw_cpu=$(( $(cpu_ticks "$gw_pid") - gw_before ))
    python3 - "$name" "$conns" "$out" "$id_cpu" "$gw_cpu" "$ticks_per_s" "$work/identity-$conns.txt" <<'PY'
import re, sys
name, conns, path = sys.argv[1], sys.argv[2], sys.argv[3]
id_ticks, gw_ticks, hz = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
def parse(path):
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
    return rps, ms("50"), ms("99"), errors, non2xx, requests
rps, p50, p99, errors, non2xx, requests = parse(path)
per_request = lambda ticks: ticks / hz * 1e6 / max(requests, 1)
ratio, added = "", ""
if name == "gateway":
    direct_rps, direct_p50, *_ = parse(sys.argv[7])
    ratio, added = f"{100 * rps / direct_rps:.0f}%", f"{p50 - direct_p50:.2f}"
print(f"{name:<8} {conns:>6} {rps:>10.0f} {p50:>9.2f} {p99:>9.2f} {errors:>7} {non2xx:>8}"
      f" {per_request(id_ticks):>13.0f} {per_request(gw_ticks):>12.0f} {ratio:>8} {added:>12}")
PY
  done
  log "RSS after $conns connections: gateway $(( $(rss "$gw_pid") / 1024 )) MiB, identity $(( $(rss "$id_pid") / 1024 )) MiB"
done
IDLE="${BENCH_IDLE_SECONDS:-60}"
sleep "$IDLE" # idle: what the services give back once the connections are gone
log "RSS after ${IDLE}s idle: gateway $(( $(rss "$gw_pid") / 1024 )) MiB" \
  "($(python3 -c "print(f'{$(rss "$gw_pid")/$gw_rss_start:.2f}')")× after start)," \
  "identity $(( $(rss "$id_pid") / 1024 )) MiB ($(python3 -c "print(f'{$(rss "$id_pid")/$id_rss_start:.2f}')")× after start)"

log "twice the rate limit from one client for ${LIMIT_SECONDS}s (gateway with the default limits)"
REDIS_URL="$redis" LISTEN_ADDR="127.0.0.1:$limited_port" RUST_LOG=warn \
  IDENTITY_URL="http://127.0.0.1:$id_port" SCRAPER_URL="http://127.0.0.1:$dead_port" \
  APP_URL="http://127.0.0.1:$dead_port" "${CARGO_TARGET_DIR:-$root/target}/release/gateway" >"$work/limited.log" 2>&1 &
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
