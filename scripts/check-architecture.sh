#!/usr/bin/env bash
# `make arch`: the crates keep the roles, places and dependency directions of
# docs/architecture.md, whose dependency table must equal `cargo metadata`
# (scripts/check-architecture.py, which first proves its rules on made-up breaks);
# then crates that must stay out of some dependency trees (`cargo tree -e normal`).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"

metadata="$(mktemp /tmp/gleaner-arch-XXXXXX.json)"
trap 'rm -f "$metadata"' EXIT

"$CARGO" metadata --format-version 1 --no-deps >"$metadata"
python3 scripts/check-architecture.py "$metadata" "$PWD"

# Crates that must stay out of a dependency tree: `forbid CRATE PATTERN WHY`.
status=0
forbid() {
  local crate="$1" pattern="$2" why="$3" tree found
  tree="$("$CARGO" tree -p "$crate" -e normal --prefix none --format '{p}')"
  found="$(awk '{print $1}' <<<"$tree" | grep -E "^($pattern)\$" | sort -u || true)"
  if [ -n "$found" ]; then
    echo "architecture: $crate's dependency tree has $(echo "$found" | paste -sd, -): $why" >&2
    status=1
  fi
}
forbid gleaner-scraper 'kube|kube-[a-z]+|k8s-openapi' "the scraper does not talk to Kubernetes"
forbid gleaner-operator 'sqlx|sqlx-[a-z-]+|fred|jsonwebtoken' "the operator has no database, Redis or token code"
forbid gleaner-telemetry 'sqlx|sqlx-[a-z-]+|fred|jsonwebtoken|kube|kube-[a-z]+' "the operator and every service use it"
[ "$status" -eq 0 ] && echo "architecture: no kube in the scraper; no sqlx, fred or jsonwebtoken in the operator"
exit "$status"
