"""Password hashing (argon2id) and secret-value digests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .config import Argon2Params

_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


class Hasher:
    """argon2id with the configured parameters. CPU-bound: call from a worker
    thread, never on the event loop (argon2-cffi releases the GIL)."""

    def __init__(self, params: Argon2Params, max_concurrency: int = 0):
        self.params = params
        # argon2 is memory-hard: many hashes at once on few cores thrash the
        # caches and make every one slower. Queue them instead (per process).
        self._sem = threading.Semaphore(max_concurrency) if max_concurrency > 0 else None
        self._ph = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost,
            parallelism=params.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        # Verified when the user does not exist, so unknown user and wrong
        # password cost the same time.
        self._dummy = self._ph.hash(secrets.token_urlsafe(24))

    def hash(self, password: str) -> str:
        if self._sem is None:
            return self._ph.hash(password)
        with self._sem:
            return self._ph.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            if self._sem is None:
                ok = self._ph.verify(stored or self._dummy, password)
            else:
                with self._sem:
                    ok = self._ph.verify(stored or self._dummy, password)
            return ok and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._ph.check_needs_rehash(stored)
        except InvalidHashError:
            return False


def new_secret(nbytes: int = 32) -> str:
    """URL-safe random string from the OS CSPRNG (32 bytes = 256 bits)."""
    return secrets.token_urlsafe(nbytes)


def keyed_digest(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def constant_eq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def valid_code_verifier(v: str) -> bool:
    return bool(_VERIFIER_RE.match(v))


def valid_code_challenge(c: str) -> bool:
    return bool(_CHALLENGE_RE.match(c))


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
