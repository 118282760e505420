# shellcheck shell=bash
# Sourced by bench-gateway.sh and profile-gateway.sh: a throwaway PostgreSQL and Redis,
# the release `identity serve` and `gateway` on free ports (the gateway's rate limit
# lifted so that nothing is refused; its other upstreams point at a closed port), one
# registered user and an access token for it.
#
# start_gateway_pair WORK [WRAP...]: WORK is a fresh directory; WRAP, when given, is
# the command each service runs under (e.g. valgrind). Sets id_pid, gw_pid, id_port,
# gw_port, redis, db, token. The caller's cleanup calls stop_gateway_pair WORK.
# GATEWAY_PAIR_LOG is the services' RUST_LOG (warn by default).

start_gateway_pair() {
  local work="$1"; shift
  local target="${CARGO_TARGET_DIR:-$root/target}"
  local rust_log="${GATEWAY_PAIR_LOG:-warn}"
  pg_port="$(free_port)"; redis_port="$(free_port)"; id_port="$(free_port)"; gw_port="$(free_port)"
  dead_port="$(free_port)"
  start_postgres "$work/pg" "$pg_port"
  start_redis "$work/redis" "$redis_port"
  db="postgres://postgres@127.0.0.1:$pg_port/postgres"
  redis="redis://127.0.0.1:$redis_port"
  "$target/release/identity" migrate --database-url "$db" >/dev/null
  "$target/release/identity" keygen --out "$work/key.pem" >/dev/null
  DATABASE_URL="$db" REDIS_URL="$redis" JWT_SIGNING_KEY_FILE="$work/key.pem" \
    LISTEN_ADDR="127.0.0.1:$id_port" BCRYPT_COST=4 RUST_LOG="$rust_log" TRUSTED_PROXIES=1 \
    "$@" "$target/release/identity" serve >"$work/identity.log" 2>&1 &
  id_pid=$!
  wait_http "http://127.0.0.1:$id_port/ready" 120 || die "identity did not start"
  REDIS_URL="$redis" LISTEN_ADDR="127.0.0.1:$gw_port" RUST_LOG="$rust_log" \
    IDENTITY_URL="http://127.0.0.1:$id_port" SCRAPER_URL="http://127.0.0.1:$dead_port" \
    APP_URL="http://127.0.0.1:$dead_port" RATE_LIMIT_PER_SECOND=1000000000 RATE_LIMIT_BURST=1000000000 \
    "$@" "$target/release/gateway" >"$work/gateway.log" 2>&1 &
  gw_pid=$!
  wait_http "http://127.0.0.1:$gw_port/health" 120 || die "the gateway did not start"

  curl -fsS -o /dev/null -X POST "http://127.0.0.1:$id_port/api/v1/auth/register" -H 'content-type: application/json' \
    -d '{"email":"bench@example.md","username":"bench","password":"benchmark passphrase 1"}'
  token="$(curl -fsS -X POST "http://127.0.0.1:$id_port/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"bench","password":"benchmark passphrase 1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
  curl -fsS -o /dev/null -H "authorization: Bearer $token" "http://127.0.0.1:$gw_port/api/v1/users/me" \
    || die "the token does not pass the gateway"
}

# stop_gateway_pair WORK: stop the services, Redis and PostgreSQL, remove WORK.
stop_gateway_pair() {
  local work="$1" p
  for p in ${gw_pid:-} ${id_pid:-}; do kill "$p" 2>/dev/null || true; done
  for p in ${gw_pid:-} ${id_pid:-}; do wait_gone "$p" 30 || kill -KILL "$p" 2>/dev/null || true; done
  stop_redis "$work/redis"; stop_postgres "$work/pg"; rm -rf "$work"
}
