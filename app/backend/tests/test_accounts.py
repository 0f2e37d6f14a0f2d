"""Checklist items 23-26, 28: accounts, passwords, invites, Origin, logs."""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time

import httpx
import pytest
from conftest import (
    OPERATOR_INVITE,
    PASSWORD,
    authz_params,
    cli,
    fresh_ip,
    fresh_username,
    get_token,
    login_code,
    pkce_pair,
    redeem,
    register,
)


def test_argon2id_parameters(server, client):
    name = register(client)
    con = sqlite3.connect(server.db)
    try:
        h = con.execute("SELECT password_hash FROM users WHERE username = ?", (name,)).fetchone()[0]
    finally:
        con.close()
    assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in h


@pytest.mark.parametrize(
    "name,err",
    [
        ("abc", "username_invalid"),
        ("a" * 17, "username_invalid"),
        ("bad-name", "username_invalid"),
        ("héllo", "username_invalid"),
        ("with space", "username_invalid"),
        ("admin", "username_reserved"),
        ("ROOT", "username_reserved"),
        ("jupyterhub", "username_reserved"),
        ("mysql", "username_reserved"),
        ("nobody", "username_reserved"),
        ("test", "username_reserved"),
        ("docker", "username_reserved"),
    ],
)
def test_username_rules(client, name, err):
    r = client.post("/register", json={"username": name, "password": PASSWORD, "invite_code": OPERATOR_INVITE})
    assert r.status_code == 400
    assert r.json()["error"] == err and r.json()["field"] == "username"


def test_username_lowercased_and_taken(client):
    base = fresh_username()
    r = client.post("/register", data={"username": base.upper(), "password": PASSWORD, "invite_code": OPERATOR_INVITE})
    assert r.status_code == 201 and r.json()["username"] == base
    r = client.post("/register", json={"username": base, "password": PASSWORD, "invite_code": OPERATOR_INVITE})
    assert r.status_code == 400 and r.json()["error"] == "username_taken" and r.json()["field"] == "username"


@pytest.mark.parametrize(
    "pw,err",
    [
        ("short1!", "password_too_short"),
        ("x" * 129, "password_too_long"),
        ("password", "password_common"),
        ("12345678", "password_common"),
        ("Iloveyou", "password_common"),
        ("qwertyuiop", "password_common"),
    ],
)
def test_password_policy(client, pw, err):
    r = client.post("/register", json={"username": fresh_username(), "password": pw, "invite_code": OPERATOR_INVITE})
    assert r.status_code == 400 and r.json()["error"] == err and r.json()["field"] == "password"


def test_password_long_and_unicode_allowed(client):
    register(client, password="长密码也可以用" * 3 + "x" * 60)  # >= 64 chars, no composition rule


def test_password_contains_username(client):
    name = fresh_username()
    r = client.post("/register", json={"username": name, "password": name + "-zz-99", "invite_code": OPERATOR_INVITE})
    assert r.json()["error"] == "password_contains_username"


def test_messages_localized(client):
    body = {"username": "ab", "password": PASSWORD, "invite_code": OPERATOR_INVITE}
    zh = client.post("/register", json=body).json()["message"]
    en = client.post("/register", json=body, headers={"Accept-Language": "en-US,en;q=0.9"}).json()["message"]
    zh2 = client.post("/register", json=body, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}).json()
    assert "用户名" in zh and "Username" in en and "用户名" in zh2["message"]


def test_invite_codes(server, client):
    bad = client.post("/register", json={"username": fresh_username(), "password": PASSWORD, "invite_code": "wrong-code-123"})
    assert bad.status_code == 400 and bad.json()["error"] == "invite_invalid" and bad.json()["field"] == "invite_code"
    code = cli(server.config, "invite", "create", "--uses", "2", "--expires-days", "1").stdout.strip()
    assert len(code) >= 16
    register(client, invite=code)
    register(client, invite=code)
    r = client.post("/register", json={"username": fresh_username(), "password": PASSWORD, "invite_code": code})
    assert r.status_code == 400 and r.json()["error"] == "invite_invalid"
    # operator codes are reusable
    register(client)
    register(client)


def test_expired_invite(server, client):
    code = cli(server.config, "invite", "create", "--uses", "5", "--expires-days", "1").stdout.strip()
    con = sqlite3.connect(server.db, timeout=30)
    try:
        con.execute("UPDATE invite_codes SET expires_at = ? WHERE prefix = ?", (int(time.time()) - 5, code[:4]))
        con.commit()
    finally:
        con.close()
    r = client.post("/register", json={"username": fresh_username(), "password": PASSWORD, "invite_code": code})
    assert r.status_code == 400 and r.json()["error"] == "invite_invalid"


def test_invite_single_use_under_concurrency(server):
    code = cli(server.config, "invite", "create", "--uses", "1").stdout.strip()
    n = 5
    barrier = threading.Barrier(n)
    results = []

    def go():
        with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": fresh_ip()}, timeout=60) as c:
            barrier.wait()
            results.append(c.post("/register", json={"username": fresh_username(), "password": PASSWORD, "invite_code": code}))

    threads = [threading.Thread(target=go) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [400] * (n - 1), [r.text for r in results]
    con = sqlite3.connect(server.db)
    try:
        uses = con.execute("SELECT uses, max_uses FROM invite_codes WHERE prefix = ?", (code[:4],)).fetchone()
    finally:
        con.close()
    assert uses == (1, 1)


def test_unknown_user_and_wrong_password_identical(client):
    name = register(client)
    _, ch = pkce_pair()
    timings = {"wrong": [], "unknown": []}
    bodies = {}
    for i in range(4):
        for kind, user in (("wrong", name), ("unknown", f"ghost{i}{name}"[:16])):
            t0 = time.perf_counter()
            r = client.post("/login", data={"username": user, "password": "Wrong-password-77", **authz_params(ch)})
            timings[kind].append(time.perf_counter() - t0)
            assert r.status_code == 401
            bodies[kind] = r.json()
    assert bodies["wrong"] == bodies["unknown"]
    w, u = statistics.median(timings["wrong"]), statistics.median(timings["unknown"])
    assert 0.5 < w / u < 2.0, timings  # both pay one argon2 verify


def test_disabled_user(server, client):
    name = register(client)
    tok = get_token(client, name)
    cli(server.config, "user", "disable", name)
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    _, ch = pkce_pair()
    r = client.post("/login", data={"username": name, "password": PASSWORD, **authz_params(ch)})
    assert r.status_code == 403 and r.json()["error"] == "account_disabled"
    cli(server.config, "user", "enable", name)
    assert get_token(client, name)


def test_origin_check(client):
    body = {"username": fresh_username(), "password": PASSWORD, "invite_code": OPERATOR_INVITE}
    for origin in ("https://evil.example", "null", "https://hub.example.org.evil.example", "http://hub.example.org"):
        r = client.post("/register", json=body, headers={"Origin": origin})
        assert r.status_code == 403 and r.json()["error"] == "forbidden_origin"
    for path in ("/login", "/token", "/logout"):
        assert client.post(path, data={}, headers={"Origin": "https://evil.example"}).status_code == 403
    r = client.post("/register", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = client.post("/register", json=body, headers={"Origin": "https://hub.example.org", "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 201
    body["username"] = fresh_username()
    assert client.post("/register", json=body, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 201
    body["username"] = fresh_username()
    assert client.post("/register", json=body).status_code == 201  # server-to-server / curl


def test_logs_never_contain_secrets(server, client):
    secret_pw = "Unique-Log-Canary-" + fresh_username()
    name = register(client, password=secret_pw)
    _, ch = pkce_pair()
    client.post("/login", data={"username": name, "password": secret_pw + "x", **authz_params(ch)})
    code, verifier = login_code(client, name, password=secret_pw)
    tok = redeem(client, code, verifier).json()["access_token"]
    redeem(client, code, verifier)  # reuse event
    time.sleep(0.5)
    text = server.log.read_text()
    for secret in (secret_pw, code, tok, verifier, "hub-secret-0123456789abcdef", OPERATOR_INVITE):
        assert secret not in text
    events = {(e.get("event"), e.get("username")) for e in server.log_lines()}
    for ev in ("register_ok", "login_ok", "login_failed"):
        assert (ev, name) in events
    names = {e.get("event") for e in server.log_lines()}
    assert {"token_issued", "code_reuse"} <= names
