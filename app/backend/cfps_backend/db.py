"""Engines and connections (SQLAlchemy Core: the ORM session costs a login ~0.3 ms for nothing here).

SQLite: WAL journal, busy_timeout, synchronous=NORMAL. pysqlite's own implicit
transaction handling is switched off and we emit BEGIN ourselves: the *write*
engine uses BEGIN IMMEDIATE so write transactions take the write lock up front
and never fail with SQLITE_BUSY_SNAPSHOT when two processes race (the
read-then-write upgrade problem); the *read* engine uses a deferred BEGIN.
Writers are also serialized through a per-process lock plus an flock() on
"<db>.writelock": SQLite's own busy handler waits by sleeping with back-off
(up to 100 ms a try), which under load across worker processes costs far more
than the short write itself; a blocking flock hands over at once.
MySQL (mysql+pymysql://): one engine, InnoDB row locks, pool_pre_ping and
pool_recycle.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine


def _sqlite_engine(url: str, pool_size: int, immediate: bool) -> Engine:
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=30,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(begin)

    return engine


class Database:
    def __init__(self, url: str, pool_size: int = 20):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, pool_size, immediate=True)
            self.read_engine = _sqlite_engine(url, pool_size, immediate=False)
        else:
            self.write_engine = create_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                pool_recycle=3600,
            )
            self.read_engine = self.write_engine
        self._tlock = threading.Lock()
        self._lock_fd: int | None = None
        self._lock_pid = 0
        db_path = self.write_engine.url.database if self.is_sqlite else None
        self._lock_path = f"{db_path}.writelock" if db_path and db_path != ":memory:" else None

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    def _lock_file(self) -> int:
        if self._lock_fd is None or self._lock_pid != os.getpid():
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_pid = os.getpid()
        return self._lock_fd

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        if self._lock_path is None:
            with self.write_engine.begin() as conn:
                yield conn
            return
        with self._tlock:
            fd = self._lock_file()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                with self.write_engine.begin() as conn:
                    yield conn
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.read_engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()
