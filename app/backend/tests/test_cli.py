"""CLI, migrations, configuration errors."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PASSWORD, cli, fresh_username, get_token, register, start_server, write_config


@pytest.fixture
def cfg(tmp_path):
    return write_config(tmp_path / "config.toml", tmp_path / "fresh.db")


def test_migrations_fresh_and_again(cfg, tmp_path):
    out = cli(cfg, "db", "upgrade").stdout
    assert "revision 0001" in out and "was empty" in out
    out = cli(cfg, "db", "upgrade").stdout  # already migrated: no-op
    assert "revision 0001 (was 0001)" in out
    con = sqlite3.connect(tmp_path / "fresh.db")
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()
    assert {"users", "invite_codes", "auth_codes", "tokens", "rate_counters", "alembic_version"} <= tables


def test_serve_refuses_unmigrated_db(cfg):
    res = cli(cfg, "serve", "--port", "1", check=False)
    assert res.returncode == 2
    assert "cfps-backend db upgrade" in res.stderr


def test_check_config_ok(cfg):
    cli(cfg, "db", "upgrade")
    out = cli(cfg, "check-config").stdout
    assert "config OK" in out and "argon2id t=2 m=19456KiB p=1" in out


@pytest.mark.parametrize(
    "override,key",
    [
        ({"secret_key": None}, "secret_key"),
        ({"secret_key": "short"}, "secret_key"),
        ({"public_url": None}, "public_url"),
        ({"rate_limit": "lots"}, "rate_limit"),
        ({"code_ttl_seconds": 3600}, "code_ttl_seconds"),
        ({"argon2_memory_cost": 1024}, "argon2_memory_cost"),
        ({"password_min_length": 4}, "password_min_length"),
        ({"trusted_proxies": ["not-an-ip"]}, "trusted_proxies"),
        ({"workers": "two"}, "workers"),
        ({"workers": "2"}, "workers"),  # strict types: a quoted number is no integer
        ({"workers": True}, "workers"),
        ({"userinfo_cache_seconds": "1"}, "userinfo_cache_seconds"),
        ({"invite_codes": "operator-invite-code-1"}, "invite_codes"),
        ({"invite_codes": [12345678]}, "invite_codes"),
        ({"log_level": "verbose"}, "log_level"),
        ({"hub_api_url": "http://127.0.0.1:8081/hub/api"}, "hub_api_token"),
        ({"bogus_key": 1}, "bogus_key"),
        ({"Secret_Key": "x" * 40}, "Secret_Key"),  # keys are case-sensitive
    ],
)
def test_config_errors_name_the_key(tmp_path, override, key):
    cfg = write_config(tmp_path / "c.toml", tmp_path / "x.db", **override)
    if override.get("secret_key", "") is None or override.get("public_url", "") is None:
        text = "\n".join(line for line in cfg.read_text().splitlines() if not line.startswith(f"{key} ="))
        cfg.write_text(text)
    res = cli(cfg, "check-config", check=False)
    assert res.returncode == 2
    assert f"'{key}'" in res.stderr, res.stderr


def test_the_file_is_the_only_source(tmp_path):
    # No environment variable supplies or overrides a key (pydantic-settings reads the file alone).
    cfg = write_config(tmp_path / "c.toml", tmp_path / "x.db", secret_key=None, workers=3)
    env = {**os.environ, "CFPS_BACKEND_CONFIG": str(cfg), "SECRET_KEY": "k" * 40, "secret_key": "k" * 40}
    res = subprocess.run([sys.executable, "-m", "cfps_backend", "check-config"], env=env, capture_output=True, text=True)
    assert res.returncode == 2 and "missing required config key 'secret_key'" in res.stderr, res.stderr
    cfg.write_text(f'secret_key = "{"k" * 40}"\n' + cfg.read_text())
    env.update(WORKERS="7", workers="7", CFPS_BACKEND_WORKERS="7")
    res = subprocess.run([sys.executable, "-m", "cfps_backend", "check-config"], env=env, capture_output=True, text=True)
    assert "config OK" in res.stdout and "workers: 3;" in res.stdout, res.stdout + res.stderr


def test_duplicate_and_malformed_clients(tmp_path):
    p = tmp_path / "c.toml"
    entry = '[[clients]]\nclient_id = "a"\nclient_secret = "' + "s" * 16 + '"\nredirect_uris = ["https://h.example/cb"]\n'
    head = 'secret_key = "' + "k" * 40 + '"\npublic_url = "https://h.example"\n'
    for body, want in [
        (entry + entry, "config key 'clients[1].client_id': duplicate 'a'"),
        (entry.replace("https://h.example/cb", "http://h.example/cb"), "'clients[0].redirect_uris'"),
        (entry + "extra = 1\n", "unknown config key 'clients[0].extra'"),
        ("clients = [1]\n", "config key 'clients[0]' must be a table"),
        ('path = "/etc/passwd"\n' + entry, "unknown config key 'path'"),  # not a setting, though Settings has .path
    ]:
        p.write_text(head + body)
        res = cli(p, "check-config", check=False)
        assert res.returncode == 2 and want in res.stderr, res.stderr


def test_missing_clients_and_client_keys(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('secret_key = "' + "k" * 40 + '"\npublic_url = "https://h.example"\n')
    res = cli(p, "check-config", check=False)
    assert res.returncode == 2 and "'clients'" in res.stderr
    p.write_text(p.read_text() + '[[clients]]\nclient_id = "a"\nredirect_uris = ["https://h.example/cb"]\n')
    res = cli(p, "check-config", check=False)
    assert "'clients[0].client_secret'" in res.stderr
    res = cli(tmp_path / "missing.toml", "check-config", check=False)
    assert res.returncode == 2 and "not found" in res.stderr


def test_invite_and_user_commands(server, client):
    out = cli(server.config, "invite", "create", "--uses", "3", "--expires-days", "2", "--note", "team-a").stdout
    code = out.strip()
    assert len(code) >= 22 and all(c.isalnum() or c in "-_" for c in code)  # 128 bits, URL-safe
    listing = cli(server.config, "invite", "list").stdout
    assert code[:4] in listing and "team-a" in listing and code not in listing

    name = register(client, invite=code)
    assert name in cli(server.config, "user", "list").stdout
    assert cli(server.config, "user", "disable", "no_such_user", check=False).returncode == 1

    tok = get_token(client, name)
    res = cli(server.config, "user", "reset-password", name, stdin="password\n", check=False)
    assert res.returncode == 1 and "common" in res.stderr
    new_pw = "Another-Good-Pass-" + fresh_username()
    cli(server.config, "user", "reset-password", name, stdin=new_pw + "\n")
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    from conftest import authz_params, pkce_pair

    _, ch = pkce_pair()
    assert client.post("/login", data={"username": name, "password": PASSWORD, **authz_params(ch)}).status_code == 401
    assert client.post("/login", data={"username": name, "password": new_pw, **authz_params(ch)}).status_code == 303


def test_console_script_help():
    res = subprocess.run([sys.executable, "-m", "cfps_backend", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    for sub in ("serve", "db", "invite", "user", "check-config"):
        assert sub in res.stdout


def _workers(pid: int) -> set[int]:
    """The uvicorn worker processes of the supervisor `pid` (its multiprocessing children)."""
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text(encoding="ascii")
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
            out.add(int(entry))
    return out


def _stall_a_worker(tmp_path, seconds: float, *extra: str) -> tuple[set[int], set[int]]:
    """Serve with 2 workers, freeze one for `seconds` (as CPU starvation would), then let it go.

    Returns the workers before and once both answer again.
    """
    import signal
    import time

    config = write_config(tmp_path / "config.toml", tmp_path / "stall.db", workers=2)
    cli(config, "db", "upgrade")
    server = start_server(tmp_path, config, tmp_path / "stall.db", *extra)
    pid = server.proc.pid
    try:
        deadline = time.monotonic() + 30
        while len(before := _workers(pid)) < 2:
            assert server.proc.poll() is None and time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.2)
        frozen = min(before)
        os.kill(frozen, signal.SIGSTOP)
        time.sleep(seconds)
        with contextlib.suppress(ProcessLookupError):  # gone when uvicorn killed it meanwhile
            os.kill(frozen, signal.SIGCONT)
        # The supervisor checks every 0.5 s: give it a few rounds, until two workers answer again.
        time.sleep(2)
        while len(after := _workers(pid)) < 2:
            assert time.monotonic() < deadline + seconds + 30
            time.sleep(0.2)
        return before, after
    finally:
        server.stop()


def test_a_worker_starved_for_8_seconds_is_kept(tmp_path):
    # The default health-check timeout (60 s): a worker that could not run for 8 s is no hung worker.
    before, after = _stall_a_worker(tmp_path, 8)
    assert after == before


def test_a_worker_stalled_beyond_the_health_check_timeout_is_replaced(tmp_path):
    # The same stall with a 2 s timeout: uvicorn kills the worker and starts another.
    before, after = _stall_a_worker(tmp_path, 8, "--worker-healthcheck-timeout", "2")
    assert min(before) not in after and len(after) == 2


@pytest.mark.parametrize("value", ["0", "3601", "ten"])
def test_a_bad_health_check_timeout_is_refused(cfg, value):
    res = cli(cfg, "serve", "--worker-healthcheck-timeout", value, check=False)
    assert res.returncode == 2 and "--worker-healthcheck-timeout" in res.stderr
