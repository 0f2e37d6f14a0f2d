"""FastAPI dependencies: the settings, the service, the userinfo cache, the
request body, and the token endpoint's client authentication with its rate
limit.

All are `async def` and do no blocking work themselves (FastAPI would run a
plain `def` dependency in the worker thread pool, which the argon2 and DB work
needs); the DB checks go to that pool through `run_in_threadpool`. Each
dependency costs FastAPI some microseconds per request, so plain values (the
client's address) are helpers, not dependencies.
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


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_service(request: Request) -> Service:
    return request.app.state.service


async def get_token_cache(request: Request) -> TokenCache:
    return request.app.state.token_cache


def client_ip(request: Request) -> str:
    # uvicorn (proxy_headers, forwarded_allow_ips=trusted_proxies) has
    # already replaced the peer with X-Forwarded-For when, and only when,
    # the TCP peer is a trusted proxy.
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class Params:
    """The body's parameters, and whether they came as JSON."""

    values: dict[str, str]
    is_json: bool


async def body_params(request: Request) -> Params:
    """Form or flat JSON; an unreadable body is a BadRequest (400/413/415)."""
    values, is_json = await read_params(request)
    return Params(values, is_json)


async def token_params(request: Request) -> dict[str, str]:
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


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[Service, Depends(get_service)]
TokenCacheDep = Annotated[TokenCache, Depends(get_token_cache)]
Body = Annotated[Params, Depends(body_params)]
TokenForm = Annotated[dict[str, str], Depends(token_params)]


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    secret: str
    basic: bool  # sent with HTTP Basic (then 401s carry WWW-Authenticate)

    @property
    def challenge(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="cfps-backend", charset="UTF-8"'} if self.basic else {}


async def client_credentials(request: Request, p: TokenForm) -> ClientCredentials:
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


async def token_rate_limit(
    request: Request, creds: Annotated[ClientCredentials, Depends(client_credentials)], svc: ServiceDep
) -> ClientCredentials:
    """The rate limit of client authentication: an address that failed it too
    often tries no more secrets; other addresses (the hub's) are not affected."""
    throttled = await run_in_threadpool(svc.token_throttled, client_ip(request), creds.client_id)
    if throttled:
        raise Halt(oauth_error(request, "rate_limited", 429, headers={"Retry-After": str(throttled.retry_after)}))
    return creds


async def authenticated_client(
    request: Request, creds: Annotated[ClientCredentials, Depends(token_rate_limit)], svc: ServiceDep
) -> Client:
    """The registered client the request authenticated as, or 401."""
    client = svc.authenticate_client(creds.client_id, creds.secret)  # in memory, constant time
    if client is None:
        await run_in_threadpool(svc.client_auth_failed, client_ip(request), creds.client_id)
        raise Halt(oauth_error(request, "invalid_client", 401, headers=creds.challenge))
    return client


AuthenticatedClient = Annotated[Client, Depends(authenticated_client)]
