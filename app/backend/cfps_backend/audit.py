"""JSON-lines logging. Auth events carry no password, code or token value."""

from __future__ import annotations

import json
import logging
import os
import sys
import time

_FORBIDDEN = {"password", "code", "token", "access_token", "client_secret", "code_verifier", "invite_code"}

log = logging.getLogger("cfps_backend")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": os.getpid(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        else:
            out["msg"] = record.getMessage()
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO", access_log: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    if not access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def event(name: str, level: int = logging.INFO, **fields) -> None:
    """Log one auth event. Secret-bearing field names are refused outright."""
    bad = _FORBIDDEN & set(fields)
    if bad:
        raise ValueError(f"refusing to log secret fields {sorted(bad)}")
    log.log(level, name, extra={"fields": {"event": name, **fields}})
