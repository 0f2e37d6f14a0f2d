"""Fixtures: the real service, started with `cfps-backend serve` (2 uvicorn
workers) on a free loopback port, with a temp SQLite DB and temp config."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hub_client import authorization_params, pkce_pair

HUB_REDIRECT = "https://hub.example.org/jupyter/hub/oauth_callback"
OTHER_REDIRECT = "https://other.example.org/cb"
ORIGIN = "https://hub.example.org"
OPERATOR_INVITE = "operator-invite-code-1"
PASSWORD = "Correct-Horse-Battery-9"
CLIENTS = {
    "jupyterhub": ("hub-secret-0123456789abcdef", [HUB_REDIRECT]),
    "other": ("other-secret-0123456789abcdef", [OTHER_REDIRECT]),
    "victim": ("victim-secret-0123456789abcdef", ["https://victim.example.org/cb"]),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path: Path, db: Path, **overrides) -> Path:
    cfg = {
        "secret_key": "test-secret-key-0123456789abcdef-0123456789",
        "database_url": f"sqlite:///{db}",
        "public_url": ORIGIN,
        "invite_codes": [OPERATOR_INVITE],
        "rate_limit": "10/minute",
        "workers": 2,
        "userinfo_cache_seconds": 0,
        "code_ttl_seconds": 300,
        "log_level": "INFO",
    }
    cfg.update(overrides)
    lines = []
    for k, v in cfg.items():
        if v is None:
            continue
        lines.append(f"{k} = {json.dumps(v)}")
    for cid, (sec, uris) in CLIENTS.items():
        lines += [
            "[[clients]]",
            f"client_id = {json.dumps(cid)}",
            f"client_secret = {json.dumps(sec)}",
            f"redirect_uris = {json.dumps(uris)}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(config: Path, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "CFPS_BACKEND_CONFIG": str(config)}
    res = subprocess.run(
        [sys.executable, "-m", "cfps_backend", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    if check and res.returncode != 0:
        raise AssertionError(f"cli {args} failed: {res.stdout}\n{res.stderr}")
    return res


@dataclass
class Server:
    url: str
    config: Path
    db: Path
    log: Path
    proc: subprocess.Popen

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def log_lines(self) -> list[dict]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line})
        return out


def start_server(tmp: Path, config: Path, db: Path, *extra: str) -> Server:
    """`cfps-backend serve` (with extra arguments) on a free port, once /health answers."""
    port = free_port()
    log = tmp / "server.log"
    fh = log.open("wb")
    env = {**os.environ, "CFPS_BACKEND_CONFIG": str(config)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cfps_backend", "serve", "--port", str(port), *extra],
        env=env,
        stdout=fh,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("server did not start")
    return Server(url, config, db, log, proc)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    tmp = tmp_path_factory.mktemp("srv")
    db = tmp / "cfps.db"
    config = write_config(tmp / "config.toml", db)
    cli(config, "db", "upgrade")
    srv = start_server(tmp, config, db)
    yield srv
    srv.stop()


_ip_counter = itertools.count(1)


def fresh_ip() -> str:
    n = next(_ip_counter)
    return f"198.51.{100 + n // 250}.{n % 250 + 1}"


@pytest.fixture
def ip() -> str:
    return fresh_ip()


@pytest.fixture
def client(server, ip):
    with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": ip}, timeout=30, follow_redirects=False) as c:
        yield c


_user_counter = itertools.count(1)


def fresh_username() -> str:
    return f"u{os.getpid() % 1000}x{next(_user_counter)}{secrets.token_hex(2)}"[:16]


def authz_params(
    challenge: str, client_id: str = "jupyterhub", redirect_uri: str = HUB_REDIRECT, state: str = "st-123", **override
) -> dict:
    return authorization_params(challenge, client_id, redirect_uri, state, **override)


def register(c: httpx.Client, username: str | None = None, password: str = PASSWORD, invite: str = OPERATOR_INVITE) -> str:
    username = username or fresh_username()
    r = c.post("/register", json={"username": username, "password": password, "invite_code": invite})
    assert r.status_code == 201, r.text
    return username


def login_code(
    c: httpx.Client,
    username: str,
    password: str = PASSWORD,
    client_id: str = "jupyterhub",
    redirect_uri: str = HUB_REDIRECT,
    state: str = "st-123",
) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    r = c.post(
        "/login", data={"username": username, "password": password, **authz_params(challenge, client_id, redirect_uri, state)}
    )
    assert r.status_code == 303, r.text
    q = parse_qs(urlsplit(r.headers["location"]).query)
    return q["code"][0], verifier


def redeem(
    c: httpx.Client,
    code: str,
    verifier: str | None,
    client_id: str = "jupyterhub",
    redirect_uri: str | None = HUB_REDIRECT,
    secret: str | None = None,
    basic: bool = False,
) -> httpx.Response:
    secret = secret if secret is not None else CLIENTS[client_id][0]
    data = {"grant_type": "authorization_code", "code": code}
    if redirect_uri is not None:
        data["redirect_uri"] = redirect_uri
    if verifier is not None:
        data["code_verifier"] = verifier
    if basic:
        return c.post("/token", data=data, auth=(client_id, secret))
    data.update(client_id=client_id, client_secret=secret)
    return c.post("/token", data=data)


def get_token(c: httpx.Client, username: str) -> str:
    code, verifier = login_code(c, username)
    r = redeem(c, code, verifier)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def wait_for_fresh_window(period: int = 60, need: float = 15.0) -> None:
    """Fixed windows: avoid straddling a boundary during a rate-limit test."""
    left = period - (time.time() % period)
    if left < need:
        time.sleep(left + 0.2)
