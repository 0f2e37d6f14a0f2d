#!/usr/bin/env python3
"""Prove that a CFPS Hub URL works the way a researcher uses it.

    python3 scripts/check_url.py https://hub.localhost:8443 \\
        --token-file inventories/local/credentials/hub_api_token.txt \\
        --invite-file inventories/local/credentials/invite_code.txt \\
        --password-file inventories/local/credentials/check_password.txt

Through that URL (host *and* port, as a browser sends them):
  1. the site answers, and the hub is healthy behind nginx;
  2. the check account `cfps_check` logs in the way the site's login page does
     (registered with the invite code on first use; its password is generated
     into --password-file) and so holds the hub's and its server's cookies;
  3. its server starts (hub API token: admin:servers, access:servers), a kernel
     starts, and a websocket to it opens with those cookies and the browser's
     Origin: the notebook server compares that Origin with the Host nginx
     forwards, so the handshake fails when the port is lost on the way (a
     token-authenticated websocket would skip that comparison);
  4. a cell runs over the websocket and `sql()` counts the sample's persons.
The check account's server is stopped again. Exit 0 when all of it worked,
else 1 with the step that failed.

The certificate is not verified (the demo's is self-signed); a `*.localhost`
name is reached on loopback, as browsers do (RFC 6761); --connect sends every
connection elsewhere (a port forward, a test network).
"""

import argparse
import http.client
import http.cookiejar
import json
import secrets
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from kernel_protocol import CellError, execute
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

USER = "cfps_check"
CODE = 'print("persons", int(sql("SELECT COUNT(*) FROM person_2018").iloc[0, 0]))'


class CheckFailed(Exception):
    pass


class Site:
    """HTTP(S) and websockets to the public URL, with a browser's cookie jar."""

    def __init__(self, url, token, connect_to=None):
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        self.netloc, self.host = parts.netloc, parts.hostname
        if connect_to:
            address, _, port = connect_to.rpartition(":")
            self.address = (address, int(port))
        elif self.host == "localhost" or self.host.endswith(".localhost"):
            self.address = ("127.0.0.1", parts.port or 443)
        else:
            self.address = (self.host, parts.port or 443)
        self.token = token
        self.tls = ssl.create_default_context()
        self.tls.check_hostname = False
        self.tls.verify_mode = ssl.CERT_NONE
        self.cookies = http.cookiejar.CookieJar()
        site = self

        class Connection(http.client.HTTPSConnection):
            def connect(self):
                self.sock = site.tls.wrap_socket(site.open_socket(), server_hostname=site.host)

        class Handler(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(Connection, req)

        self.opener = urllib.request.build_opener(Handler, urllib.request.HTTPCookieProcessor(self.cookies))

    def open_socket(self):
        return socket.create_connection(self.address, timeout=60)

    def request(self, method, path, body=None, expect=(200,), token=False):
        """One request (redirects followed); returns (final URL, decoded JSON or text)."""
        req = urllib.request.Request(  # noqa: S310 (always the https URL given)
            f"{self.url}{path}", method=method, data=None if body is None else json.dumps(body).encode()
        )
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"token {self.token}")
        try:
            with self.opener.open(req, timeout=120) as resp:
                status, final, text = resp.status, resp.url, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, final, text = err.code, err.url, err.read().decode(errors="replace")
        except OSError as err:
            raise CheckFailed(f"{method} {self.url}{path}: {err}") from err
        if status not in expect:
            raise CheckFailed(f"{method} {self.url}{path} answered {status}: {text[:300]}")
        return final, json.loads(text) if text.strip().startswith(("{", "[")) else text

    def api(self, method, path, expect=(200,)):
        return self.request(method, f"/jupyter/hub/api{path}", expect=expect, token=True)[1]

    def websocket(self, path):
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.cookies if path.startswith(c.path))
        try:
            return connect(
                f"wss://{self.netloc}{path}",
                sock=self.open_socket(),
                ssl=self.tls,
                server_hostname=self.host,
                origin=self.url,
                additional_headers={"Cookie": cookie},
                open_timeout=60,
            )
        except InvalidStatus as err:
            raise CheckFailed(
                f"the kernel websocket was refused ({err}); a 403 here means the notebook server saw a Host "
                f"that does not match the browser's Origin {self.url}: the proxy in front must forward the Host "
                "with its port"
            ) from err


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise CheckFailed(f"{what}: not within {timeout} s")


def log_in(site, password, invite):
    """The site's login page, done by hand: hub -> /api/authorize -> /login -> /api/login -> hub."""
    login_page, _ = site.request("GET", "/jupyter/hub/login")
    params = dict(parse_qsl(urlsplit(login_page).query))
    if "client_id" not in params:
        raise CheckFailed(f"the hub's login did not lead to the site's login page: {login_page}")
    answer = None
    for attempt in ("login", "register"):
        _, answer = site.request(
            "POST", "/api/login", body={"username": USER, "password": password, **params}, expect=(200, 401)
        )
        if "redirect" in answer or attempt == "register":
            break
        # First use on this site: create the check account with the invite code.
        site.request(
            "POST", "/api/register", body={"username": USER, "password": password, "invite_code": invite}, expect=(201,)
        )
    if "redirect" not in answer:
        raise CheckFailed(f"the check account cannot log in: {answer}")
    site.request("GET", urlsplit(answer["redirect"])._replace(scheme="", netloc="").geturl())


def run_cell(ws, code, timeout=180):
    """Run a cell; return what it printed."""
    request = execute(code, uuid.uuid4().hex, USER)
    ws.send(request.text)
    deadline = time.monotonic() + timeout
    while not request.done:
        if time.monotonic() >= deadline:
            raise CheckFailed(f"the cell gave no answer within {timeout} s")
        try:
            request.take(ws.recv(timeout=max(1, deadline - time.monotonic())))
        except CellError as err:
            raise CheckFailed(f"the cell failed: {err}") from None
    return request.output


def check(site, password, invite):
    _, page = site.request("GET", "/")
    print(f"ok   {site.url}/ answers ({len(page)} bytes)")
    site.request("GET", "/jupyter/hub/health")
    print(f"ok   {site.url}/jupyter/hub/health: the hub is healthy behind nginx")
    log_in(site, password, invite)
    print(f"ok   the check account {USER} logged in through the site's login")
    server = f"/jupyter/user/{USER}"
    # A new server from the current image, whatever an earlier session left running.
    stop_server(site)
    site.api("POST", f"/users/{USER}/server", expect=(201, 202, 400))
    try:
        wait_for(
            "the check account's server to be ready",
            lambda: site.api("GET", f"/users/{USER}").get("servers", {}).get("", {}).get("ready", False),
            300,
        )
        # The server's own cookie, through the hub's OAuth, as a browser gets it.
        site.request("GET", f"{server}/lab")
        _, kernel = site.request("POST", f"{server}/api/kernels", body={}, expect=(201,), token=True)
        try:
            with site.websocket(f"{server}/api/kernels/{kernel['id']}/channels") as ws:
                print(f"ok   kernel websocket opened with cookies and Origin {site.url}")
                out = run_cell(ws, CODE).split()
            if len(out) != 2 or out[0] != "persons" or not out[1].isdigit():
                raise CheckFailed(f"sql() printed {out!r}")
            print(f"ok   a cell ran over the websocket: sql() counted {out[1]} persons in person_2018")
        finally:
            # Tidying only: the server is stopped next anyway, and an error
            # here must not hide the one that ended the check.
            try:
                site.request("DELETE", f"{server}/api/kernels/{kernel['id']}", expect=(204, 404), token=True)
            except CheckFailed as err:
                print(f"note could not delete the check kernel: {str(err)[:200]}")
    finally:
        stop_server(site)


def stop_server(site):
    site.api("DELETE", f"/users/{USER}/server", expect=(202, 204, 400))
    wait_for("the check account's server to stop", lambda: not site.api("GET", f"/users/{USER}").get("servers"), 120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the public URL, e.g. https://hub.localhost:8443")
    parser.add_argument("--token-file", required=True, help="hub API token (admin:servers, access:servers, read:users)")
    parser.add_argument("--invite-file", required=True, help="an invite code, to register the check account once")
    parser.add_argument("--password-file", required=True, help="the check account's password (generated when missing)")
    parser.add_argument("--connect", metavar="ADDRESS:PORT", help="open connections here instead of the URL's host")
    args = parser.parse_args()
    pw_file = Path(args.password_file)
    if not pw_file.exists():
        pw_file.touch(mode=0o600)
        pw_file.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")
    token, invite, password = (
        Path(f).read_text(encoding="utf-8").strip() for f in (args.token_file, args.invite_file, pw_file)
    )
    try:
        check(Site(args.url, token, args.connect), password, invite)
    except (CheckFailed, OSError, TimeoutError) as err:
        print(f"FAIL {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
