#!/usr/bin/env bash
# Vendored from the workspace tools (shared/tools/container-images.sh) so that CI on a clean clone,
# with nothing beside it, can still set podman up. deploy/check-image.sh prefers the workspace copy.
# Build and run the project's Dockerfile here, where no container registry can be reached:
# makes local base images `debian:bookworm-slim` (debootstrap from apt's own mirror) and
# `rust:1.95-slim-bookworm` (that base + the host's Rust toolchain), and configures podman for
# this sandbox (runc, cgroupfs, bounded rlimits). Then `podman build --format docker …` works with
# an unchanged Dockerfile (`--format docker` keeps HEALTHCHECK).
#
# usage: source <(shared/tools/container-images.sh)      # prints the env to export
#   or:  shared/tools/container-images.sh >/dev/null && . "${ORBIT_CTR:-${TMPDIR:-/tmp}/orbit-ctr}/env.sh"
# Takes ~1 minute the first time (debootstrap), seconds after. Needs root and ~2 GB of disk.
set -euo pipefail
W=${ORBIT_CTR:-${TMPDIR:-/tmp}/orbit-ctr}; mkdir -p "$W"; cd "$W"
log() { echo "[container-images] $*" >&2; }
command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null || {
  log "installing podman, runc, debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc debootstrap >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc debootstrap >/dev/null; }
}
cat > containers.conf <<'C'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
C
cat > storage.conf <<C
[storage]
driver = "overlay"
graphroot = "$W/storage"
runroot = "$W/run"
C
printf 'export CONTAINERS_CONF=%s/containers.conf\nexport CONTAINERS_STORAGE_CONF=%s/storage.conf\n' "$W" "$W" > env.sh
. ./env.sh
if ! podman image exists docker.io/library/debian:bookworm-slim; then
  if [ ! -x rootfs/bin/bash ]; then
    # apt's own Debian mirror: the enabled sources entry whose URI ends in /debian
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
             | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -1 | tr -d ' ' || true)
    [ -n "$mirror" ] || { log "no Debian mirror found in apt's sources"; exit 1; }
    log "debootstrap bookworm from apt's mirror"
    debootstrap --variant=minbase bookworm rootfs "$mirror" >debootstrap.log 2>&1 || { tail debootstrap.log >&2; exit 1; }
    rm -rf rootfs/var/cache/apt/archives/*.deb rootfs/var/lib/apt/lists/*
  fi
  # images trust the same extra CA certificates as this host (picked up by ca-certificates)
  mkdir -p rootfs/usr/local/share/ca-certificates
  cp /usr/local/share/ca-certificates/*.crt rootfs/usr/local/share/ca-certificates/ 2>/dev/null || true
  tar -C rootfs -c . | podman import -q --change 'CMD ["bash"]' - docker.io/library/debian:bookworm-slim >/dev/null
fi
if ! podman image exists docker.io/library/rust:1.95-slim-bookworm; then
  tc=$(rustc --print sysroot); ver=$(rustc --version | awk '{print $2}')
  mkdir -p rust-builder/toolchain
  [ -x rust-builder/toolchain/bin/cargo ] || tar -C "$tc" --exclude=./share/doc -c . | tar -C rust-builder/toolchain -x
  cat > rust-builder/Containerfile <<C
FROM docker.io/library/debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev pkg-config ca-certificates && rm -rf /var/lib/apt/lists/*
COPY toolchain /usr/local/rust
ENV CARGO_HOME=/usr/local/cargo RUST_VERSION=$ver PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /usr/local/cargo/bin && chmod -R a+w /usr/local/cargo && cargo --version
C
  log "building rust:1.95-slim-bookworm from the host toolchain ($ver)"
  podman build -q -t docker.io/library/rust:1.95-slim-bookworm -t docker.io/library/rust:1.95-bookworm rust-builder >/dev/null
fi
cat env.sh
