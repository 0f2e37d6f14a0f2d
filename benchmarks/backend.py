#!/usr/bin/env python3
"""Benchmark of the CFPS auth service (app/backend).

Starts the service itself (temp config, temp SQLite, rate limits raised out of
the way, workers = cores), registers a user, then for each concurrency level
(default 1 and 20) drives, for --duration seconds each:

  login     POST /login (form) -> 303 with a code   (argon2id verify per request)
  token     POST /token  code -> access token       (codes pre-minted in the DB by
                                                      the harness, exactly the rows
                                                      /login writes, so the figure is
                                                      the token endpoint alone)
  userinfo  GET /userinfo with Bearer

It also times one argon2id verify with the service's parameters and prints the
physical login limit = cores / verify time. The load generator is aiohttp on
one event loop (it shares the cores with the server). Goals are reported,
not asserted.

Usage:  python benchmarks/backend.py [--duration 20] [--concurrency 1,20] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
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

import aiohttp

SECRET = "bench-client-secret-0123456789abcdef"
REDIRECT = "https://hub.example.org/jupyter/hub/oauth_callback"
PASSWORD = "Bench-Password-2024-xyz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pkce() -> tuple[str, str]:
    v = secrets.token_urlsafe(48)[:64]
    c = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"=").decode()
    return v, c


def write_config(tmp: Path, workers: int) -> Path:
    cfg = tmp / "config.toml"
    cfg.write_text(
        "\n".join(
            [
                f'secret_key = "{secrets.token_urlsafe(32)}"',
                f'database_url = "sqlite:///{tmp / "bench.db"}"',
                'public_url = "https://hub.example.org"',
                'invite_codes = ["bench-invite-code"]',
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


def start_server(cfg: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "CFPS_BACKEND_CONFIG": str(cfg)}
    subprocess.run([sys.executable, "-m", "cfps_backend", "db", "upgrade"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cfps_backend", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
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


def argon2_verify_seconds(n: int = 15) -> tuple[float, str]:
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


def mint_codes(cfg: Path, username: str, n: int) -> list[tuple[str, str]]:
    """Insert n authorization codes for `username`, as /login would."""
    from sqlalchemy import select

    from cfps_backend.config import load_settings
    from cfps_backend.models import AuthCode, User
    from cfps_backend.security import new_secret
    from cfps_backend.service import Service

    svc = Service(load_settings(str(cfg)))
    out = []
    now = int(time.time())
    with svc.db.write() as s:
        uid = s.execute(select(User.id).where(User.username == username)).scalar_one()
        for _ in range(n):
            v, c = pkce()
            code = new_secret(32)
            s.add(
                AuthCode(
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
    return out


async def run_load(base: str, conc: int, duration: float, make_request, warmup: float = 1.0):
    """Run `conc` loops for warmup+duration; return stats of the measured part."""
    lat: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    connector = aiohttp.TCPConnector(limit=conc, force_close=False)
    async with aiohttp.ClientSession(base_url=base, connector=connector) as session:
        t_start = time.perf_counter()
        t_measure = t_start + warmup
        t_end = t_measure + duration

        async def worker():
            nonlocal errors
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                try:
                    status = await make_request(session)
                except (TimeoutError, aiohttp.ClientError, StopIteration):
                    status = -1
                t1 = time.perf_counter()
                if t0 >= t_measure:
                    lat.append(t1 - t0)
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == -1:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(conc)))
    elapsed = duration
    lat.sort()
    n = len(lat)
    return {
        "n": n,
        "rps": n / elapsed if elapsed else 0.0,
        "p50": lat[n // 2] * 1000 if n else float("nan"),
        "p99": lat[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"),
        "5xx": sum(v for k, v in statuses.items() if k >= 500),
        "statuses": statuses,
        "errors": errors,
    }


async def bench(args) -> None:  # noqa: C901, PLR0915
    cores = os.cpu_count() or 1
    workers = args.workers or cores
    levels = [int(x) for x in args.concurrency.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="cfps-bench-"))
    cfg = write_config(tmp, workers)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    verify_s, params = argon2_verify_seconds()
    proc = start_server(cfg, port, tmp / "server.log")
    results = []
    try:
        async with aiohttp.ClientSession(base_url=base) as s:
            r = await s.post(
                "/register", json={"username": "benchuser", "password": PASSWORD, "invite_code": "bench-invite-code"}
            )
            assert r.status == 201, await r.text()
        _, challenge = pkce()
        login_form = {
            "username": "benchuser",
            "password": PASSWORD,
            "client_id": "jupyterhub",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "state": "bench",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }

        async def do_login(session):
            async with session.post("/login", data=login_form, allow_redirects=False) as resp:
                await resp.read()
                return resp.status if resp.status != 303 else 200

        # token: codes minted in bulk; enough for a generous rate
        tokens: list[str] = []

        async def do_token_factory(codes):
            it = iter(codes)

            async def do_token(session):
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
                    return resp.status

            return do_token

        for conc in levels:
            res = await run_load(base, conc, args.duration, do_login)
            results.append(("login", conc, res))
        for conc in levels:
            n_codes = int(args.duration * 2500) + 5000
            codes = await asyncio.to_thread(mint_codes, cfg, "benchuser", n_codes)
            res = await run_load(base, conc, args.duration, await do_token_factory(codes))
            results.append(("token", conc, res))
        hdrs = [{"Authorization": f"Bearer {t}"} for t in tokens[:20]]
        counter = [0]

        async def do_userinfo(session):
            counter[0] += 1
            async with session.get("/userinfo", headers=hdrs[counter[0] % len(hdrs)]) as resp:
                await resp.read()
                return resp.status

        for conc in levels:
            res = await run_load(base, conc, args.duration, do_userinfo)
            results.append(("userinfo", conc, res))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()

    limit = cores / verify_s
    print()
    print(
        f"CFPS backend benchmark: {cores} cores, {workers} uvicorn workers, SQLite WAL, "
        f"{args.duration:.0f} s per row, load generator aiohttp (same machine)"
    )
    print(
        f"hashing: {params}; one verify = {verify_s * 1000:.1f} ms -> physical login limit "
        f"= {cores} / {verify_s:.4f} s = {limit:.1f} logins/s"
    )
    print()
    print(
        f"{'endpoint':<9} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>7} {'5xx':>4} "
        f"{'other':>6}  statuses"
    )
    for name, conc, r in results:
        ok = 200
        other = sum(v for k, v in r["statuses"].items() if k != ok)
        ratio = r["p99"] / r["p50"] if r["p50"] else float("nan")
        print(
            f"{name:<9} {conc:>4} {r['rps']:>9.1f} {r['p50']:>8.2f} {r['p99']:>8.2f} {ratio:>7.2f} "
            f"{r['5xx']:>4} {other:>6}  {dict(sorted(r['statuses'].items()))}"
        )
    print()
    by = {(n, c): r for n, c, r in results}
    hi, lo = max(levels), min(levels)
    if ("login", hi) in by:
        r = by[("login", hi)]
        print(
            f"goal login c={hi} >= 85% of limit: {r['rps']:.1f}/s = {100 * r['rps'] / limit:.0f}% of "
            f"{limit:.1f}/s; p99 <= 2 x p50: {r['p99'] / r['p50']:.2f}x"
        )
    for name in ("login", "token", "userinfo"):
        if (name, hi) in by and (name, lo) in by:
            a, b = by[(name, lo)]["rps"], by[(name, hi)]["rps"]
            print(
                f"goal {name} c={hi} not slower than c={lo}: {b:.1f} vs {a:.1f} req/s -> "
                f"{'met' if b >= a else 'NOT met'}"
            )
    if ("userinfo", hi) in by:
        r = by[("userinfo", hi)]
        print(f"goal userinfo c={hi} >= 3000/s: {r['rps']:.0f}/s -> {'met' if r['rps'] >= 3000 else 'NOT met'}")
    total_5xx = sum(r["5xx"] for _, _, r in results)
    print(f"goal zero 5xx: {total_5xx} -> {'met' if total_5xx == 0 else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per endpoint and concurrency (default 20)")
    ap.add_argument("--concurrency", default="1,20", help="comma-separated levels (default 1,20)")
    ap.add_argument("--workers", type=int, default=0, help="uvicorn workers (default: cores)")
    args = ap.parse_args()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except (ImportError, AttributeError):
        pass
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
