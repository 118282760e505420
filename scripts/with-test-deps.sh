#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL (random port) whose admin URL is in
# TEST_DATABASE_URL (`cargo xtask with-test-deps`, which removes it afterwards). Tests
# create a fresh database each and start their own redis-server processes. Bash for what
# must come first: the PostgreSQL and Redis packages.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/install-packages.sh" postgresql redis-server
exec "${CARGO:-cargo}" xtask with-test-deps "$@"
