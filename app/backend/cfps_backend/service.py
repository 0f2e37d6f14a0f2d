"""Business logic, synchronous (blocking DB and argon2 work).

The HTTP layer calls these from worker threads (run_in_threadpool); the CLI
calls them directly. No secret value ever reaches a log line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from dataclasses import field as dc_field
from urllib.parse import urlsplit

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from . import audit, policy, ratelimit
from .config import Client, Settings
from .db import Database
from .models import AuthCode, InviteCode, Token, User
from .security import (
    Hasher,
    constant_eq,
    keyed_digest,
    new_secret,
    s256,
    sha256_hex,
    valid_code_verifier,
)


@dataclass
class Failure:
    """An error outcome: HTTP status, error code, field, message params."""

    status: int
    error: str
    field: str | None = None
    params: dict = dc_field(default_factory=dict)
    retry_after: int | None = None


@dataclass(frozen=True)
class AuthzRequest:
    client: Client
    redirect_uri: str
    state: str | None
    code_challenge: str


@dataclass(frozen=True)
class TokenInfo:
    user_id: int
    username: str
    client_id: str
    expires_at: int


class Service:
    def __init__(self, settings: Settings, db: Database | None = None, hasher: Hasher | None = None):
        self.settings = settings
        self.db = db or Database(settings.database_url, settings.db_pool_size)
        self._hasher = hasher
        self._key = settings.secret_key.encode("utf-8")
        # compared against when the client_id is unknown, to keep timing flat
        self._dummy_secret = new_secret(24)

    @property
    def hasher(self) -> Hasher:
        if self._hasher is None:
            self._hasher = Hasher(self.settings.argon2, self.settings.argon2_max_concurrency)
        return self._hasher

    @property
    def context_words(self) -> tuple[str, ...]:
        """Words of this service a password must not be made of (with the username)."""
        host = urlsplit(self.settings.public_url).hostname or ""
        return (*policy.SERVICE_WORDS, host, host.split(".")[0])

    def digest(self, value: str) -> str:
        return keyed_digest(self._key, value)

    # ------------------------------------------------------------------ health
    def health(self) -> bool:
        with self.db.read() as s:
            return s.execute(select(1)).scalar_one() == 1

    # ------------------------------------------------------------------- login
    def _check_password(self, ip: str, username: str, password: str, endpoint: str, client_id: str = ""):
        """The account's row and whether its hash is legacy, or a Failure.

        Only failures are counted, so a class behind one NAT address logs in
        freely. An address over its failure limit is refused. An account over
        its failure limit is refused only to addresses that failed on it in the
        window: a stranger's guessing never locks the right password out.
        """
        rl = self.settings.rate_limit
        where = ratelimit.ip_bucket(ip)
        with self.db.read() as s:
            v_ip = ratelimit.peek(s, rl, "login-fail-ip", where)
            v_acct = ratelimit.peek(s, rl, "login-fail-user", username)
            v_pair = ratelimit.peek(s, rl, "login-fail-pair", f"{username}|{where}") if not v_acct.allowed else None
            row = s.execute(select(User.id, User.password_hash, User.disabled).where(User.username == username)).first()
        blocked = None
        if not v_ip.allowed:
            blocked = ("ip", v_ip)
        elif v_pair is not None and v_pair.count > 0:
            blocked = ("account", v_acct)
        if blocked:
            audit.event("rate_limited", logging.WARNING, endpoint=endpoint, scope=blocked[0], ip=ip, username=username)
            return Failure(429, "rate_limited", retry_after=blocked[1].retry_after)

        ok, legacy = self.verify_password(row.password_hash if row else None, password)
        if not ok:
            with self.db.write() as s:
                ratelimit.hit(s, rl, "login-fail-ip", where)
                ratelimit.hit(s, rl, "login-fail-user", username)
                ratelimit.hit(s, rl, "login-fail-pair", f"{username}|{where}")
            audit.event(
                f"{endpoint}_failed", logging.WARNING, username=username, ip=ip, client_id=client_id, reason="bad_credentials"
            )
            return Failure(401, "invalid_credentials", "password")
        if row.disabled:
            audit.event(f"{endpoint}_failed", logging.WARNING, username=username, ip=ip, client_id=client_id, reason="disabled")
            return Failure(403, "account_disabled", "username")
        return row, legacy

    def login(self, ip: str, username_raw: str, password: str, authz: AuthzRequest) -> str | Failure:
        """Verify credentials; on success return a fresh one-time code."""
        username = policy.normalize_username(username_raw)[:64]
        checked = self._check_password(ip, username, password, "login", authz.client.client_id)
        if isinstance(checked, Failure):
            return checked
        row, legacy = checked
        rehash = legacy or self.hasher.needs_rehash(row.password_hash)
        new_hash = self.hasher.hash(policy.normalize_password(password)) if rehash else None
        code = new_secret(32)
        code_hash = self.digest(code)
        now = int(time.time())
        with self.db.write() as s:
            s.execute(
                insert(AuthCode).values(
                    code_hash=code_hash,
                    client_id=authz.client.client_id,
                    redirect_uri=authz.redirect_uri,
                    code_challenge=authz.code_challenge,
                    user_id=row.id,
                    created_at=now,
                    expires_at=now + self.settings.code_ttl_seconds,
                )
            )
            if new_hash:
                s.execute(update(User).where(User.id == row.id).values(password_hash=new_hash))
        audit.event("login_ok", username=username, ip=ip, client_id=authz.client.client_id)
        return code

    def verify_password(self, stored: str | None, password: str) -> tuple[bool, bool]:
        """(matches, legacy): hashes are of the NFKC form; one made before
        normalisation still verifies with the password as typed (legacy: rehash)."""
        normal = policy.normalize_password(password)
        if self.hasher.verify(stored, normal):
            return True, False
        if normal != password and self.hasher.verify(stored, password):
            return True, True
        return False, False

    # ---------------------------------------------------------------- register
    def _check_operator_invite(self, code: str) -> bool:
        hit = False
        for op_code in self.settings.invite_codes:
            hit |= constant_eq(op_code, code)
        return hit

    def register(self, ip: str, username_raw: str, password: str, invite_code: str) -> str | Failure:
        # Only wrong invite codes count (the secret a stranger would guess): a
        # class registering from one NAT address is never refused for its number.
        rl = self.settings.rate_limit
        where = ratelimit.ip_bucket(ip)
        with self.db.read() as s:
            v = ratelimit.peek(s, rl, "register-fail-ip", where)
        if not v.allowed:
            audit.event("rate_limited", logging.WARNING, endpoint="register", scope="ip", ip=ip)
            return Failure(429, "rate_limited", retry_after=v.retry_after)

        username = policy.normalize_username(username_raw)
        err = policy.check_username(username)
        if err:
            return Failure(400, err, "username")
        perr = self.password_problem(password, username)
        if perr:
            return perr
        operator = self._check_operator_invite(invite_code)
        invite_hash = sha256_hex(invite_code)
        now = int(time.time())
        if not operator:
            with self.db.read() as s:
                inv = s.execute(select(InviteCode).where(InviteCode.code_hash == invite_hash)).first()
            if inv is None or inv.uses >= inv.max_uses or (inv.expires_at is not None and inv.expires_at <= now):
                with self.db.write() as s:
                    ratelimit.hit(s, rl, "register-fail-ip", where)
                audit.event("register_failed", logging.WARNING, username=username, ip=ip, reason="bad_invite")
                return Failure(400, "invite_invalid", "invite_code")
        with self.db.read() as s:
            if s.execute(select(User.id).where(User.username == username)).first():
                return Failure(400, "username_taken", "username")

        pw_hash = self.hasher.hash(policy.normalize_password(password))
        try:
            with self.db.write() as s:
                invite_id = None
                if not operator:
                    res = s.execute(
                        update(InviteCode)
                        .where(
                            InviteCode.code_hash == invite_hash,
                            InviteCode.uses < InviteCode.max_uses,
                            (InviteCode.expires_at.is_(None)) | (InviteCode.expires_at > now),
                        )
                        .values(uses=InviteCode.uses + 1)
                    )
                    if res.rowcount != 1:
                        raise _InviteGone
                    invite_id = s.execute(select(InviteCode.id).where(InviteCode.code_hash == invite_hash)).scalar_one()
                s.execute(
                    insert(User).values(
                        username=username, password_hash=pw_hash, disabled=False, created_at=now, invite_id=invite_id
                    )
                )
        except _InviteGone:
            audit.event("register_failed", logging.WARNING, username=username, ip=ip, reason="invite_used_up")
            return Failure(400, "invite_invalid", "invite_code")
        except IntegrityError:
            return Failure(400, "username_taken", "username")
        audit.event("register_ok", username=username, ip=ip, invite="operator" if operator else f"db:{invite_id}")
        return username

    def password_problem(self, password: str, username: str) -> Failure | None:
        st = self.settings
        perr = policy.check_password(
            password,
            username,
            min_length=st.password_min_length,
            max_length=st.password_max_length,
            require_classes=st.password_require_classes,
            context_words=self.context_words,
        )
        if perr:
            return Failure(400, perr[0], "password", perr[1])
        return None

    # ------------------------------------------------------------------- token
    def authenticate_client(self, client_id: str, secret: str) -> Client | None:
        """Constant-time check against the configured clients (no I/O)."""
        client = self.settings.clients.get(client_id)
        good = constant_eq(client.client_secret if client else self._dummy_secret, secret)
        return client if client is not None and good else None

    # Only failed client authentications are counted, and only per address:
    # strangers cannot slow the registered client (which holds the secret, and
    # whose codes are 256-bit one-time values nobody can guess) from elsewhere.
    def token_throttled(self, ip: str, client_id: str) -> Failure | None:
        with self.db.read() as s:
            v = ratelimit.peek(s, self.settings.rate_limit, "token-fail-ip", ratelimit.ip_bucket(ip))
        if not v.allowed:
            audit.event("rate_limited", logging.WARNING, endpoint="token", scope="ip", ip=ip, client_id=client_id[:128])
            return Failure(429, "rate_limited", retry_after=v.retry_after)
        return None

    def client_auth_failed(self, ip: str, client_id: str) -> None:
        with self.db.write() as s:
            ratelimit.hit(s, self.settings.rate_limit, "token-fail-ip", ratelimit.ip_bucket(ip))
        audit.event("token_client_auth_failed", logging.WARNING, client_id=client_id[:128], ip=ip)

    def redeem(
        self, ip: str, client: Client, code: str, redirect_uri: str | None, verifier: str | None
    ) -> tuple[str, int] | Failure:
        """Exchange a code for an access token, exactly once (one write
        transaction: throttle check, consume, bind checks, issue)."""
        code_hash = self.digest(code)
        now = int(time.time())
        token = new_secret(32)
        token_hash = self.digest(token)
        challenge_of_verifier = s256(verifier) if verifier and valid_code_verifier(verifier) else None
        reason = None
        user_id = None
        with self.db.write() as s:
            row = s.execute(
                select(
                    AuthCode.client_id,
                    AuthCode.redirect_uri,
                    AuthCode.code_challenge,
                    AuthCode.user_id,
                    AuthCode.expires_at,
                    User.disabled,
                )
                .join(User, User.id == AuthCode.user_id)
                .where(AuthCode.code_hash == code_hash)
            ).first()
            if row is None:
                reason = "unknown_code"
            else:
                user_id = row.user_id
                res = s.execute(
                    update(AuthCode).where(AuthCode.code_hash == code_hash, AuthCode.used_at.is_(None)).values(used_at=now)
                )
                if res.rowcount != 1:
                    revoked = s.execute(
                        update(Token).where(Token.code_hash == code_hash, Token.revoked_at.is_(None)).values(revoked_at=now)
                    ).rowcount
                    reason = "code_reuse"
                    audit.event(
                        "code_reuse",
                        logging.WARNING,
                        client_id=client.client_id,
                        ip=ip,
                        user_id=row.user_id,
                        tokens_revoked=revoked,
                    )
                elif row.expires_at <= now:
                    reason = "expired"
                elif not constant_eq(row.client_id, client.client_id):
                    reason = "client_mismatch"
                elif redirect_uri is None or redirect_uri != row.redirect_uri:
                    reason = "redirect_uri_mismatch"
                elif challenge_of_verifier is None or not constant_eq(challenge_of_verifier, row.code_challenge):
                    reason = "pkce_failed"
                else:
                    if row.disabled:
                        reason = "user_disabled"
                    else:
                        s.execute(
                            insert(Token).values(
                                token_hash=token_hash,
                                user_id=row.user_id,
                                client_id=client.client_id,
                                code_hash=code_hash,
                                created_at=now,
                                expires_at=now + self.settings.access_token_ttl_seconds,
                            )
                        )
        if reason:
            audit.event("token_failed", logging.WARNING, client_id=client.client_id, ip=ip, reason=reason)
            return Failure(400, "invalid_grant")
        audit.event("token_issued", client_id=client.client_id, ip=ip, user_id=user_id)
        return token, self.settings.access_token_ttl_seconds

    # ---------------------------------------------------------------- userinfo
    def lookup_token(self, token: str) -> TokenInfo | None:
        h = self.digest(token)
        now = int(time.time())
        with self.db.read() as s:
            r = s.execute(
                select(Token.user_id, Token.client_id, Token.expires_at, User.username)
                .join(User, User.id == Token.user_id)
                .where(
                    Token.token_hash == h,
                    Token.revoked_at.is_(None),
                    Token.expires_at > now,
                    User.disabled.is_(False),
                )
            ).first()
        if r is None:
            return None
        return TokenInfo(r.user_id, r.username, r.client_id, r.expires_at)

    def revoke_user_tokens(self, user_id: int) -> int:
        now = int(time.time())
        with self.db.write() as s:
            return s.execute(
                update(Token).where(Token.user_id == user_id, Token.revoked_at.is_(None)).values(revoked_at=now)
            ).rowcount

    # -------------------------------------------------------------- admin (CLI)
    def create_invite(self, uses: int, expires_days: float | None, note: str = "") -> str:
        code = new_secret(16)  # 128 bits, URL-safe
        now = int(time.time())
        with self.db.write() as s:
            s.execute(
                insert(InviteCode).values(
                    code_hash=sha256_hex(code),
                    prefix=code[:4],
                    max_uses=uses,
                    uses=0,
                    expires_at=int(now + expires_days * 86400) if expires_days else None,
                    created_at=now,
                    note=note[:255],
                )
            )
        audit.event("invite_created", max_uses=uses, expires_days=expires_days)
        return code

    def list_invites(self) -> list[Row]:
        with self.db.read() as s:
            return list(s.execute(select(InviteCode).order_by(InviteCode.id)))

    def list_users(self) -> list[Row]:
        with self.db.read() as s:
            return list(s.execute(select(User).order_by(User.username)))

    def count_users(self) -> int:
        with self.db.read() as s:
            return s.execute(select(func.count(User.id))).scalar_one()

    def set_disabled(self, username: str, disabled: bool) -> bool:
        now = int(time.time())
        with self.db.write() as s:
            uid = s.execute(select(User.id).where(User.username == username)).scalar_one_or_none()
            if uid is None:
                return False
            s.execute(update(User).where(User.id == uid).values(disabled=disabled))
            if disabled:
                s.execute(update(Token).where(Token.user_id == uid, Token.revoked_at.is_(None)).values(revoked_at=now))
        audit.event("user_disabled" if disabled else "user_enabled", username=username)
        return True

    def change_password(self, ip: str, username_raw: str, current: str, new: str) -> Failure | None:
        """The user's own change: the current password (throttled like a login),
        then the policy; every token of the user is revoked."""
        username = policy.normalize_username(username_raw)[:64]
        checked = self._check_password(ip, username, current, "password_change")
        if isinstance(checked, Failure):
            return checked
        row, _ = checked
        perr = self.password_problem(new, username)
        if perr:
            perr.field = "new_password"
            return perr
        self._set_password(row.id, new)
        audit.event("password_changed", username=username, ip=ip)
        return None

    def _set_password(self, user_id: int, password: str) -> None:
        h = self.hasher.hash(policy.normalize_password(password))
        now = int(time.time())
        with self.db.write() as s:
            s.execute(update(User).where(User.id == user_id).values(password_hash=h))
            s.execute(update(Token).where(Token.user_id == user_id, Token.revoked_at.is_(None)).values(revoked_at=now))

    def delete_user(self, username: str) -> bool:
        """Remove the account, its codes and tokens (not the user's files)."""
        with self.db.write() as s:
            uid = s.execute(select(User.id).where(User.username == username)).scalar_one_or_none()
            if uid is None:
                return False
            s.execute(delete(Token).where(Token.user_id == uid))
            s.execute(delete(AuthCode).where(AuthCode.user_id == uid))
            s.execute(delete(User).where(User.id == uid))
        audit.event("user_deleted", username=username)
        return True

    def reset_password(self, username: str, password: str) -> Failure | None:
        with self.db.read() as s:
            uid = s.execute(select(User.id).where(User.username == username)).scalar_one_or_none()
        if uid is None:
            return Failure(404, "not_found", "username")
        perr = self.password_problem(password, username)
        if perr:
            return perr
        self._set_password(uid, password)
        audit.event("password_reset", username=username)
        return None


class _InviteGone(Exception):
    pass
