# Shared shell helpers: installing packages (ensure_packages), and the throwaway PostgreSQL
# and Redis of the benchmark scripts and `make down`.
# shellcheck shell=bash

PG_BIN_DIR="${PG_BIN_DIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root to run: $*"; fi
}

# Install Debian packages that are missing (PostgreSQL, Redis, ...).
ensure_packages() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  PG_BIN_DIR="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
}

# The start of every bench script: the packages it needs, then `root` (the checkout, also
# the working directory) and `target` (cargo's target directory) set.
bench_start() {
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cd "$root"
  ensure_packages "$@"
  target="${CARGO_TARGET_DIR:-$root/target}"
}

# `criterion PACKAGE BENCH PATTERN`: run one criterion benchmark, keeping the lines that
# match PATTERN (names and figures).
criterion() {
  log "criterion: $1 --bench $2"
  cargo bench -q -p "$1" --bench "$2" -- --noplot 2>&1 | grep -E "$3" || true
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Run a PostgreSQL binary as an unprivileged user (postgres refuses root).
pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres DATA_DIR PORT: initdb if needed, start on 127.0.0.1:PORT with trust auth.
start_postgres() {
  local data="$1" port="$2"
  [ -n "$PG_BIN_DIR" ] || die "PostgreSQL binaries not found"
  mkdir -p "$data"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$data"; chmod 700 "$data"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    pg_run "$PG_BIN_DIR/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  pg_run "$PG_BIN_DIR/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
}

# stop_postgres DATA_DIR: fast shutdown, then wait until the postmaster has exited.
stop_postgres() {
  local data="$1" pid
  [ -f "$data/postmaster.pid" ] || return 0
  pid="$(head -n 1 "$data/postmaster.pid")"
  pg_run "$PG_BIN_DIR/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  wait_gone "$pid" 60 || die "PostgreSQL (pid $pid) did not exit; see $data/server.log"
}

# redis_pid PORT: the process id the server answering on 127.0.0.1:PORT reports.
redis_pid() {
  redis-cli -p "$1" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p'
}

# start_redis DIR PORT: a daemonized redis-server on 127.0.0.1:PORT, ready
# once the server answering on the port is the one we started (its pid file).
start_redis() {
  local dir="$1" port="$2" pid=""
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save 60 1 --appendonly no >/dev/null
  for _ in $(seq 100); do
    [ -z "$pid" ] && [ -s "$dir/redis.pid" ] && pid="$(cat "$dir/redis.pid")"
    if [ -n "$pid" ] && [ "$(redis_pid "$port")" = "$pid" ]; then return 0; fi
    sleep 0.1
  done
  die "redis-server did not start on port $port; see $dir/redis.log"
}

# stop_redis DIR: stop the server of DIR's pid file and wait until it has exited.
stop_redis() {
  local dir="$1" pid
  [ -f "$dir/redis.pid" ] || return 0
  pid="$(cat "$dir/redis.pid")"
  if [ -n "$pid" ] && is_process "$pid" redis; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 60 || die "Redis (pid $pid) did not exit; see $dir/redis.log"
  fi
  rm -f "$dir/redis.pid"
}

# is_process PID NAME: PID runs and its command name contains NAME (not a reused pid).
is_process() {
  kill -0 "$1" 2>/dev/null && grep -q -- "$2" "/proc/$1/comm" 2>/dev/null
}

# wait_gone PID SECONDS: poll until PID has exited; fails if it is still there.
wait_gone() {
  local pid="$1" secs="$2" i
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  ! kill -0 "$pid" 2>/dev/null
}

# wait_http URL SECONDS: until URL answers 2xx.
wait_http() {
  local url="$1" secs="${2:-60}"
  for _ in $(seq $((secs * 5))); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
