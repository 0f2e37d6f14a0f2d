#!/usr/bin/python3
"""Backups of CFPS Hub with restic: run, status, check, restore.

roles/backup installs this file as /usr/local/sbin/cfps-backup, with its
settings in /etc/cfps-backup/config.json and the repository password in
/etc/cfps-backup/password (both root-only). cfps-backup.service runs
`cfps-backup run` from cfps-backup.timer.

`run` makes consistent copies into the staging folder — the SQLite databases
through SQLite's online backup API, the platform's secrets, optionally a
mysqldump of the CFPS database — and writes manifest.json there (what was
saved, with owners and modes by name). Then one `restic backup` takes the
staging folder, the data folder of every selected Docker volume (the bound
host folder for a bind volume, else Docker's _data) and the extra paths (TLS).
Then `restic forget --prune` with the retention, and `restic check` when the
last one is older than the configured interval. A good run writes the time to
the last-success file; any failure exits non-zero (the unit fails).

`restore [SNAPSHOT]` (services stopped by playbooks/restore.yml) puts the
snapshot back at its original paths; it never deletes a file, it only writes
over the files it restores. Missing volumes are created again with their
driver options; databases and secrets are copied into place from the
restored staging folder with the owner and mode recorded at backup time.

Standard library only.
"""

import argparse
import datetime as dt
import fnmatch
import grp
import json
import os
import pwd
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

CONFIG = "/etc/cfps-backup/config.json"
PASSWORD_FILE = "/etc/cfps-backup/password"  # noqa: S105 (a path, not a password)
RESTIC = "/usr/bin/restic"
DOCKER = "/usr/bin/docker"
NO_REPOSITORY = "Is there a repository at the following location?"


def run(cmd, **kwargs):
    """subprocess.run of a fixed program (absolute path) with arguments from the config."""
    return subprocess.run(cmd, **kwargs)  # noqa: S603


def log(message):
    print(message, flush=True)


class Failure(Exception):
    """An error with a message for the operator; exits 1."""


def load_config(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def restic_env(cfg):
    env = dict(os.environ)
    env.update(cfg.get("environment", {}))
    env["RESTIC_REPOSITORY"] = cfg["repository"]
    env["RESTIC_PASSWORD_FILE"] = cfg.get("password_file", PASSWORD_FILE)
    env["RESTIC_CACHE_DIR"] = cfg.get("cache_dir", "/var/cache/cfps-backup/restic")
    return env


def restic(cfg, *args, capture=False, check=True):
    """Run restic; its output goes to the journal unless captured."""
    result = run([RESTIC, *args], env=restic_env(cfg), capture_output=capture, text=True)
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip() if capture else "see the output above"
        raise Failure(f"restic {args[0]} failed ({result.returncode}): {detail}")
    return result


def docker_volumes():
    """Every Docker volume: name -> inspect data."""
    names = run([DOCKER, "volume", "ls", "-q"], check=True, capture_output=True, text=True).stdout.split()
    if not names:
        return {}
    data = json.loads(run([DOCKER, "volume", "inspect", *names], check=True, capture_output=True, text=True).stdout)
    return {v["Name"]: v for v in data}


def volume_path(volume):
    """The host folder holding a volume's files: the bound folder, else Docker's _data."""
    opts = volume.get("Options") or {}
    if volume.get("Driver") == "local" and "bind" in opts.get("o", "").split(",") and opts.get("device"):
        return opts["device"]
    return volume["Mountpoint"]


def selected_volumes(cfg, volumes):
    return sorted(name for name in volumes if any(fnmatch.fnmatchcase(name, p) for p in cfg["volume_patterns"]))


def owner_of(st):
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return user, group


def staged(staging, path):
    return os.path.join(staging, "files", path.lstrip("/"))


def copy_sqlite(src, dst):
    """A consistent copy of a live SQLite database (the online backup API)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=60)
    target = sqlite3.connect(dst)
    try:
        with target:
            source.backup(target)
    finally:
        target.close()
        source.close()


def prepare_staging(cfg):
    staging = cfg["staging_dir"]
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging, mode=0o700)
    manifest = {"host": socket.gethostname(), "created": now_iso(), "files": [], "volumes": [], "mysql": []}
    for kind, paths in (("sqlite", cfg["sqlite_databases"]), ("file", cfg["files"])):
        for path in paths:
            if not os.path.isfile(path):
                log(f"{path}: absent, skipped")
                continue
            st = os.stat(path)
            user, group = owner_of(st)
            dst = staged(staging, path)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if kind == "sqlite":
                copy_sqlite(path, dst)
            else:
                shutil.copyfile(path, dst)
            os.chmod(dst, 0o600)
            manifest["files"].append(
                {"path": path, "kind": kind, "owner": user, "group": group, "mode": f"{st.st_mode & 0o7777:04o}"}
            )
            log(f"{path}: staged ({kind})")
    if cfg["mysql_dump"]:
        os.makedirs(os.path.join(staging, "mysql"))
        for db in cfg["mysql_databases"]:
            dst = os.path.join(staging, "mysql", f"{db}.sql")
            with open(dst, "w", encoding="utf-8") as out:
                # One transaction: a consistent dump of InnoDB tables without locking readers.
                run(
                    ["/usr/bin/mariadb-dump", "--single-transaction", "--routines", "--events", "--databases", db],
                    stdout=out,
                    check=True,
                )
            manifest["mysql"].append(db)
            log(f"database {db}: dumped")
    volumes = docker_volumes() if cfg["volume_patterns"] else {}
    for name in selected_volumes(cfg, volumes):
        v = volumes[name]
        manifest["volumes"].append(
            {"name": name, "driver": v["Driver"], "options": v.get("Options") or {}, "path": volume_path(v)}
        )
    with open(os.path.join(staging, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
    return manifest


def now_iso():
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cmd_init(cfg, args):
    """Create the repository when there is none; fail on any other error (wrong password, unreachable)."""
    result = restic(cfg, "cat", "config", capture=True, check=False)
    if result.returncode == 0:
        log("repository exists")
        return 0
    if NO_REPOSITORY not in result.stderr:
        raise Failure(f"repository {cfg['repository']} cannot be opened: {result.stderr.strip()}")
    restic(cfg, "init", capture=True)
    log("repository created")
    return 0


def cmd_run(cfg, args):
    started = time.monotonic()
    restic(cfg, "unlock", capture=True)  # only locks left by a dead process
    manifest = prepare_staging(cfg)
    paths = [cfg["staging_dir"]]
    for vol in manifest["volumes"]:
        if os.path.isdir(vol["path"]):
            paths.append(vol["path"])
            log(f"volume {vol['name']}: {vol['path']}")
    paths += [p for p in cfg["paths"] if os.path.exists(p)]
    result = restic(cfg, "backup", "--one-file-system", "--tag", "cfps-hub", *paths, capture=True)
    sys.stdout.write(result.stdout)
    match = re.search(r"snapshot ([0-9a-f]+) saved", result.stdout)
    snapshot = match.group(1) if match else "?"
    keep = cfg["keep"]
    restic(
        cfg,
        "forget",
        "--prune",
        "--tag",
        "cfps-hub",
        # Over every snapshot of this host, whatever volumes each one held.
        "--group-by",
        "host",
        "--keep-daily",
        str(keep["daily"]),
        "--keep-weekly",
        str(keep["weekly"]),
        "--keep-monthly",
        str(keep["monthly"]),
    )
    if args.check or check_due(cfg):
        cmd_check(cfg, args)
    os.makedirs(cfg["state_dir"], exist_ok=True)
    write_atomic(os.path.join(cfg["state_dir"], "last-success"), f"{now_iso()} snapshot {snapshot}\n")
    log(f"backup done: snapshot {snapshot} in {time.monotonic() - started:.1f} s")
    return 0


def check_due(cfg):
    days = cfg["check_interval_days"]
    if days <= 0:
        return False
    try:
        age = time.time() - os.stat(os.path.join(cfg["state_dir"], "last-check")).st_mtime
    except FileNotFoundError:
        return True
    return age >= days * 86400 - 3600


def cmd_check(cfg, args):
    restic(cfg, "check")
    os.makedirs(cfg["state_dir"], exist_ok=True)
    write_atomic(os.path.join(cfg["state_dir"], "last-check"), f"{now_iso()}\n")
    return 0


def write_atomic(path, text):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def cmd_status(cfg, args):
    try:
        with open(os.path.join(cfg["state_dir"], "last-success"), encoding="utf-8") as f:
            last = f.read().strip()
    except FileNotFoundError:
        last = "never"
    log(f"last good backup: {last}")
    log(f"repository: {cfg['repository']}")
    return 0 if last != "never" else 1


def find_snapshot(cfg, snapshot):
    """The snapshot's id, or a Failure saying what is missing."""
    result = restic(cfg, "cat", "config", capture=True, check=False)
    if result.returncode != 0:
        if NO_REPOSITORY in result.stderr:
            raise Failure(f"no restic repository at {cfg['repository']} (backup_repository)")
        raise Failure(f"repository {cfg['repository']} cannot be opened: {result.stderr.strip()}")
    result = restic(cfg, "snapshots", "--json", "--tag", "cfps-hub", capture=True)
    snaps = sorted(json.loads(result.stdout) or [], key=lambda s: s["time"])
    if snapshot == "latest":
        if not snaps:
            raise Failure(f"repository {cfg['repository']} holds no snapshot")
        return snaps[-1]["id"]
    for snap in snaps:
        if snap["id"].startswith(snapshot) or snap.get("short_id") == snapshot:
            return snap["id"]
    raise Failure(f"no snapshot {snapshot} in {cfg['repository']} (backup_restore_snapshot)")


def cmd_exists(cfg, args):
    log(find_snapshot(cfg, args.snapshot))
    return 0


def cmd_restore(cfg, args):
    started = time.monotonic()
    snap = find_snapshot(cfg, args.snapshot)
    staging = cfg["staging_dir"]
    shutil.rmtree(staging, ignore_errors=True)
    # The manifest first: which volumes to create before their files come back.
    restic(cfg, "restore", snap, "--target", "/", "--include", staging, capture=True)
    with open(os.path.join(staging, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    existing = docker_volumes()
    for vol in manifest["volumes"]:
        if vol["name"] in existing:
            here = volume_path(existing[vol["name"]])
            if here != vol["path"]:
                raise Failure(f"volume {vol['name']} holds its files in {here} here, {vol['path']} in the backup")
            continue
        if vol["driver"] == "local" and "bind" in vol["options"].get("o", "").split(","):
            os.makedirs(vol["options"]["device"], exist_ok=True)
        cmd = [DOCKER, "volume", "create", "--driver", vol["driver"]]
        for key, value in sorted(vol["options"].items()):
            cmd += ["--opt", f"{key}={value}"]
        run([*cmd, vol["name"]], check=True, capture_output=True, text=True)
        log(f"volume {vol['name']}: created")
    # Everything else, at its original paths (nothing is deleted).
    restic(cfg, "restore", snap, "--target", "/")
    for item in manifest["files"]:
        put_in_place(staged(staging, item["path"]), item)
    for db in manifest["mysql"]:
        if not cfg["restore_mysql"]:
            log(f"database {db}: dump in {staging}/mysql, not loaded (backup_restore_mysql is false)")
            continue
        with open(os.path.join(staging, "mysql", f"{db}.sql"), encoding="utf-8") as dump:
            run(["/usr/bin/mariadb"], stdin=dump, check=True)
        log(f"database {db}: loaded")
    log(f"restore of {snap[:8]} done in {time.monotonic() - started:.1f} s")
    return 0


def put_in_place(src, item):
    """Copy a staged file over its target atomically, with the recorded owner and mode."""
    path = item["path"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".cfps-restore-")
    os.close(fd)
    shutil.copyfile(src, tmp)
    shutil.chown(tmp, item["owner"], item["group"])
    os.chmod(tmp, int(item["mode"], 8))
    if item["kind"] == "sqlite":
        # A journal left by the database being replaced would be applied to the restored one.
        for suffix in ("-wal", "-shm", "-journal"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    os.replace(tmp, path)
    log(f"{path}: restored")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=CONFIG)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="back up now")
    run.add_argument("--check", action="store_true", help="also run restic check")
    run.set_defaults(func=cmd_run)
    sub.add_parser("status", help="time of the last good backup").set_defaults(func=cmd_status)
    sub.add_parser("init", help="create the repository if there is none").set_defaults(func=cmd_init)
    sub.add_parser("check", help="restic check of the repository").set_defaults(func=cmd_check)
    for name, func, text in (("exists", cmd_exists, "is the snapshot there?"), ("restore", cmd_restore, "restore")):
        p = sub.add_parser(name, help=text)
        p.add_argument("snapshot", nargs="?", default="latest")
        p.set_defaults(func=func)
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    try:
        return args.func(cfg, args)
    except (Failure, OSError, subprocess.CalledProcessError, sqlite3.Error) as err:
        print(f"cfps-backup {args.command}: {err}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
