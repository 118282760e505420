#!/usr/bin/env bash
# Fail when a crate breaks the dependency directions of docs/architecture.md:
#   - every workspace crate has a role (shared, test-support, service or operator) and is
#     described in docs/architecture.md;
#   - services never depend on each other, nor on the operator (dev-dependencies included);
#   - shared crates never depend on services, the operator or test support
#     (gleaner-telemetry and gleaner-scrapejob depend on no workspace crate at all);
#   - test support never depends on a service or the operator; only dev-dependencies
#     reach it;
#   - the end-to-end test crate runs the services' binaries and never links a service
#     or the operator; nothing depends on it;
#   - nothing depends on the operator;
#   - the scraper's normal dependency tree has no kube, the operator's no sqlx, fred or
#     jsonwebtoken, and the telemetry crate's none of them.
# The rule checker first proves itself on made-up workspaces that break each rule.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"

checker="$(mktemp /tmp/gleaner-arch-XXXXXX.py)"
metadata="$(mktemp /tmp/gleaner-arch-XXXXXX.json)"
trap 'rm -f "$checker" "$metadata"' EXIT

cat >"$checker" <<'PY'
"""Dependency directions between Gleaner's crates (see docs/architecture.md)."""
import json
import sys

# The role of every workspace crate. A new crate is classified here and in
# docs/architecture.md before it can pass.
ROLES = {
    "gleaner-telemetry": "shared",
    "gleaner-scrapejob": "shared",
    "gleaner-common": "shared",
    "gleaner-testkit": "test-support",
    "gleaner-demo-site": "test-support",
    "gleaner-identity": "service",
    "gleaner-scraper": "service",
    "gleaner-gateway": "service",
    "gleaner-app": "service",
    "gleaner-operator": "operator",
    "gleaner-e2e": "test",
}
# Shared crates the operator builds on: they depend on no other workspace crate.
LEAVES = {"gleaner-telemetry", "gleaner-scrapejob"}


def kind_name(kind):
    return kind or "normal"


def violations(packages):
    """Each broken rule as one line, from `cargo metadata` packages."""
    names = {p["name"] for p in packages}
    out = []
    for p in sorted(packages, key=lambda p: p["name"]):
        crate = p["name"]
        role = ROLES.get(crate)
        if role is None:
            out.append(f"{crate}: no role; classify it in docs/architecture.md and scripts/check-architecture.sh")
            continue
        seen = set()
        for d in p["dependencies"]:
            dep = d["name"]
            if dep not in names or (dep, d["kind"]) in seen:
                continue
            seen.add((dep, d["kind"]))
            kind = kind_name(d["kind"])
            dep_role = ROLES.get(dep)
            edge = f"{crate} -> {dep} ({kind})"
            if dep == crate or dep_role is None:
                continue
            if dep_role == "operator":
                out.append(f"{edge}: nothing depends on the operator")
            elif dep_role == "test":
                out.append(f"{edge}: nothing depends on the end-to-end tests")
            elif role == "service" and dep_role == "service":
                out.append(f"{edge}: services never depend on each other")
            elif role in ("shared", "test-support", "test") and dep_role == "service":
                out.append(f"{edge}: {role} crates never depend on services")
            elif role == "shared" and dep_role == "test-support" and kind != "dev":
                out.append(f"{edge}: shared crates never depend on test support")
            elif role in ("service", "operator") and dep_role == "test-support" and kind != "dev":
                out.append(f"{edge}: test support is a dev-dependency only")
            elif crate in LEAVES and kind != "dev":
                out.append(f"{edge}: {crate} depends on no workspace crate")
    return out


def self_test():
    """The rules catch each kind of break, and pass the allowed shapes."""
    def pkg(name, *deps):
        return {"name": name, "dependencies": [{"name": n, "kind": k} for n, k in deps]}

    allowed = [
        pkg("gleaner-telemetry", ("serde", None)),
        pkg("gleaner-scrapejob", ("serde", None)),
        pkg("gleaner-common", ("gleaner-telemetry", None), ("gleaner-testkit", "dev")),
        pkg("gleaner-testkit", ("gleaner-common", None)),
        pkg("gleaner-demo-site"),
        pkg("gleaner-identity", ("gleaner-common", None), ("gleaner-testkit", "dev")),
        pkg("gleaner-scraper", ("gleaner-common", None), ("gleaner-scrapejob", None),
            ("gleaner-demo-site", "dev"), ("gleaner-testkit", "dev")),
        pkg("gleaner-operator", ("gleaner-scrapejob", None), ("gleaner-telemetry", None)),
        pkg("gleaner-e2e", ("gleaner-testkit", None), ("gleaner-demo-site", None),
            ("gleaner-common", None)),
    ]
    assert violations(allowed) == [], violations(allowed)
    broken = {
        "services never depend on each other":
            pkg("gleaner-scraper", ("gleaner-identity", "dev")),
        "shared crates never depend on services":
            pkg("gleaner-common", ("gleaner-scraper", None)),
        "test-support crates never depend on services":
            pkg("gleaner-testkit", ("gleaner-identity", None)),
        "test crates never depend on services":
            pkg("gleaner-e2e", ("gleaner-identity", "dev")),
        "nothing depends on the end-to-end tests":
            pkg("gleaner-identity", ("gleaner-e2e", "dev")),
        "nothing depends on the operator":
            pkg("gleaner-app", ("gleaner-operator", None)),
        "shared crates never depend on test support":
            pkg("gleaner-common", ("gleaner-testkit", None)),
        "test support is a dev-dependency only":
            pkg("gleaner-identity", ("gleaner-testkit", None)),
        "gleaner-telemetry depends on no workspace crate":
            pkg("gleaner-telemetry", ("gleaner-common", None)),
        "no role":
            pkg("gleaner-mystery", ("gleaner-common", None)),
    }
    for reason, bad in broken.items():
        others = [p for p in allowed if p["name"] != bad["name"]]
        found = violations(others + [bad])
        assert len(found) == 1 and reason in found[0], (reason, found)


def main():
    self_test()
    with open(sys.argv[1]) as f:
        metadata = json.load(f)
    members = set(metadata["workspace_members"])
    packages = [p for p in metadata["packages"] if p["id"] in members]
    found = violations(packages)
    with open("docs/architecture.md") as f:
        docs = f.read()
    found += [f"{p['name']}: not described in docs/architecture.md"
              for p in packages if f"`{p['name']}`" not in docs]
    for line in found:
        print(f"architecture: {line}", file=sys.stderr)
    if found:
        sys.exit(1)
    print(f"architecture: {len(packages)} crates keep the dependency directions")


main()
PY

"$CARGO" metadata --format-version 1 --no-deps >"$metadata"
python3 "$checker" "$metadata"

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
