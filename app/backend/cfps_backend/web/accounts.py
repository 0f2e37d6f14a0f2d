"""POST /register and POST /password: a researcher's own account."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..i18n import message
from ..service import Failure
from .common import body_schema, credentials_too_long, err, fail, first_missing, lang_of
from .deps import Body, Posted, client_ip

router = APIRouter()


# Each route's fields, all required: name -> what the API documentation says of it.
_REGISTER = {"username": "4-16 of [a-z0-9_]", "password": "password", "invite_code": "invite code"}
_PASSWORD = {"username": "user name", "password": "current password", "new_password": "new password"}


def _password_too_long(request: Request, body: Posted, field: str) -> JSONResponse | None:
    """A new password longer than the settings allow: refused before any hashing."""
    longest = body.ctx.settings.password_max_length
    return err(request, "password_too_long", 400, field, n=longest) if len(body.values[field]) > longest else None


@router.post("/register", summary="Create an account with an invite code", status_code=201, openapi_extra=body_schema(_REGISTER))
async def register(request: Request, body: Body):
    p = body.values
    if missing := first_missing(p, _REGISTER):
        return err(request, "field_required", 400, missing)
    if len(p["username"]) > 64:
        return err(request, "username_invalid", 400, "username")
    if len(p["invite_code"]) > 256:
        return err(request, "invite_invalid", 400, "invite_code")
    if refused := _password_too_long(request, body, "password"):
        return refused
    out = await run_in_threadpool(body.ctx.svc.register, client_ip(request), p["username"], p["password"], p["invite_code"])
    if isinstance(out, Failure):
        return fail(request, out)
    return JSONResponse({"username": out, "message": "ok"}, status_code=201)


@router.post(
    "/password",
    summary="Change one's own password (the current one is required); revokes the user's tokens",
    openapi_extra=body_schema(_PASSWORD),
)
async def change_password(request: Request, body: Body):
    p = body.values
    if missing := first_missing(p, _PASSWORD):
        return err(request, "field_required", 400, missing)
    if credentials_too_long(p):
        return err(request, "invalid_credentials", 401, "password")
    if refused := _password_too_long(request, body, "new_password"):
        return refused
    svc = body.ctx.svc
    out = await run_in_threadpool(svc.change_password, client_ip(request), p["username"], p["password"], p["new_password"])
    if isinstance(out, Failure):
        return fail(request, out)
    body.ctx.cache.clear()  # this process's cached userinfo answers for the revoked tokens
    return JSONResponse({"message": message("password_changed", lang_of(request))})
