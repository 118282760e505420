#!/usr/bin/env bash
# `make bench`: every benchmark; the method and last results are in docs/benchmarks.md
# and docs/scale.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/bench-identity.sh"
"$here/bench-scraper.sh"
"$here/bench-gateway.sh"
"$here/bench-webhooks.sh"
"$here/bench-change-feed.sh"
"$here/bench-scale.sh"
