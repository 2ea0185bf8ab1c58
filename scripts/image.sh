#!/usr/bin/env bash
# Assemble alertscaler's runtime image from a local release build, pulling nothing: a `FROM scratch`
# image holding the stripped binary, the shared libraries `ldd` lists, the dynamic loader, the CA
# certificates, a passwd entry for the non-root user 65532 and its home /home/nonroot (owned by it,
# the working directory) — the same layout as the Containerfile's runtime stage (distroless cc), for
# machines that cannot reach a registry.
# The entrypoint gives `serve` 0.0.0.0:8080 as the default listen address, as the Containerfile does
# (a configuration's `listen` still wins). The entrypoint names `alertscaler` without a path, so the image sets PATH as distroless does:
# a FROM scratch image has none, and a runtime that adds no default could not find the binary.
#
#   scripts/image.sh [TAG]                       default TAG: localhost/alertscaler:<crate version>
#   ALERTSCALER_BIN=path/to/alertscaler scripts/image.sh TAG
#                       (default: ${CARGO_TARGET_DIR:-target}/release/alertscaler, where cargo build --release puts it)
#
# Needs buildah. STORAGE_DRIVER (default vfs, which works in nested containers) must be the one
# podman is then given (`podman --storage-driver vfs …`). Prints the image id on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)
tag=${1:-localhost/alertscaler:$version}
bin=${ALERTSCALER_BIN:-${CARGO_TARGET_DIR:-target}/release/alertscaler}
store=(--storage-driver "${STORAGE_DRIVER:-vfs}")
command -v buildah >/dev/null || { echo "image.sh: buildah not found on PATH (apt-get install buildah)" >&2; exit 2; }
[ -x "$bin" ] || { echo "no binary at $bin: cargo build --release --locked --bin alertscaler" >&2; exit 2; }
certs=/etc/ssl/certs/ca-certificates.crt
[ -f "$certs" ] || { echo "no CA bundle at $certs: apt-get install ca-certificates" >&2; exit 2; }

root=$(mktemp -d)
home=$(mktemp -d) # empty: copied with --chown to create the user's home
ctr=""
cleanup() {
  trap '' INT TERM # a second Ctrl-C must not cut the clean-up short
  [ -n "$ctr" ] && buildah "${store[@]}" rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$root" "$home"
}
trap cleanup EXIT

mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/home"
chmod 1777 "$root/tmp"
cp "$bin" "$root/usr/local/bin/alertscaler"
strip "$root/usr/local/bin/alertscaler" 2>/dev/null || true
# Every library the binary links, at the path the loader will look for it, and the loader itself.
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp "$certs" "$root$certs"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"

ctr=$(buildah "${store[@]}" from scratch)
buildah "${store[@]}" copy --quiet "$ctr" "$root/" / >/dev/null
buildah "${store[@]}" copy --quiet --chown 65532:65532 "$ctr" "$home" /home/nonroot >/dev/null
buildah "${store[@]}" config \
  --user 65532:65532 \
  --workingdir /home/nonroot \
  --port 8080 \
  --stop-signal SIGTERM \
  --entrypoint '["alertscaler", "serve", "--default-listen", "0.0.0.0:8080"]' \
  --cmd '' \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env SSL_CERT_FILE="$certs" \
  --label org.opencontainers.image.title=alertscaler \
  --label org.opencontainers.image.version="$version" \
  "$ctr"
buildah "${store[@]}" commit --quiet --rm "$ctr" "$tag"
ctr=""
