"""Lazy, read-only access to the CFPS database from a notebook."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import URL, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

_lock = threading.Lock()
_engine: Engine | None = None
_engine_url: str | None = None


class DatabaseUnavailable(ConnectionError):
    """The CFPS database could not be reached (host and port in the message)."""


def _url_from_env() -> URL | str:
    if os.environ.get("CFPS_DB_URL"):
        return os.environ["CFPS_DB_URL"]
    missing = [k for k in ("CFPS_DB_HOST", "CFPS_DB_USER", "CFPS_DB_NAME") if not os.environ.get(k)]
    if missing:
        raise DatabaseUnavailable(
            "CFPS database settings missing from the environment: "
            + ", ".join(missing)
            + " (JupyterHub sets them; ask the administrator) / 环境变量中缺少数据库设置"
        )
    return URL.create(
        "mysql+pymysql",
        username=os.environ["CFPS_DB_USER"],
        password=os.environ.get("CFPS_DB_PASSWORD") or None,
        host=os.environ["CFPS_DB_HOST"],
        port=int(os.environ.get("CFPS_DB_PORT", "3306")),
        database=os.environ["CFPS_DB_NAME"],
        query={"charset": "utf8mb4"},
    )


def engine() -> Engine:
    """The shared engine, created on first use (no connection is opened here)."""
    global _engine, _engine_url
    url = _url_from_env()
    key = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    with _lock:
        if _engine is None or _engine_url != key:
            args = {"connect_timeout": 5} if str(key).startswith("mysql") else {}
            _engine = create_engine(url, pool_pre_ping=True, pool_recycle=3600, connect_args=args)
            _engine_url = key
        return _engine


def _where(eng: Engine) -> str:
    u = eng.url
    return f"{u.host}:{u.port or 3306}" if u.host else str(u.database)


def sql(
    query: str,
    params: Mapping[str, Any] | Sequence[Any] | None = None,
    index_col: str | list[str] | None = None,
) -> pd.DataFrame:
    """Run ``query`` and return the rows as a DataFrame.

    Bind values with ``params`` instead of formatting them into the string:
    ``sql("SELECT * FROM person_2018 WHERE age > :age", {"age": 60})``.
    A list or tuple fills positional ``?``-free placeholders ``:p0, :p1, …``.
    """
    if not isinstance(query, str) or not query.strip():
        raise ValueError("sql() needs the query as a non-empty string / 查询语句不能为空")
    if params is not None and not isinstance(params, Mapping):
        params = {f"p{i}": v for i, v in enumerate(params)}
    eng = engine()
    try:
        with eng.connect() as conn:
            return pd.read_sql_query(text(query), conn, params=params, index_col=index_col)
    except OperationalError as exc:
        if exc.connection_invalidated or _is_connect_error(exc):
            raise DatabaseUnavailable(
                f"cannot connect to the CFPS database at {_where(eng)}: {exc.orig} / 无法连接 CFPS 数据库 {_where(eng)}"
            ) from exc
        raise
    except DBAPIError as exc:
        if _is_connect_error(exc):
            raise DatabaseUnavailable(f"cannot connect to the CFPS database at {_where(eng)}: {exc.orig}") from exc
        raise


def _is_connect_error(exc: DBAPIError) -> bool:
    # PyMySQL: 2003 can't connect, 2013 lost connection during connect.
    code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return code in (2003, 2013)
