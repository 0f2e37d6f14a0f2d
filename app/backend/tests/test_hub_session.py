"""Admin actions end the user's JupyterHub session: `user disable`, `user
reset-password` and `user delete` call DELETE /users/{name} on the hub's REST
API. The hub here is a recorder on loopback (unit test of cfps_backend.hub and
the CLI); the site scenario proves the same against the real hub."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import PASSWORD, authz_params, cli, free_port, pkce_pair, register, write_config

TOKEN = "hub-service-token-0123456789"


@pytest.fixture
def hub():
    calls = []

    class Hub(BaseHTTPRequestHandler):
        def do_DELETE(self):
            calls.append((self.path, self.headers.get("Authorization")))
            status = 404 if self.path.endswith("/never_here") else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/jupyter/hub/api", calls
    server.shutdown()


def config_with_hub(server, tmp_path, url):
    return write_config(tmp_path / "hub.toml", server.db, hub_api_url=url, hub_api_token=TOKEN)


def test_disable_reset_and_delete_end_the_hub_session(server, client, tmp_path, hub):
    url, calls = hub
    config = config_with_hub(server, tmp_path, url)
    for args, stdin in (
        (["user", "disable"], None),
        (["user", "reset-password"], "Survey-Waves-2010-2022\n"),
        (["user", "delete"], None),
    ):
        name = register(client)
        res = cli(config, *args, name.upper(), stdin=stdin)
        assert "JupyterHub session is ended" in res.stdout
        assert calls[-1] == (f"/jupyter/hub/api/users/{name}", f"token {TOKEN}")
    # The deleted account is gone: its name can be registered again.
    assert register(client, username=name) == name


def test_a_user_the_hub_never_saw_is_fine(server, client, tmp_path, hub):
    url, calls = hub
    name = register(client, username="never_here")
    res = cli(config_with_hub(server, tmp_path, url), "user", "disable", name)
    assert res.returncode == 0 and calls[-1][0].endswith("/never_here")


def test_an_unreachable_hub_is_one_clear_error_and_the_account_stays_disabled(server, client, tmp_path):
    config = config_with_hub(server, tmp_path, f"http://127.0.0.1:{free_port()}/jupyter/hub/api")
    name = register(client)
    res = cli(config, "user", "disable", name, check=False)
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "cannot be reached" in res.stderr and "again" in res.stderr
    _, ch = pkce_pair()
    assert client.post("/login", data={"username": name, "password": PASSWORD, **authz_params(ch)}).status_code == 403


def test_hub_settings_come_together(tmp_path):
    config = write_config(tmp_path / "c.toml", tmp_path / "x.db", hub_api_url="http://127.0.0.1:8081/hub/api")
    res = cli(config, "check-config", check=False)
    assert res.returncode == 2 and "'hub_api_url' and 'hub_api_token'" in res.stderr
