"""Pure ASGI middleware around the whole application."""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse

from .. import audit
from ..i18n import message, pick_lang
from .common import header

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class GuardMiddleware:
    """Security headers on every response, the Origin / Sec-Fetch-Site check
    on every POST, and the last-resort 500 (with those headers, and without
    dropping the keep-alive connection)."""

    def __init__(self, app, allowed_origins: tuple[str, ...], root_path: str = ""):
        self.app = app
        self.allowed = set(allowed_origins)
        self.root_path = root_path

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.root_path and not scope.get("root_path"):
            # nginx strips the /api prefix; tell the app where it is mounted
            # (OpenAPI "servers", absolute URLs) like uvicorn --root-path would.
            scope = {**scope, "root_path": self.root_path}

        async def send_wrapper(msg):
            if msg["type"] == "http.response.start":
                headers = list(msg.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                msg = {**msg, "headers": headers}
            await send(msg)

        if scope["method"] == "POST" and not self._origin_ok(scope):
            lang = pick_lang(header(scope, b"accept-language"))
            client = scope.get("client") or ("?", 0)
            audit.event("origin_rejected", logging.WARNING, ip=client[0], path=scope.get("path", "")[:200])
            resp = JSONResponse(
                {"error": "forbidden_origin", "field": None, "message": message("forbidden_origin", lang)},
                status_code=403,
            )
            await resp(scope, receive, send_wrapper)
            return
        started = False

        async def send_tracked(msg):
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send_wrapper(msg)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:  # the last resort: answer, log, keep the connection
            audit.log.error("unhandled error", exc_info=exc)
            if started:
                raise
            lang = pick_lang(header(scope, b"accept-language"))
            resp = JSONResponse(
                {"error": "server_error", "field": None, "message": message("server_error", lang)}, status_code=500
            )
            await resp(scope, receive, send_wrapper)

    def _origin_ok(self, scope) -> bool:
        origin = header(scope, b"origin")
        if origin is not None:
            return origin.strip().rstrip("/").lower() in self.allowed
        site = header(scope, b"sec-fetch-site")
        return site is None or site.strip().lower() == "same-origin"
