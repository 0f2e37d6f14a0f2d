"""HTTP layer: the FastAPI application.

Every handler is `async def` but does nothing blocking itself: request bodies
are read asynchronously, and all database and argon2 work goes to the worker
thread pool through `run_in_threadpool`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import time
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import audit, migrate
from .config import Settings, load_settings
from .i18n import message, pick_lang
from .security import valid_code_challenge
from .service import AuthzRequest, Failure, Service, TokenInfo

MAX_BODY = 64 * 1024
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
OAUTH_PARAMS = ("response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class BadRequest(Exception):
    def __init__(self, error: str = "invalid_request", field: str | None = None, status: int = 400):
        self.error, self.field, self.status = error, field, status


class GuardMiddleware:
    """Pure ASGI middleware: security headers on every response, the Origin /
    Sec-Fetch-Site check on every POST, and the last-resort 500 (with those
    headers, and without dropping the keep-alive connection)."""

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
            lang = pick_lang(_header(scope, b"accept-language"))
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
            lang = pick_lang(_header(scope, b"accept-language"))
            resp = JSONResponse(
                {"error": "server_error", "field": None, "message": message("server_error", lang)}, status_code=500
            )
            await resp(scope, receive, send_wrapper)

    def _origin_ok(self, scope) -> bool:
        origin = _header(scope, b"origin")
        if origin is not None:
            return origin.strip().rstrip("/").lower() in self.allowed
        site = _header(scope, b"sec-fetch-site")
        return site is None or site.strip().lower() == "same-origin"


def _flat_json(body: bytes) -> dict:
    """A JSON object of plain values. Nesting is refused before parsing (the
    brackets left once strings are removed), so no depth can exhaust the
    parser's recursion."""
    text = body.decode("utf-8")
    skeleton = _JSON_STRING.sub("", text)
    if skeleton.count("{") + skeleton.count("[") > 1:
        raise BadRequest()
    data = json.loads(text)
    if not isinstance(data, dict):
        raise BadRequest()
    return data


def _proper_unicode(text: str) -> bool:
    """False for lone surrogates (JSON allows "\\ud800"), which no UTF-8
    encoder, hasher or URL can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _header(scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def _body_schema(props: dict[str, str], required: list[str], json_too: bool = True) -> dict:
    schema = {
        "type": "object",
        "properties": {k: {"type": "string", "description": d} for k, d in props.items()},
        "required": required,
    }
    content = {"application/x-www-form-urlencoded": {"schema": schema}}
    if json_too:
        content["application/json"] = {"schema": schema}
    return {"requestBody": {"required": True, "content": content}}


_OAUTH_PROPS = {
    "client_id": "registered client id",
    "redirect_uri": "exactly one of the client's registered redirect URIs",
    "response_type": "must be 'code'",
    "state": "opaque; returned byte-exact",
    "code_challenge": "PKCE S256 challenge (43 chars base64url)",
    "code_challenge_method": "must be 'S256'",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    audit.setup_logging(settings.log_level, settings.access_log)
    if not migrate.is_up_to_date(settings.database_url):
        raise RuntimeError("database schema is not at the current revision: run `cfps-backend db upgrade` first")
    svc = Service(settings)
    svc.hasher  # noqa: B018 - build the argon2 hasher (and its dummy hash) before serving
    cache: dict[str, tuple[float, TokenInfo]] = {}
    cache_ttl = settings.userinfo_cache_seconds

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threadpool_size
        yield
        svc.db.dispose()

    app = FastAPI(
        title="CFPS Hub auth service",
        version="1.0.0",
        description="OAuth2 authorization-code provider (PKCE S256) for JupyterHub's GenericOAuthenticator.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.add_middleware(GuardMiddleware, allowed_origins=settings.allowed_origins, root_path=settings.root_path)

    # ------------------------------------------------------------- helpers
    def lang_of(request: Request) -> str:
        return pick_lang(request.headers.get("accept-language"))

    def client_ip(request: Request) -> str:
        # uvicorn (proxy_headers, forwarded_allow_ips=trusted_proxies) has
        # already replaced the peer with X-Forwarded-For when, and only when,
        # the TCP peer is a trusted proxy.
        return request.client.host if request.client else "unknown"

    def err(
        request: Request,
        code: str,
        status: int,
        field: str | None = None,
        headers: dict | None = None,
        extra: dict | None = None,
        **params,
    ) -> JSONResponse:
        lang = lang_of(request)
        body = {"error": code, "field": field, "message": message(code, lang, **params)}
        if extra:
            body.update(extra)
        return JSONResponse(body, status_code=status, headers=headers)

    def fail(request: Request, f: Failure, headers: dict | None = None) -> JSONResponse:
        h = dict(headers or {})
        if f.retry_after is not None:
            h["Retry-After"] = str(f.retry_after)
        return err(request, f.error, f.status, f.field, headers=h, **f.params)

    async def read_params(request: Request, allow_json: bool = True) -> tuple[dict[str, str], bool]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        cl = request.headers.get("content-length")
        if cl and cl.isdigit() and int(cl) > MAX_BODY:
            raise BadRequest(status=413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise BadRequest(status=413)
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            if ctype == "application/json" and allow_json:
                data = _flat_json(body) if body else {}
                out = {}
                for k, v in data.items():
                    if v is None:
                        continue
                    if not isinstance(v, str) or not _proper_unicode(v):
                        raise BadRequest(field=k[:64] if _proper_unicode(k) else None)
                    out[k] = v
                return out, True
            if ctype in ("application/x-www-form-urlencoded", ""):
                out = {}
                for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict"):
                    if k in out:  # RFC 6749 §3.1: parameters must not repeat
                        raise BadRequest(field=k[:64])
                    out[k] = v
                return out, False
        except (UnicodeDecodeError, ValueError):
            raise BadRequest() from None
        raise BadRequest(status=415)

    def check_authz(request: Request, p: dict[str, str]) -> AuthzRequest | JSONResponse | tuple[str, str]:
        """Validate OAuth params. Returns AuthzRequest; a JSONResponse (400,
        never a redirect) for a bad client/redirect_uri; or (error, redirect)
        for errors that are reported back to the registered redirect_uri."""
        client = settings.clients.get(p.get("client_id") or "")
        if client is None:
            audit.event("authorize_rejected", logging.WARNING, reason="unknown_client", ip=client_ip(request))
            return err(request, "invalid_client", 400, "client_id")
        redirect_uri = p.get("redirect_uri")
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            audit.event(
                "authorize_rejected",
                logging.WARNING,
                reason="redirect_uri_mismatch",
                client_id=client.client_id,
                ip=client_ip(request),
            )
            return err(request, "invalid_redirect_uri", 400, "redirect_uri")
        state = p.get("state")
        if p.get("response_type") != "code":
            return "unsupported_response_type", error_redirect(redirect_uri, "unsupported_response_type", state)
        challenge = p.get("code_challenge") or ""
        if p.get("code_challenge_method") != "S256" or not valid_code_challenge(challenge):
            return "pkce_required", error_redirect(redirect_uri, "invalid_request", state, "pkce_required")
        return AuthzRequest(client, redirect_uri, state, challenge)

    def error_redirect(redirect_uri: str, error: str, state: str | None, desc_code: str | None = None) -> str:
        q = {"error": error, "error_description": message(desc_code or error, "en")}
        if state is not None:
            q["state"] = state
        return _append_query(redirect_uri, q)

    def parse_bearer(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value or len(value) > 512:
            return None
        return value

    async def token_info(token: str) -> TokenInfo | None:
        if cache_ttl > 0:
            hit = cache.get(token)
            now = time.monotonic()
            if hit and hit[0] > now:
                return hit[1]
        info = await run_in_threadpool(svc.lookup_token, token)
        if info is not None and cache_ttl > 0:
            if len(cache) > 10000:
                cache.clear()
            ttl = min(cache_ttl, info.expires_at - time.time())
            cache[token] = (time.monotonic() + ttl, info)
        return info

    # ------------------------------------------------------------ handlers
    @app.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest):
        return err(request, "invalid_request", exc.status, exc.field)

    @app.exception_handler(StarletteHTTPException)
    async def _http_exc(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        return err(request, code, exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        field = str(errors[0]["loc"][-1]) if errors and errors[0].get("loc") else None
        return err(request, "invalid_request", 400, field)

    @app.get("/health", summary="Liveness and database check")
    async def health():
        try:
            ok = await run_in_threadpool(svc.health)
        except Exception:  # noqa: BLE001
            ok = False
        return JSONResponse(
            {"status": "ok" if ok else "error", "database": "ok" if ok else "error"}, status_code=200 if ok else 503
        )

    @app.get("/authorize", summary="OAuth2 authorization endpoint: validates, then 303 to the login page")
    async def authorize(
        request: Request,
        client_id: str | None = None,
        redirect_uri: str | None = None,
        response_type: str | None = None,
        state: str | None = None,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
        scope: str | None = None,
    ):
        p = {}
        for k, v in request.query_params.multi_items():
            if k in OAUTH_PARAMS:
                if k in p:  # RFC 6749 §3.1: parameters must not repeat
                    return err(request, "invalid_request", 400, k)
                p[k] = v
        res = check_authz(request, p)
        if isinstance(res, JSONResponse):
            return res
        if isinstance(res, tuple):
            return RedirectResponse(res[1], status_code=303)
        target = _append_query(settings.login_page_url, p)
        return RedirectResponse(target, status_code=303)

    @app.post(
        "/login",
        summary="Verify credentials and issue a one-time authorization code",
        description=(
            "Form post (application/x-www-form-urlencoded): answers 303 to "
            'redirect_uri?code=..&state=... JSON post: answers 200 {"redirect": url}. '
            "Errors: JSON {error, field, message}."
        ),
        openapi_extra=_body_schema(
            {"username": "user name", "password": "password", **_OAUTH_PROPS},
            ["username", "password", "client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method"],
        ),
    )
    async def login(request: Request):
        p, is_json = await read_params(request)
        res = check_authz(request, p)
        if isinstance(res, JSONResponse):
            return res
        if isinstance(res, tuple):
            code, url = res
            if is_json:
                return err(
                    request, code, 400, "code_challenge" if code == "pkce_required" else "response_type", extra={"redirect": url}
                )
            return RedirectResponse(url, status_code=303)
        username, password = p.get("username"), p.get("password")
        if not username:
            return err(request, "field_required", 400, "username")
        if not password:
            return err(request, "field_required", 400, "password")
        if len(username) > 256 or len(password) > 1024:
            return err(request, "invalid_credentials", 401, "password")
        out = await run_in_threadpool(svc.login, client_ip(request), username, password, res)
        if isinstance(out, Failure):
            return fail(request, out)
        q = {"code": out}
        if res.state is not None:
            q["state"] = res.state
        url = _append_query(res.redirect_uri, q)
        if is_json:
            return JSONResponse({"redirect": url})
        return RedirectResponse(url, status_code=303)

    @app.post(
        "/register",
        summary="Create an account with an invite code",
        status_code=201,
        openapi_extra=_body_schema(
            {"username": "4-16 of [a-z0-9_]", "password": "password", "invite_code": "invite code"},
            ["username", "password", "invite_code"],
        ),
    )
    async def register(request: Request):
        p, _ = await read_params(request)
        for f in ("username", "password", "invite_code"):
            if not p.get(f):
                return err(request, "field_required", 400, f)
        if len(p["username"]) > 64 or len(p["invite_code"]) > 256:
            return err(
                request,
                "username_invalid" if len(p["username"]) > 64 else "invite_invalid",
                400,
                "username" if len(p["username"]) > 64 else "invite_code",
            )
        if len(p["password"]) > settings.password_max_length:
            return err(request, "password_too_long", 400, "password", n=settings.password_max_length)
        out = await run_in_threadpool(svc.register, client_ip(request), p["username"], p["password"], p["invite_code"])
        if isinstance(out, Failure):
            return fail(request, out)
        return JSONResponse({"username": out, "message": "ok"}, status_code=201)

    @app.post(
        "/password",
        summary="Change one's own password (the current one is required); revokes the user's tokens",
        openapi_extra=_body_schema(
            {"username": "user name", "password": "current password", "new_password": "new password"},
            ["username", "password", "new_password"],
        ),
    )
    async def change_password(request: Request):
        p, _ = await read_params(request)
        for f in ("username", "password", "new_password"):
            if not p.get(f):
                return err(request, "field_required", 400, f)
        if len(p["username"]) > 256 or len(p["password"]) > 1024:
            return err(request, "invalid_credentials", 401, "password")
        if len(p["new_password"]) > settings.password_max_length:
            return err(request, "password_too_long", 400, "new_password", n=settings.password_max_length)
        out = await run_in_threadpool(svc.change_password, client_ip(request), p["username"], p["password"], p["new_password"])
        if isinstance(out, Failure):
            return fail(request, out)
        cache.clear()  # this process's cached userinfo answers for the revoked tokens
        return JSONResponse({"message": message("password_changed", lang_of(request))})

    @app.post(
        "/token",
        summary="OAuth2 token endpoint (authorization_code + PKCE S256)",
        openapi_extra=_body_schema(
            {
                "grant_type": "authorization_code",
                "code": "the code",
                "redirect_uri": "as in the request",
                "code_verifier": "PKCE verifier",
                "client_id": "client id (body auth)",
                "client_secret": "client secret (body auth)",
            },
            ["grant_type"],
            json_too=False,
        ),
    )
    async def token(request: Request):
        try:
            p, _ = await read_params(request, allow_json=False)
        except BadRequest as exc:
            return JSONResponse(
                {"error": "invalid_request", "error_description": "bad request body"}, status_code=exc.status, headers=NO_STORE
            )
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
            return oauth_error(request, "invalid_request", 400, "multiple client authentication methods")
        if basic:
            client_id, secret = basic
            if "client_id" in p and p["client_id"] != client_id:
                return oauth_error(request, "invalid_request", 400, "client_id does not match")
        else:
            client_id, secret = p.get("client_id", ""), p.get("client_secret", "")
        www = {"WWW-Authenticate": 'Basic realm="cfps-backend", charset="UTF-8"'} if basic else {}
        ip = client_ip(request)
        if not client_id or not secret:
            return oauth_error(request, "invalid_client", 401, headers=www)
        # An address that failed client authentication too often tries no more
        # secrets; other addresses (the hub's) are not affected.
        throttled = await run_in_threadpool(svc.token_throttled, ip, client_id)
        if throttled:
            return oauth_error(request, "rate_limited", 429, headers={"Retry-After": str(throttled.retry_after)})
        client = svc.authenticate_client(client_id, secret)  # in memory, constant time
        if client is None:
            await run_in_threadpool(svc.client_auth_failed, ip, client_id)
            return oauth_error(request, "invalid_client", 401, headers=www)
        if p.get("grant_type") != "authorization_code":
            return oauth_error(request, "unsupported_grant_type", 400)
        if not p.get("code") or len(p["code"]) > 256:
            return oauth_error(request, "invalid_request", 400, "code missing")
        out = await run_in_threadpool(svc.redeem, ip, client, p["code"], p.get("redirect_uri"), p.get("code_verifier"))
        if isinstance(out, Failure):
            return oauth_error(request, "invalid_grant", 400)
        access_token, expires_in = out
        return JSONResponse(
            {"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in},
            headers=NO_STORE,
        )

    def oauth_error(
        request: Request, code: str, status: int, desc: str | None = None, headers: dict | None = None
    ) -> JSONResponse:
        lang = lang_of(request)
        body = {"error": code, "error_description": desc or message(code, "en"), "field": None, "message": message(code, lang)}
        return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})

    @app.get("/userinfo", summary="User claims for a Bearer access token (header only)")
    async def userinfo(request: Request):
        if "access_token" in request.query_params:
            return JSONResponse(
                {"error": "invalid_request", "error_description": "token in query not accepted"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="cfps-backend", error="invalid_request"'},
            )
        tok = parse_bearer(request)
        if tok is None:
            return JSONResponse(
                {"error": "invalid_request", "error_description": "Bearer token required"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="cfps-backend"'},
            )
        info = await token_info(tok)
        if info is None:
            return JSONResponse(
                {"error": "invalid_token", "error_description": message("invalid_token", "en")},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="cfps-backend", error="invalid_token"'},
            )
        client = settings.clients.get(info.client_id)
        claim = client.username_claim if client else "username"
        return JSONResponse(
            {claim: info.username, "name": info.username, "preferred_username": info.username, "sub": info.username}
        )

    async def do_logout(request: Request, next_url: str | None):
        tok = parse_bearer(request)
        if tok:
            info = await token_info(tok)
            if info is not None:
                n = await run_in_threadpool(svc.revoke_user_tokens, info.user_id)
                for k in [k for k, v in cache.items() if v[1].user_id == info.user_id]:
                    cache.pop(k, None)
                audit.event("logout", username=info.username, tokens_revoked=n, ip=client_ip(request))
        return RedirectResponse(safe_local_path(next_url, settings.logout_redirect_default), status_code=303)

    @app.get("/logout", summary="End the session and 303 to a safe local path")
    async def logout_get(request: Request, next: str | None = None):  # noqa: A002
        return await do_logout(request, next)

    @app.post("/logout", summary="End the session (revokes the Bearer token's user tokens) and 303")
    async def logout_post(request: Request, next: str | None = None):  # noqa: A002
        return await do_logout(request, next)

    return app


def _append_query(url: str, params: dict[str, str]) -> str:
    sep = "&" if "?" in url else "?"
    return url + sep + urlencode(params, quote_via=quote, safe="")


def safe_local_path(candidate: str | None, default: str = "/") -> str:
    """Only same-site absolute paths: '/x', never '//host', '/\\host', schemes
    or control characters."""
    if not candidate or len(candidate) > 2048:
        return default
    if not candidate.startswith("/") or candidate.startswith("//") or "\\" in candidate:
        return default
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in candidate):
        return default
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return default
    return candidate
