"""Telling JupyterHub that an account was disabled, reset or deleted.

The hub logs users in through this service only when they start a session;
afterwards its own cookie and tokens carry them. So an admin action here ends
the hub side too: DELETE /users/{name} on the hub's REST API stops the user's
servers and removes the hub's record of the user, and with it every hub token
and login cookie. The home volume stays; the next login (if allowed) creates
the hub user again. Needs a hub service token with admin:users and
admin:servers (`hub_api_url`, `hub_api_token` in the config).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote

from .config import Settings


class HubError(Exception):
    pass


def _call(settings: Settings, method: str, path: str, timeout: float):
    """(status, JSON body or None) of one hub API call."""
    req = urllib.request.Request(f"{settings.hub_api_url}{path}", method=method)  # noqa: S310 (http(s), checked in config)
    req.add_header("Authorization", f"token {settings.hub_api_token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            status, text = resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read(2000).decode(errors="replace")
    except OSError as err:
        raise HubError(f"the hub at {settings.hub_api_url} cannot be reached: {err}") from None
    try:
        return status, json.loads(text) if text.strip() else None
    except ValueError:
        return status, {"message": text[:300]}


def end_session(settings: Settings, username: str, timeout: float = 90) -> bool:
    """End the user's hub session and stop their servers. False when no hub is configured."""
    if not settings.hub_api_url:
        return False
    path = f"/users/{quote(username, safe='')}"
    deadline = time.monotonic() + timeout
    while True:
        # The hub stops the servers before it answers; a stop slower than its
        # own patience answers 400 "in the process of stopping".
        status, body = _call(settings, "DELETE", path, timeout)
        if status in (204, 404):  # 404: the user never logged in to the hub
            return True
        stopping = status == 400 and "stopping" in str((body or {}).get("message", ""))
        if not stopping or time.monotonic() > deadline:
            raise HubError(f"the hub answered {status}: {(body or {}).get('message', '')}")
        # Wait for that stop to finish, then delete again.
        while time.monotonic() < deadline:
            status, user = _call(settings, "GET", path, timeout)
            if status != 200 or not (user or {}).get("pending"):
                break
            time.sleep(0.5)
