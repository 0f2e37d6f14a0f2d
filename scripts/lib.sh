# shellcheck shell=bash
# Shared set-up for scripts/test, scripts/up and scripts/down.
# Everything here is idempotent: a second call only checks and returns.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CFPS_VENV:-$ROOT/.venv}
DEBIAN_MIRROR=${CFPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE_REPO=cfps-hub/debian-systemd
# Where dockerd logs when this script has to start it (no systemd on CI).
DOCKERD_LOG=${CFPS_DOCKERD_LOG:-/var/log/cfps-dockerd.log}

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "run this as root (it installs Debian packages and drives Docker)"
}

_apt_updated=
ensure_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt: installing ${missing[*]}"
  if [ -z "$_apt_updated" ]; then
    apt-get update -qq
    _apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The controller venv with the pinned tools; rebuilt only when its inputs change.
ensure_venv() {
  local stamp="$VENV/.cfps-stamp" want
  python3 -c 'import ensurepip' 2>/dev/null || ensure_apt python3-venv
  want=$(cat "$ROOT/requirements-dev.txt" "$ROOT"/app/*/pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  log "venv: installing pinned tools into $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  local args=(-r "$ROOT/requirements-dev.txt") d
  for d in "$ROOT"/app/*/; do
    [ -f "$d/pyproject.toml" ] && args+=(-e "${d%/}[test]")
  done
  "$VENV/bin/pip" install -q "${args[@]}" 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -c 'import ansible, molecule, testinfra' || die "venv install failed"
  echo "$want" >"$stamp"
}

activate_venv() {
  # shellcheck disable=SC1091
  . "$VENV/bin/activate"
}

# A Docker engine that answers; started by hand where PID 1 is not systemd.
ensure_docker() {
  command -v dockerd >/dev/null || ensure_apt docker.io
  command -v docker >/dev/null || ensure_apt docker.io
  docker info >/dev/null 2>&1 && return 0
  if [ -d /run/systemd/system ]; then
    log "docker: starting docker.service"
    systemctl start docker
  else
    log "docker: starting dockerd in the background (log: $DOCKERD_LOG)"
    # A dockerd killed with the previous session leaves its pid file behind.
    pgrep -x dockerd >/dev/null || rm -f /var/run/docker.pid
    # Detached in its own session, not a job of this shell: a later bare
    # `wait` or `jobs` in the caller must never count (or wait for) dockerd.
    (setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &)
  fi
  local i
  for i in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "dockerd did not answer within 60 s; see $DOCKERD_LOG"
}

# A Debian systemd base image built from the Debian mirror (no registry here).
ensure_base_image() {
  local suite=${1:-bookworm} image="$BASE_IMAGE_REPO:${1:-bookworm}" dir
  docker image inspect "$image" >/dev/null 2>&1 && return 0
  ensure_apt debootstrap
  log "image: building $image with debootstrap from $DEBIAN_MIRROR"
  dir=$(mktemp -d /var/tmp/cfps-rootfs.XXXXXX)
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,iproute2,gnupg \
    "$suite" "$dir" "$DEBIAN_MIRROR" >"$dir.log" 2>&1 || { tail -20 "$dir.log" >&2; die "debootstrap $suite failed"; }
  # A fresh machine-id per container, and no apt caches in the image.
  : >"$dir/etc/machine-id"
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -c . | docker import \
    --change 'ENV container=docker' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change 'CMD ["/lib/systemd/systemd"]' - "$image" >/dev/null
  rm -rf "$dir" "$dir.log"
}
