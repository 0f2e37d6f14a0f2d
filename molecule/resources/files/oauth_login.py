"""One OAuth2 login against the auth service on 127.0.0.1:8100, as JupyterHub makes it.

Run inside a test instance (molecule/conftest.py: oauth_login): /login with PKCE,
the code exchanged at /token, then /userinfo; prints what each step answered as JSON.
Arguments: user password client_id client_secret redirect_uri.
"""

import base64
import hashlib
import http.client
import json
import secrets
import sys
from urllib.parse import parse_qs, urlencode, urlsplit

user, password, client_id, client_secret, redirect_uri = sys.argv[1:6]


def post(path, fields):
    conn = http.client.HTTPConnection("127.0.0.1", 8100, timeout=30)
    conn.request("POST", path, urlencode(fields), {"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    return resp.status, dict(resp.getheaders()), resp.read().decode()


verifier = secrets.token_urlsafe(48)
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
state = secrets.token_urlsafe(16)
status, headers, body = post(
    "/login",
    {
        "username": user,
        "password": password,
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    },
)
out = {"login_status": status, "login_body": body}
location = headers.get("location", "")
query = parse_qs(urlsplit(location).query)
out["redirect_ok"] = location.startswith(redirect_uri + "?") and query.get("state") == [state]
if status == 303 and "code" in query:
    status, headers, body = post(
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
print(json.dumps(out))
