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

GATEWAY_PORT="${GATEWAY_PORT:-8080}"
IDENTITY_PORT="${IDENTITY_PORT:-8081}"
SCRAPER_PORT="${SCRAPER_PORT:-8082}"
APP_PORT="${APP_PORT:-8083}"
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
cargo build --quiet --bins -p gleaner-gateway -p gleaner-identity -p gleaner-scraper -p gleaner-app -p gleaner-demo-site
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

# Identity, the scraper and the app sit behind the gateway, which appends its
# peer to X-Forwarded-For: each trusts that one hop to name the client.
behind_gateway=(TRUSTED_PROXIES=1)
identity_url="http://127.0.0.1:$IDENTITY_PORT"
scraper_url="http://127.0.0.1:$SCRAPER_PORT"
app_url="http://127.0.0.1:$APP_PORT"
jwks_url="$identity_url/.well-known/jwks.json"

ensure_database gleaner_identity
identity_db="$(db_url gleaner_identity)"
DATABASE_URL="$identity_db" "$bin_dir/identity" migrate >/dev/null
start_service identity "$IDENTITY_PORT" serve -- \
  DATABASE_URL="$identity_db" REDIS_URL="$redis_url" "${behind_gateway[@]}" \
  JWT_SIGNING_KEY_FILE="$state/keys/signing.pem" \
  GLEANER_ADMIN_EMAIL="$admin_email" GLEANER_ADMIN_PASSWORD="$admin_password"

ensure_database gleaner_scraper
scraper_db="$(db_url gleaner_scraper)"
DATABASE_URL="$scraper_db" "$bin_dir/scraper" migrate >/dev/null
start_service scraper "$SCRAPER_PORT" serve -- \
  DATABASE_URL="$scraper_db" REDIS_URL="$redis_url" "${scraper_egress[@]}" "${behind_gateway[@]}" \
  JWKS_URL="$jwks_url"

ensure_database gleaner_app
app_db="$(db_url gleaner_app)"
DATABASE_URL="$app_db" "$bin_dir/app" migrate >/dev/null
start_service app "$APP_PORT" serve -- \
  DATABASE_URL="$app_db" REDIS_URL="$redis_url" "${behind_gateway[@]}" \
  JWKS_URL="$jwks_url" SCRAPER_URL="$scraper_url" IDENTITY_URL="$identity_url" \
  GLEANER_ADMIN_EMAIL="$admin_email" GLEANER_ADMIN_PASSWORD="$admin_password"

start_service gateway "$GATEWAY_PORT" -- \
  REDIS_URL="$redis_url" JWKS_URL="$jwks_url" \
  IDENTITY_URL="$identity_url" SCRAPER_URL="$scraper_url" APP_URL="$app_url"

start_service demo-site "$DEMO_PORT" -- DEMO_COMPANIES="$DEMO_COMPANIES" DEMO_SEED=42

for svc in "identity:$IDENTITY_PORT" "scraper:$SCRAPER_PORT" "app:$APP_PORT" "demo-site:$DEMO_PORT" "gateway:$GATEWAY_PORT"; do
  name="${svc%%:*}"; port="${svc##*:}"
  ready_path=/ready; [ "$name" = demo-site ] && ready_path=/health
  if ! wait_http "http://127.0.0.1:$port$ready_path" 90; then
    tail -n 20 "$state/log/$name.log" >&2 || true
    die "$name did not become ready; see .gleaner/log/$name.log"
  fi
  log "$name ready"
done

# The sample scrape: a scrape job created through the API (as the admin, via
# the gateway), run once now and followed until it ends.
pages=$(( (DEMO_COMPANIES + 99) / 100 ))
demo="http://127.0.0.1:$DEMO_PORT"
gateway="http://127.0.0.1:$GATEWAY_PORT"
log "sample scrape of the demo site ($DEMO_COMPANIES companies) as the scrape job 'sample'"
rm -f "$state/run/last-scrape.json"
if GATEWAY="$gateway" ADMIN_EMAIL="$admin_email" ADMIN_PASSWORD="$admin_password" \
   SPEC="{\"baseUrl\":\"$demo\",\"apiUrl\":\"$demo\",\"targets\":{\"listPages\":{\"from\":1,\"to\":$pages}},\"concurrency\":8,\"requestsPerSecond\":100,\"maxRetries\":3,\"timeoutSeconds\":600}" \
   python3 - >"$state/run/last-scrape.json" 2>>"$state/log/sample-scrape.log" <<'PY'
import json, os, sys, time, urllib.error, urllib.request

gateway = os.environ["GATEWAY"]

def call(method, path, body=None, token=None, ok=(200, 201, 202, 204)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(gateway + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        if e.code in ok:
            return e.code, json.loads(raw) if raw else None
        raise SystemExit(f"{method} {path}: HTTP {e.code}: {raw.decode(errors='replace')}")

_, pair = call("POST", "/api/v1/auth/login",
               {"username": os.environ["ADMIN_EMAIL"], "password": os.environ["ADMIN_PASSWORD"]})
token = pair["access_token"]
status, _ = call("POST", "/api/v1/scrape-jobs",
                 {"name": "sample", "spec": json.loads(os.environ["SPEC"])}, token, ok=(201, 409))
if status == 201:
    # A job without a schedule runs once when it is created: follow that run.
    print("scrape job 'sample' created", file=sys.stderr)
    run, deadline = None, time.time() + 60
    while run is None:
        _, runs = call("GET", "/api/v1/scrape-runs?job=sample", None, token)
        run = (runs.get("items") or [None])[0]
        if run is None:
            if time.time() > deadline:
                raise SystemExit("the job 'sample' did not start its first run")
            time.sleep(1)
else:
    print("scrape job 'sample' exists: running it again", file=sys.stderr)
    _, run = call("POST", "/api/v1/scrape-jobs/sample/runs", None, token)
deadline = time.time() + 900
while run.get("status") in ("queued", "running"):
    if time.time() > deadline:
        raise SystemExit(f"run {run['id']} did not end within 15 minutes")
    time.sleep(1)
    _, run = call("GET", f"/api/v1/scrape-runs/{run['id']}", None, token)
print(json.dumps(run))
sys.exit(0 if run.get("status") == "succeeded" else 1)
PY
then
  log "sample scrape: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["status"], "-", r["pages_fetched"], "pages,", r["companies_created"], "companies created,", r["companies_updated"], "updated")' "$state/run/last-scrape.json" 2>/dev/null || cat "$state/run/last-scrape.json")"
else
  log "sample scrape did not succeed: see .gleaner/log/sample-scrape.log and .gleaner/run/last-scrape.json"
fi

cat <<EOT

Gleaner is up at $gateway   (API docs: $gateway/docs/)
  every request goes through the gateway; the services behind it:
  identity  $identity_url   scraper  $scraper_url   app  $app_url
  demo site $demo   (a local stand-in for openmoney.md)
  logs      .gleaner/log/   pids: .gleaner/run/   stop with: make down

Admin account: $admin_email
Admin password: $admin_password

Try it (through the gateway):
  curl -s '$gateway/api/v1/companies?q=chisinau&per_page=3'
  curl -s -X POST $gateway/api/v1/auth/register -H 'content-type: application/json' \\
       -d '{"email":"ion@example.md","username":"ion","password":"a long passphrase"}'
  TOKEN=\$(curl -s -X POST $gateway/api/v1/auth/login -H 'content-type: application/json' \\
       -d '{"username":"ion","password":"a long passphrase"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s $gateway/api/v1/users/me -H "authorization: Bearer \$TOKEN"
  IDNO=\$(curl -s '$gateway/api/v1/companies?per_page=1' | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["idno"])')
  curl -s -X PUT $gateway/api/v1/watchlist/\$IDNO -H "authorization: Bearer \$TOKEN"
  curl -s $gateway/api/v1/notifications -H "authorization: Bearer \$TOKEN"
  ADMIN=\$(curl -s -X POST $gateway/api/v1/auth/login -H 'content-type: application/json' \\
       -d '{"username":"$admin_email","password":"$admin_password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -X POST $gateway/api/v1/scrape-jobs/sample/runs -H "authorization: Bearer \$ADMIN"
  curl -s '$gateway/api/v1/scrape-runs?job=sample' -H "authorization: Bearer \$ADMIN"
EOT
