"""A researcher changes their own password: the current one is required and
throttled like a login, the new one meets the policy, old tokens die."""

from __future__ import annotations

from conftest import PASSWORD, authz_params, fresh_ip, get_token, pkce_pair, register, wait_for_fresh_window

NEW = "Survey-Waves-2010-2022"


def login_status(client, name, password):
    _, ch = pkce_pair()
    return client.post("/login", data={"username": name, "password": password, **authz_params(ch)}).status_code


def test_change_password_then_only_the_new_one_works(client):
    name = register(client)
    token = get_token(client, name)
    r = client.post("/password", json={"username": f" {name.upper()}", "password": PASSWORD, "new_password": NEW})
    assert r.status_code == 200, r.text
    assert r.json()["message"]
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert login_status(client, name, PASSWORD) == 401
    assert login_status(client, name, NEW) == 303


def test_the_current_password_is_required(client):
    name = register(client)
    r = client.post("/password", json={"username": name, "password": "Not-the-password-1", "new_password": NEW})
    assert r.status_code == 401 and r.json()["error"] == "invalid_credentials"
    r = client.post("/password", data={"username": name, "new_password": NEW})
    assert r.status_code == 400 and r.json() == {**r.json(), "error": "field_required", "field": "password"}
    assert login_status(client, name, PASSWORD) == 303


def test_the_new_password_meets_the_policy(client):
    name = register(client)
    for weak, err in (
        ("jupyterhub1", "password_context"),
        ("passwordpassword", "password_repeated"),
        ("short", "password_too_short"),
    ):
        r = client.post("/password", json={"username": name, "password": PASSWORD, "new_password": weak})
        assert r.status_code == 400 and r.json()["error"] == err and r.json()["field"] == "new_password", r.text
    assert login_status(client, name, PASSWORD) == 303


def test_guessing_the_current_password_is_throttled_like_a_login(server):
    import httpx

    wait_for_fresh_window()
    ip = fresh_ip()
    with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": ip}, timeout=30) as c:
        name = register(c)
        statuses = [
            c.post("/password", json={"username": name, "password": f"Wrong-guess-{i}", "new_password": NEW}).status_code
            for i in range(11)
        ]
    assert statuses == [401] * 10 + [429]
