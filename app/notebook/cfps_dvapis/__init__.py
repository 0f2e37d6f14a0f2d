"""CFPS Hub notebook helpers.

``sql()`` runs a query against the CFPS database through the read-only account
whose settings JupyterHub puts in the container's environment:

    CFPS_DB_HOST, CFPS_DB_PORT, CFPS_DB_USER, CFPS_DB_PASSWORD, CFPS_DB_NAME

``CFPS_DB_URL`` (any SQLAlchemy URL) overrides them all. The connection is made
lazily, on the first call, so a kernel starts fine while the database is down.

``label(df, table)`` turns codes into their labels and ``variables(table)``
lists a table's columns with their labels, for tables imported from the CFPS
Stata files (roles/cfps_import).
"""

from .db import DatabaseUnavailable, engine, sql
from .labels import label, variables

__all__ = ["DatabaseUnavailable", "engine", "label", "sql", "variables"]
