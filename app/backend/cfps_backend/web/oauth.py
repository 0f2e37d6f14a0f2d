"""The OAuth2 authorization-code flow: /authorize, /login, /token,
/userinfo, /logout."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from .. import audit
from ..i18n import message
from ..security import valid_code_challenge
from ..service import AuthzRequest, Failure
from .common import (
    NO_STORE,
    OAUTH_PARAMS,
    append_query,
    body_schema,
    credentials_too_long,
    err,
    error_redirect,
    fail,
    first_missing,
    oauth_error,
    parse_bearer,
    query_doc,
    safe_local_path,
)
from .deps import AuthenticatedClient, Body, Ctx, client_ip, ctx_of

router = APIRouter()

_OAUTH_PROPS = {
    "client_id": "registered client id",
    "redirect_uri": "exactly one of the client's registered redirect URIs",
    "response_type": "must be 'code'",
    "state": "opaque; returned byte-exact",
    "code_challenge": "PKCE S256 challenge (43 chars base64url)",
    "code_challenge_method": "must be 'S256'",
}


def check_authz(request: Request, ctx: Ctx, p: dict[str, str]) -> AuthzRequest | JSONResponse | tuple[str, str]:
    """Validate OAuth params. Returns AuthzRequest; a JSONResponse (400,
    never a redirect) for a bad client/redirect_uri; or (error, redirect)
    for errors that are reported back to the registered redirect_uri."""
    client = ctx.settings.clients.get(p.get("client_id") or "")
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


@router.get(
    "/authorize",
    summary="OAuth2 authorization endpoint: validates, then 303 to the login page",
    openapi_extra=query_doc(
        "client_id", "redirect_uri", "response_type", "state", "code_challenge", "code_challenge_method", "scope"
    ),
)
async def authorize(request: Request):
    ctx = ctx_of(request)
    p = {}
    for k, v in request.query_params.multi_items():
        if k in OAUTH_PARAMS:
            if k in p:  # RFC 6749 §3.1: parameters must not repeat
                return err(request, "invalid_request", 400, k)
            p[k] = v
    res = check_authz(request, ctx, p)
    if isinstance(res, JSONResponse):
        return res
    if isinstance(res, tuple):
        return RedirectResponse(res[1], status_code=303)
    return RedirectResponse(append_query(ctx.settings.login_page_url, p), status_code=303)


@router.post(
    "/login",
    summary="Verify credentials and issue a one-time authorization code",
    description=(
        "Form post (application/x-www-form-urlencoded): answers 303 to "
        'redirect_uri?code=..&state=... JSON post: answers 200 {"redirect": url}. '
        "Errors: JSON {error, field, message}."
    ),
    openapi_extra=body_schema(
        {"username": "user name", "password": "password", **_OAUTH_PROPS},
        ["username", "password", "client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method"],
    ),
)
async def login(request: Request, body: Body):
    p, is_json = body.values, body.is_json
    res = check_authz(request, body.ctx, p)
    if isinstance(res, JSONResponse):
        return res
    if isinstance(res, tuple):
        code, url = res
        if is_json:
            field = "code_challenge" if code == "pkce_required" else "response_type"
            return err(request, code, 400, field, extra={"redirect": url})
        return RedirectResponse(url, status_code=303)
    if missing := first_missing(p, ("username", "password")):
        return err(request, "field_required", 400, missing)
    if credentials_too_long(p):
        return err(request, "invalid_credentials", 401, "password")
    out = await run_in_threadpool(body.ctx.svc.login, client_ip(request), p["username"], p["password"], res)
    if isinstance(out, Failure):
        return fail(request, out)
    q = {"code": out}
    if res.state is not None:
        q["state"] = res.state
    url = append_query(res.redirect_uri, q)
    if is_json:
        return JSONResponse({"redirect": url})
    return RedirectResponse(url, status_code=303)


@router.post(
    "/token",
    summary="OAuth2 token endpoint (authorization_code + PKCE S256)",
    openapi_extra=body_schema(
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
async def token(request: Request, call: AuthenticatedClient):
    p = call.values
    if p.get("grant_type") != "authorization_code":
        return oauth_error(request, "unsupported_grant_type", 400)
    if not p.get("code") or len(p["code"]) > 256:
        return oauth_error(request, "invalid_request", 400, "code missing")
    out = await run_in_threadpool(
        call.ctx.svc.redeem, client_ip(request), call.client, p["code"], p.get("redirect_uri"), p.get("code_verifier")
    )
    if isinstance(out, Failure):
        return oauth_error(request, "invalid_grant", 400)
    access_token, expires_in = out
    return JSONResponse({"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in}, headers=NO_STORE)


@router.get("/userinfo", summary="User claims for a Bearer access token (header only)")
async def userinfo(request: Request):
    ctx = ctx_of(request)
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
    info = await ctx.cache.lookup(tok)
    if info is None:
        return JSONResponse(
            {"error": "invalid_token", "error_description": message("invalid_token", "en")},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="cfps-backend", error="invalid_token"'},
        )
    client = ctx.settings.clients.get(info.client_id)
    claim = client.username_claim if client else "username"
    return JSONResponse({claim: info.username, "name": info.username, "preferred_username": info.username, "sub": info.username})


async def _logout(request: Request) -> RedirectResponse:
    ctx = ctx_of(request)
    tok = parse_bearer(request)
    if tok:
        info = await ctx.cache.lookup(tok)
        if info is not None:
            n = await run_in_threadpool(ctx.svc.revoke_user_tokens, info.user_id)
            ctx.cache.forget_user(info.user_id)
            audit.event("logout", username=info.username, tokens_revoked=n, ip=client_ip(request))
    # `next` is read here, not declared: see query_doc
    next_url = request.query_params.get("next")
    return RedirectResponse(safe_local_path(next_url, ctx.settings.logout_redirect_default), status_code=303)


@router.get("/logout", summary="End the session and 303 to a safe local path", openapi_extra=query_doc("next"))
async def logout_get(request: Request):
    return await _logout(request)


@router.post(
    "/logout",
    summary="End the session (revokes the Bearer token's user tokens) and 303",
    openapi_extra=query_doc("next"),
)
async def logout_post(request: Request):
    return await _logout(request)
