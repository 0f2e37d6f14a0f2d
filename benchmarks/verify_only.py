"""The ceiling for /login on this machine: an ASGI app that reads the request
body, runs one argon2id verify with the service's parameters and its
per-process limit of concurrent hashes (`Hasher`), in the thread pool, and
answers 303. Nothing else: no routing, no database, no rate limits.

backend.py --ceiling runs it under uvicorn with the service's workers, beside
the trees and under the same load, so a tree's login figure can be read
against what any Python ASGI server doing the verify reaches here.
"""

from __future__ import annotations

import os

import anyio.to_thread

from cfps_backend.config import Argon2Params, _default_argon2_concurrency
from cfps_backend.security import Hasher

PASSWORD = os.environ["CFPS_BENCH_PASSWORD"]
_workers = int(os.environ.get("CFPS_BENCH_WORKERS", "1"))
_hasher = Hasher(Argon2Params(), _default_argon2_concurrency({"workers": _workers}))
_stored = _hasher.hash(PASSWORD)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    if scope["path"] == "/health":
        status, headers = 200, []
    else:
        ok = await anyio.to_thread.run_sync(_hasher.verify, _stored, PASSWORD)
        status, headers = (303, [(b"location", b"https://hub.example.org/cb?code=x")]) if ok else (401, [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
