"""The application context and the FastAPI dependencies, at most one per route.

FastAPI resolves each dependency (and each declared query parameter)
separately, about 10 µs per request on a 2-core server, as much as a short
route's own work. So a route takes at most ONE dependency, which returns all
it needs: `Body` (the context and the request body) or `AuthenticatedClient`
(the context, the token request's form and the registered client it
authenticated as, after the rate limit); the steps inside are plain
functions. Routes that need only the context (the settings, the service and
the userinfo cache, built once per process) read it with `ctx_of(request)`.

All are `async def` and do no blocking work themselves (FastAPI would run a
plain `def` dependency in the worker thread pool, which the argon2 and DB work
needs); the DB checks go to that pool through `run_in_threadpool`.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..config import Client, Settings
from ..service import Service, TokenInfo
from .common import NO_STORE, BadRequest, Halt, oauth_error, read_params


class TokenCache:
    """Per-process cache of valid access tokens for /userinfo
    (`userinfo_cache_seconds`; 0 = off), capped at 10,000 entries."""

    def __init__(self, svc: Service, ttl: float):
        self.svc, self.ttl = svc, ttl
        self._entries: dict[str, tuple[float, TokenInfo]] = {}

    async def lookup(self, token: str) -> TokenInfo | None:
        if self.ttl > 0:
            hit = self._entries.get(token)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        info = await run_in_threadpool(self.svc.lookup_token, token)
        if info is not None and self.ttl > 0:
            if len(self._entries) > 10000:
                self._entries.clear()
            ttl = min(self.ttl, info.expires_at - time.time())
            self._entries[token] = (time.monotonic() + ttl, info)
        return info

    def forget_user(self, user_id: int) -> None:
        for k in [k for k, v in self._entries.items() if v[1].user_id == user_id]:
            self._entries.pop(k, None)

    def clear(self) -> None:
        self._entries.clear()


@dataclass(frozen=True)
class Ctx:
    """What the routes use of the application (in `app.state.ctx`)."""

    settings: Settings
    svc: Service
    cache: TokenCache


def ctx_of(request: Request) -> Ctx:
    return request.app.state.ctx


def client_ip(request: Request) -> str:
    # uvicorn (proxy_headers, forwarded_allow_ips=trusted_proxies) has
    # already replaced the peer with X-Forwarded-For when, and only when,
    # the TCP peer is a trusted proxy.
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class Posted:
    """The context, the body's parameters, and whether they came as JSON."""

    ctx: Ctx
    values: dict[str, str]
    is_json: bool


async def body_params(request: Request) -> Posted:
    """Form or flat JSON; an unreadable body is a BadRequest (400/413/415)."""
    values, is_json = await read_params(request)
    return Posted(ctx_of(request), values, is_json)


async def _token_params(request: Request) -> dict[str, str]:
    """The token endpoint's form (RFC 6749: no JSON), errors in OAuth form."""
    try:
        values, _ = await read_params(request, allow_json=False)
    except BadRequest as exc:
        raise Halt(
            JSONResponse(
                {"error": "invalid_request", "error_description": "bad request body"}, status_code=exc.status, headers=NO_STORE
            )
        ) from None
    return values


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    secret: str
    basic: bool  # sent with HTTP Basic (then 401s carry WWW-Authenticate)

    @property
    def challenge(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="cfps-backend", charset="UTF-8"'} if self.basic else {}


def _client_credentials(request: Request, p: dict[str, str]) -> ClientCredentials:
    """HTTP Basic or client_id + client_secret in the body, not both."""
    basic = None
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, val = auth.partition(" ")
        if scheme.lower() == "basic":
            try:
                cid, sep, sec = base64.b64decode(val.strip(), validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                cid, sep, sec = "", "", ""
            basic = (unquote(cid.replace("+", " ")), unquote(sec.replace("+", " "))) if sep else ("", "")
    if basic and ("client_secret" in p):
        raise Halt(oauth_error(request, "invalid_request", 400, "multiple client authentication methods"))
    if basic:
        client_id, secret = basic
        if "client_id" in p and p["client_id"] != client_id:
            raise Halt(oauth_error(request, "invalid_request", 400, "client_id does not match"))
    else:
        client_id, secret = p.get("client_id", ""), p.get("client_secret", "")
    creds = ClientCredentials(client_id, secret, basic is not None)
    if not client_id or not secret:
        raise Halt(oauth_error(request, "invalid_client", 401, headers=creds.challenge))
    return creds


@dataclass(frozen=True)
class TokenCall(Posted):
    """A token request's form (never JSON), and the client it authenticated as."""

    client: Client


async def authenticated_client(request: Request) -> TokenCall:
    """The form, the client's credentials, the rate limit (an address that
    failed client authentication too often tries no more secrets; other
    addresses, the hub's, are not affected), then the registered client the
    request authenticated as, or 401."""
    ctx = ctx_of(request)
    p = await _token_params(request)
    creds = _client_credentials(request, p)
    svc = ctx.svc
    throttled = await run_in_threadpool(svc.token_throttled, client_ip(request), creds.client_id)
    if throttled:
        raise Halt(oauth_error(request, "rate_limited", 429, headers={"Retry-After": str(throttled.retry_after)}))
    client = svc.authenticate_client(creds.client_id, creds.secret)  # in memory, constant time
    if client is None:
        await run_in_threadpool(svc.client_auth_failed, client_ip(request), creds.client_id)
        raise Halt(oauth_error(request, "invalid_client", 401, headers=creds.challenge))
    return TokenCall(ctx, p, False, client)


Body = Annotated[Posted, Depends(body_params)]
AuthenticatedClient = Annotated[TokenCall, Depends(authenticated_client)]
