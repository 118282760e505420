#!/usr/bin/env bash
# `make chart`: the Helm chart with every value set it ships. helm lint --strict, and
# helm template validated by kubernetes-validate (strict, Kubernetes 1.37) for each; the alert rules through promtool (check and unit tests); the
# dev add-ons through kustomize; then the Rust checks of every rendered object
# (the gleaner-chart-tests crate, charts/tests: Kubernetes schemas, Pod Security,
# NetworkPolicy flows, the operator's RBAC, ...).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
CARGO="${CARGO:-cargo}"

"$here/install-tools.sh"
tools="${GLEANER_TOOLS:-$HOME/.cache/gleaner/tools}/bin"
helm="${HELM:-$tools/helm}"
chart="$root/charts/gleaner"
work="$(mktemp -d /tmp/gleaner-chart-XXXXXX)"
trap 'rm -rf "$work"' EXIT

for values in "" values-kind.yaml values-external.yaml values-monitoring.yaml values-minimal.yaml; do
  args=()
  [ -n "$values" ] && args=(-f "$chart/$values")
  log "helm lint --strict ${values:-(defaults)}"
  "$helm" lint --strict --quiet "$chart" "${args[@]}"
  # Every object against Kubernetes 1.37's schemas, rejecting unknown fields. (The
  # Prometheus Operator's kinds have no schema there: a warning; the Rust checks cover them.)
  "$helm" template gleaner "$chart" --namespace gleaner --include-crds "${args[@]}" >"$work/rendered.yaml"
  "$tools/kubernetes-validate" --strict --quiet --kubernetes-version 1.37.0 "$work/rendered.yaml"
done

if command -v promtool >/dev/null; then
  log "promtool: alert rules"
  promtool check rules "$chart/prometheus/rules.yaml"
  (cd "$chart/prometheus" && promtool test rules rules.test.yaml)
  log "promtool: every dashboard panel's query parses"
  python3 - "$chart/dashboards" "$work/dashboards.rules.yaml" <<'PY'
import glob, json, os, sys

rules = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    name = os.path.basename(path)[:-5]
    for panel in json.load(open(path))["panels"]:
        for target in panel["targets"]:
            rules.append({"record": f"dashboard:{name}:{panel['id']}{target['refId']}".replace("-", "_"),
                          "expr": target["expr"]})
# JSON is YAML: a rule file promtool can check.
json.dump({"groups": [{"name": "dashboards", "rules": rules}]}, open(sys.argv[2], "w"))
PY
  promtool check rules "$work/dashboards.rules.yaml"
else
  log "promtool not installed (Debian package prometheus): alert rules not checked"
fi

log "rendered objects (charts/tests)"
HELM="$helm" GLEANER_REQUIRE_HELM=1 "$CARGO" test -q -p gleaner-chart-tests
