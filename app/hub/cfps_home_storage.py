#!/usr/bin/python3
"""Root helper of CFPS Hub: each researcher's home is a filesystem of its own, its size the quota.

The kernels CFPS Hub meets do not all have XFS or ext4 quota support, but every
one mounts a loop device. So each home is an ext4 image file of exactly the
quota, allocated up front (<images>/<name>.img), mounted at <homes>/<name>:
writing past it fails with "No space left on device" inside that home only.

roles/hub installs this file as /usr/local/sbin/cfps-home-storage and runs it

- socket-activated (cfps-home-storage.socket, one process per connection, as
  root): the hub, which has no privileges of its own, writes one escaped user
  name and a newline before each start of that user's server and reads back
  "ok <folder>" or "error <reason>";
- at boot, before Docker (cfps-homes.service, `--mount-all`): every image is
  mounted again, so containers and backups always see the homes' files.

Before each start the helper
- makes the image on first use, refusing when the host's free space would
  drop below the reserve; it fills it once from the user's plain home volume
  (`jupyterhub-user-<name>`, from before quotas; left as it was) or from files
  already in the folder (a restored backup), and mounts it;
- grows the image and its filesystem when the quota was raised (offline,
  before the server starts; never shrinks: a lowered quota applies to new
  homes);
- mounts it when it is not mounted.

Standard library only; util-linux and e2fsprogs do the work.
"""

import argparse
import fcntl
import os
import re
import shutil
import subprocess
import sys

# Escaped user names (DockerSpawner's escaped_name): lower-case letters,
# digits and the escape character "-".
NAME_PATTERN = r"[a-z0-9-]{1,128}"
# Same sizes as cfps_jupyterhub.parse_bytes (binary units).
UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
SIZE_PATTERN = r"0*[1-9][0-9]*[KMGTkmgt]?"
# ext4 needs a few MiB for itself (journal, inode tables).
MIN_QUOTA = 32 * 1024**2
MOUNT_OPTIONS = "loop,nodev,nosuid"
# Keep the image allocated: no discard at mkfs, and the tables zeroed now rather
# than later by the kernel, which would punch holes into the file through the loop device.
MKFS_EXTENDED = "nodiscard,lazy_itable_init=0,lazy_journal_init=0"


class Refusal(Exception):
    """A reason the home cannot be prepared, said to the hub (and the researcher)."""


def parse_bytes(size: str) -> int:
    if re.fullmatch(SIZE_PATTERN, size) is None:
        raise argparse.ArgumentTypeError(f"{size!r} is not a size such as 10G or 512M")
    digits, unit = re.fullmatch(r"([0-9]+)(.?)", size).groups()
    return int(digits) * UNITS[unit.upper()]


def run(*cmd: str) -> str:
    # Fixed programs with arguments as a list; names were checked against NAME_PATTERN.
    done = subprocess.run(cmd, capture_output=True, text=True)  # noqa: S603
    if done.returncode != 0:
        raise Refusal(f"{os.path.basename(cmd[0])} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def is_mounted(path: str) -> bool:
    return os.path.ismount(path)


def image_of(args, name: str) -> str:
    return os.path.join(args.images, f"{name}.img")


def ensure_room(args, grow: int) -> None:
    """Refuse when allocating `grow` more bytes would leave the host less than its reserve."""
    st = os.statvfs(args.images)
    free = st.f_bavail * st.f_frsize
    if free - grow < args.reserve:
        raise Refusal(
            f"the host has {free // 1024**2} MiB free; a home of {grow // 1024**2} MiB would leave less than "
            f"the {args.reserve // 1024**2} MiB it keeps for the database and logs"
        )


def mount(image: str, folder: str) -> None:
    os.makedirs(folder, mode=0o755, exist_ok=True)
    run("/usr/bin/mount", "-t", "ext4", "-o", MOUNT_OPTIONS, image, folder)


def create(args, name: str, folder: str) -> None:
    """Make the image, fill it from the old volume or the folder's files, and mount it."""
    image = image_of(args, name)
    new = image + ".new"
    old_volume = os.path.join(args.docker_volumes, f"jupyterhub-user-{name}", "_data")
    # Files in the unmounted folder: a restored backup.
    source = folder if os.path.isdir(folder) and os.listdir(folder) else None
    if source is None and os.path.isdir(old_volume):
        source = old_volume
    ensure_room(args, args.quota)
    if os.path.exists(new):
        os.unlink(new)
    with open(new, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, args.quota)
    os.chmod(new, 0o600)
    run(
        "/usr/sbin/mkfs.ext4",
        "-q",
        "-F",
        "-m",
        "0",
        "-L",
        name[:16],
        "-E",
        f"{MKFS_EXTENDED},root_owner={args.uid}:{args.gid}",
        new,
    )
    staging = os.path.join(args.images, f".mnt-{name}")
    os.makedirs(staging, exist_ok=True)
    try:
        run("/usr/bin/mount", "-t", "ext4", "-o", MOUNT_OPTIONS, new, staging)
        try:
            # An empty home: Docker copies the image's /home/jovyan into it at the first start.
            os.rmdir(os.path.join(staging, "lost+found"))
            if source is not None:
                # cp -a keeps owners, modes and times; files beyond the quota fail here.
                run("/usr/bin/cp", "-a", "--", f"{source}/.", staging)
        finally:
            run("/usr/bin/umount", staging)
    except (OSError, Refusal):
        os.unlink(new)
        raise
    finally:
        os.rmdir(staging)
    # Only a complete image is ever taken for a home.
    os.rename(new, image)
    if source == folder:
        # The files are in the image now; the folder becomes its mount point.
        for entry in os.listdir(folder):
            path = os.path.join(folder, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
    mount(image, folder)


def grow(args, name: str, folder: str) -> None:
    """Raise a home to the current quota: the image, then its filesystem.

    Offline, before the server starts: resizing a mounted ext4 needs
    CAP_SYS_RESOURCE, which a host that is itself a container lacks. A home
    still in use (a backup reading it, an operator's shell) keeps its size
    until a later start.
    """
    image = image_of(args, name)
    size = os.path.getsize(image)
    if size >= args.quota:
        return
    ensure_room(args, args.quota - size)
    if is_mounted(folder):
        try:
            run("/usr/bin/umount", folder)
        except Refusal as err:
            print(f"cfps-home-storage: {name}: not grown this time: {err}", file=sys.stderr)
            return
    with open(image, "r+b") as f:
        os.posix_fallocate(f.fileno(), 0, args.quota)
    # resize2fs wants a freshly checked filesystem; -p repairs only what is safe.
    done = subprocess.run(["/usr/sbin/e2fsck", "-f", "-p", image], capture_output=True, text=True)  # noqa: S603
    if done.returncode > 1:  # 0: clean, 1: fixed
        raise Refusal(f"e2fsck found errors it cannot fix safely: {(done.stderr or done.stdout).strip()}")
    run("/usr/sbin/resize2fs", image)


def prepare_home(args, name: str) -> str:
    """The home folder of `name`: made, grown and mounted as needed."""
    if re.fullmatch(NAME_PATTERN, name) is None:
        raise Refusal(f"not an escaped user name: {name!r}")
    folder = os.path.join(args.homes, name)
    # One at a time: two starts of one user must not both make an image.
    with open(os.path.join(args.images, ".lock"), "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(image_of(args, name)):
            create(args, name, folder)
        else:
            grow(args, name, folder)
            if not is_mounted(folder):
                mount(image_of(args, name), folder)
    return folder


def mount_all(args) -> int:
    """At boot: mount every home image that is not mounted; report, do not stop, on a bad one."""
    failed = 0
    for entry in sorted(os.listdir(args.images)):
        name, ext = os.path.splitext(entry)
        if ext != ".img" or re.fullmatch(NAME_PATTERN, name) is None:
            continue
        folder = os.path.join(args.homes, name)
        if is_mounted(folder):
            continue
        try:
            mount(os.path.join(args.images, entry), folder)
        except Refusal as err:
            failed += 1
            print(f"cfps-home-storage: home {name}: {err}", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", required=True, help="folder of the home images (<name>.img)")
    parser.add_argument("--homes", required=True, help="folder of the homes' mount points")
    parser.add_argument("--quota", required=True, type=parse_bytes, help="size of each home, e.g. 10G")
    parser.add_argument("--reserve", required=True, type=parse_bytes, help="free space the host keeps, e.g. 10G")
    parser.add_argument("--docker-volumes", required=True, help="Docker's volume folder (homes from before quotas)")
    parser.add_argument("--uid", type=int, required=True, help="the notebook user")
    parser.add_argument("--gid", type=int, required=True, help="the notebook user's group")
    parser.add_argument("--mount-all", action="store_true", help="mount every home (at boot) and exit")
    args = parser.parse_args(argv)
    if args.quota < MIN_QUOTA:
        parser.error(f"--quota must be at least {MIN_QUOTA // 1024**2}M")
    if args.mount_all:
        return mount_all(args)
    name = sys.stdin.readline(256).strip()
    try:
        folder = prepare_home(args, name)
    except (OSError, Refusal) as err:
        print(f"error {err}", flush=True)
        print(f"cfps-home-storage: {name!r}: {err}", file=sys.stderr)
        return 1
    print(f"ok {folder}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
