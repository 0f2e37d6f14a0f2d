#!/usr/bin/env python3
"""Spawn-to-ready through JupyterHub against a raw `docker run` of the same image.

Runs against a converged host container (the Molecule hub instance, or the
local demo host) that has an API token with admin:users/admin:servers scopes:

    python3 benchmarks/spawn.py --host cfps-hub --token <api token> --runs 5

The script copies itself into the host container and measures there, so
`docker exec` overhead is not counted. It prints the median and every run of:
  hub   POST /users/<u>/server until the hub reports the server ready
  raw   `docker run -d` of the same image until /api/status answers
and the difference of the medians (goal: at most 1.5 s).
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
    call("POST", f"{api}/users/{user}", token)
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
    call("DELETE", f"{api}/users/{user}", token)
    return elapsed


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
    hub, raw = [], []
    for i in range(args.runs):
        hub.append(hub_spawn(api, args.token, f"bench{i:02d}"))
        raw.append(raw_run(image))
    print(f"image: {image}; runs: {args.runs}")
    print(f"{'':6}{'median s':>10}  runs")
    for name, values in (("hub", hub), ("raw", raw)):
        print(f"{name:6}{statistics.median(values):10.2f}  " + " ".join(f"{v:.2f}" for v in values))
    overhead = statistics.median(hub) - statistics.median(raw)
    print(f"hub overhead over raw docker run: {overhead:+.2f} s (goal: at most +1.50 s)")
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
