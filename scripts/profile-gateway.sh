#!/usr/bin/env bash
# Where the gateway's and identity's CPU goes on an authenticated `GET /api/v1/users/me`
# through the gateway (the request scripts/bench-gateway.sh measures). Release builds
# with line tables and symbols, a throwaway PostgreSQL and Redis, wrk.
#
# 1. callgrind: both services run under valgrind; instruction counting starts once
#    they are up, wrk (1 thread, PROFILE_CONNECTIONS connections) sends requests for
#    PROFILE_SECONDS, then each service's profile is dumped. Prints instructions per
#    request and the functions that cost the most per request, inclusive and
#    exclusive. Instruction counts do not depend on what else the machine runs, so
#    before/after comparisons hold on a busy machine.
# 2. perf (when `perf record` works here): the native services under wrk, sampled on
#    the cpu-clock; prints the hottest symbols of each and, when inferno is installed
#    (cargo install inferno --root ~/.cache/gleaner/tools), writes flame graphs.
#
# PROFILE_TOOLS (default "callgrind perf"), PROFILE_SECONDS (default 20),
# PROFILE_CONNECTIONS (default 4), PROFILE_LOG (the services' RUST_LOG, default warn as
# in the bench; info is production's default), PROFILE_OUT (where profiles are kept,
# default target/profile-gateway).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
# shellcheck source=gateway-pair.sh
. "$root/scripts/gateway-pair.sh"
cd "$root"
ensure_packages postgresql redis-server wrk curl valgrind
TOOLS="${PROFILE_TOOLS:-callgrind perf}"
SECONDS_="${PROFILE_SECONDS:-20}"
CONNS="${PROFILE_CONNECTIONS:-4}"
OUT="${PROFILE_OUT:-$root/target/profile-gateway}"
export GATEWAY_PAIR_LOG="${PROFILE_LOG:-warn}"
PATH="$HOME/.cache/gleaner/tools/bin:$PATH"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p "$OUT"

if [ "${PROFILE_BUILD:-1}" = 1 ]; then
  log "building identity and the gateway (release, with line tables and symbols)"
  CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_STRIP=none \
    cargo build -q --release --bins -p gleaner-identity -p gleaner-gateway
fi

requests_of() { sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$1"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

load() { # load OUTFILE: wrk through the gateway
  wrk -t1 -c"$CONNS" -d"${SECONDS_}s" -H "authorization: Bearer $token" \
    "http://127.0.0.1:$gw_port/api/v1/users/me" >"$1"
  grep -q 'Non-2xx' "$1" && die "non-2xx answers under load: $(cat "$1")"
  return 0
}

callgrind_run() {
  local work; work="$(mktemp -d /tmp/gleaner-profile-gw-XXXXXX)"; chmod 755 "$work"
  trap 'stop_gateway_pair "$work"' EXIT
  log "callgrind: starting both services under valgrind"
  start_gateway_pair "$work" valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$work/callgrind.%p" --dump-instr=no
  # A few requests outside the measurement: pools and caches warm.
  for _ in 1 2 3 4 5; do
    curl -fsS -o /dev/null -H "authorization: Bearer $token" "http://127.0.0.1:$gw_port/api/v1/users/me"
  done
  callgrind_control -i on "$id_pid" >/dev/null; callgrind_control -i on "$gw_pid" >/dev/null
  load "$work/wrk.txt"
  callgrind_control -d "$id_pid" >/dev/null; callgrind_control -d "$gw_pid" >/dev/null
  local requests; requests="$(requests_of "$work/wrk.txt")"
  log "callgrind: $requests requests through the gateway in ${SECONDS_}s"
  for name in gateway identity; do
    local pid="$gw_pid"; [ "$name" = identity ] && pid="$id_pid"
    local file; file="$(ls -t "$work"/callgrind."$pid".* 2>/dev/null | head -n 1)"
    [ -n "$file" ] || die "no callgrind dump of $name"
    cp "$file" "$OUT/callgrind.$name"
    python3 "$root/scripts/callgrind-top.py" "$name" "$OUT/callgrind.$name" "$requests"
  done
  stop_gateway_pair "$work"; trap - EXIT
}

perf_run() {
  if ! perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then
    log "perf record does not work here: skipping the sampled profile"
    return 0
  fi
  local work; work="$(mktemp -d /tmp/gleaner-profile-gw-XXXXXX)"; chmod 755 "$work"
  trap 'stop_gateway_pair "$work"' EXIT
  log "perf: starting both services"
  start_gateway_pair "$work"
  load "$work/warm.txt" # the pools and the allocator at their working size
  local gw_before id_before
  gw_before="$(cpu_ticks "$gw_pid")"; id_before="$(cpu_ticks "$id_pid")"
  perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$gw_pid" -o "$OUT/perf.gateway.data" \
    -- sleep "$SECONDS_" 2>/dev/null &
  local p1=$!
  perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$id_pid" -o "$OUT/perf.identity.data" \
    -- sleep "$SECONDS_" 2>/dev/null &
  local p2=$!
  load "$work/wrk.txt"
  wait "$p1" "$p2" || true
  local requests hz; requests="$(requests_of "$work/wrk.txt")"; hz="$(getconf CLK_TCK)"
  log "perf: $requests requests; CPU per request (with perf sampling): gateway" \
    "$(( ($(cpu_ticks "$gw_pid") - gw_before) * 1000000 / hz / requests )) µs, identity" \
    "$(( ($(cpu_ticks "$id_pid") - id_before) * 1000000 / hz / requests )) µs"
  for name in gateway identity; do
    echo "--- perf: $name, samples by object (kernel = system calls, wakeups, TCP) ---"
    perf report -i "$OUT/perf.$name.data" --no-children --sort dso --stdio -g none 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | head -n 5
    echo "--- perf: $name, hottest symbols (self time) ---"
    perf report -i "$OUT/perf.$name.data" --no-children --sort symbol --stdio -g none \
      --percent-limit 0.8 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 30
    if command -v inferno-collapse-perf >/dev/null && command -v inferno-flamegraph >/dev/null; then
      perf script -i "$OUT/perf.$name.data" 2>/dev/null | inferno-collapse-perf >"$OUT/$name.folded"
      inferno-flamegraph <"$OUT/$name.folded" >"$OUT/$name.svg"
      log "flame graph: $OUT/$name.svg"
    fi
  done
  stop_gateway_pair "$work"; trap - EXIT
}

for tool in $TOOLS; do
  case "$tool" in
    callgrind) callgrind_run ;;
    perf) perf_run ;;
    *) die "unknown profiling tool $tool (callgrind or perf)" ;;
  esac
done
log "profiles kept in $OUT"
