"""Checklist items 16 (token brute force), 22 (XFF trust), 25 (throttling)."""

from __future__ import annotations

import httpx
from conftest import (
    CLIENTS,
    OPERATOR_INVITE,
    PASSWORD,
    authz_params,
    fresh_ip,
    fresh_username,
    pkce_pair,
    register,
    wait_for_fresh_window,
)

LIMIT = 10  # config: "10/minute"


def new_conn(server, ip=None, **kw) -> httpx.Client:
    headers = {"Connection": "close"}
    if ip:
        headers["X-Forwarded-For"] = ip
    return httpx.Client(base_url=server.url, headers=headers, timeout=30, **kw)


def test_login_per_ip_across_workers(server):
    wait_for_fresh_window()
    ip = fresh_ip()
    _, ch = pkce_pair()
    statuses = []
    for i in range(LIMIT + 1):
        # a new TCP connection each time, so both uvicorn workers take part
        with new_conn(server, ip) as c:
            r = c.post("/login", data={"username": f"nobody{i}x", "password": "Wrong-pass-1", **authz_params(ch)})
            statuses.append(r.status_code)
    assert statuses[:LIMIT] == [401] * LIMIT, statuses
    assert statuses[LIMIT] == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.json()["error"] == "rate_limited"
    pids = {e["pid"] for e in server.log_lines() if e.get("event") == "login_failed" and e.get("ip") == ip}
    assert len(pids) >= 2, "requests did not reach both workers"


def test_login_per_account(server):
    wait_for_fresh_window()
    with new_conn(server, fresh_ip()) as c:
        name = register(c)
    _, ch = pkce_pair()
    statuses = []
    for _ in range(LIMIT):
        with new_conn(server, fresh_ip()) as c:  # different IPs: only the account limit applies
            statuses.append(c.post("/login", data={"username": name, "password": "Wrong-pass-1", **authz_params(ch)}).status_code)
    assert statuses == [401] * LIMIT
    with new_conn(server, fresh_ip()) as c:
        r = c.post("/login", data={"username": name, "password": PASSWORD, **authz_params(ch)})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert any(e.get("event") == "rate_limited" and e.get("scope") == "account" for e in server.log_lines())


def test_register_per_ip(server):
    wait_for_fresh_window()
    ip = fresh_ip()
    statuses = []
    for _ in range(LIMIT + 1):
        with new_conn(server, ip) as c:
            statuses.append(c.post("/register", json={"username": "ab", "password": PASSWORD, "invite_code": OPERATOR_INVITE}))
    assert [r.status_code for r in statuses[:LIMIT]] == [400] * LIMIT
    assert statuses[LIMIT].status_code == 429 and "retry-after" in statuses[LIMIT].headers


def test_spoofed_xff_from_untrusted_peer_ignored(server):
    """Peer 127.0.0.2 is not in trusted_proxies: its X-Forwarded-For is ignored,
    so rotating the header does not reset the per-IP limit."""
    wait_for_fresh_window()
    statuses = []
    for _ in range(LIMIT + 1):
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with new_conn(server, fresh_ip(), transport=transport) as c:
            statuses.append(
                c.post("/register", json={"username": "ab", "password": PASSWORD, "invite_code": OPERATOR_INVITE}).status_code
            )
    assert statuses[:LIMIT] == [400] * LIMIT and statuses[LIMIT] == 429
    ips = {e.get("ip") for e in server.log_lines() if e.get("event") == "rate_limited"}
    assert "127.0.0.2" in ips


def test_trusted_proxy_xff_honoured(server):
    """From the trusted peer (127.0.0.1) each forwarded address has its own bucket."""
    wait_for_fresh_window()
    for _ in range(LIMIT + 3):
        with new_conn(server, fresh_ip()) as c:
            r = c.post("/register", json={"username": "ab", "password": PASSWORD, "invite_code": OPERATOR_INVITE})
            assert r.status_code == 400


def test_token_endpoint_bruteforce(server):
    wait_for_fresh_window()
    ip = fresh_ip()
    statuses = []
    for _ in range(LIMIT + 1):
        with new_conn(server, ip) as c:
            statuses.append(
                c.post(
                    "/token",
                    data={
                        "grant_type": "authorization_code",
                        "code": "x",
                        "client_id": "victim",
                        "client_secret": "guess-0123456789abc",
                    },
                )
            )
    assert [r.status_code for r in statuses[:LIMIT]] == [401] * LIMIT
    assert statuses[LIMIT].status_code == 429 and "retry-after" in statuses[LIMIT].headers
    # per client_id too: another IP guessing the same client's secret is throttled
    with new_conn(server, fresh_ip()) as c:
        r = c.post(
            "/token",
            data={"grant_type": "authorization_code", "code": "x", "client_id": "victim", "client_secret": CLIENTS["victim"][0]},
        )
    assert r.status_code == 429


def test_successful_logins_do_not_lock_account(server):
    wait_for_fresh_window()
    with new_conn(server, fresh_ip()) as c:
        name = register(c, username=fresh_username())
    _, ch = pkce_pair()
    for _ in range(LIMIT + 2):
        with new_conn(server, fresh_ip()) as c:
            r = c.post("/login", data={"username": name, "password": PASSWORD, **authz_params(ch)})
            assert r.status_code == 303
