#!/usr/bin/env bash
# `make image-test` (part of `make test`): builds every image (`make images`), then runs
# each the way the chart runs it: uid 65532, read-only root filesystem with only /tmp
# writable, every capability dropped, no privilege escalation. Each must serve /health
# (the gateway's /ready proves identity, the scraper and the app answer through it), no
# image may hold a shell, identity/scraper/app migrate their databases from their images,
# identity's image generates the signing key as the chart's hook does, and the scraper
# image, started as a run's Job starts it (`scraper run`), completes a scrape of the demo
# site image. A throwaway PostgreSQL and Redis on random ports serve the services; every
# container runs on the host network, bound to 127.0.0.1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

"$here/images.sh"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
tag="${IMAGE_TAG:-dev}"
images=(gateway identity scraper app operator demo-site)
img() { printf 'localhost/gleaner/%s:%s' "$1" "$tag"; }

work="$(mktemp -d /tmp/gleaner-image-test-XXXXXX)"
chmod 755 "$work"
prefix="gleaner-image-test-$$"
stub_pid=""
cleanup() {
  local c
  for c in $(podman ps -a --filter "name=^$prefix-" --format '{{.Names}}' 2>/dev/null); do
    podman rm --force --time 5 "$c" >/dev/null 2>&1 || true
  done
  [ -n "$stub_pid" ] && kill "$stub_pid" 2>/dev/null || true
  stop_redis "$work/redis" || true
  stop_postgres "$work/pg" || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  local c
  for c in $(podman ps -a --filter "name=^$prefix-" --format '{{.Names}}' 2>/dev/null); do
    printf '\n--- logs of %s (%s)\n' "$c" "$(podman inspect --format '{{.State.Status}} exit {{.State.ExitCode}}' "$c" 2>/dev/null)" >&2
    podman logs --tail 30 "$c" >&2 2>&1 || true
  done
  die "image test: $*"
}

# How the chart runs every Gleaner container (restricted Pod Security, read-only root,
# an emptyDir on /tmp), on the host network.
secure=(--runtime runc --network host --read-only --read-only-tmpfs=false --tmpfs /tmp
  --user 65532:65532 --cap-drop ALL --security-opt no-new-privileges)
run_once() { podman run --rm "${secure[@]}" "$@"; }
start() { # start NAME [podman args...] IMAGE [args...]
  local name="$1"; shift
  podman run --detach --name "$prefix-$name" "${secure[@]}" "$@" >/dev/null ||
    fail "$name did not start"
}
# wait_ok NAME URL: until URL answers 2xx; fails at once when the container has exited.
wait_ok() {
  local name="$1" url="$2" state
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    state="$(podman inspect --format '{{.State.Status}}' "$prefix-$name" 2>/dev/null || echo gone)"
    [ "$state" = running ] || fail "$name is $state instead of serving $url"
    sleep 0.2
  done
  fail "$name did not answer $url within 60 s"
}

# --- The images themselves ------------------------------------------------------
for name in "${images[@]}"; do
  user="$(podman image inspect --format '{{.Config.User}}' "$(img "$name")")"
  [ "$user" = 65532:65532 ] || fail "$name runs as '$user', not 65532:65532"
  # The binary runs (a control for the checks below)...
  run_once "$(img "$name")" --help >/dev/null || fail "$name --help failed in its image"
  # ...and no shell does: podman exits 127 when the executable does not exist.
  for sh in /bin/sh /bin/bash /bin/dash /usr/bin/sh /bin/busybox; do
    rc=0
    run_once --entrypoint "$sh" "$(img "$name")" -c true >/dev/null 2>&1 || rc=$?
    [ "$rc" = 127 ] || fail "$name: running $sh exited $rc (expected 127: not in the image)"
  done
done
log "every image runs its binary as 65532:65532 and holds no shell"

# --- PostgreSQL and Redis ------------------------------------------------------------
ensure_packages postgresql redis-server curl python3
for attempt in 1 2 3 4 5; do
  pg_port="$(free_port)"
  start_postgres "$work/pg" "$pg_port" && break
  [ "$attempt" = 5 ] && die "PostgreSQL did not start; see $work/pg/server.log"
done
for attempt in 1 2 3 4 5; do
  redis_port="$(free_port)"
  (start_redis "$work/redis" "$redis_port") && break
  [ "$attempt" = 5 ] && die "Redis did not start"
done
redis_url="redis://127.0.0.1:$redis_port"
db_url() { printf 'postgres://postgres@127.0.0.1:%s/%s' "$pg_port" "$1"; }
for db in identity scraper app; do
  pg_run "$PG_BIN_DIR/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres "$db"
  run_once -e DATABASE_URL="$(db_url "$db")" "$(img "$db")" migrate >/dev/null ||
    fail "$db migrate failed in its image"
done
log "identity, scraper and app migrated their databases from their images"

# --- The services -------------------------------------------------------------------
declare -A port
for name in "${images[@]}"; do port[$name]="$(free_port)"; done
url() { printf 'http://127.0.0.1:%s' "${port[$1]}"; }
jwks="$(url identity)/.well-known/jwks.json"
egress=(-e SCRAPER_ALLOWED_HOSTS=127.0.0.1 -e SCRAPER_ALLOWED_NETWORKS=127.0.0.0/8)

# The signing key, generated by identity's image as the chart's hook generates it.
mkdir -p "$work/keys"
chown 65532:65532 "$work/keys"
run_once -v "$work/keys:/keys" "$(img identity)" keygen --production --out /keys/signing.pem >/dev/null ||
  fail "identity keygen failed in its image"

start demo-site -e LISTEN_ADDR="127.0.0.1:${port[demo-site]}" -e DEMO_COMPANIES=150 "$(img demo-site)"
start identity -e LISTEN_ADDR="127.0.0.1:${port[identity]}" -e GLEANER_ENV=production \
  -e DATABASE_URL="$(db_url identity)" -e REDIS_URL="$redis_url" \
  -v "$work/keys:/keys:ro" -e JWT_SIGNING_KEY_FILE=/keys/signing.pem "$(img identity)"
wait_ok identity "$(url identity)/health"
start scraper -e LISTEN_ADDR="127.0.0.1:${port[scraper]}" -e DATABASE_URL="$(db_url scraper)" \
  -e REDIS_URL="$redis_url" -e JWKS_URL="$jwks" "${egress[@]}" "$(img scraper)"
start app -e LISTEN_ADDR="127.0.0.1:${port[app]}" -e DATABASE_URL="$(db_url app)" \
  -e REDIS_URL="$redis_url" -e JWKS_URL="$jwks" -e SCRAPER_URL="$(url scraper)" \
  -e IDENTITY_URL="$(url identity)" "$(img app)"
start gateway -e LISTEN_ADDR="127.0.0.1:${port[gateway]}" -e REDIS_URL="$redis_url" \
  -e JWKS_URL="$jwks" -e IDENTITY_URL="$(url identity)" -e SCRAPER_URL="$(url scraper)" \
  -e APP_URL="$(url app)" "$(img gateway)"

# The operator needs a Kubernetes API to stay up: a stub that answers /version and
# lists nothing (the controller's watches retry against it; /health does not depend
# on them).
stub_port="$(free_port)"
python3 - "$stub_port" >"$work/stub.log" 2>&1 <<'PY' &
import http.server, json, sys

class Api(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/version"):
            body = {"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"}
            code = 200
        else:
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound"}
            code = 404
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_POST = do_PUT = do_PATCH = do_GET

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Api).serve_forever()
PY
stub_pid=$!
wait_http "http://127.0.0.1:$stub_port/version" 30 || die "the stub Kubernetes API did not start: $(cat "$work/stub.log")"
cat >"$work/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: stub, cluster: {server: "http://127.0.0.1:$stub_port"}}]
users: [{name: stub, user: {token: image-test}}]
contexts: [{name: stub, context: {cluster: stub, user: stub, namespace: gleaner}}]
current-context: stub
EOF
chmod 644 "$work/kubeconfig"
start operator -e LISTEN_ADDR="127.0.0.1:${port[operator]}" -e LEADER_ELECTION=false \
  -e POD_NAMESPACE=gleaner -v "$work/kubeconfig:/kube/config:ro" -e KUBECONFIG=/kube/config \
  "$(img operator)"

for name in "${images[@]}"; do wait_ok "$name" "$(url "$name")/health"; done
log "every image serves /health"
wait_ok gateway "$(url gateway)/ready"
log "the gateway is ready: identity, the scraper and the app answer through it"

# --- A run, as the operator's Job runs it ---------------------------------------------
spec="{\"baseUrl\":\"$(url demo-site)\",\"apiUrl\":\"$(url demo-site)\",\"targets\":{\"listPages\":{\"from\":1,\"to\":2}},\"concurrency\":4,\"requestsPerSecond\":100,\"maxRetries\":3,\"timeoutSeconds\":300}"
: >"$work/termination-log"
chown 65532:65532 "$work/termination-log"
rc=0
run_once --name "$prefix-run" --entrypoint scraper \
  -e DATABASE_URL="$(db_url scraper)" -e REDIS_URL="$redis_url" "${egress[@]}" \
  -e SCRAPEJOB_SPEC="$spec" -e SCRAPEJOB_NAME=image-test -e LOG_FORMAT=json \
  -v "$work/termination-log:/dev/termination-log" "$(img scraper)" run >"$work/run.out" 2>"$work/run.err" || rc=$?
if [ "$rc" != 0 ]; then
  tail -n 30 "$work/run.err" >&2
  fail "scraper run exited $rc"
fi
python3 - "$work/termination-log" <<'PY' || fail "the run's summary is not a success: $(cat "$work/termination-log")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["status"] == "succeeded", s
assert s["pages_fetched"] > 0 and s["companies_created"] > 0 and s["pages_failed"] == 0, s
print(f"    run {s['run_id']}: {s['pages_fetched']} pages, {s['companies_created']} companies created", file=sys.stderr)
PY
log "the scraper image completed a run against the demo site image"
