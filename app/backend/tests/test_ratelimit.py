"""Checklist items 16 (token brute force), 22 (XFF trust), 25 (throttling).

The model (app/backend/README.md): only failures count; strangers' failures
never throttle the registered client or another address; an account under
attack refuses only the addresses that failed on it."""

from __future__ import annotations

import secrets

import httpx
from conftest import (
    OPERATOR_INVITE,
    PASSWORD,
    authz_params,
    fresh_ip,
    fresh_username,
    login_code,
    pkce_pair,
    redeem,
    register,
    start_server,
    wait_for_fresh_window,
)

LIMIT = 10  # config: "10/minute"


def new_conn(server, ip=None, **kw) -> httpx.Client:
    headers = {"Connection": "close"}
    if ip:
        headers["X-Forwarded-For"] = ip
    return httpx.Client(base_url=server.url, headers=headers, timeout=30, **kw)


def burst(server, path, body, n=LIMIT + 1, ip=None, local_address=None) -> list[httpx.Response]:
    """n POSTs to path, each on a new connection, from ip (each from a new address when None).

    body: the post's arguments (json= or data=), or a function that makes them anew for each."""
    answers = []
    for _ in range(n):
        transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
        with new_conn(server, ip or fresh_ip(), transport=transport) as c:
            answers.append(c.post(path, **(body() if callable(body) else body)))
    return answers


def wrong_invite() -> dict:
    return {"json": {"username": fresh_username(), "password": PASSWORD, "invite_code": "guess"}}


WRONG_SECRET = {"grant_type": "authorization_code", "code": "x", "client_id": "victim", "client_secret": "guess-0123456789abc"}


def test_login_per_ip_limit_is_shared_between_processes(server, tmp_path):
    # Which uvicorn worker accepts a connection is the kernel's choice, so a
    # second server process on the same database stands in for "another
    # worker": the requests alternate between the two, deterministically.
    other = start_server(tmp_path, server.config, server.db)
    try:
        wait_for_fresh_window()
        ip = fresh_ip()
        _, ch = pkce_pair()
        statuses = []
        for i in range(LIMIT + 1):
            with new_conn((server, other)[i % 2], ip) as c:
                r = c.post("/login", data={"username": f"nobody{i}x", "password": "Wrong-pass-1", **authz_params(ch)})
                statuses.append(r.status_code)
    finally:
        other.proc.terminate()
        other.proc.wait(15)
    assert statuses[:LIMIT] == [401] * LIMIT, statuses
    assert statuses[LIMIT] == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.json()["error"] == "rate_limited"
    for srv in (server, other):
        assert any(e.get("event") == "login_failed" and e.get("ip") == ip for e in srv.log_lines()), srv.url


def test_brute_force_on_an_account_never_locks_the_right_password_out(server):
    wait_for_fresh_window()
    with new_conn(server, fresh_ip()) as c:
        name = register(c)
    _, ch = pkce_pair()
    attackers = [fresh_ip() for _ in range(LIMIT)]
    for ip in attackers:  # the account's failure limit, from many addresses
        with new_conn(server, ip) as c:
            assert c.post("/login", data={"username": name, "password": "Wrong-pass-1", **authz_params(ch)}).status_code == 401
    # The owner, from an address that has not failed, gets in.
    with new_conn(server, fresh_ip()) as c:
        assert c.post("/login", data={"username": name, "password": PASSWORD, **authz_params(ch)}).status_code == 303
    # An address that failed on this account gets no further try, right or wrong.
    with new_conn(server, attackers[0]) as c:
        r = c.post("/login", data={"username": name, "password": PASSWORD, **authz_params(ch)})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert any(e.get("event") == "rate_limited" and e.get("scope") == "account" for e in server.log_lines())
    # A new address gets one guess while the account is over its limit.
    newcomer = fresh_ip()
    for want in (401, 429):
        with new_conn(server, newcomer) as c:
            assert c.post("/login", data={"username": name, "password": "Wrong-pass-2", **authz_params(ch)}).status_code == want


def test_a_class_behind_one_nat_address_logs_in(server):
    # 40 researchers (here 4 x the limit) register and log in from one address within a minute.
    wait_for_fresh_window(need=40)
    nat = fresh_ip()
    _, ch = pkce_pair()
    for _ in range(4 * LIMIT):
        with new_conn(server, nat) as c:
            name = register(c)
            assert c.post("/login", data={"username": name, "password": PASSWORD, **authz_params(ch)}).status_code == 303


def test_ipv6_addresses_of_one_64_count_as_one(server):
    wait_for_fresh_window()
    _, ch = pkce_pair()
    prefix = f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}"
    statuses = []
    for i in range(LIMIT + 1):
        with new_conn(server, f"{prefix}::{i + 1:x}") as c:
            r = c.post("/login", data={"username": f"nobody{i}x", "password": "Wrong-pass-1", **authz_params(ch)})
            statuses.append(r.status_code)
    assert statuses == [401] * LIMIT + [429]
    # Another /64 is another address.
    with new_conn(server, f"{prefix[:-1]}{'0' if prefix[-1] != '0' else '1'}::1") as c:
        r = c.post("/login", data={"username": "nobodyy", "password": "Wrong-pass-1", **authz_params(ch)})
    assert r.status_code == 401


def test_register_counts_only_wrong_invite_codes(server):
    wait_for_fresh_window()
    answers = burst(server, "/register", wrong_invite, ip=fresh_ip())
    assert [r.status_code for r in answers[:LIMIT]] == [400] * LIMIT
    assert answers[LIMIT].status_code == 429 and "retry-after" in answers[LIMIT].headers
    # Mistakes in the other fields are the researcher's own and never count.
    bad_name = {"json": {"username": "ab", "password": PASSWORD, "invite_code": OPERATOR_INVITE}}
    answers = burst(server, "/register", bad_name, ip=fresh_ip())
    assert [r.status_code for r in answers] == [400] * (LIMIT + 1)


def test_spoofed_xff_from_untrusted_peer_ignored(server):
    """Peer 127.0.0.2 is not in trusted_proxies: its X-Forwarded-For is ignored,
    so rotating the header does not reset the per-IP limit."""
    wait_for_fresh_window()
    answers = burst(server, "/register", wrong_invite, local_address="127.0.0.2")
    assert [r.status_code for r in answers] == [400] * LIMIT + [429]
    ips = {e.get("ip") for e in server.log_lines() if e.get("event") == "rate_limited"}
    assert "127.0.0.2" in ips


def test_trusted_proxy_xff_honoured(server):
    """From the trusted peer (127.0.0.1) each forwarded address has its own bucket."""
    wait_for_fresh_window()
    answers = burst(server, "/register", wrong_invite, n=LIMIT + 3)
    assert [r.status_code for r in answers] == [400] * (LIMIT + 3)


def test_token_endpoint_bruteforce(server):
    wait_for_fresh_window()
    answers = burst(server, "/token", {"data": WRONG_SECRET}, ip=fresh_ip())
    assert [r.status_code for r in answers[:LIMIT]] == [401] * LIMIT
    assert answers[LIMIT].status_code == 429 and "retry-after" in answers[LIMIT].headers
    # Only that address: the registered client's own exchange from elsewhere goes on.
    with new_conn(server, fresh_ip()) as c:
        r = redeem(c, *login_code(c, register(c)), client_id="jupyterhub")
    assert r.status_code == 200, r.text


def test_a_strangers_wrong_secret_flood_never_throttles_the_hub(server):
    wait_for_fresh_window()
    # From many addresses, for the hub's own client id.
    answers = burst(server, "/token", {"data": {**WRONG_SECRET, "client_id": "jupyterhub"}}, n=LIMIT + 2)
    assert [r.status_code for r in answers] == [401] * (LIMIT + 2)
    with new_conn(server, fresh_ip()) as c:
        assert redeem(c, *login_code(c, register(c))).status_code == 200


def test_the_hubs_failed_exchanges_never_throttle_its_next(server):
    # Bogus and reused codes with the right secret, all from the hub's one
    # address (a user reloading the callback page): no 429, ever.
    wait_for_fresh_window()
    hub = fresh_ip()
    with new_conn(server, hub) as c:
        code, verifier = login_code(c, register(c))
        assert redeem(c, code, verifier).status_code == 200
        for i in range(LIMIT + 2):
            r = redeem(c, code, verifier) if i % 2 else redeem(c, f"bogus-code-{i}", verifier)
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        assert redeem(c, *login_code(c, register(c))).status_code == 200


def test_successful_logins_do_not_lock_account(server):
    wait_for_fresh_window()
    with new_conn(server, fresh_ip()) as c:
        name = register(c, username=fresh_username())
    _, ch = pkce_pair()
    for _ in range(LIMIT + 2):
        with new_conn(server, fresh_ip()) as c:
            r = c.post("/login", data={"username": name, "password": PASSWORD, **authz_params(ch)})
            assert r.status_code == 303
