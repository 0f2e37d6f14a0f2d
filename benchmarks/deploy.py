#!/usr/bin/env python3
"""Wall time of a whole-platform deploy: from a bare host, then the idempotent re-run.

    python3 benchmarks/deploy.py            # takes the local demo down first
    python3 benchmarks/deploy.py --keep     # start from the demo host as it is

It runs `scripts/down` (unless --keep), then `scripts/up` twice, with Ansible's
profile_tasks callback, and prints: the total of each run, the image builds
(notebook base + image, frontend) apart from the rest, and the changed count
of the second run (0 when idempotent).
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD_TASKS = ("Build the notebook image", "Build the Debian base image", "Run debootstrap", "Import the base image")


def run_up():
    env = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", ANSIBLE_FORCE_COLOR="0")
    t0 = time.monotonic()
    proc = subprocess.run([str(ROOT / "scripts/up")], env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.stderr.write(out[-5000:])
        raise SystemExit(f"scripts/up failed ({proc.returncode})")
    # profile_tasks prints "TASK [...] ---- 12.34s" lines; sum the image builds.
    builds = 0.0
    frontend = 0.0
    for name, secs in re.findall(r"^(.*?) -+ (\d+\.\d+)s$", out, re.M):
        if any(b in name for b in BUILD_TASKS):
            builds += float(secs)
        elif "frontend" in name and "build" in name.lower():
            frontend += float(secs)
    recap = re.search(r"cfps-hub-local\s*:\s*ok=(\d+)\s+changed=(\d+)", out)
    changed = int(recap.group(2)) if recap else -1
    return elapsed, builds, frontend, changed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="do not take the demo host down first")
    args = parser.parse_args()
    if not args.keep:
        subprocess.run([str(ROOT / "scripts/down")], check=True, capture_output=True)
    first = run_up()
    second = run_up()
    print(f"{'run':22}{'total s':>10}{'notebook image s':>18}{'frontend build s':>18}{'changed':>9}")
    for label, (total, builds, frontend, changed) in (("from a bare host", first), ("re-run (idempotent)", second)):
        print(f"{label:22}{total:10.1f}{builds:18.1f}{frontend:18.1f}{changed:9d}")
    print(f"bare-host deploy without image builds: {first[0] - first[1] - first[2]:.1f} s")
    return 0 if second[3] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
