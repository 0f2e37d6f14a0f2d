"""No input gives a 5xx; passwords are compared in one Unicode form; the
last-resort 500 still carries the security headers and keeps the connection.
(Regressions of the outside audit's items 3, 5, 6 and 7.)"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
import unicodedata

import pytest
import uvicorn
from argon2 import PasswordHasher
from conftest import OPERATOR_INVITE, PASSWORD, authz_params, cli, free_port, fresh_username, pkce_pair, register

from cfps_backend.app import GuardMiddleware

DEEP = "[" * 30_000 + "]" * 30_000


@pytest.mark.parametrize("path", ["/login", "/register", "/password"])
@pytest.mark.parametrize(
    "body",
    [
        '{"username": ' + DEEP + "}",
        '{"username": "a", "password": {"x": {"y": 1}}}',
        DEEP,
        '{"a": "' + "[" * 2_000 + '", "b": ' + DEEP + "}",
    ],
    ids=["deep-value", "nested-object", "deep-array", "brackets-in-strings-then-deep"],
)
def test_nested_json_is_a_400(client, path, body):
    r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_brackets_inside_strings_are_plain_text(client):
    # Only structure is refused: a password may hold any brackets and quotes.
    pw = 'Pw-[{"}]-' + PASSWORD
    name = register(client, password=pw)
    _, ch = pkce_pair()
    assert client.post("/login", json={"username": name, "password": pw, **authz_params(ch)}).status_code == 200


@pytest.mark.parametrize("field", ["username", "password", "state", "invite_code"])
@pytest.mark.parametrize("path", ["/login", "/register", "/password"])
def test_lone_surrogates_are_a_400(client, path, field):
    _, ch = pkce_pair()
    body = {"username": fresh_username(), "password": PASSWORD, "invite_code": OPERATOR_INVITE, **authz_params(ch)}
    raw = "{" + ", ".join(f'"{k}": "{v}"' for k, v in body.items() if k != field) + f', "{field}": "x\\ud800y"' + "}"
    r = client.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "pw,err",
    [
        (" " * 8, "password_blank"),
        ("........", "password_repeated"),
        ("passwordpassword", "password_repeated"),
        ("Ab1!Ab1!Ab1!", "password_repeated"),
        ("jupyterhub1", "password_context"),
        ("CFPS-hub-2026", "password_context"),
        ("hub.example.org!", "password_context"),
    ],
)
def test_weak_passwords_are_refused_with_a_clear_message(client, pw, err):
    r = client.post(
        "/register",
        json={"username": fresh_username(), "password": pw, "invite_code": OPERATOR_INVITE},
        headers={"Accept-Language": "en"},
    )
    assert r.status_code == 400 and r.json()["error"] == err and r.json()["field"] == "password"
    assert r.json()["message"] and "{" not in r.json()["message"]


def test_the_admin_reset_refuses_the_same_passwords(server, client):
    name = register(client)
    res = cli(server.config, "user", "reset-password", name, stdin="jupyterhub1\n", check=False)
    assert res.returncode == 1 and "site's own words" in res.stderr


def test_composed_and_decomposed_passwords_log_in_alike(client):
    nfc = unicodedata.normalize("NFC", "Pässwörd-Fäll-2026")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    name = register(client, password=nfc)
    _, ch = pkce_pair()
    for typed in (nfd, nfc):
        assert client.post("/login", data={"username": name, "password": typed, **authz_params(ch)}).status_code == 303


def test_a_hash_made_before_normalisation_still_verifies_and_is_renewed(server, client):
    nfd = unicodedata.normalize("NFD", "Grüße-aus-Peking-2026")
    name = register(client)
    legacy = PasswordHasher().hash(nfd)  # as stored before passwords were normalised
    with sqlite3.connect(server.db) as db:
        db.execute("UPDATE users SET password_hash = ? WHERE username = ?", (legacy, name))
    _, ch = pkce_pair()
    assert client.post("/login", data={"username": name, "password": nfd, **authz_params(ch)}).status_code == 303
    with sqlite3.connect(server.db) as db:
        renewed = db.execute("SELECT password_hash FROM users WHERE username = ?", (name,)).fetchone()[0]
    assert renewed != legacy
    nfc = unicodedata.normalize("NFC", nfd)
    assert client.post("/login", data={"username": name, "password": nfc, **authz_params(ch)}).status_code == 303


@pytest.mark.parametrize(
    "args",
    [
        ["invite", "create", "--expires-days", "nan"],
        ["invite", "create", "--expires-days", "inf"],
        ["invite", "create", "--expires-days", "1e300"],
        ["invite", "create", "--expires-days", "0"],
        ["invite", "create", "--uses", "99999999999999999999"],
        ["invite", "create", "--uses", "0"],
        ["invite", "create", "--uses", "two"],
        ["user", "disable", "   "],
        ["serve", "--port", "70000"],
    ],
)
def test_cli_argument_errors_are_one_line_and_status_2(server, args):
    res = cli(server.config, *args, check=False)
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("cfps-backend"), res.stderr
    assert "Traceback" not in res.stderr and "configuration error" not in res.stderr


def test_cli_user_names_are_stripped_like_the_web(server, client):
    name = register(client)
    res = cli(server.config, "user", "disable", f"  {name.upper()} ")
    assert f"user {name} disabled" in res.stdout
    _, ch = pkce_pair()
    assert client.post("/login", data={"username": name, "password": PASSWORD, **authz_params(ch)}).status_code == 403


async def _boom(scope, receive, send):
    if scope["type"] == "lifespan":
        return
    raise RuntimeError("a bug")


def _raw_get(sock: socket.socket) -> tuple[int, dict[str, str]]:
    sock.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        body += sock.recv(4096)
    return int(lines[0].split()[1]), headers


def test_the_last_resort_500_keeps_headers_and_connection():
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(GuardMiddleware(_boom, allowed_origins=()), port=port, log_level="critical", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for _ in range(2):  # the same connection serves the next request
                status, headers = _raw_get(sock)
                assert status == 500
                assert headers["cache-control"] == "no-store"
                assert headers["x-content-type-options"] == "nosniff"
                assert headers["content-security-policy"].startswith("default-src 'none'")
    finally:
        server.should_exit = True
        thread.join(10)
