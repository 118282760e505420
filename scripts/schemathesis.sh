#!/usr/bin/env bash
# `make api-fuzz` (part of `make test`): schemathesis against every service's documented
# API. Builds the gateway, identity, the scraper and the app (debug), starts them on a
# throwaway PostgreSQL and Redis (random ports, removed afterwards), registers a user,
# then runs schemathesis with every check (all are on by default; scripts/schemathesis.toml
# narrows two of them on the few operations whose rules JSON Schema cannot state) against:
#   - each service directly, from its own /openapi.json;
#   - the gateway's own document (/openapi.json);
#   - each service through the gateway, from the gateway's /openapi/{service}.json,
#     with the gateway as the base URL (so the edge's token checks, limits and proxy
#     are in the path);
# each anonymous, with the user's token and with an admin's token. A bounded number of
# examples per operation and a fixed seed keep it short and repeatable. Any server error
# or any response that breaks the documented schema (status, content type, headers, body)
# fails the target. Reports: $CARGO_TARGET_DIR/schemathesis/ (output and JUnit XML per run,
# the documents as served, service logs).
#
#   scripts/schemathesis.sh            the whole run
#   scripts/schemathesis.sh install    only install schemathesis (CI does this first)
#
# Settings: SCHEMATHESIS_EXAMPLES (examples per operation and phase, default 10),
# SCHEMATHESIS_SEED (default 20261201), SCHEMATHESIS_ONLY (a regex of run names to keep,
# e.g. `identity` or `gateway-app-user`), SCHEMATHESIS_JOBS (runs at once, default 2),
# SCHEMATHESIS_BIN_DIR (use the binaries there instead of building them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/scripts"
# shellcheck source=lib.sh
. "$here/lib.sh"
cd "$root"

version="4.32.5"
tools="${GLEANER_TOOLS:-$HOME/.cache/gleaner/tools}"
venv="$tools/schemathesis"
st="$venv/bin/schemathesis"

install_schemathesis() {
  ensure_packages python3 python3-venv
  if "$st" --version 2>/dev/null | grep -qx "schemathesis, version $version"; then
    return 0
  fi
  log "installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
}

install_schemathesis
[ "${1:-}" = install ] && exit 0

examples="${SCHEMATHESIS_EXAMPLES:-10}"
seed="${SCHEMATHESIS_SEED:-20261201}"
only="${SCHEMATHESIS_ONLY:-.}"

ensure_packages postgresql redis-server curl
if [ -n "${SCHEMATHESIS_BIN_DIR:-}" ]; then
  bin_dir="$SCHEMATHESIS_BIN_DIR"
else
  log "building the services"
  ${CARGO:-cargo} build --quiet --bins -p gleaner-gateway -p gleaner-identity -p gleaner-scraper -p gleaner-app
  bin_dir="${CARGO_TARGET_DIR:-$root/target}/debug"
fi
out="${CARGO_TARGET_DIR:-$root/target}/schemathesis"
rm -rf "$out"
mkdir -p "$out/log"

work="$(mktemp -d /tmp/gleaner-schemathesis-XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    stop_pid "${pids[i]%%:*}" "${pids[i]##*:}" || true
  done
  stop_redis "$work/redis" || true
  stop_postgres "$work/pg" || true
  rm -rf "$work"
}
trap cleanup EXIT

start_postgres_on_free_port "$work/pg"
pg_port="$PG_PORT"
redis_port="$(free_port)"
start_redis "$work/redis" "$redis_port"
redis_url="redis://127.0.0.1:$redis_port"
db_url() { printf 'postgres://postgres@127.0.0.1:%s/%s' "$pg_port" "$1"; }
for db in identity scraper app; do
  psql "$(db_url postgres)" -qc "CREATE DATABASE $db" >/dev/null
  DATABASE_URL="$(db_url "$db")" "$bin_dir/$db" migrate >/dev/null
done
"$bin_dir/identity" keygen --out "$work/signing.pem" >/dev/null

identity_port="$(free_port)"
scraper_port="$(free_port)"
app_port="$(free_port)"
gateway_port="$(free_port)"
identity="http://127.0.0.1:$identity_port"
scraper="http://127.0.0.1:$scraper_port"
app="http://127.0.0.1:$app_port"
gateway="http://127.0.0.1:$gateway_port"
admin_email="admin@schemathesis.test"
admin_password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"

# start NAME PORT ARGS... -- VAR=value...
start() {
  local name="$1" port="$2"; shift 2
  local args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  env "$@" LISTEN_ADDR="127.0.0.1:$port" LOG_FORMAT=json RUST_LOG=info OTEL_SDK_DISABLED=true \
    "$bin_dir/$name" "${args[@]}" >"$out/log/$name.log" 2>&1 &
  pids+=("$name:$!")
}

# Cheap password hashing and generous limits: the fuzzer should reach the handlers,
# not spend its examples on bcrypt or on 429s (which stay documented and allowed).
start identity "$identity_port" serve -- \
  DATABASE_URL="$(db_url identity)" REDIS_URL="$redis_url" TRUSTED_PROXIES=1 \
  JWT_SIGNING_KEY_FILE="$work/signing.pem" BCRYPT_COST=4 \
  GLEANER_ADMIN_EMAIL="$admin_email" GLEANER_ADMIN_PASSWORD="$admin_password" \
  REGISTRATIONS_PER_ADDRESS=100000 LOGINS_PER_ADDRESS=100000 \
  LOGIN_FAILURES_PER_ADDRESS=100000 LOGIN_FAILURES_PER_ACCOUNT=100000
start scraper "$scraper_port" serve -- \
  DATABASE_URL="$(db_url scraper)" REDIS_URL="$redis_url" TRUSTED_PROXIES=1 \
  JWKS_URL="$identity/.well-known/jwks.json" \
  SCRAPER_ALLOWED_HOSTS=127.0.0.1,localhost SCRAPER_ALLOWED_NETWORKS=127.0.0.0/8
start app "$app_port" serve -- \
  DATABASE_URL="$(db_url app)" REDIS_URL="$redis_url" TRUSTED_PROXIES=1 \
  JWKS_URL="$identity/.well-known/jwks.json" SCRAPER_URL="$scraper" IDENTITY_URL="$identity" \
  APP_JOBS_BACKEND=database \
  GLEANER_ADMIN_EMAIL="$admin_email" GLEANER_ADMIN_PASSWORD="$admin_password"
start gateway "$gateway_port" -- \
  REDIS_URL="$redis_url" JWKS_URL="$identity/.well-known/jwks.json" \
  IDENTITY_URL="$identity" SCRAPER_URL="$scraper" APP_URL="$app" \
  RATE_LIMIT_PER_SECOND=100000 RATE_LIMIT_BURST=100000
for svc in "identity:$identity" "scraper:$scraper" "app:$app" "gateway:$gateway"; do
  if ! wait_http "${svc#*:}/ready" 90; then
    tail -n 20 "$out/log/${svc%%:*}.log" >&2 || true
    die "${svc%%:*} did not become ready; see $out/log/${svc%%:*}.log"
  fi
done
log "services ready: identity $identity, scraper $scraper, app $app, gateway $gateway"
# The documents as served, for reading along with the reports.
mkdir -p "$out/openapi"
for svc in identity scraper app; do
  curl -fsS -o "$out/openapi/$svc.json" "${!svc}/openapi.json"
  curl -fsS -o "$out/openapi/gateway-$svc.json" "$gateway/openapi/$svc.json"
done
curl -fsS -o "$out/openapi/gateway.json" "$gateway/openapi.json"

# A user and the admin, each logged in through the gateway; another token per role for
# the logout runs (a logout revokes the token it is called with).
login_token() { # login_token USERNAME PASSWORD
  curl -fsS -X POST "$gateway/api/v1/auth/login" -H 'content-type: application/json' \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"username": sys.argv[1], "password": sys.argv[2]}))' "$1" "$2")" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
user_password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
curl -fsS -o /dev/null -X POST "$gateway/api/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"fuzz@schemathesis.test\",\"username\":\"fuzz\",\"password\":\"$user_password\"}" ||
  die "registering the user failed"
declare -A token
token[user]="$(login_token fuzz "$user_password")"
for _ in $(seq 100); do
  token[admin]="$(login_token "$admin_email" "$admin_password" 2>/dev/null)" && break
  sleep 0.2
done
[ -n "${token[admin]:-}" ] || die "the admin could not log in"
token[user-logout]="$(login_token fuzz "$user_password")"
token[admin-logout]="$(login_token "$admin_email" "$admin_password")"

jobs="${SCHEMATHESIS_JOBS:-2}"
runs=0
# fuzz NAME SCHEMA_URL BASE_URL AUTH [schemathesis options...]: one run in the background
# (at most $jobs at once); its exit status lands in $out/NAME.rc.
fuzz() {
  local name="$1" schema="$2" base="$3" auth="$4"; shift 4
  [[ "$name" =~ $only ]] || return 0
  local auth_args=()
  [ "$auth" = anonymous ] || auth_args=(-H "Authorization: Bearer ${token[$auth]}")
  runs=$((runs + 1))
  while [ "$(running | wc -w)" -ge "$jobs" ]; do wait -n $(running) 2>/dev/null || true; done
  log "schemathesis: $name"
  # From $out: schemathesis keeps a cache of what it found in the working directory.
  (
    cd "$out"
    rc=0
    "$st" --config-file "$here/schemathesis.toml" run "$schema" --url "$base" "${auth_args[@]}" \
      --max-examples "$examples" --seed "$seed" \
      --generation-database none --workers 1 --request-timeout 10 --no-color \
      --report junit --report-junit-path "$out/$name.xml" \
      "$@" >"$out/$name.txt" 2>&1 || rc=$?
    echo "$rc" >"$out/$name.rc"
  ) &
  fuzzing+=("$!")
}
fuzzing=()
# running: the runs still going.
running() {
  local pid
  for pid in "${fuzzing[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
  done
}
# settle: wait for every run started so far.
settle() {
  local pid
  for pid in $(running); do wait "$pid" 2>/dev/null || true; done
  fuzzing=()
}

# Anonymous and the user first, the admin after them: an admin's run may disable or
# demote the user it finds in the user list, which would turn the user's runs into 401s.
for auth in anonymous user admin; do
  fuzz "identity-$auth" "$identity/openapi.json" "$identity" "$auth" \
    --exclude-path /api/v1/auth/logout
  fuzz "scraper-$auth" "$scraper/openapi.json" "$scraper" "$auth"
  fuzz "app-$auth" "$app/openapi.json" "$app" "$auth"
  for svc in identity scraper app; do
    fuzz "gateway-$svc-$auth" "$gateway/openapi/$svc.json" "$gateway" "$auth" \
      --exclude-path /api/v1/auth/logout
  done
  [ "$auth" = anonymous ] && fuzz gateway-anonymous "$gateway/openapi.json" "$gateway" anonymous
  [ "$auth" = user ] && settle
done
settle
# Logout last, with its own tokens: it revokes the token it is called with.
token[user]="${token[user-logout]}"
token[admin]="${token[admin-logout]}"
for auth in user admin; do
  fuzz "logout-$auth" "$identity/openapi.json" "$identity" "$auth" --include-path /api/v1/auth/logout
done
settle

failed=()
cases=0
for rc in "$out"/*.rc; do
  [ -e "$rc" ] || continue
  name="$(basename "$rc" .rc)"
  summary="$(grep -A1 -E '^Test cases:' "$out/$name.txt" | tail -n 1 | sed 's/^ *//')"
  printf '  %-28s %s\n' "$name" "$summary" >&2
  cases=$((cases + $(grep -oE '^[0-9]+' <<<"$summary" || echo 0)))
  if [ "$(cat "$rc")" != 0 ]; then
    failed+=("$name")
    tail -n 60 "$out/$name.txt" >&2
  fi
done

# Anything a service logged at error level is a fault the responses may not show.
for name in identity scraper app gateway; do
  if grep -q '"level":"ERROR"' "$out/log/$name.log"; then
    grep '"level":"ERROR"' "$out/log/$name.log" | head -n 5 >&2
    failed+=("$name logged errors")
  fi
done

[ "$runs" -gt 0 ] || die "SCHEMATHESIS_ONLY=$only matched no run"
if [ ${#failed[@]} -gt 0 ]; then
  die "schemathesis: ${#failed[@]} failed: ${failed[*]} (details in $out)"
fi
log "schemathesis: $runs runs, $cases test cases, no failure (reports in $out)"
