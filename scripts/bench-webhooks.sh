#!/usr/bin/env bash
# Webhook delivery benchmark (docs/benchmarks.md, "Webhooks"): 1,000 notifications to a
# receiver on 127.0.0.1, the time from each notification's commit to its arrival, then
# the same with the receiver failing 30 % of requests: nothing may be lost.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_start postgresql

log "building the webhook bench (release)"
cargo build -q --release -p gleaner-app --example webhook_bench
work="$(mktemp -d /tmp/gleaner-bench-XXXXXX)"; chmod 755 "$work"
pg_port="$(free_port)"
cleanup() { stop_postgres "$work/pg"; rm -rf "$work"; }
trap cleanup EXIT
start_postgres "$work/pg" "$pg_port"
admin="postgres://postgres@127.0.0.1:$pg_port"
psql "$admin/postgres" -qc "CREATE DATABASE webhooks" >/dev/null

log "1,000 notifications to a local receiver: answering 204, then failing 30 %"
DATABASE_URL="$admin/webhooks" RUST_LOG=warn "$target/release/examples/webhook_bench"
