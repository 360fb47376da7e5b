#!/usr/bin/env bash
# Builds the dsp-harness container image (DAPS, provider, consumer, store in one image) from
# the project's own binary, with no base image and no registry.
#
#   docker/build.sh                    cargo build --release, then build the image
#   docker/build.sh --release          the same
#   docker/build.sh --binary PATH      use an already built binary (for example the debug
#                                      binary `cargo test` built), no cargo build
#   docker/build.sh ... --tag NAME:TAG also tag the image NAME:TAG
#   docker/build.sh ... --no-latest    do not move dsp-harness:latest to this image
#   docker/build.sh ... --prune        remove the other dsp-harness:<hash> tags built by
#                                      this script (test builds would fill the disk)
#
# The image is always tagged dsp-harness:<12 hex digits of the SHA-256 of the binary, the
# Dockerfile and this script>, so a tag names exactly one build and a second build of the same
# is skipped, and, unless
# --no-latest, dsp-harness:latest (what docker/compose.yaml starts). The last line on stdout
# is the content tag. Needs bash, ldd, sha256sum and the docker CLI; no registry is asked.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
binary=""
extra_tags=()
latest=1
prune=0
while [ $# -gt 0 ]; do
    case "$1" in
        --release) binary=""; shift ;;
        --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
        --tag) extra_tags+=("${2:?--tag needs a name}"); shift 2 ;;
        --no-latest) latest=0; shift ;;
        --prune) prune=1; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ -z "$binary" ]; then
    # Only the release build needs the source tree; a given binary can come from anywhere.
    (cd "$here/.." && cargo build --release --bin dsp-harness >&2)
    binary="$here/../target/release/dsp-harness"
fi
[ -x "$binary" ] || { echo "build.sh: $binary is not an executable file" >&2; exit 1; }
[ -f "$here/Dockerfile" ] || { echo "build.sh: no Dockerfile beside $0" >&2; exit 1; }

# The tag covers the recipe too (this script and the Dockerfile), so a changed recipe builds
# anew; runtime::docker::image_tag computes the same digest over the same bytes.
hash="$(cat "$binary" "$here/Dockerfile" "$here/build.sh" | sha256sum | cut -c1-12)"
tag="dsp-harness:$hash"
tag_all() {
    if [ "$latest" = 1 ]; then docker tag "$tag" dsp-harness:latest >/dev/null; fi
    for extra in "${extra_tags[@]+"${extra_tags[@]}"}"; do docker tag "$tag" "$extra" >/dev/null; done
    if [ "$prune" = 1 ]; then
        # Only content tags this script made; an image a container still uses stays (no -f).
        docker image ls --filter "label=dsp-harness.build" --format '{{.Repository}}:{{.Tag}}' \
            | grep -E '^dsp-harness:[0-9a-f]{12}$' | grep -vx "$tag" \
            | while read -r old; do docker image rm "$old" >/dev/null 2>&1 || true; done || true
    fi
}
if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "build.sh: $tag is already built" >&2
    tag_all
    echo "$tag"
    exit 0
fi

context="$(mktemp -d "${TMPDIR:-/tmp}/dsp-harness-image.XXXXXX")"
trap 'rm -rf "$context"' EXIT
rootfs="$context/rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/tmp" "$rootfs/etc"
chmod 1777 "$rootfs/tmp"

# Debug info is most of a debug binary's size and nothing in a container reads it.
if command -v objcopy >/dev/null 2>&1; then
    objcopy --strip-debug "$binary" "$rootfs/usr/local/bin/dsp-harness"
else
    cp "$binary" "$rootfs/usr/local/bin/dsp-harness"
fi
chmod 0755 "$rootfs/usr/local/bin/dsp-harness"

# Every shared library the binary loads, and the loader itself, at the paths the binary
# expects them (`cp -L` so symlinks become files inside the image).
copied=0
while read -r line; do
    case "$line" in
        *"=> not found"*) echo "build.sh: ldd cannot resolve: $line" >&2; exit 1 ;;
        *"=> /"*) lib="$(echo "$line" | sed -E 's/.*=> (\/[^ ]+).*/\1/')" ;;
        /*) lib="$(echo "$line" | sed -E 's/^(\/[^ ]+).*/\1/')" ;;
        *) continue ;; # linux-vdso and "statically linked"
    esac
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
    copied=$((copied + 1))
done < <(ldd "$binary" 2>&1 || true)
echo "build.sh: copied $copied libraries" >&2

# Name resolution of the other containers goes through glibc's getaddrinfo: files, then DNS
# (Docker mounts /etc/hosts and /etc/resolv.conf into every container).
echo "hosts: files dns" > "$rootfs/etc/nsswitch.conf"
echo "nobody:x:65534:65534:nobody:/tmp:/sbin/nologin" > "$rootfs/etc/passwd"
echo "nogroup:x:65534:" > "$rootfs/etc/group"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$rootfs/etc/ssl/certs"
    cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
fi
cp "$here/Dockerfile" "$context/Dockerfile"

docker build --quiet --label "dsp-harness.build=$hash" -t "$tag" "$context" >&2
tag_all
echo "$tag"
