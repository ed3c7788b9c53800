#!/usr/bin/env bash
# tests/support/images.sh: real images pushed by a real client (podman), built
# without internet from busybox-static, for the registry specs and benchmarks.
#
#   images.sh base
#       make sure localhost/regsh-test/busybox:{amd64,arm64,latest} exist in
#       podman's storage: /usr/bin/busybox in a rootfs with a few applet links,
#       `podman import`ed with --arch (the arm64 one is only labelled arm64: it
#       is the same x86 busybox, never run). Cheap when they already exist.
#   images.sh push HOST[:PORT] PREFIX
#       push to the plain-HTTP registry HOST:
#         PREFIX/docker:v1        Docker schema2 manifest   (podman push --format v2s2)
#         PREFIX/oci:v1           OCI image manifest        (podman push --format oci)
#         PREFIX/multi:v1         OCI index, linux/amd64 + linux/arm64/v8
#         PREFIX/multi-docker:v1  Docker manifest list, same two platforms
#       and print `docker=DIGEST oci=DIGEST multi=DIGEST multi_docker=DIGEST`,
#       one per line.
#
# podman is configured per ../shared/environment.md: a containers.conf with
# `default_ulimits = []` and `runtime = "runc"` (crun fails on this host's
# cgroups) unless CONTAINERS_CONF is already set. Fails loudly when podman is
# missing or cannot work: the specs must not skip silently.
set -euo pipefail
cache=${REGSH_TEST_CACHE:-/tmp/regsh-test-cache}
mkdir -p "$cache"
if [ -z "${CONTAINERS_CONF:-}" ]; then
  printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' > "$cache/containers.conf"
  export CONTAINERS_CONF=$cache/containers.conf
fi
die() { echo "images.sh: $*" >&2; exit 1; }
command -v podman >/dev/null ||
  die "podman is not installed: the image specs need it (apt-get install podman runc busybox-static)"
[ -x /usr/bin/busybox ] || die "/usr/bin/busybox is missing (apt-get install busybox-static)"

base=localhost/regsh-test/busybox

ensure_base() {
  if podman image exists "$base:amd64" && podman image exists "$base:latest" &&
     [ "$(podman image inspect --format '{{index .Labels "org.regsh.arch"}}' "$base:arm64" 2>/dev/null)" = arm64 ]; then
    return 0
  fi
  local work
  work=$(mktemp -d /tmp/regsh-rootfs.XXXXXX)
  mkdir -p "$work/root/bin" "$work/root/etc" "$work/root/tmp"
  cp /usr/bin/busybox "$work/root/bin/busybox"
  for applet in sh ls cat echo env sleep true false wget httpd id uname; do
    ln -s busybox "$work/root/bin/$applet"
  done
  echo "root:x:0:0:root:/:/bin/sh" > "$work/root/etc/passwd"
  tar --sort=name --mtime=2024-01-01 --owner=0 --group=0 -C "$work/root" -cf "$work/bb.tar" .
  podman import -q --arch amd64 --os linux --change 'CMD ["/bin/sh"]' \
    --change 'LABEL org.regsh.test=busybox' --change 'LABEL org.regsh.arch=amd64' \
    "$work/bb.tar" "$base:amd64" >/dev/null ||
    die "podman import failed (is podman configured? CONTAINERS_CONF=$CONTAINERS_CONF)"
  podman import -q --arch arm64 --variant v8 --os linux --change 'CMD ["/bin/sh"]' \
    --change 'LABEL org.regsh.test=busybox' --change 'LABEL org.regsh.arch=arm64' \
    "$work/bb.tar" "$base:arm64" >/dev/null
  podman tag "$base:amd64" "$base:latest"
  rm -rf "$work"
}

push() {
  local host=$1 prefix=$2 work list
  work=$(mktemp -d /tmp/regsh-push.XXXXXX)
  trap 'rm -rf "$work"' RETURN
  podman push -q --tls-verify=false --format v2s2 --digestfile "$work/docker" \
    "$base:amd64" "docker://$host/$prefix/docker:v1" >/dev/null
  podman push -q --tls-verify=false --format oci --digestfile "$work/oci" \
    "$base:amd64" "docker://$host/$prefix/oci:v1" >/dev/null
  # a manifest list local to this push (names are unique per call)
  list=localhost/regsh-test/list-$$-$RANDOM
  podman manifest create "$list" >/dev/null
  podman manifest add "$list" "containers-storage:$base:amd64" >/dev/null
  podman manifest add --arch arm64 --variant v8 --os linux "$list" "containers-storage:$base:arm64" >/dev/null
  podman manifest push -q --all --tls-verify=false --format oci --digestfile "$work/multi" \
    "$list" "docker://$host/$prefix/multi:v1" >/dev/null
  podman manifest push -q --all --tls-verify=false --format v2s2 --digestfile "$work/multi_docker" \
    "$list" "docker://$host/$prefix/multi-docker:v1" >/dev/null
  podman manifest rm "$list" >/dev/null
  for k in docker oci multi multi_docker; do echo "$k=$(cat "$work/$k")"; done
}

case "${1:-}" in
  base) ensure_base ;;
  push)
    [ $# -eq 3 ] || die "usage: images.sh push HOST[:PORT] PREFIX"
    ensure_base
    push "$2" "$3"
    ;;
  *) die "usage: images.sh base | push HOST[:PORT] PREFIX" ;;
esac
