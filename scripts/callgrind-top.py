#!/usr/bin/env python3
"""Instructions per request from a callgrind profile: the total, and the functions
that cost the most, inclusive (with what they call) and exclusive (their own code).

Usage: callgrind-top.py NAME CALLGRIND_FILE REQUESTS [TOP]
"""
import re
import subprocess
import sys

name, path, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
top = int(sys.argv[4]) if len(sys.argv) > 4 else 25
line_re = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(.+?)\s*$")


def rows(inclusive):
    out = subprocess.run(
        ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
         "--threshold=100", "--auto=no", path],
        check=True, capture_output=True, text=True).stdout
    total, found = 0, []
    for line in out.splitlines():
        m = line_re.match(line)
        if not m:
            continue
        count, what = int(m.group(1).replace(",", "")), m.group(2)
        if what.startswith("PROGRAM TOTALS"):
            total = count
            continue
        if ":" not in what:
            continue
        what = re.sub(r"\s+\[[^\]]*\]$", "", what)  # the object file
        what = what.split(":", 1)[1] if not what.startswith("<") else what
        what = re.sub(r"::h[0-9a-f]{16}$", "", what)
        found.append((count, what))
    return total, found


# Exclusive costs summed by what the code is for (first pattern that matches).
CATEGORIES = [
    ("EdDSA signature check (curve25519, sha512)", r"curve25519|sha2::|ed25519"),
    ("JWT decode (base64, JSON claims)", r"jsonwebtoken|base64"),
    ("Redis client (fred, RESP)", r"fred::|redis_protocol"),
    ("PostgreSQL client (sqlx)", r"sqlx"),
    ("tracing, spans, logs, OpenTelemetry", r"tracing|opentelemetry|sharded_slab"),
    ("metrics (prometheus)", r"prometheus"),
    ("JSON (serde_json)", r"serde_json|serde::"),
    ("HTTP (hyper, http, axum, tower)", r"hyper|http::|httparse|axum|tower|h2::"),
    ("async runtime (tokio, futures)", r"tokio|futures|mio::"),
    ("allocator (jemalloc)", r"_rjem|je_|tcache|arena_|extent_|emap_|sz_|malloc|free|realloc"),
    ("memcpy, memmove, memset, str", r"mem(cpy|move|set|cmp)|strlen|__str"),
    ("hashing, maps", r"hash|HashMap|RawTable|siphash|fnv"),
]


def category(what):
    for label, pattern in CATEGORIES:
        if re.search(pattern, what):
            return label
    return "other"


total, exclusive = rows(False)
_, inclusive = rows(True)
per = max(requests, 1)
print(f"=== {name}: {total / per:,.0f} instructions per request ({requests} requests) ===")
sums = {}
for count, what in exclusive:
    sums[category(what)] = sums.get(category(what), 0) + count
print(f"--- {name}: where the instructions go (exclusive, by kind) ---")
for label, count in sorted(sums.items(), key=lambda kv: -kv[1]):
    print(f"{count / per:>10,.0f} {100 * count / max(total, 1):5.1f}%  {label}")
# Inclusive: leave out recursion entries and the future/service plumbing every request
# passes through, which say nothing about where the cost is.
plumbing = re.compile(r"'\d|PollFn|future::Map|MapIntoResponse|RouteFuture|Oneshot|from_fn::|"
                      r"tokio::runtime|UpgradeableConnection|Dispatcher|handle_connection|"
                      r"ResponseFuture|Instrumented|TaskLocalFuture|Next::run|BoxCloneSyncService|"
                      r"std::sys|std::thread|start_thread|clone3|core::ops::function|__rust_try")
shown = [(c, w) for c, w in inclusive if not plumbing.search(w)]
print(f"--- {name}: top {top} inclusive (with what they call), plumbing left out ---")
for count, what in shown[:top]:
    print(f"{count / per:>10,.0f} {100 * count / max(total, 1):5.1f}%  {what[:150]}")
print(f"--- {name}: top {top} exclusive (their own code) ---")
for count, what in exclusive[:top]:
    print(f"{count / per:>10,.0f} {100 * count / max(total, 1):5.1f}%  {what[:150]}")
