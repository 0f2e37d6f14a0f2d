#!/usr/bin/env python3
"""Spawn-to-ready through JupyterHub against a raw `docker run` of the same image.

Runs against a converged host container (the Molecule hub instance, or the
local demo host) that has an API token with admin:users/admin:servers scopes:

    python3 benchmarks/spawn.py --host cfps-hub --token <api token> --runs 5

The script copies itself into the host container and measures there, so
`docker exec` overhead is not counted. It prints the median and every run of:
  hub-new    POST /users/<u>/server until the hub reports the server ready,
             for a user never seen (with hub_home_quota: the home's
             filesystem is made, formatted and mounted first)
  hub-again  the same user's next start (the home exists)
  raw        `docker run -d` of the same image until /api/status answers
and the differences of the medians (goal: at most 1.5 s). Its users and
their homes are removed afterwards.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def outer(args):
    src = Path(__file__).read_text(encoding="utf-8")
    cmd = [
        "docker",
        "exec",
        "-i",
        args.host,
        "python3",
        "-",
        "--inner",
        "--token",
        args.token,
        "--runs",
        str(args.runs),
    ]
    return subprocess.run(cmd, input=src, text=True, check=False).returncode


def call(method, url, token, body=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", f"token {token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if text.strip() else None
    except urllib.error.HTTPError as err:
        return err.code, None


def wait(pred, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise TimeoutError("not ready in time")


def hub_spawn(api, token, user):
    t0 = time.monotonic()
    status, _ = call("POST", f"{api}/users/{user}/server", token)
    assert status in (201, 202), status

    def ready():
        _, info = call("GET", f"{api}/users/{user}", token)
        return bool(info and info.get("servers", {}).get("", {}).get("ready"))

    wait(ready)
    elapsed = time.monotonic() - t0
    call("DELETE", f"{api}/users/{user}/server", token)
    wait(lambda: not call("GET", f"{api}/users/{user}", token)[1].get("servers"))
    return elapsed


def remove_user(api, token, user):
    """The hub user, and its home: volume, mount and image (with hub_home_quota)."""
    call("DELETE", f"{api}/users/{user}", token)
    # The names made here are lower-case letters and digits: DockerSpawner escapes nothing.
    for volume in (f"jupyterhub-home-{user}", f"jupyterhub-user-{user}"):
        subprocess.run(["docker", "volume", "rm", volume], capture_output=True, check=False)
    home = Path(f"/srv/cfps/homes/{user}")
    if home.is_mount():
        subprocess.run(["umount", str(home)], check=True)
    if home.is_dir():
        home.rmdir()
    Path(f"/var/lib/cfps-hub/homes/{user}.img").unlink(missing_ok=True)


def raw_run(image):
    t0 = time.monotonic()
    cid = subprocess.check_output(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            image,
            "jupyter",
            "server",
            "--ServerApp.ip=0.0.0.0",
            "--ServerApp.port=8888",
            "--ServerApp.token=bench",
            "--no-browser",
        ],
        text=True,
    ).strip()
    ip = subprocess.check_output(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid], text=True).strip()

    def ready():
        try:
            with urllib.request.urlopen(f"http://{ip}:8888/api/status?token=bench", timeout=2) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    wait(ready)
    elapsed = time.monotonic() - t0
    subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False)
    return elapsed


def inner(args):
    api = "http://127.0.0.1:8000/jupyter/hub/api"
    config = Path("/etc/jupyterhub/jupyterhub_config.py").read_text(encoding="utf-8")
    image = config.split('c.DockerSpawner.image = "', 1)[1].split('"', 1)[0]
    quota = "c.CFPSDockerSpawner.home_socket" in config
    new, again, raw = [], [], []
    for i in range(args.runs):
        user = f"bench{i:02d}x{time.time_ns() % 10**6}"
        call("POST", f"{api}/users/{user}", args.token)
        try:
            new.append(hub_spawn(api, args.token, user))
            again.append(hub_spawn(api, args.token, user))
        finally:
            remove_user(api, args.token, user)
        raw.append(raw_run(image))
    print(f"image: {image}; runs: {args.runs}; homes with a quota: {'yes' if quota else 'no'}")
    print(f"{'':10}{'median s':>10}  runs")
    for name, values in (("hub-new", new), ("hub-again", again), ("raw", raw)):
        print(f"{name:10}{statistics.median(values):10.2f}  " + " ".join(f"{v:.2f}" for v in values))
    for name, values in (("new user", new), ("returning user", again)):
        overhead = statistics.median(values) - statistics.median(raw)
        print(f"hub overhead over raw docker run, {name}: {overhead:+.2f} s (goal: at most +1.50 s)")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="cfps-hub", help="host container name")
    parser.add_argument("--token", required=True, help="hub API token with admin scopes")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return inner(args) if args.inner else outer(args)


if __name__ == "__main__":
    sys.exit(main())
