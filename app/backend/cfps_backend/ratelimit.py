"""Fixed-window rate limits kept in the database, so they hold across every
uvicorn worker process (and across hosts sharing a MySQL database).

Keys are SHA-256 digests of "scope|identity" (no usernames or IPs stored in
clear). One atomic upsert per hit: INSERT .. ON CONFLICT DO UPDATE (SQLite) /
ON DUPLICATE KEY UPDATE (MySQL). Client addresses are counted by `ip_bucket`:
an IPv6 host usually holds a whole /64, so the /64 is the identity.
"""

from __future__ import annotations

import ipaddress
import random
import time
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from .config import RateLimit
from .models import RateCounter
from .security import sha256_hex


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int
    count: int


def _window(rl: RateLimit, now: float) -> tuple[int, int]:
    start = int(now // rl.period) * rl.period
    return start, start + rl.period


def ip_bucket(ip: str) -> str:
    """The identity of a client address: IPv4 as is, IPv6 by its /64."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if addr.version == 6:
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


def rate_key(scope: str, identity: str) -> str:
    return sha256_hex(f"{scope}|{identity}")


def hit(session: Connection, rl: RateLimit, scope: str, identity: str, now: float | None = None) -> Verdict:
    """Count one attempt; allowed while the count is <= limit."""
    now = time.time() if now is None else now
    start, end = _window(rl, now)
    key = rate_key(scope, identity)
    dialect = session.dialect.name
    values = {"key": key, "window_start": start, "count": 1, "expires_at": end}
    if dialect == "mysql":
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        stmt = mysql_insert(RateCounter).values(**values)
        stmt = stmt.on_duplicate_key_update(count=RateCounter.count + 1)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(RateCounter).values(**values)
        stmt = stmt.on_conflict_do_update(index_elements=["key", "window_start"], set_={"count": RateCounter.count + 1})
    session.execute(stmt)
    count = session.execute(
        select(RateCounter.count).where(RateCounter.key == key, RateCounter.window_start == start)
    ).scalar_one()
    if random.random() < 0.01:
        session.execute(delete(RateCounter).where(RateCounter.expires_at < int(now) - 1))
    return Verdict(count <= rl.limit, max(1, int(end - now + 0.999)), count)


def peek(session: Connection, rl: RateLimit, scope: str, identity: str, now: float | None = None) -> Verdict:
    """Check without counting: allowed while count < limit."""
    now = time.time() if now is None else now
    start, end = _window(rl, now)
    count = (
        session.execute(
            select(RateCounter.count).where(RateCounter.key == rate_key(scope, identity), RateCounter.window_start == start)
        ).scalar_one_or_none()
        or 0
    )
    return Verdict(count < rl.limit, max(1, int(end - now + 0.999)), count)
