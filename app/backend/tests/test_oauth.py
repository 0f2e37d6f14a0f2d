"""Checklist items 13-21, 27: the authorization-code flow."""

from __future__ import annotations

import sqlite3
import threading
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import (
    CLIENTS,
    HUB_REDIRECT,
    OTHER_REDIRECT,
    PASSWORD,
    authz_params,
    get_token,
    login_code,
    pkce_pair,
    redeem,
    register,
)

SEC_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
def user(client):
    return register(client)


# ---------------------------------------------------------------- item 13
REDIRECT_VARIANTS = [
    HUB_REDIRECT + "/",  # trailing slash
    HUB_REDIRECT + "?x=1",  # extra query
    HUB_REDIRECT.replace("oauth_callback", "OAuth_Callback"),  # case change (path)
    HUB_REDIRECT.replace("hub.example.org", "HUB.example.org"),  # case change (host)
    HUB_REDIRECT.replace("https://", "https://hub.example.org@"),  # @userinfo
    HUB_REDIRECT.replace("https://", "https://evil.example@"),  # @userinfo to other
    HUB_REDIRECT.replace("hub.example.org", "hub.example.org:8443"),  # other port
    HUB_REDIRECT.replace("https://", "http://"),  # http scheme
    HUB_REDIRECT + "#frag",
    "https://evil.example.org/jupyter/hub/oauth_callback",
    OTHER_REDIRECT,  # another client's URI
    "",
]


@pytest.mark.parametrize("redirect_uri", REDIRECT_VARIANTS)
def test_redirect_uri_exact_match_login(client, user, redirect_uri):
    _, ch = pkce_pair()
    r = client.post("/login", data={"username": user, "password": PASSWORD, **authz_params(ch, redirect_uri=redirect_uri)})
    assert r.status_code == 400
    assert "location" not in r.headers
    assert r.json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize("redirect_uri", REDIRECT_VARIANTS)
def test_redirect_uri_exact_match_authorize(client, redirect_uri):
    _, ch = pkce_pair()
    r = client.get("/authorize", params=authz_params(ch, redirect_uri=redirect_uri))
    assert r.status_code == 400
    assert "location" not in r.headers


def test_unknown_or_missing_client_never_redirects(client, user):
    _, ch = pkce_pair()
    for cid in ("nope", None):
        r = client.post("/login", data={"username": user, "password": PASSWORD, **authz_params(ch, client_id=cid)})
        assert r.status_code == 400 and "location" not in r.headers
        assert r.json() == {"error": "invalid_client", "field": "client_id", "message": r.json()["message"]}
    r = client.post("/login", data={"username": user, "password": PASSWORD, **authz_params(ch, redirect_uri=None)})
    assert r.status_code == 400 and "location" not in r.headers


def test_authorize_redirects_to_login_page(client):
    _, ch = pkce_pair()
    params = authz_params(ch, state="a b&c=d/é")
    r = client.get("/authorize", params=params)
    assert r.status_code == 303
    loc = urlsplit(r.headers["location"])
    assert loc.path == "/login" and not loc.netloc
    q = {k: v[0] for k, v in parse_qs(loc.query).items()}
    assert q == params


# ---------------------------------------------------------------- items 18, 19, 21
@pytest.mark.parametrize("state", ["st-123", "a b+c/=&%20é漢字?#", "x" * 300, "eyJzdGF0ZV9pZCI6ICJhYmMifQ=="])
def test_login_303_and_state_byte_exact(client, user, state):
    _, ch = pkce_pair()
    r = client.post("/login", data={"username": user, "password": PASSWORD, **authz_params(ch, state=state)})
    assert r.status_code == 303
    loc = urlsplit(r.headers["location"])
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == HUB_REDIRECT
    q = parse_qs(loc.query, keep_blank_values=True)
    assert q["state"] == [state]
    for k, v in SEC_HEADERS.items():
        assert r.headers[k] == v


def test_login_json_variant(client, user):
    _, ch = pkce_pair()
    r = client.post("/login", json={"username": user, "password": PASSWORD, **authz_params(ch, state="s1")})
    assert r.status_code == 200
    url = urlsplit(r.json()["redirect"])
    assert parse_qs(url.query)["state"] == ["s1"] and "code" in parse_qs(url.query)


def test_login_without_state(client, user):
    _, ch = pkce_pair()
    r = client.post("/login", data={"username": user, "password": PASSWORD, **authz_params(ch, state=None)})
    assert r.status_code == 303
    assert "state" not in parse_qs(urlsplit(r.headers["location"]).query)


@pytest.mark.parametrize("rt", ["token", "id_token", "code token", "", None])
def test_only_response_type_code(client, user, rt):
    _, ch = pkce_pair()
    r = client.post("/login", data={"username": user, "password": PASSWORD, **authz_params(ch, state="s&x", response_type=rt)})
    assert r.status_code == 303
    loc = urlsplit(r.headers["location"])
    q = parse_qs(loc.query)
    assert q["error"] == ["unsupported_response_type"]
    assert q["state"] == ["s&x"]  # state byte-exact in error redirects too
    assert "code" not in q


@pytest.mark.parametrize(
    "method,challenge",
    [("plain", "x" * 43), (None, None), ("S256", None), ("S256", "short"), ("s256", "A" * 43), ("S256", "A" * 44)],
)
def test_pkce_s256_required_at_login(client, user, method, challenge):
    ch = challenge
    r = client.post(
        "/login", data={"username": user, "password": PASSWORD, **authz_params(ch, code_challenge_method=method, state="q")}
    )
    assert r.status_code == 303
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["error"] == ["invalid_request"] and q["state"] == ["q"] and "code" not in q


def test_pkce_error_json_variant_does_not_redirect(client, user):
    r = client.post(
        "/login", json={"username": user, "password": PASSWORD, **authz_params("x" * 43, code_challenge_method="plain")}
    )
    assert r.status_code == 400
    assert r.json()["error"] == "pkce_required" and "error=invalid_request" in r.json()["redirect"]


# ---------------------------------------------------------------- item 14
def test_code_entropy_and_format(client, user):
    codes = {login_code(client, user)[0] for _ in range(3)}
    assert len(codes) == 3
    for c in codes:
        assert len(c) >= 43  # 32 random bytes, base64url: 256 bits >= 128
        assert all(ch.isalnum() or ch in "-_" for ch in c)


def test_code_stored_hashed_and_ttl(server, client, user):
    code, _ = login_code(client, user)
    con = sqlite3.connect(server.db)
    try:
        rows = con.execute("SELECT code_hash, expires_at - created_at FROM auth_codes").fetchall()
        assert all(code not in r[0] for r in rows)
        assert all(0 < r[1] <= 600 for r in rows)
    finally:
        con.close()


def test_expired_code_rejected(server, client, user):
    code, verifier = login_code(client, user)
    con = sqlite3.connect(server.db, timeout=30)
    try:
        con.execute("UPDATE auth_codes SET expires_at = ? WHERE used_at IS NULL", (int(time.time()) - 1,))
        con.commit()
    finally:
        con.close()
    r = redeem(client, code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_code_single_use_and_reuse_revokes(client, user):
    code, verifier = login_code(client, user)
    r1 = redeem(client, code, verifier)
    assert r1.status_code == 200
    tok = r1.json()["access_token"]
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {tok}"}).status_code == 200
    r2 = redeem(client, code, verifier)
    assert r2.status_code == 400 and r2.json()["error"] == "invalid_grant"
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {tok}"}).status_code == 401


def test_concurrent_redemptions_exactly_one(server, client, user, ip):
    for _ in range(2):
        code, verifier = login_code(client, user)
        barrier = threading.Barrier(4)
        results = []

        def go(code=code, verifier=verifier, barrier=barrier, results=results):
            with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": ip}, timeout=30) as c:
                barrier.wait()
                results.append(redeem(c, code, verifier))

        threads = [threading.Thread(target=go) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 400, 400, 400], statuses
        tok = next(r for r in results if r.status_code == 200).json()["access_token"]
        # the losers' replays revoked what the winner got
        assert client.get("/userinfo", headers={"Authorization": f"Bearer {tok}"}).status_code == 401


# ---------------------------------------------------------------- item 15
def test_code_bound_to_client(client, user):
    code, verifier = login_code(client, user)
    r = redeem(client, code, verifier, client_id="other", redirect_uri=HUB_REDIRECT)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # and the code is now burnt for the legitimate client too
    assert redeem(client, code, verifier).status_code == 400


@pytest.mark.parametrize("ru", [None, HUB_REDIRECT + "/", OTHER_REDIRECT, ""])
def test_code_bound_to_redirect_uri(client, user, ru):
    code, verifier = login_code(client, user)
    r = redeem(client, code, verifier, redirect_uri=ru)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


# ---------------------------------------------------------------- item 16
def test_client_auth_body_and_basic(client, user):
    code, verifier = login_code(client, user)
    r = redeem(client, code, verifier, basic=True)
    assert r.status_code == 200, r.text
    code, verifier = login_code(client, user)
    assert redeem(client, code, verifier, basic=False).status_code == 200


def test_bad_client_secret(client, user):
    code, verifier = login_code(client, user)
    r = redeem(client, code, verifier, secret="wrong-secret-0123456789", basic=True)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].lower().startswith("basic")
    r = redeem(client, code, verifier, secret="wrong-secret-0123456789", basic=False)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["cache-control"] == "no-store"
    # unknown client, missing credentials
    r = client.post(
        "/token", data={"grant_type": "authorization_code", "code": code, "client_id": "nope", "client_secret": "x" * 20}
    )
    assert r.status_code == 401
    r = client.post("/token", data={"grant_type": "authorization_code", "code": code})
    assert r.status_code == 401
    # the code was never touched by failed client auth
    assert redeem(client, code, verifier).status_code == 200


def test_two_client_auth_methods_refused(client, user):
    code, verifier = login_code(client, user)
    r = client.post(
        "/token",
        auth=("jupyterhub", CLIENTS["jupyterhub"][0]),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": HUB_REDIRECT,
            "client_secret": CLIENTS["jupyterhub"][0],
        },
    )
    assert r.status_code == 400


# ---------------------------------------------------------------- item 17
@pytest.mark.parametrize("bad", ["short", "a" * 42, "a" * 129, "a" * 50 + "!", "a" * 50 + " ", None, ""])
def test_pkce_verifier_format(client, user, bad):
    code, _ = login_code(client, user)
    r = redeem(client, code, bad)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_pkce_mismatch(client, user):
    code, _ = login_code(client, user)
    other_verifier, _ = pkce_pair()
    r = redeem(client, code, other_verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_pkce_downgrade_no_challenge_no_code(client, user):
    # A code can only be obtained with an S256 challenge; a verifier for a
    # request made without a challenge therefore never finds a code.
    v, _ = pkce_pair()
    r = client.post("/login", data={"username": user, "password": PASSWORD, **authz_params(None, code_challenge_method=None)})
    assert "code=" not in r.headers.get("location", "")
    r = redeem(client, "forged-code-without-challenge-0123456789abcdef", v)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


# ---------------------------------------------------------------- items 19, 20
@pytest.mark.parametrize("gt", ["password", "client_credentials", "implicit", "refresh_token", "", None])
def test_only_authorization_code_grant(client, gt):
    data = {"client_id": "jupyterhub", "client_secret": CLIENTS["jupyterhub"][0], "username": "x", "password": "y"}
    if gt is not None:
        data["grant_type"] = gt
    r = client.post("/token", data=data)
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_token_response_shape_and_no_store(client, user):
    code, verifier = login_code(client, user)
    r = redeem(client, code, verifier)
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and len(body["access_token"]) >= 43
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    r = redeem(client, code, verifier)
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"


def test_userinfo_bearer_only(client, user):
    tok = get_token(client, user)
    r = client.get("/userinfo", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200
    assert r.json()["username"] == user and r.json()["name"] == user
    assert client.get("/userinfo", headers={"Authorization": f"bearer {tok}"}).status_code == 200
    assert client.get("/userinfo", params={"access_token": tok}).status_code == 401
    assert client.get("/userinfo", params={"access_token": tok}, headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    r = client.get("/userinfo")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/userinfo", headers={"Authorization": f"Basic {tok}"}).status_code == 401
    assert client.get("/userinfo", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/userinfo", data={"access_token": tok}).status_code in (401, 405)


# ---------------------------------------------------------------- items 21, 27: headers, logout
@pytest.mark.parametrize("path", ["/health", "/nope", "/openapi.json", "/userinfo", "/logout"])
def test_security_headers_everywhere(client, path):
    r = client.get(path)
    for k, v in SEC_HEADERS.items():
        assert r.headers[k] == v, (path, k)


def test_logout_revokes_and_redirects_locally(client, user):
    tok = get_token(client, user)
    r = client.get("/logout", params={"next": "/jupyter/hub/"}, headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 303 and r.headers["location"] == "/jupyter/hub/"
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {tok}"}).status_code == 401


@pytest.mark.parametrize(
    "nxt",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil",
        "javascript:alert(1)",
        "evil.example",
        "/ok\r\nSet-Cookie: x=1",
        "http:/x",
    ],
)
def test_logout_no_open_redirect(client, nxt):
    r = client.get("/logout", params={"next": nxt})
    assert r.status_code == 303 and r.headers["location"] == "/"
    r = client.post("/logout", params={"next": nxt}, headers={"Origin": "https://hub.example.org"})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_openapi_behind_root_path(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    assert r.json()["servers"] == [{"url": "/api"}]
    assert client.get("/api/health").status_code == 200
