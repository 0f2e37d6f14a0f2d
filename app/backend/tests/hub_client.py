"""An OAuth2 client as JupyterHub's: PKCE S256 and the authorization request, standard library only.

The unit tests (conftest.py) build their requests with it; molecule/conftest.py runs
this file inside a test instance (oauth_login) for one whole login against the auth
service on 127.0.0.1:8100: /login, the code exchanged at /token, then /userinfo,
printing what each step answered as JSON.
Arguments: user password client_id client_secret redirect_uri.
"""

import base64
import hashlib
import http.client
import json
import secrets
import sys
from urllib.parse import parse_qs, urlencode, urlsplit


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)[:64]
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorization_params(challenge: str, client_id: str, redirect_uri: str, state: str | None, **override) -> dict:
    """What the hub sends to /login; override replaces any parameter (None leaves it out)."""
    p = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **override,
    }
    return {k: v for k, v in p.items() if v is not None}


def _post(path: str, fields: dict) -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection("127.0.0.1", 8100, timeout=30)
    conn.request("POST", path, urlencode(fields), {"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    return resp.status, dict(resp.getheaders()), resp.read().decode()


def login(user: str, password: str, client_id: str, client_secret: str, redirect_uri: str) -> dict:
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    authz = authorization_params(challenge, client_id, redirect_uri, state)
    status, headers, body = _post("/login", {"username": user, "password": password, **authz})
    out = {"login_status": status, "login_body": body}
    location = headers.get("location", "")
    query = parse_qs(urlsplit(location).query)
    out["redirect_ok"] = location.startswith(redirect_uri + "?") and query.get("state") == [state]
    if status != 303 or "code" not in query:
        return out
    status, headers, body = _post(
        "/token",
        {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )
    out["token_status"] = status
    token = json.loads(body).get("access_token") if status == 200 else None
    out["access_token"] = token
    if token:
        conn = http.client.HTTPConnection("127.0.0.1", 8100, timeout=30)
        conn.request("GET", "/userinfo", headers={"Authorization": "Bearer " + token})
        resp = conn.getresponse()
        out["userinfo_status"] = resp.status
        out["userinfo"] = json.loads(resp.read().decode())
    return out


if __name__ == "__main__":
    print(json.dumps(login(*sys.argv[1:6])))
