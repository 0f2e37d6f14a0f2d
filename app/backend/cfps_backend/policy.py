"""Username and password rules."""

from __future__ import annotations

import functools
import gzip
import re
import unicodedata
from importlib import resources

USERNAME_RE = re.compile(r"^[a-z0-9_]{4,16}$")

# Words of the service itself; with the site's host name and the username they
# are the context words of NIST SP 800-63B 3.1.1.2 that a password must not be
# made of.
SERVICE_WORDS = ("cfps", "jupyterhub", "jupyter", "hub")

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


def normalize_password(password: str) -> str:
    """NFKC, so the same password typed as composed or decomposed characters
    (or full-width forms from a Chinese input method) hashes alike."""
    return unicodedata.normalize("NFKC", password)


def _repeats_a_shorter_string(text: str) -> bool:
    """'........', 'abcabc', 'passwordpassword': text is k >= 2 copies of one unit."""
    return len(text) > 1 and (text + text).find(text, 1) < len(text)


def check_password(
    password: str,
    username: str,
    *,
    min_length: int,
    max_length: int,
    require_classes: bool,
    context_words: tuple[str, ...] = SERVICE_WORDS,
) -> tuple[str, dict] | None:
    """Return (error code, message params) or None when acceptable."""
    password = normalize_password(password)
    if len(password) < min_length:
        return "password_too_short", {"n": min_length}
    if len(password) > max_length:
        return "password_too_long", {"n": max_length}
    if not password.strip():
        return "password_blank", {}
    low = password.lower()
    if _repeats_a_shorter_string(low):
        return "password_repeated", {}
    if low in common_passwords() or low.strip() in common_passwords():
        return "password_common", {}
    if username and len(username) >= 4 and username.lower() in low:
        return "password_contains_username", {}
    # Made of the service's own words: what is left without them is too short.
    rest = low
    words = {w.lower() for w in context_words if len(w) >= 3 and any(c.isalpha() for c in w)}
    for word in sorted(words, key=len, reverse=True):
        rest = rest.replace(word, "")
    if len(rest) < min_length:
        return "password_context", {}
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
