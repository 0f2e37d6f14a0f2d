#!/usr/bin/env python3
"""Prove that a CFPS Hub URL works the way a researcher uses it.

    python3 scripts/check_url.py https://hub.localhost:8443 --token-file inventories/local/credentials/hub_api_token.txt

Through that URL (host *and* port, as a browser sends them):
  1. the site answers, and the hub is healthy behind nginx;
  2. with a hub API token (scopes admin:users, admin:servers, access:servers),
     the check account `cfps-check` gets a server, a kernel starts, and a
     websocket to it opens with the browser's Origin: the handshake nginx and
     the notebook server must accept (it fails when the port is lost on the way);
  3. a cell runs over that websocket and `sql()` returns the sample's row count.
Then the kernel, the server and the account are removed again (the account
name has a hyphen, which researchers' names never have). Exit 0 when all of
it worked, else 1 with the step that failed.

The certificate is not verified (the demo's is self-signed); a `*.localhost`
name is reached on loopback, as browsers do (RFC 6761).
"""

import argparse
import json
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

from websockets.sync.client import connect

USER = "cfps-check"
CODE = 'print("rows", int(sql("SELECT COUNT(*) FROM person_2018").iloc[0, 0]))'


class CheckFailed(Exception):
    pass


class Site:
    def __init__(self, url, token, connect=None):
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        self.host = parts.hostname
        self.port = parts.port or 443
        self.address = "127.0.0.1" if self.host.endswith(".localhost") or self.host == "localhost" else self.host
        if connect:  # a port forward or a test network: where the URL really leads
            self.address, _, port = connect.rpartition(":")
            self.port = int(port)
        self.token = token
        self.tls = ssl.create_default_context()
        self.tls.check_hostname = False
        self.tls.verify_mode = ssl.CERT_NONE
        handler = urllib.request.HTTPSHandler(context=self.tls)
        self.opener = urllib.request.build_opener(handler)

    def _url(self, path):
        return f"https://{self.address}:{self.port}{path}"

    def request(self, method, path, body=None, expect=(200,)):
        req = urllib.request.Request(self._url(path), method=method, data=None if body is None else json.dumps(body).encode())
        # The Host header a browser sends for the URL: name and port.
        req.add_header("Host", urlsplit(self.url).netloc)
        if self.token:
            req.add_header("Authorization", f"token {self.token}")
        req.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(req, timeout=60) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode(errors="replace")
        except OSError as err:
            raise CheckFailed(f"{method} {self.url}{path}: {err}") from err
        if status not in expect:
            raise CheckFailed(f"{method} {self.url}{path} answered {status}: {text[:300]}")
        return json.loads(text) if text.strip().startswith(("{", "[")) else text

    def websocket(self, path):
        sock = socket.create_connection((self.address, self.port), timeout=30)
        return connect(
            f"wss://{urlsplit(self.url).netloc}{path}",
            sock=sock,
            ssl=self.tls,
            server_hostname=self.host,
            origin=self.url,
            additional_headers={"Authorization": f"token {self.token}"},
            open_timeout=30,
        )


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise CheckFailed(f"{what}: not within {timeout} s")


def run_cell(ws, code, timeout=120):
    """Send an execute_request; return what the cell printed."""
    msg_id = uuid.uuid4().hex
    ws.send(
        json.dumps(
            {
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex, "username": USER, "version": "5.3"},
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
                "channel": "shell",
                "buffers": [],
            }
        )
    )
    printed, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv(timeout=max(1, deadline - time.monotonic())))
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            printed.append(content["text"])
        elif kind == "error":
            raise CheckFailed(f"the cell failed: {content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(printed)
    raise CheckFailed(f"the cell gave no answer within {timeout} s")


def check(site):
    page = site.request("GET", "/")
    print(f"ok   {site.url}/ answers ({len(page)} bytes)")
    site.request("GET", "/jupyter/hub/health")
    print(f"ok   {site.url}/jupyter/hub/health: the hub is healthy behind nginx")
    if not site.token:
        return
    api, server = "/jupyter/hub/api", f"/jupyter/user/{USER}"
    site.request("POST", f"{api}/users/{USER}", expect=(201, 409))
    try:
        site.request("POST", f"{api}/users/{USER}/server", expect=(201, 202, 400))

        def ready():
            servers = site.request("GET", f"{api}/users/{USER}").get("servers", {})
            return servers.get("", {}).get("ready", False)

        wait_for("the check account's server to be ready", ready, 300)
        kernel = site.request("POST", f"{server}/api/kernels", body={}, expect=(201,))
        try:
            with site.websocket(f"{server}/api/kernels/{kernel['id']}/channels") as ws:
                print(f"ok   kernel websocket opened through {site.url} (Origin {site.url})")
                out = run_cell(ws, CODE)
            rows = out.split()
            if len(rows) != 2 or rows[0] != "rows" or not rows[1].isdigit():
                raise CheckFailed(f"sql() printed {out!r}")
            print(f"ok   a cell ran over the websocket: sql() counted {rows[1]} rows in person_2018")
        finally:
            site.request("DELETE", f"{server}/api/kernels/{kernel['id']}", expect=(204, 404))
    finally:
        site.request("DELETE", f"{api}/users/{USER}/server", expect=(202, 204, 400))
        wait_for(
            "the check account's server to stop",
            lambda: not site.request("GET", f"{api}/users/{USER}").get("servers"),
            120,
        )
        site.request("DELETE", f"{api}/users/{USER}", expect=(204, 404))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the public URL, e.g. https://hub.localhost:8443")
    parser.add_argument("--token-file", help="a hub API token (admin:users, admin:servers, access:servers)")
    parser.add_argument("--connect", metavar="ADDRESS:PORT", help="open connections here instead of the URL's host")
    args = parser.parse_args()
    token = open(args.token_file, encoding="utf-8").read().strip() if args.token_file else None
    try:
        check(Site(args.url, token, args.connect))
    except (CheckFailed, OSError, TimeoutError) as err:
        print(f"FAIL {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
