#!/usr/bin/env bash
# Install schemathesis (pinned) into a virtualenv under ~/.cache/gleaner/tools/schemathesis
# (or $GLEANER_TOOLS/schemathesis); already installed, nothing happens. `make api-fuzz`
# (`cargo xtask api-fuzz`, docs/api-fuzzing.md) runs it; CI installs it first with
# `scripts/schemathesis.sh install`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

version="4.32.5"
venv="${GLEANER_TOOLS:-$HOME/.cache/gleaner/tools}/schemathesis"
case "${1:-install}" in
  install) ;;
  *) die "usage: scripts/schemathesis.sh [install] (make api-fuzz runs the fuzzing)" ;;
esac
ensure_packages python3 python3-venv
if "$venv/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $version"; then
  exit 0
fi
log "installing schemathesis $version into $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "schemathesis==$version"
