#!/usr/bin/env bash
# `make bench`: criterion micro-benchmarks, then a scripted load run of the
# identity service (release build, bcrypt cost 12) with wrk:
#   1. login throughput with 8 concurrent clients, against the bcrypt bound
#      (cores / one verify's time, from the criterion run);
#   2. /health latency percentiles, probed 100 times a second while the logins
#      saturate the CPU.
# Every request comes from 127.0.0.1, so the per-address login limit is lifted.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_start postgresql redis-server wrk curl
DURATION="${BENCH_SECONDS:-20}"

criterion gleaner-identity identity '^[a-z_/0-9]+|time:'
verify_ns="$(python3 -c "import json;print(json.load(open('$target/criterion/password/bcrypt_verify_cost_12/new/estimates.json'))['mean']['point_estimate'])")"

log "building identity (release)"
cargo build -q --release -p gleaner-identity --bins --examples
work="$(mktemp -d /tmp/gleaner-bench-XXXXXX)"; chmod 755 "$work"
pg_port="$(free_port)"; redis_port="$(free_port)"; port="$(free_port)"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true
  stop_redis "$work/redis"; stop_postgres "$work/pg"; rm -rf "$work"
}
trap cleanup EXIT
start_postgres "$work/pg" "$pg_port"
start_redis "$work/redis" "$redis_port"
db="postgres://postgres@127.0.0.1:$pg_port/postgres"
"$target/release/identity" migrate --database-url "$db" >/dev/null
"$target/release/identity" keygen --out "$work/key.pem" >/dev/null
DATABASE_URL="$db" REDIS_URL="redis://127.0.0.1:$redis_port" JWT_SIGNING_KEY_FILE="$work/key.pem" \
  LISTEN_ADDR="127.0.0.1:$port" BCRYPT_COST=12 RUST_LOG=warn LOGINS_PER_ADDRESS=100000000 \
  "$target/release/identity" serve >"$work/identity.log" 2>&1 &
pid=$!
wait_http "http://127.0.0.1:$port/ready" 30 || die "identity did not start"
curl -fsS -o /dev/null -X POST "http://127.0.0.1:$port/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.md","username":"bench","password":"benchmark passphrase 1"}'

cores="$(nproc)"
log "load: ${DURATION}s of logins (8 connections)"
wrk -t1 -c8 -d"${DURATION}s" -s benches/login.lua "http://127.0.0.1:$port/api/v1/auth/login" > "$work/login.txt"
log "load: ${DURATION}s of logins again, with /health probed 100 times a second alongside"
wrk -t1 -c8 -d"${DURATION}s" -s benches/login.lua "http://127.0.0.1:$port/api/v1/auth/login" > "$work/login2.txt" &
login_pid=$!
sleep 1
"$target/release/examples/health_probe" "http://127.0.0.1:$port/health" "$((DURATION - 2))" 100 > "$work/health.txt"
wait "$login_pid"

login_rps="$(awk '/Requests\/sec/ {print $2}' "$work/login.txt")"
login2_rps="$(awk '/Requests\/sec/ {print $2}' "$work/login2.txt")"
python3 - "$verify_ns" "$cores" "$login_rps" "$login2_rps" "$(cat "$work/health.txt")" <<'PY'
import sys
verify_ns, cores, rps, rps2, health = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
bound = cores / (verify_ns / 1e9)
print(f"bcrypt verify (cost 12):  {verify_ns/1e6:.1f} ms (criterion, one thread)")
print(f"bcrypt bound:             {bound:.2f} logins/s ({cores} cores)")
print(f"login throughput:         {rps:.2f} logins/s = {100*rps/bound:.1f}% of the bound")
print(f"  with the /health probe: {rps2:.2f} logins/s = {100*rps2/bound:.1f}% of the bound")
print(f"/health while logins saturate the CPU: {health}")
PY
grep -E '^status' "$work/login.txt" || true
