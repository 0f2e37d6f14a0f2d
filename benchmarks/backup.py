#!/usr/bin/env python3
"""Benchmark of the backups (roles/backup): backup and restore throughput, and the incremental run.

Runs the role's own script (roles/backup/files/cfps_backup.py, as
/usr/local/sbin/cfps-backup would) with restic from Debian on this machine,
against a local repository in a temporary folder. The data are SYNTHETIC
homes: --homes folders of --home-mb MB each, every one holding a few
notebooks (JSON text, compressible), CSV-like text and random binary files
(incompressible, like images or parquet). Figures:

  first backup     MB/s over the whole data (all new to the repository)
  second backup    after --change-percent % of the files were rewritten:
                   its time against the first, and what restic added
  restore          MB/s of `cfps-backup restore` of the latest snapshot into
                   the emptied folders (as on a fresh host)

Needs root (the script restores owners) and `apt-get install restic`.

Usage:  sudo python3 benchmarks/backup.py [--homes 20] [--home-mb 10] [--change-percent 2]
            [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "roles" / "backup" / "files" / "cfps_backup.py"


def make_homes(base: Path, homes: int, home_mb: int, rng: random.Random) -> list[Path]:
    files = []
    per_home = home_mb * 2**20
    for i in range(homes):
        home = base / f"user{i:03d}"
        (home / "work").mkdir(parents=True)
        left = per_home
        n = 0
        while left > 0:
            kind = n % 3
            size = min(left, rng.randint(64 * 2**10, 2 * 2**20))
            if kind == 0:
                path = home / "work" / f"分析-{n}.ipynb"
                cell = {"cell_type": "code", "source": "df.groupby('provcd').mean()\n", "outputs": []}
                text = json.dumps({"cells": [cell] * (size // 80 + 1), "nbformat": 4}, ensure_ascii=False)
                path.write_text(text[:size], encoding="utf-8")
            elif kind == 1:
                path = home / f"table-{n}.csv"
                row = ",".join(str(rng.randint(0, 99999)) for _ in range(12)) + "\n"
                path.write_text((row * (size // len(row) + 1))[:size], encoding="utf-8")
            else:
                path = home / "work" / f"blob-{n}.bin"
                path.write_bytes(rng.randbytes(size))
            files.append(path)
            left -= size
            n += 1
    return files


def size_of(base: Path) -> int:
    return sum(p.stat().st_size for p in base.rglob("*") if p.is_file())


def script(config: Path, *args: str) -> tuple[float, str]:
    t = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--config", str(config), *args], capture_output=True, text=True
    )
    seconds = time.monotonic() - t
    if result.returncode != 0:
        raise SystemExit(f"cfps-backup {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


def added(out: str) -> str:
    match = re.search(r"Added to the repository: ([0-9.]+ \w+)", out)
    return match.group(1) if match else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", type=int, default=20)
    parser.add_argument("--home-mb", type=int, default=10)
    parser.add_argument("--change-percent", type=float, default=2.0)
    parser.add_argument("--workdir", default=None, help="where the data and repository go (default: TMPDIR)")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("restic") is None:
        raise SystemExit("run as root, with restic installed (apt-get install restic)")
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="cfps-backup-bench-", dir=args.workdir))
    try:
        homes = work / "homes"
        (work / "password").write_text("benchmark-password-0123\n", encoding="utf-8")
        config = work / "config.json"
        config.write_text(
            json.dumps(
                {
                    "repository": str(work / "repo"),
                    "password_file": str(work / "password"),
                    "environment": {},
                    "cache_dir": str(work / "cache"),
                    "staging_dir": str(work / "staging"),
                    "state_dir": str(work / "state"),
                    "volume_patterns": [],
                    "sqlite_databases": [],
                    "files": [],
                    "paths": [str(homes)],
                    "mysql_dump": False,
                    "mysql_databases": [],
                    "restore_mysql": False,
                    "keep": {"daily": 7, "weekly": 4, "monthly": 6},
                    "check_interval_days": 0,
                }
            ),
            encoding="utf-8",
        )
        files = make_homes(homes, args.homes, args.home_mb, rng)
        total = size_of(homes)
        mb = total / 1e6
        print(f"synthetic homes: {args.homes} x {args.home_mb} MiB = {mb:.0f} MB in {len(files)} files ({work})")
        script(config, "init")

        first, out = script(config, "run")
        print(f"first backup:  {first:6.1f} s  {mb / first:7.1f} MB/s   added {added(out)}")

        changed = rng.sample(files, max(1, int(len(files) * args.change_percent / 100)))
        for path in changed:
            path.write_bytes(rng.randbytes(path.stat().st_size))
        second, out = script(config, "run")
        print(
            f"second backup: {second:6.1f} s  ({second / first:.0%} of the first; {len(changed)} files rewritten)"
            f"   added {added(out)}"
        )

        shutil.rmtree(homes)
        restore, _ = script(config, "restore", "latest")
        assert size_of(homes) == total
        print(f"restore:       {restore:6.1f} s  {mb / restore:7.1f} MB/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
