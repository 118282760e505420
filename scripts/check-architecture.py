"""`make arch`: the crates keep the roles and dependency directions that
docs/architecture.md describes, and that document's dependency table is exactly
what `cargo metadata` says.

docs/architecture.md is the one place the roles are written:
  - the table under "## The crates" gives every workspace crate its path and role;
  - the table under "## Who depends on whom" lists each crate's workspace
    dependencies (normal and dev-only).
This script reads both, checks them against `cargo metadata`, then checks the rules
below. Before checking the workspace it proves the rules catch a made-up break of each.
"""
import json
import re
import sys

ROLE_NAMES = {"shared", "test-support", "service", "operator", "test", "tool"}
# Where a crate of each role lives: libraries under crates/, deployables under
# services/ (the operator under operator/), tests and tools at their own places.
ROLE_PLACES = {
    "shared": ("crates/",),
    "test-support": ("crates/", "services/demo-site", "tests/"),
    "service": ("services/",),
    "operator": ("operator",),
    "test": ("tests", "charts/"),
    "tool": ("xtask",),
}


def violations(packages, roles):
    """Each broken direction as one line. `packages`: name and dependencies
    [(name, kind)] of workspace crates; `roles`: crate -> role."""
    names = {p["name"] for p in packages}
    out = []
    for p in sorted(packages, key=lambda p: p["name"]):
        crate = p["name"]
        role = roles.get(crate)
        if role is None:
            out.append(f"{crate}: no role; give it a row in docs/architecture.md")
            continue
        for dep, kind in sorted(set(p["dependencies"]), key=lambda d: (d[0], d[1] or "")):
            if dep not in names or dep == crate:
                continue
            kind = kind or "normal"
            dep_role = roles.get(dep)
            edge = f"{crate} -> {dep} ({kind})"
            if dep_role == "operator":
                out.append(f"{edge}: nothing depends on the operator")
            elif dep_role in ("test", "tool"):
                out.append(f"{edge}: nothing depends on a {dep_role} crate")
            elif dep_role == "service":
                out.append(f"{edge}: nothing depends on a service")
            elif role == "shared" and dep_role != "shared" and kind != "dev":
                out.append(f"{edge}: shared crates depend only on shared crates")
            elif role in ("service", "operator") and dep_role == "test-support" and kind != "dev":
                out.append(f"{edge}: test support is a dev-dependency only")
    return out


def table(doc, heading):
    """The rows of the first Markdown table after `heading`, as lists of cells."""
    at = doc.find(heading)
    if at < 0:
        return None
    rows = []
    for line in doc[at:].splitlines()[1:]:
        line = line.strip()
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if set("".join(cells)) <= set("-: "):
            continue
        rows.append(cells)
    return rows[1:]  # without the header


def ticked(cell):
    return set(re.findall(r"`([^`]+)`", cell))


def document_problems(doc, packages, paths):
    """Differences between docs/architecture.md's tables and the workspace."""
    out = []
    crates = table(doc, "## The crates")
    deps = table(doc, "## Who depends on whom")
    if crates is None or deps is None:
        return {}, ["docs/architecture.md needs the tables '## The crates' and '## Who depends on whom'"]
    roles = {}
    for row in crates:
        name, path, role = (next(iter(ticked(row[0])), ""), next(iter(ticked(row[1])), ""), row[2])
        if role not in ROLE_NAMES:
            out.append(f"{name}: role '{role}' is not one of {sorted(ROLE_NAMES)}")
        roles[name] = role
        if name in paths and paths[name] != path:
            out.append(f"{name}: docs/architecture.md says `{path}`, the workspace has `{paths[name]}`")
        if name in paths and role in ROLE_PLACES and not paths[name].startswith(ROLE_PLACES[role]):
            out.append(f"{name}: a {role} crate lives under {' or '.join(ROLE_PLACES[role])}, not {paths[name]}")
    names = {p["name"] for p in packages}
    for missing in sorted(names - roles.keys()):
        out.append(f"{missing}: not in the crate table of docs/architecture.md")
    for gone in sorted(roles.keys() - names):
        out.append(f"{gone}: in docs/architecture.md but not a workspace crate")
    documented = {}
    for row in deps:
        name = next(iter(ticked(row[0])), "")
        documented[name] = (ticked(row[1]), ticked(row[2]))
    for p in packages:
        normal = {d for d, k in p["dependencies"] if d in names and k is None} - {p["name"]}
        dev = {d for d, k in p["dependencies"] if d in names and k == "dev"} - normal - {p["name"]}
        doc_normal, doc_dev = documented.get(p["name"], (None, None))
        if doc_normal is None:
            out.append(f"{p['name']}: no row under 'Who depends on whom' in docs/architecture.md")
            continue
        for what, have, said in (("dependencies", normal, doc_normal), ("dev-dependencies", dev, doc_dev)):
            if have != said:
                extra, lack = sorted(have - said), sorted(said - have)
                out.append(f"{p['name']}: {what} differ from docs/architecture.md"
                           + (f"; undocumented {', '.join(extra)}" if extra else "")
                           + (f"; documented but absent {', '.join(lack)}" if lack else ""))
    return roles, out


def self_test():
    """The rules catch each kind of break, and pass the allowed shapes."""
    def pkg(name, *deps):
        return {"name": name, "dependencies": list(deps)}

    roles = {
        "t": "shared", "c": "shared", "k": "test-support", "d": "test-support",
        "i": "service", "s": "service", "o": "operator", "e": "test", "x": "tool",
    }
    allowed = [
        pkg("t"), pkg("c", ("t", None), ("k", "dev")), pkg("k", ("c", None)), pkg("d"),
        pkg("i", ("c", None), ("k", "dev")), pkg("s", ("c", None), ("d", "dev"), ("k", "dev")),
        pkg("o", ("t", None), ("k", "dev")), pkg("e", ("k", None), ("d", None), ("c", None)),
        pkg("x", ("k", None), ("c", None)),
    ]
    assert violations(allowed, roles) == [], violations(allowed, roles)
    broken = {
        "nothing depends on a service": pkg("s", ("i", "dev")),
        "shared crates depend only on shared crates": pkg("c", ("k", None)),
        "nothing depends on the operator": pkg("i", ("o", None)),
        "nothing depends on a test crate": pkg("i", ("e", "dev")),
        "nothing depends on a tool crate": pkg("e", ("x", None)),
        "test support is a dev-dependency only": pkg("i", ("k", None)),
        "no role": pkg("mystery", ("c", None)),
    }
    for reason, bad in broken.items():
        others = [p for p in allowed if p["name"] != bad["name"]]
        found = violations(others + [bad], roles)
        assert len(found) == 1 and reason in found[0], (reason, found)
    # The document check catches an undocumented edge and a wrong path.
    doc = """## The crates
| crate | path | role | owns |
|---|---|---|---|
| `a` | `crates/a` | shared | x |
| `b` | `services/b` | service | y |

## Who depends on whom
| crate | depends on | dev-dependencies |
|---|---|---|
| `a` | | |
| `b` | `a` | |
"""
    pk = [{"name": "a", "dependencies": []}, {"name": "b", "dependencies": [("a", None), ("a", "dev")]}]
    assert document_problems(doc, pk, {"a": "crates/a", "b": "services/b"})[1] == []
    pk[0]["dependencies"].append(("b", None))
    found = document_problems(doc, pk, {"a": "crates/a", "b": "services/b"})[1]
    assert len(found) == 1 and "undocumented b" in found[0], found
    found = document_problems(doc, pk[1:] + [{"name": "a", "dependencies": []}],
                              {"a": "services/a", "b": "services/b"})[1]
    assert any("a shared crate lives under crates/" in f for f in found), found


def main():
    self_test()
    root = sys.argv[2]
    with open(sys.argv[1]) as f:
        metadata = json.load(f)
    members = set(metadata["workspace_members"])
    packages, paths = [], {}
    for p in metadata["packages"]:
        if p["id"] not in members:
            continue
        packages.append({"name": p["name"],
                         "dependencies": [(d["name"], d["kind"]) for d in p["dependencies"]]})
        manifest = p["manifest_path"]
        paths[p["name"]] = manifest[len(root) + 1:-len("/Cargo.toml")]
    with open(f"{root}/docs/architecture.md") as f:
        doc = f.read()
    roles, found = document_problems(doc, packages, paths)
    found += violations(packages, roles)
    for line in found:
        print(f"architecture: {line}", file=sys.stderr)
    if found:
        sys.exit(1)
    print(f"architecture: {len(packages)} crates keep the roles and directions docs/architecture.md gives them")


main()
