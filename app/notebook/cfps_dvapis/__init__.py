"""CFPS Hub notebook helpers.

``sql()`` runs a query against the CFPS database through the read-only account
whose settings JupyterHub puts in the container's environment:

    CFPS_DB_HOST, CFPS_DB_PORT, CFPS_DB_USER, CFPS_DB_PASSWORD, CFPS_DB_NAME

``CFPS_DB_URL`` (any SQLAlchemy URL) overrides them all. The connection is made
lazily, on the first call, so a kernel starts fine while the database is down.
"""

from .db import DatabaseUnavailable, engine, sql

__all__ = ["DatabaseUnavailable", "engine", "sql"]
