#!/usr/bin/env bash
# `make up`: start PostgreSQL and Redis if they are not answering, build,
# migrate, start every Gleaner service in the background, wait until each is
# ready, and print how to use it. Running it again is harmless.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/scripts"
# shellcheck source=lib.sh
. "$here/lib.sh"
cd "$root"

state="$root/.gleaner"
mkdir -p "$state/run" "$state/log" "$state/keys"
chmod 700 "$state/keys"

IDENTITY_PORT="${IDENTITY_PORT:-8081}"
SCRAPER_PORT="${SCRAPER_PORT:-8082}"
DEMO_PORT="${DEMO_PORT:-8090}"
DEMO_COMPANIES="${DEMO_COMPANIES:-500}"
PGPORT_LOCAL="${GLEANER_PG_PORT:-55432}"
REDIS_PORT_LOCAL="${GLEANER_REDIS_PORT:-56379}"

ensure_packages curl ca-certificates

# --- PostgreSQL -------------------------------------------------------------
pg_answers() { command -v psql >/dev/null && psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }
if [ -n "${DATABASE_URL:-}" ] && pg_answers "$DATABASE_URL"; then
  pg_admin_url="$DATABASE_URL"
  log "using PostgreSQL at DATABASE_URL"
else
  ensure_packages postgresql
  pg_admin_url="postgres://postgres@127.0.0.1:${PGPORT_LOCAL}/postgres"
  if pg_answers "$pg_admin_url"; then
    log "PostgreSQL already running on port $PGPORT_LOCAL"
  else
    log "starting PostgreSQL on 127.0.0.1:$PGPORT_LOCAL (data in .gleaner/pgdata)"
    start_postgres "$state/pgdata" "$PGPORT_LOCAL"
    touch "$state/run/postgres.ours"
  fi
fi
# One database per service that owns one, on the same server.
db_url() { python3 - "$pg_admin_url" "$1" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(u.urlunsplit((p.scheme, p.netloc, "/" + sys.argv[2], p.query, p.fragment)))
PY
}
ensure_database() {
  local name="$1"
  if ! psql "$pg_admin_url" -Atqc "select 1 from pg_database where datname='$name'" | grep -q 1; then
    psql "$pg_admin_url" -qc "CREATE DATABASE $name" >/dev/null
  fi
}

# --- Redis ------------------------------------------------------------------
redis_answers() { command -v redis-cli >/dev/null && [ "$(redis-cli -u "$1" ping 2>/dev/null)" = PONG ]; }
if [ -n "${REDIS_URL:-}" ] && redis_answers "$REDIS_URL"; then
  redis_url="$REDIS_URL"
  log "using Redis at REDIS_URL"
else
  ensure_packages redis-server
  redis_url="redis://127.0.0.1:${REDIS_PORT_LOCAL}"
  if redis_answers "$redis_url"; then
    log "Redis already running on port $REDIS_PORT_LOCAL"
  else
    log "starting Redis on 127.0.0.1:$REDIS_PORT_LOCAL (data in .gleaner/redis)"
    start_redis "$state/redis" "$REDIS_PORT_LOCAL"
    touch "$state/run/redis.ours"
  fi
fi

# --- Secrets ------------------------------------------------------------------
if [ -n "${GLEANER_ADMIN_PASSWORD:-}" ]; then
  admin_password="$GLEANER_ADMIN_PASSWORD"
elif [ -f "$state/admin-password" ]; then
  admin_password="$(cat "$state/admin-password")"
else
  admin_password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
  (umask 077; printf '%s' "$admin_password" > "$state/admin-password")
fi
admin_email="${GLEANER_ADMIN_EMAIL:-admin@gleaner.local}"

# --- Build --------------------------------------------------------------------
log "building the services"
cargo build --quiet --bins -p gleaner-identity -p gleaner-scraper -p gleaner-demo-site
bin_dir="${CARGO_TARGET_DIR:-$root/target}/debug"
[ -f "$state/keys/signing.pem" ] || "$bin_dir/identity" keygen --out "$state/keys/signing.pem" >/dev/null

# --- Services -------------------------------------------------------------------
# What a started service runs: its binary's modification time and size. A
# service whose binary has changed since (a rebuild) is restarted.
binary_stamp() { stat -c '%y %s' "$1"; }

# start_service NAME PORT ARGS -- VAR=value...: start `NAME ARGS` unless it
# already runs the current binary.
start_service() {
  local name="$1" port="$2"; shift 2
  local args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  local bin="$bin_dir/$name" stamp pid
  stamp="$(binary_stamp "$bin")"
  if pid="$(service_pid "$state" "$name")"; then
    if [ "$(cat "$state/run/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
      log "$name already running (pid $pid)"
      return 0
    fi
    log "$name was rebuilt since it started: restarting it"
    stop_pid "$name" "$pid"
  fi
  log "starting $name on port $port"
  env "$@" LISTEN_ADDR="127.0.0.1:$port" LOG_FORMAT="${LOG_FORMAT:-json}" RUST_LOG="${RUST_LOG:-info}" \
    nohup "$bin" "${args[@]}" >>"$state/log/$name.log" 2>&1 &
  echo $! > "$state/run/$name.pid"
  printf '%s\n' "$stamp" > "$state/run/$name.stamp"
}

# The scraper may fetch from the local demo site (and other loopback test sites) only.
scraper_egress=(SCRAPER_ALLOWED_HOSTS=127.0.0.1,localhost SCRAPER_ALLOWED_NETWORKS=127.0.0.0/8)

ensure_database gleaner_identity
identity_db="$(db_url gleaner_identity)"
DATABASE_URL="$identity_db" "$bin_dir/identity" migrate >/dev/null
start_service identity "$IDENTITY_PORT" serve -- \
  DATABASE_URL="$identity_db" REDIS_URL="$redis_url" \
  JWT_SIGNING_KEY_FILE="$state/keys/signing.pem" \
  GLEANER_ADMIN_EMAIL="$admin_email" GLEANER_ADMIN_PASSWORD="$admin_password"

ensure_database gleaner_scraper
scraper_db="$(db_url gleaner_scraper)"
DATABASE_URL="$scraper_db" "$bin_dir/scraper" migrate >/dev/null
start_service scraper "$SCRAPER_PORT" serve -- \
  DATABASE_URL="$scraper_db" REDIS_URL="$redis_url" "${scraper_egress[@]}" \
  JWKS_URL="http://127.0.0.1:$IDENTITY_PORT/.well-known/jwks.json"

start_service demo-site "$DEMO_PORT" -- DEMO_COMPANIES="$DEMO_COMPANIES" DEMO_SEED=42

for svc in "identity:$IDENTITY_PORT" "scraper:$SCRAPER_PORT" "demo-site:$DEMO_PORT"; do
  name="${svc%%:*}"; port="${svc##*:}"
  ready_path=/ready; [ "$name" = demo-site ] && ready_path=/health
  if ! wait_http "http://127.0.0.1:$port$ready_path" 90; then
    tail -n 20 "$state/log/$name.log" >&2 || true
    die "$name did not become ready; see .gleaner/log/$name.log"
  fi
  log "$name ready"
done

# The sample scrape: what a ScrapeJob's Job runs, against the demo site.
pages=$(( (DEMO_COMPANIES + 99) / 100 ))
demo="http://127.0.0.1:$DEMO_PORT"
log "sample scrape of the demo site ($DEMO_COMPANIES companies)"
rm -f "$state/run/last-scrape.json"
if env "${scraper_egress[@]}" DATABASE_URL="$scraper_db" SCRAPEJOB_NAME=sample LOG_FORMAT=json RUST_LOG=warn \
   TERMINATION_LOG="$state/run/last-scrape.json" \
   SCRAPEJOB_SPEC="{\"baseUrl\":\"$demo\",\"apiUrl\":\"$demo\",\"targets\":{\"listPages\":{\"from\":1,\"to\":$pages}},\"concurrency\":8,\"requestsPerSecond\":100,\"maxRetries\":3,\"timeoutSeconds\":600}" \
   "$bin_dir/scraper" run >/dev/null 2>>"$state/log/sample-scrape.log"; then
  log "sample scrape: $(cat "$state/run/last-scrape.json")"
else
  log "sample scrape did not succeed: see .gleaner/log/sample-scrape.log"
fi

base="http://127.0.0.1:$IDENTITY_PORT"
scraper="http://127.0.0.1:$SCRAPER_PORT"
cat <<EOT

Gleaner is up.
  identity  $base   (API spec: $base/openapi.json)
  scraper   $scraper   (API spec: $scraper/openapi.json)
  demo site $demo   (a local stand-in for openmoney.md)
  logs      .gleaner/log/   pids: .gleaner/run/   stop with: make down

Admin account: $admin_email
Admin password: $admin_password

Try it:
  curl -s -X POST $base/api/v1/auth/register -H 'content-type: application/json' \\
       -d '{"email":"ion@example.md","username":"ion","password":"a long passphrase"}'
  TOKEN=\$(curl -s -X POST $base/api/v1/auth/login -H 'content-type: application/json' \\
       -d '{"username":"ion","password":"a long passphrase"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s $base/api/v1/users/me -H "authorization: Bearer \$TOKEN"
  curl -s '$scraper/api/v1/companies?q=chisinau&per_page=3'
EOT
