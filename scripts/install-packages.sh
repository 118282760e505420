#!/usr/bin/env bash
# Install the Debian packages named on the command line that are missing (with sudo when
# not root). `cargo xtask` calls it for what a task needs: PostgreSQL, Redis, wrk, ...
set -euo pipefail
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
ensure_packages "$@"
