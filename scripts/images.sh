#!/usr/bin/env bash
# `make images`: every container image (gateway, identity, scraper, app, operator,
# demo-site) as localhost/gleaner/<name>:${IMAGE_TAG:-dev}, with no Docker daemon and no
# registry: release binaries built on the host, a minimal Debian bookworm base assembled
# from Debian packages by mmdebstrap, and podman building each image from its
# Containerfile with a context that holds only its binary.
#
#   scripts/images.sh           build everything (incremental: a warm run takes seconds)
#   scripts/images.sh --stage   only build the binaries and stage the build contexts in
#                               .gleaner/images/<name>/ (for `docker build`, skaffold -p docker)
#
# IMAGE_BASE=gcr.io/distroless/cc-debian12:nonroot builds on distroless instead (needs a
# registry); the Containerfiles' own default is that base.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

stage_only=false
case "${1:-}" in
  "") ;;
  --stage) stage_only=true ;;
  *) die "usage: $0 [--stage]" ;;
esac

CARGO="${CARGO:-cargo}"
tag="${IMAGE_TAG:-dev}"
cache="${GLEANER_IMAGE_CACHE:-$HOME/.cache/gleaner/images}"
stage="$root/.gleaner/images"
local_base=localhost/gleaner-base:bookworm

# Image name -> crate and Containerfile directory (the binary has the image's name).
images=(gateway identity scraper app operator demo-site)
declare -A crate=([gateway]=gleaner-gateway [identity]=gleaner-identity [scraper]=gleaner-scraper
  [app]=gleaner-app [operator]=gleaner-operator [demo-site]=gleaner-demo-site)
declare -A dir=([gateway]=services/gateway [identity]=services/identity [scraper]=services/scraper
  [app]=services/app [operator]=operator [demo-site]=services/demo-site)

# --- Release binaries and build contexts ------------------------------------------
log "building the release binaries"
build_args=()
for name in "${images[@]}"; do build_args+=(-p "${crate[$name]}" --bin "$name"); done
(cd "$root" && "$CARGO" build --release --locked --quiet "${build_args[@]}")
target_dir="$(cd "$root" && "$CARGO" metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"

for name in "${images[@]}"; do
  ctx="$stage/$name"
  mkdir -p "$ctx"
  # The context holds the binary and nothing else.
  find "$ctx" -mindepth 1 -maxdepth 1 ! -name "$name" -exec rm -rf {} +
  bin="$target_dir/release/$name"
  [ -x "$bin" ] || die "$bin was not built"
  cmp -s "$bin" "$ctx/$name" || cp "$bin" "$ctx/$name"
done
if $stage_only; then
  log "build contexts staged in $stage/<name>/"
  exit 0
fi

# --- Podman ---------------------------------------------------------------------
ensure_packages podman runc mmdebstrap
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

# --- The base: Debian packages only, no shell, no package manager -----------------
# What distroless cc-debian12 holds: glibc, libgcc, CA certificates, time zones,
# /etc/services and friends, a `nonroot` user 65532 and a writable /tmp. The extract
# variant runs no maintainer scripts and no customize hooks, so the extract hook writes
# what the scripts would have (the CA bundle) and what distroless adds (passwd, group,
# home), and drops the documentation.
customize='set -e
r="$1"
mkdir -p "$r/etc/ssl/certs"
cat "$r"/usr/share/ca-certificates/mozilla/*.crt > "$r/etc/ssl/certs/ca-certificates.crt"
printf "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n" > "$r/etc/passwd"
printf "root:x:0:\nnonroot:x:65532:\n" > "$r/etc/group"
mkdir -p "$r/home/nonroot" "$r/root"
chown 65532:65532 "$r/home/nonroot"
chmod 700 "$r/home/nonroot" "$r/root"
chmod 1777 "$r/tmp"
rm -rf "$r"/usr/share/doc/* "$r"/usr/share/man "$r"/usr/share/lintian "$r"/usr/share/bash-completion \
  "$r"/usr/share/pixmaps'
mmdebstrap_args=(--quiet --variant=extract --include=libc6,libgcc-s1,ca-certificates,tzdata,netbase
  "--extract-hook=$customize" bookworm)
recipe="$(printf '%s\n' "${mmdebstrap_args[@]}" | sha256sum | cut -c1-16)"
base="${IMAGE_BASE:-}"
if [ -z "$base" ]; then
  base="$local_base"
  mkdir -p "$cache"
  tarball="$cache/base-$recipe.tar"
  if [ ! -s "$tarball" ]; then
    log "assembling the Debian bookworm base with mmdebstrap"
    rm -rf "$cache"/base-*.tar "$cache/partial.tar"
    mmdebstrap --format=tar "${mmdebstrap_args[@]}" "$cache/partial.tar"
    mv "$cache/partial.tar" "$tarball"
  fi
  have="$(podman image inspect --format '{{index .Config.Labels "gleaner.base.recipe"}}' "$base" 2>/dev/null || true)"
  if [ "$have" != "$recipe" ]; then
    log "importing the base as $base"
    podman import --quiet \
      --change "LABEL gleaner.base.recipe=$recipe" \
      --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
      --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
      --change "USER 65532:65532" \
      --change "WORKDIR /home/nonroot" \
      "$tarball" "$base" >/dev/null
  fi
fi

# --- The images -------------------------------------------------------------------
for name in "${images[@]}"; do
  podman build --quiet --build-arg "BASE=$base" \
    --label "org.opencontainers.image.title=gleaner-$name" \
    -f "$root/${dir[$name]}/Containerfile" -t "localhost/gleaner/$name:$tag" "$stage/$name" >/dev/null
  log "localhost/gleaner/$name:$tag"
done
# Images a rebuild replaced (untagged, ours only).
podman image prune --force --filter "label=org.opencontainers.image.title" >/dev/null
podman image ls --filter reference='localhost/gleaner/*' --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
  sed 's/^/    /' >&2
