"""Username and password rules."""

from __future__ import annotations

import functools
import gzip
import re
from importlib import resources

USERNAME_RE = re.compile(r"^[a-z0-9_]{4,16}$")

RESERVED_USERNAMES = frozenset(
    [
        "admin",
        "administrator",
        "root",
        "superuser",
        "sysadmin",
        "sys",
        "system",
        "daemon",
        "bin",
        "nobody",
        "nogroup",
        "jupyter",
        "jupyterhub",
        "jovyan",
        "hub",
        "user",
        "users",
        "api",
        "www",
        "www-data",
        "web",
        "nginx",
        "apache",
        "mysql",
        "mariadb",
        "postgres",
        "docker",
        "test",
        "tester",
        "testing",
        "guest",
        "anonymous",
        "support",
        "help",
        "info",
        "mail",
        "email",
        "postmaster",
        "hostmaster",
        "webmaster",
        "security",
        "operator",
        "staff",
        "service",
        "services",
        "proxy",
        "login",
        "logout",
        "register",
        "signup",
        "oauth",
        "auth",
        "token",
        "static",
        "public",
        "backup",
        "ubuntu",
        "debian",
        "cfps",
    ]
)


@functools.cache
def common_passwords() -> frozenset[str]:
    data = resources.files("cfps_backend").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split())


def normalize_username(raw: str) -> str:
    return raw.strip().lower()


def check_username(name: str) -> str | None:
    """Return an error code or None. `name` must already be normalized."""
    if not USERNAME_RE.match(name):
        return "username_invalid"
    if name in RESERVED_USERNAMES:
        return "username_reserved"
    return None


def check_password(
    password: str, username: str, *, min_length: int, max_length: int, require_classes: bool
) -> tuple[str, dict] | None:
    """Return (error code, message params) or None when acceptable."""
    if len(password) < min_length:
        return "password_too_short", {"n": min_length}
    if len(password) > max_length:
        return "password_too_long", {"n": max_length}
    low = password.lower()
    if low in common_passwords() or low.strip() in common_passwords():
        return "password_common", {}
    if username and len(username) >= 4 and username.lower() in low:
        return "password_contains_username", {}
    if require_classes:
        classes = sum(
            (
                any(c.islower() for c in password),
                any(c.isupper() for c in password),
                any(c.isdigit() for c in password),
                any(not c.isalnum() for c in password),
            )
        )
        if classes < 3:
            return "password_classes", {}
    return None
