"""GET /health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .deps import ctx_of

router = APIRouter()


@router.get("/health", summary="Liveness and database check")
async def health(request: Request):
    try:
        ok = await run_in_threadpool(ctx_of(request).svc.health)
    except Exception:  # noqa: BLE001
        ok = False
    return JSONResponse({"status": "ok" if ok else "error", "database": "ok" if ok else "error"}, status_code=200 if ok else 503)
