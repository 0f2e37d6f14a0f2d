# shellcheck shell=bash
# Shared set-up for scripts/test, scripts/up and scripts/down.
# Everything here is idempotent: a second call only checks and returns.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CFPS_VENV:-$ROOT/.venv}
DEBIAN_MIRROR=${CFPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE_REPO=cfps-hub/debian-systemd
# Images the scenarios build once and share (see molecule/resources/tasks/cache_*.yml).
TEST_CACHE=/var/cache/cfps-hub-test
# Where dockerd logs when this script has to start it (no systemd on CI).
DOCKERD_LOG=${CFPS_DOCKERD_LOG:-/var/log/cfps-dockerd.log}

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Root is needed (Debian packages, Docker). Called as `need_root "$@"` first:
# a user with sudo is asked for it; a bare Debian logged in as root has no sudo
# and needs none.
need_root() {
  [ "$(id -u)" = 0 ] && return 0
  command -v sudo >/dev/null || die "run this as root (it installs Debian packages and drives Docker)"
  exec sudo --preserve-env=CFPS_TEST_JOBS,CFPS_SCENARIO_TIMEOUT,CFPS_TEST_LOGDIR,CFPS_DEBIAN_MIRROR,CI "$0" "$@"
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
  # requirements-dev.txt takes some pins from the hub's and the roles' own files (-c).
  want=$(cat "$ROOT/requirements-dev.txt" "$ROOT"/app/hub/requirements.txt "$ROOT"/roles/*/files/requirements.txt "$ROOT"/app/*/pyproject.toml 2>/dev/null |
    sha256sum | cut -d' ' -f1)
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

# What a machine that never ran the project lacks: the base images, the
# notebook image cache of the tests, the venv and node_modules (`--fresh`).
# The local demo (scripts/down) and Debian packages are left alone.
forget_local_state() {
  log "fresh: removing base images, test caches, $VENV and node_modules"
  local id
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    for id in $(docker image ls -q --filter "reference=$BASE_IMAGE_REPO" | sort -u); do
      docker rmi -f "$id" >/dev/null ||
        die "cannot remove base image $id: a running container uses it (the local demo? docker stop cfps-hub-local)"
    done
  fi
  rm -rf "$VENV" "$ROOT/app/frontend/node_modules" "$TEST_CACHE"
}

# Keep only the newest saved notebook image of the tests (cache_save.yml
# writes one per image tag). Run before the scenarios start, so no scenario
# sees the cache change between its converge and its idempotence run.
prune_test_cache() {
  local f
  [ -d "$TEST_CACHE" ] || return 0
  # Newest first; every file after the first goes. (find, not ls: a folder
  # with no saved image yet is not an error.)
  find "$TEST_CACHE" -maxdepth 1 -name 'notebook-*.tar' -printf '%T@ %p\n' | sort -rn | tail -n +2 |
    while read -r _ f; do
      log "test cache: removing the older $f"
      rm -f "$f"
    done
}

# A Debian systemd base image built from the Debian mirror (no registry here).
# Its tag carries a digest of this function's own text and the suite, so any
# change to the recipe builds a new image on every machine (CI's included) on
# the next run; `<repo>:<suite>` always names the newest build (for a plain
# `molecule test -s <role>`). Sets BASE_IMAGE to the digest tag.
ensure_base_image() {
  local suite=${1:-bookworm} recipe=$ROOT/roles/notebook_image/files/debian-image digest
  digest=$( { declare -f ensure_base_image; cat "$recipe"; echo "$suite"; } | sha256sum | cut -c1-12)
  BASE_IMAGE="$BASE_IMAGE_REPO:$suite-$digest"
  export CFPS_BASE_IMAGE=$BASE_IMAGE
  if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    ensure_apt debootstrap
    log "image: building $BASE_IMAGE with debootstrap from $DEBIAN_MIRROR"
    # The notebook_image role's recipe for its base, with systemd as
    # PID 1 (it stops on SIGRTMIN+3) and what Ansible needs.
    sh "$recipe" "$BASE_IMAGE" "$suite" "$DEBIAN_MIRROR" \
      systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,iproute2,gnupg \
      'ENV container=docker' 'STOPSIGNAL SIGRTMIN+3' 'CMD ["/lib/systemd/systemd"]' || die "cannot build $BASE_IMAGE"
  fi
  docker tag "$BASE_IMAGE" "$BASE_IMAGE_REPO:$suite"
}
