#!/usr/bin/env python3
"""Benchmark of the CFPS auth service (app/backend).

Starts the service itself (temp config, temp SQLite, rate limits raised out of
the way, workers = cores), registers users, then for each endpoint and each
concurrency level (default 1 and 20) drives it for --duration seconds:

  health     GET /health                             (one DB round trip)
  authorize  GET /authorize -> 303 to the login page (no I/O)
  login      POST /login (form) -> 303 with a code   (argon2id verify per request)
  register   POST /register (JSON) -> 201            (argon2id hash per request)
  password   POST /password (JSON) -> 200            (verify + hash; each load
                                                      loop has its own user and
                                                      swaps between two passwords)
  token      POST /token  code -> access token       (codes pre-minted in the DB by
                                                      the harness, exactly the rows
                                                      /login writes, so the figure is
                                                      the token endpoint alone)
  userinfo   GET /userinfo with Bearer
  logout     GET /logout with Bearer -> 303          (the first call revokes the
                                                      token; then lookups only)

It also times one argon2id verify with the service's parameters and prints the
physical login limit = cores / verify time. The load generator is aiohttp on
one event loop (it shares the cores with the server) and opens a new
connection per request, as nginx does to the service. Goals are reported,
not asserted. `--ceiling` also runs /login of benchmarks/verify_only.py (the
verify and nothing else) each round: what any Python ASGI server doing the
verify reaches here, to read the service's login figure against.

Side by side: `--tree before=/tmp/backend-before --tree after=.` runs the
service from each checkout's app/backend (PYTHONPATH; the venv supplies the
dependencies), alternating trees for --rounds rounds in one sitting, and
prints each tree's figures (req/s: mean of rounds; p50/p99: median of rounds)
and the second tree against the first.

Usage:  python benchmarks/backend.py [--duration 20] [--concurrency 1,20] [--workers N]
            [--tree [LABEL=]DIR ...] [--rounds N] [--endpoints health,login,...] [--ceiling]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

SECRET = "bench-client-secret-0123456789abcdef"
REDIRECT = "https://hub.example.org/jupyter/hub/oauth_callback"
PASSWORD = "Bench-Password-2024-xyz"
PASSWORD_2 = "Bench-Password-2025-abc"
INVITE = "bench-invite-code"
ENDPOINTS = ("health", "authorize", "login", "register", "password", "token", "userinfo", "logout")
REPO = Path(__file__).resolve().parents[1]
# The OAuth client the auth service's tests use (PKCE, the authorization request).
sys.path.insert(0, str(REPO / "app" / "backend" / "tests"))
from hub_client import authorization_params, pkce_pair  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_env(tree: Path) -> dict[str, str]:
    """The environment that runs the service from `tree`'s app/backend."""
    src = str(tree / "app" / "backend")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}


def write_config(tmp: Path, workers: int) -> Path:
    cfg = tmp / "config.toml"
    cfg.write_text(
        "\n".join(
            [
                f'secret_key = "{secrets.token_urlsafe(32)}"',
                f'database_url = "sqlite:///{tmp / "bench.db"}"',
                'public_url = "https://hub.example.org"',
                f'invite_codes = ["{INVITE}"]',
                'rate_limit = "1000000000/minute"',
                f"workers = {workers}",
                "code_ttl_seconds = 600",
                'log_level = "WARNING"',
                "[[clients]]",
                'client_id = "jupyterhub"',
                f'client_secret = "{SECRET}"',
                f'redirect_uris = ["{REDIRECT}"]',
            ]
        )
        + "\n"
    )
    return cfg


def start_server(tree: Path, cfg: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**tree_env(tree), "CFPS_BACKEND_CONFIG": str(cfg)}
    subprocess.run([sys.executable, "-m", "cfps_backend", "db", "upgrade"], env=env, check=True, capture_output=True)
    cmd = [sys.executable, "-m", "cfps_backend", "serve", "--port", str(port)]
    return wait_healthy(subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT), port, log)


def start_ceiling(workers: int, port: int, log: Path) -> subprocess.Popen:
    """verify_only.py under uvicorn as the service runs: workers, uvloop, httptools."""
    env = {**tree_env(REPO), "CFPS_BENCH_PASSWORD": PASSWORD, "CFPS_BENCH_WORKERS": str(workers)}
    cmd = [sys.executable, "-m", "uvicorn", "verify_only:app", "--app-dir", str(REPO / "benchmarks")]
    cmd += ["--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    return wait_healthy(subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT), port, log)


def wait_healthy(proc: subprocess.Popen, port: int, log: Path) -> subprocess.Popen:
    import urllib.request

    for _ in range(150):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:  # noqa: S310
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start; log:\n{log.read_text()}")


_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by process `root` and its
    descendants (the uvicorn workers), from /proc. On a machine shared with
    other work this is the fair cost of a request: waiting for the cores is
    not counted."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICK
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(p for p, pp in parent.items() if pp == pid and p not in tree)
    return sum(cpu.get(p, 0.0) for p in tree)


def argon2_verify_seconds(n: int = 15) -> tuple[float, str]:
    sys.path.insert(0, str(REPO / "app" / "backend"))
    from cfps_backend.config import Argon2Params
    from cfps_backend.security import Hasher

    p = Argon2Params()
    h = Hasher(p)
    stored = h.hash(PASSWORD)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        h.verify(stored, PASSWORD)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), f"argon2id t={p.time_cost} m={p.memory_cost} KiB p={p.parallelism}"


def mint_codes_main(cfg: str, username: str, n: int) -> None:
    """(Run with the tree's PYTHONPATH.) Insert n authorization codes for
    `username`, as /login would, and print them as JSON [[code, verifier]...]."""
    from sqlalchemy import insert, select

    from cfps_backend.config import load_settings
    from cfps_backend.models import AuthCode, User
    from cfps_backend.security import new_secret
    from cfps_backend.service import Service

    svc = Service(load_settings(cfg))
    out = []
    now = int(time.time())
    with svc.db.write() as s:
        uid = s.execute(select(User.id).where(User.username == username)).scalar_one()
        for _ in range(n):
            v, c = pkce_pair()
            code = new_secret(32)
            s.execute(
                insert(AuthCode).values(
                    code_hash=svc.digest(code),
                    client_id="jupyterhub",
                    redirect_uri=REDIRECT,
                    code_challenge=c,
                    user_id=uid,
                    created_at=now,
                    expires_at=now + 600,
                )
            )
            out.append((code, v))
    svc.db.dispose()
    json.dump(out, sys.stdout)


def mint_codes(tree: Path, cfg: Path, username: str, n: int) -> list[tuple[str, str]]:
    res = subprocess.run(
        [sys.executable, __file__, "--mint", str(cfg), username, str(n)],
        env=tree_env(tree),
        check=True,
        capture_output=True,
        text=True,
    )
    return [tuple(x) for x in json.loads(res.stdout)]


async def run_load(base: str, conc: int, duration: float, make_request, warmup: float = 1.0, server_pid: int = 0):
    """Run `conc` loops for warmup+duration; return stats of the measured part.
    `make_request(session, loop_index)` returns 200 for the expected answer,
    else the status. With `server_pid`, also the server's CPU time per request."""
    lat: list[float] = []
    cpu_at: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    # A new connection per request, as nginx makes to the auth service (no
    # upstream keepalive): kept-alive connections stay with the worker that
    # accepted them, and one worker can take all of them and serve the run alone.
    connector = aiohttp.TCPConnector(limit=conc, force_close=True)
    async with aiohttp.ClientSession(base_url=base, connector=connector) as session:
        t_start = time.perf_counter()
        t_measure = t_start + warmup
        t_end = t_measure + duration

        async def worker(i: int):
            nonlocal errors
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                try:
                    status = await make_request(session, i)
                except (TimeoutError, aiohttp.ClientError, StopIteration):
                    status = -1
                t1 = time.perf_counter()
                if t0 >= t_measure:
                    lat.append(t1 - t0)
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == -1:
                        errors += 1

        async def cpu_probe():
            if not server_pid:
                return
            await asyncio.sleep(max(0.0, t_measure - time.perf_counter()))
            cpu_at.append(tree_cpu_seconds(server_pid))
            await asyncio.sleep(max(0.0, t_end - time.perf_counter()))
            cpu_at.append(tree_cpu_seconds(server_pid))

        await asyncio.gather(cpu_probe(), *(worker(i) for i in range(conc)))
    elapsed = duration
    lat.sort()
    n = len(lat)
    return {
        "n": n,
        "rps": n / elapsed if elapsed else 0.0,
        "p50": lat[n // 2] * 1000 if n else float("nan"),
        "p99": lat[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"),
        "cpu_us": (cpu_at[1] - cpu_at[0]) / n * 1e6 if n and len(cpu_at) == 2 else float("nan"),
        "5xx": sum(v for k, v in statuses.items() if k >= 500),
        "statuses": statuses,
        "errors": errors,
    }


def _ok(status: int, expected: int) -> int:
    return 200 if status == expected else status


def authz_params() -> dict[str, str]:
    """The hub's authorization request, with a challenge of its own."""
    return authorization_params(pkce_pair()[1], "jupyterhub", REDIRECT, "bench")


def login_caller(body: bytes):
    """POST /login with the form `body` (encoded once: the load generator shares
    the cores with the server, so it does as little per request as it can)."""
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}

    async def do_login(session, _i):
        async with session.post("/login", data=body, headers=form_type, allow_redirects=False) as resp:
            await resp.read()
            return _ok(resp.status, 303)

    return do_login


async def bench_ceiling(args, levels: list[int]) -> dict:
    """/login of verify_only.py at each level: the ceiling a tree is read against."""
    workers = args.workers or os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="cfps-bench-"))
    port = free_port()
    verify_s, params = argon2_verify_seconds()
    proc = start_ceiling(workers, port, tmp / "ceiling.log")
    body = urlencode({"username": "benchuser", "password": PASSWORD, **authz_params()}).encode()
    try:
        results = {
            ("login", conc): await run_load(
                f"http://127.0.0.1:{port}", conc, args.duration, login_caller(body), server_pid=proc.pid
            )
            for conc in levels
        }
    finally:
        proc.terminate()
        proc.wait(15)
    return {"results": results, "verify_s": verify_s, "params": params, "workers": workers}


async def bench_tree(tree: Path, args, levels: list[int], endpoints: list[str], run_id: str) -> dict:  # noqa: C901, PLR0915
    """One full run of the service from `tree`: {(endpoint, conc): stats}."""
    cores = os.cpu_count() or 1
    workers = args.workers or cores
    tmp = Path(tempfile.mkdtemp(prefix="cfps-bench-"))
    cfg = write_config(tmp, workers)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    verify_s, params = argon2_verify_seconds()
    proc = start_server(tree, cfg, port, tmp / "server.log")
    results: dict[tuple[str, int], dict] = {}
    counter = itertools.count()
    try:
        authz = authz_params()
        pw_users = [f"pw{run_id}{i}" for i in range(max(levels))]
        async with aiohttp.ClientSession(base_url=base) as s:
            for name in ["benchuser", "logoutuser", *pw_users]:
                r = await s.post("/register", json={"username": name, "password": PASSWORD, "invite_code": INVITE})
                assert r.status == 201, await r.text()
        do_login = login_caller(urlencode({"username": "benchuser", "password": PASSWORD, **authz}).encode())
        pw_current = {name: PASSWORD for name in pw_users}
        tokens: list[str] = []
        logout_token: list[str] = []

        async def do_health(session, _i):
            async with session.get("/health") as resp:
                await resp.read()
                return _ok(resp.status, 200)

        async def do_authorize(session, _i):
            async with session.get("/authorize", params=authz, allow_redirects=False) as resp:
                await resp.read()
                return _ok(resp.status, 303)

        async def do_register(session, _i):
            name = f"r{run_id}{next(counter)}"
            body = {"username": name, "password": PASSWORD, "invite_code": INVITE}
            async with session.post("/register", json=body) as resp:
                await resp.read()
                return _ok(resp.status, 201)

        async def do_password(session, i):
            name = pw_users[i]
            old = pw_current[name]
            new = PASSWORD_2 if old == PASSWORD else PASSWORD
            async with session.post("/password", json={"username": name, "password": old, "new_password": new}) as resp:
                await resp.read()
                if resp.status == 200:
                    pw_current[name] = new
                return _ok(resp.status, 200)

        def do_token_factory(codes):
            it = iter(codes)

            async def do_token(session, _i):
                code, verifier = next(it)
                data = {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT,
                    "code_verifier": verifier,
                    "client_id": "jupyterhub",
                    "client_secret": SECRET,
                }
                async with session.post("/token", data=data) as resp:
                    body = await resp.read()
                    if resp.status == 200 and len(tokens) < 64:
                        tokens.append(json.loads(body)["access_token"])
                    return _ok(resp.status, 200)

            return do_token

        async def do_userinfo(session, i):
            hdr = {"Authorization": f"Bearer {tokens[next(counter) % min(20, len(tokens))]}"}
            async with session.get("/userinfo", headers=hdr) as resp:
                await resp.read()
                return _ok(resp.status, 200)

        async def do_logout(session, _i):
            hdr = {"Authorization": f"Bearer {logout_token[0]}"}
            async with session.get("/logout", params={"next": "/"}, headers=hdr, allow_redirects=False) as resp:
                await resp.read()
                return _ok(resp.status, 303)

        simple = {
            "health": do_health,
            "authorize": do_authorize,
            "login": do_login,
            "register": do_register,
            "password": do_password,
        }
        for name in endpoints:
            for conc in levels:
                if name == "token":
                    n_codes = int(args.duration * 2500) + 5000
                    codes = await asyncio.to_thread(mint_codes, tree, cfg, "benchuser", n_codes)
                    fn = do_token_factory(codes)
                elif name == "userinfo":
                    if not tokens:  # the token rows did not run: redeem a few codes
                        codes = await asyncio.to_thread(mint_codes, tree, cfg, "benchuser", 20)
                        redeem = do_token_factory(codes)
                        async with aiohttp.ClientSession(base_url=base) as s:
                            for _ in codes:
                                assert await redeem(s, 0) == 200
                    fn = do_userinfo
                elif name == "logout":
                    if not logout_token:
                        codes = await asyncio.to_thread(mint_codes, tree, cfg, "logoutuser", 1)
                        code, verifier = codes[0]
                        async with aiohttp.ClientSession(base_url=base) as s:
                            data = {
                                "grant_type": "authorization_code",
                                "code": code,
                                "redirect_uri": REDIRECT,
                                "code_verifier": verifier,
                            }
                            r = await s.post("/token", data=data, auth=aiohttp.BasicAuth("jupyterhub", SECRET))
                            logout_token.append((await r.json())["access_token"])
                    fn = do_logout
                else:
                    fn = simple[name]
                results[(name, conc)] = await run_load(base, conc, args.duration, fn, server_pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"results": results, "verify_s": verify_s, "params": params, "workers": workers}


def print_run(label: str, run: dict, levels: list[int]) -> None:
    cores = os.cpu_count() or 1
    limit = cores / run["verify_s"]
    verify_ms = run["verify_s"] * 1000
    print(f"\n[{label}] hashing: {run['params']}; one verify = {verify_ms:.1f} ms -> login limit {limit:.1f}/s")
    print(
        f"{'endpoint':<9} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>7} {'cpu us':>8} "
        f"{'5xx':>4} {'other':>6}  statuses"
    )
    for (name, conc), r in run["results"].items():
        other = sum(v for k, v in r["statuses"].items() if k != 200)
        ratio = r["p99"] / r["p50"] if r["p50"] else float("nan")
        print(
            f"{name:<9} {conc:>4} {r['rps']:>9.1f} {r['p50']:>8.2f} {r['p99']:>8.2f} {ratio:>7.2f} {r['cpu_us']:>8.0f} "
            f"{r['5xx']:>4} {other:>6}  {dict(sorted(r['statuses'].items()))}"
        )
    sys.stdout.flush()


def summarise(label: str, runs: list[dict]) -> dict:
    """Per (endpoint, conc): mean req/s, median p50/p99 over the rounds."""
    out = {}
    for key in runs[0]["results"]:
        rs = [run["results"][key] for run in runs]
        out[key] = {
            "rps": statistics.mean(r["rps"] for r in rs),
            "rps_rounds": [r["rps"] for r in rs],
            "p50": statistics.median(r["p50"] for r in rs),
            "p99": statistics.median(r["p99"] for r in rs),
            "cpu_us": statistics.median(r["cpu_us"] for r in rs),
            "5xx": sum(r["5xx"] for r in rs),
            "other": sum(sum(v for k, v in r["statuses"].items() if k != 200) for r in rs),
        }
    out["_verify_s"] = statistics.median(run["verify_s"] for run in runs)
    out["_label"] = label
    return out


def print_goals(s: dict, levels: list[int]) -> None:
    cores = os.cpu_count() or 1
    limit = cores / s["_verify_s"]
    hi = max(levels)
    label = s["_label"]
    if ("login", hi) in s:
        r = s[("login", hi)]
        print(
            f"[{label}] goal login c={hi} >= 85% of limit: {r['rps']:.1f}/s = {100 * r['rps'] / limit:.0f}% of "
            f"{limit:.1f}/s; p99 <= 2 x p50: {r['p99'] / r['p50']:.2f}x"
        )
    total_5xx = sum(v["5xx"] for k, v in s.items() if isinstance(k, tuple))
    print(f"[{label}] goal zero 5xx: {total_5xx} -> {'met' if total_5xx == 0 else 'NOT met'}")


async def bench(args) -> None:
    levels = [int(x) for x in args.concurrency.split(",")]
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    unknown = sorted(set(endpoints) - set(ENDPOINTS))
    if unknown:
        raise SystemExit(f"unknown endpoint(s): {', '.join(unknown)} (known: {', '.join(ENDPOINTS)})")
    trees: list[tuple[str, Path]] = []
    for spec in args.tree or [str(REPO)]:
        label, sep, path = spec.partition("=")
        path = path if sep else label
        tree = Path(path).resolve()
        if not (tree / "app" / "backend" / "cfps_backend").is_dir():
            raise SystemExit(f"--tree {spec}: {tree}/app/backend/cfps_backend not found")
        trees.append((label if sep else tree.name, tree))
    cores = os.cpu_count() or 1
    print(
        f"CFPS backend benchmark: {cores} cores, {args.workers or cores} uvicorn workers, SQLite WAL, "
        f"{args.duration:.0f} s per row, load generator aiohttp (same machine); "
        f"{args.rounds} round(s) of {', '.join(label for label, _ in trees)}"
    )
    runs: dict[str, list[dict]] = {label: [] for label, _ in trees}
    ceiling: list[dict] | None = [] if args.ceiling and "login" in endpoints else None
    for rnd in range(args.rounds):
        for i, (label, tree) in enumerate(trees):
            run = await bench_tree(tree, args, levels, endpoints, run_id=f"{rnd}{i}{secrets.randbelow(100):02d}")
            runs[label].append(run)
            print_run(f"{label} round {rnd + 1}", run, levels)
        if ceiling is not None:
            run = await bench_ceiling(args, levels)
            ceiling.append(run)
            print_run(f"ceiling round {rnd + 1}", run, levels)
    sums = [summarise(label, runs[label]) for label, _ in trees]
    print(
        "\nSummary (req/s: mean of the rounds, each round below it; p50/p99 ms and server CPU us per request: "
        "median of the rounds)"
    )
    head = "| endpoint | c |"
    rule = "| --- | ---: |"
    for s in sums:
        lab = s["_label"]
        head += f" {lab} req/s | {lab} p50 | {lab} p99 | {lab} cpu us |"
        rule += " ---: | ---: | ---: | ---: |"
    if len(sums) > 1:
        head += " req/s ratio | cpu ratio |"
        rule += " ---: | ---: |"
    head += " 5xx |"
    rule += " ---: |"
    print(head)
    print(rule)
    first, last = sums[0], sums[-1]
    for key in (k for k in first if isinstance(k, tuple)):
        line = f"| {key[0]} | {key[1]} |"
        for s in sums:
            r = s[key]
            line += f" {r['rps']:.1f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_us']:.0f} |"
        if len(sums) > 1:
            a, b = first[key], last[key]
            line += f" {100 * b['rps'] / a['rps']:.0f} % |" if a["rps"] else " |"
            line += f" {100 * b['cpu_us'] / a['cpu_us']:.0f} % |" if a["cpu_us"] > 0 else " |"
        line += f" {sum(s[key]['5xx'] for s in sums)} |"
        print(line)
        if args.rounds > 1:
            print("|  |  |" + "".join(f" {' / '.join(f'{x:.1f}' for x in s[key]['rps_rounds'])} | | | |" for s in sums))
    print()
    for s in sums:
        print_goals(s, levels)
    if ceiling:
        c = summarise("ceiling", ceiling)
        limit = (os.cpu_count() or 1) / c["_verify_s"]
        for conc in levels:
            r = c[("login", conc)]
            print(
                f"[ceiling] verify-only ASGI app (benchmarks/verify_only.py), same load: login c={conc} "
                f"{r['rps']:.1f}/s = {100 * r['rps'] / limit:.0f}% of {limit:.1f}/s, server CPU {r['cpu_us']:.0f} us "
                f"per request (rounds: {' / '.join(f'{x:.1f}' for x in r['rps_rounds'])})"
            )
    if len(sums) > 1:
        keys = [k for k in first if isinstance(k, tuple) and first[k]["rps"]]
        if keys:
            ratio, (name, conc) = min((last[k]["rps"] / first[k]["rps"], k) for k in keys)
            cpu = [(last[k]["cpu_us"] / first[k]["cpu_us"], k) for k in keys if first[k]["cpu_us"] > 0]
            print(
                f"goal no endpoint more than 10% slower ({last['_label']} vs {first['_label']}): "
                f"lowest throughput ratio {name} c={conc} at {100 * ratio:.1f} % "
                f"-> {'met' if ratio >= 0.9 else 'NOT met'}"
            )
            if cpu:
                worst, (name, conc) = max(cpu)
                print(
                    f"  server CPU per request: highest ratio {name} c={conc} at {100 * worst:.1f} % "
                    f"-> {'met' if worst <= 1.1 else 'NOT met'} (load-independent: the machine may be shared)"
                )


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--mint":
        mint_codes_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per endpoint and concurrency (default 20)")
    ap.add_argument("--concurrency", default="1,20", help="comma-separated levels (default 1,20)")
    ap.add_argument("--workers", type=int, default=0, help="uvicorn workers (default: cores)")
    ap.add_argument(
        "--tree",
        action="append",
        help="[LABEL=]DIR: a checkout whose app/backend is run (repeat to compare; default: this checkout)",
    )
    ap.add_argument("--rounds", type=int, default=1, help="runs of each tree, alternating (default 1)")
    ap.add_argument(
        "--ceiling",
        action="store_true",
        help="also run /login of benchmarks/verify_only.py (a verify and nothing else) each round",
    )
    ap.add_argument("--endpoints", default=",".join(ENDPOINTS), help=f"comma-separated (default {','.join(ENDPOINTS)})")
    args = ap.parse_args()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except (ImportError, AttributeError):
        pass
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
