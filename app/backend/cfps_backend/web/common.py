"""Request and response helpers shared by the routers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse

from ..i18n import message, pick_lang
from ..service import Failure

MAX_BODY = 64 * 1024
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
OAUTH_PARAMS = ("response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope")


class BadRequest(Exception):
    """A body that cannot be read: answered {error, field, message}."""

    def __init__(self, error: str = "invalid_request", field: str | None = None, status: int = 400):
        self.error, self.field, self.status = error, field, status


class Halt(Exception):
    """Raised by a dependency: `response` is the answer to the request."""

    def __init__(self, response: JSONResponse):
        self.response = response


def header(scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def lang_of(request: Request) -> str:
    return pick_lang(request.headers.get("accept-language"))


def first_missing(values: dict[str, str], fields: Iterable[str]) -> str | None:
    """The first of `fields` absent or empty in a request's values."""
    return next((f for f in fields if not values.get(f)), None)


def credentials_too_long(values: dict[str, str]) -> bool:
    """A user name or password longer than any account's: refused before any lookup or hashing."""
    return len(values["username"]) > 256 or len(values["password"]) > 1024


def err(
    request: Request,
    code: str,
    status: int,
    field: str | None = None,
    headers: dict | None = None,
    extra: dict | None = None,
    **params,
) -> JSONResponse:
    body = {"error": code, "field": field, "message": message(code, lang_of(request), **params)}
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers)


def fail(request: Request, f: Failure, headers: dict | None = None) -> JSONResponse:
    h = dict(headers or {})
    if f.retry_after is not None:
        h["Retry-After"] = str(f.retry_after)
    return err(request, f.error, f.status, f.field, headers=h, **f.params)


def oauth_error(request: Request, code: str, status: int, desc: str | None = None, headers: dict | None = None) -> JSONResponse:
    """RFC 6749 §5.2 error body (plus the localised message), never cached."""
    body = {
        "error": code,
        "error_description": desc or message(code, "en"),
        "field": None,
        "message": message(code, lang_of(request)),
    }
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


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


def proper_unicode(text: str) -> bool:
    """False for lone surrogates (JSON allows "\\ud800"), which no UTF-8
    encoder, hasher or URL can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def read_params(request: Request, allow_json: bool = True) -> tuple[dict[str, str], bool]:
    """The body's parameters (form, or one flat JSON object of strings) and
    whether it was JSON; BadRequest for anything else."""
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
                if not isinstance(v, str) or not proper_unicode(v):
                    raise BadRequest(field=k[:64] if proper_unicode(k) else None)
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


def parse_bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > 512:
        return None
    return value


def append_query(url: str, params: dict[str, str]) -> str:
    sep = "&" if "?" in url else "?"
    return url + sep + urlencode(params, quote_via=quote, safe="")


def error_redirect(redirect_uri: str, error: str, state: str | None, desc_code: str | None = None) -> str:
    q = {"error": error, "error_description": message(desc_code or error, "en")}
    if state is not None:
        q["state"] = state
    return append_query(redirect_uri, q)


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


def query_doc(*names: str) -> dict:
    """OpenAPI entries of optional string query parameters that the handler
    reads from `request.query_params` itself: declared as function parameters,
    FastAPI would validate each on every request (about 8 µs apiece)."""
    return {
        "parameters": [
            {
                "in": "query",
                "name": n,
                "required": False,
                "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": n.title().replace("_", " ")},
            }
            for n in names
        ]
    }


def body_schema(props: dict[str, str], required: list[str] | None = None, json_too: bool = True) -> dict:
    """OpenAPI request body of string fields, all required unless `required` names some
    (the handlers read the body themselves)."""
    schema = {
        "type": "object",
        "properties": {k: {"type": "string", "description": d} for k, d in props.items()},
        "required": list(props) if required is None else required,
    }
    content = {"application/x-www-form-urlencoded": {"schema": schema}}
    if json_too:
        content["application/json"] = {"schema": schema}
    return {"requestBody": {"required": True, "content": content}}
