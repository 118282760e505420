#!/usr/bin/env bash
# Skaffold's custom builder (skaffold.yaml): builds every image once with `make images`
# (podman, no Docker daemon), then gives the image Skaffold asks for ($IMAGE) its tag and
# loads it into the kind cluster. Skaffold calls this once per image; the build itself is
# shared (make images is incremental).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
: "${IMAGE:?skaffold sets IMAGE}"
name="${IMAGE%:*}"
name="${name##*/}"
cluster="${KIND_CLUSTER:-gleaner}"

make -C "$here/.." images >&2
podman tag "localhost/gleaner/$name:dev" "$IMAGE"
if [ "${PUSH_IMAGE:-false}" = true ]; then
  podman push "$IMAGE"
elif command -v kind >/dev/null; then
  archive="$(mktemp /tmp/gleaner-image-XXXXXX.tar)"
  trap 'rm -f "$archive"' EXIT
  podman save --format docker-archive -o "$archive" "$IMAGE"
  kind load image-archive --name "$cluster" "$archive"
else
  die "kind not found: cannot load $IMAGE into the cluster"
fi
