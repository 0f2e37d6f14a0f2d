"""Configuration: one TOML file, path from $CFPS_BACKEND_CONFIG.

No secret has a default here. Every problem raises ConfigError whose message
names the offending key, so `cfps-backend check-config` and service start-up
tell the operator exactly what to fix.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_CONFIG_PATH = "/etc/cfps-backend/config.toml"
ENV_VAR = "CFPS_BACKEND_CONFIG"

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*$")
_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


class ConfigError(Exception):
    """A configuration problem; the message names the key."""


@dataclass(frozen=True)
class RateLimit:
    limit: int
    period: int  # seconds

    @classmethod
    def parse(cls, text: str, key: str = "rate_limit") -> RateLimit:
        m = _RATE_RE.match(str(text))
        if not m:
            raise ConfigError(f"config key '{key}': expected e.g. \"30/minute\" (N/second|minute|hour|day), got {text!r}")
        limit = int(m.group(1))
        mult = int(m.group(2)) if m.group(2) else 1
        if limit < 1 or mult < 1:
            raise ConfigError(f"config key '{key}': limit and period must be >= 1")
        return cls(limit=limit, period=mult * _PERIODS[m.group(3)])


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    username_claim: str = "username"


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int = 2
    memory_cost: int = 19456  # KiB
    parallelism: int = 1


@dataclass(frozen=True)
class Settings:
    secret_key: str
    database_url: str
    invite_codes: tuple[str, ...]
    rate_limit: RateLimit
    trusted_proxies: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    public_url: str
    root_path: str
    login_page_url: str
    logout_redirect_default: str
    clients: dict[str, Client]
    password_min_length: int
    password_max_length: int
    password_require_classes: bool
    workers: int
    host: str
    port: int
    argon2: Argon2Params
    code_ttl_seconds: int
    access_token_ttl_seconds: int
    userinfo_cache_seconds: float
    log_level: str
    access_log: bool
    dev_reload: bool
    db_pool_size: int
    threadpool_size: int
    argon2_max_concurrency: int
    hub_api_url: str = ""
    hub_api_token: str = ""
    path: str = field(default="")


def config_path() -> str:
    return os.environ.get(ENV_VAR) or DEFAULT_CONFIG_PATH


def _get(d: dict, key: str, typ, default=..., *, prefix: str = ""):
    name = f"{prefix}{key}"
    if key not in d:
        if default is ...:
            raise ConfigError(f"missing required config key '{name}'")
        return default
    val = d[key]
    if typ is int and isinstance(val, bool):
        raise ConfigError(f"config key '{name}' must be an integer")
    if typ is float and isinstance(val, int) and not isinstance(val, bool):
        val = float(val)
    if not isinstance(val, typ):
        raise ConfigError(f"config key '{name}' must be of type {typ.__name__}")
    return val


def _str_list(d: dict, key: str, default=..., *, prefix: str = "") -> tuple[str, ...]:
    val = _get(d, key, list, default, prefix=prefix)
    if not all(isinstance(x, str) for x in val):
        raise ConfigError(f"config key '{prefix}{key}' must be a list of strings")
    return tuple(val)


def _origin_of(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}".lower()


def argon2_meets_asvs(p: Argon2Params) -> bool:
    """One of the OWASP/ASVS argon2id profiles: (m>=47104,t>=1), (m>=19456,t>=2),
    (m>=12288,t>=3), (m>=9216,t>=4), (m>=7168,t>=5)."""
    profiles = [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)]
    return p.parallelism >= 1 and any(p.memory_cost >= m and p.time_cost >= t for m, t in profiles)


def load_settings(path: str | None = None) -> Settings:
    path = path or config_path()
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found (set {ENV_VAR} to its path)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return parse_settings(raw, path)


def parse_settings(raw: dict, path: str = "") -> Settings:
    known = {
        "secret_key",
        "database_url",
        "invite_codes",
        "rate_limit",
        "trusted_proxies",
        "allowed_origins",
        "public_url",
        "root_path",
        "login_page_url",
        "logout_redirect_default",
        "clients",
        "password_min_length",
        "password_max_length",
        "password_require_classes",
        "workers",
        "host",
        "port",
        "argon2_time_cost",
        "argon2_memory_cost",
        "argon2_parallelism",
        "code_ttl_seconds",
        "access_token_ttl_seconds",
        "userinfo_cache_seconds",
        "log_level",
        "access_log",
        "dev_reload",
        "db_pool_size",
        "threadpool_size",
        "argon2_max_concurrency",
        "hub_api_url",
        "hub_api_token",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"unknown config key '{unknown[0]}'")

    secret_key = _get(raw, "secret_key", str)
    if len(secret_key) < 32:
        raise ConfigError("config key 'secret_key' must be at least 32 characters")

    database_url = _get(raw, "database_url", str, "sqlite:////var/lib/cfps-backend/cfps.db")
    if not (database_url.startswith("sqlite") or database_url.startswith("mysql")):
        raise ConfigError("config key 'database_url' must be a sqlite:// or mysql+pymysql:// URL")

    invite_codes = _str_list(raw, "invite_codes", [])
    if any(len(c) < 8 for c in invite_codes):
        raise ConfigError("config key 'invite_codes': every code needs >= 8 characters")
    rate_limit = RateLimit.parse(_get(raw, "rate_limit", str, "30/minute"))

    trusted = _str_list(raw, "trusted_proxies", ["127.0.0.1"])
    for t in trusted:
        try:
            ipaddress.ip_network(t, strict=False)
        except ValueError:
            raise ConfigError(f"config key 'trusted_proxies': {t!r} is not an IP address or network") from None

    public_url = _get(raw, "public_url", str).rstrip("/")
    pu = urlsplit(public_url)
    if pu.scheme not in ("http", "https") or not pu.netloc:
        raise ConfigError("config key 'public_url' must be an absolute http(s) URL")
    allowed_origins = tuple(o.rstrip("/").lower() for o in _str_list(raw, "allowed_origins", [_origin_of(public_url)]))

    root_path = _get(raw, "root_path", str, "/api").rstrip("/")
    if root_path and not root_path.startswith("/"):
        raise ConfigError("config key 'root_path' must start with '/' (or be empty)")
    login_page_url = _get(raw, "login_page_url", str, "/login")
    logout_default = _get(raw, "logout_redirect_default", str, "/")
    if not logout_default.startswith("/") or logout_default.startswith("//"):
        raise ConfigError("config key 'logout_redirect_default' must be a local path like '/'")

    clients_raw = _get(raw, "clients", list)
    if not clients_raw:
        raise ConfigError("config key 'clients' must list at least one [[clients]] entry")
    clients: dict[str, Client] = {}
    for i, c in enumerate(clients_raw):
        pre = f"clients[{i}]."
        if not isinstance(c, dict):
            raise ConfigError(f"config key 'clients[{i}]' must be a table")
        extra = sorted(set(c) - {"client_id", "client_secret", "redirect_uris", "username_claim"})
        if extra:
            raise ConfigError(f"unknown config key '{pre}{extra[0]}'")
        cid = _get(c, "client_id", str, prefix=pre)
        secret = _get(c, "client_secret", str, prefix=pre)
        if len(secret) < 16:
            raise ConfigError(f"config key '{pre}client_secret' must be at least 16 characters")
        uris = _str_list(c, "redirect_uris", prefix=pre)
        if not uris:
            raise ConfigError(f"config key '{pre}redirect_uris' must not be empty")
        for u in uris:
            p = urlsplit(u)
            if p.scheme not in ("https", "http") or not p.netloc or p.fragment:
                raise ConfigError(f"config key '{pre}redirect_uris': {u!r} must be an absolute URL without fragment")
            if p.scheme == "http" and p.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ConfigError(f"config key '{pre}redirect_uris': {u!r} uses http; only https (or loopback) is allowed")
        if cid in clients:
            raise ConfigError(f"config key '{pre}client_id': duplicate {cid!r}")
        clients[cid] = Client(cid, secret, uris, _get(c, "username_claim", str, "username", prefix=pre))

    pmin = _get(raw, "password_min_length", int, 8)
    pmax = _get(raw, "password_max_length", int, 128)
    if pmin < 8:
        raise ConfigError("config key 'password_min_length' must be >= 8")
    if pmax < 64 or pmax < pmin:
        raise ConfigError("config key 'password_max_length' must be >= 64 and >= password_min_length")

    workers = _get(raw, "workers", int, os.cpu_count() or 1)
    if workers < 1:
        raise ConfigError("config key 'workers' must be >= 1")
    port = _get(raw, "port", int, 8100)
    if not 0 < port < 65536:
        raise ConfigError("config key 'port' must be 1..65535")

    a2 = Argon2Params(
        time_cost=_get(raw, "argon2_time_cost", int, 2),
        memory_cost=_get(raw, "argon2_memory_cost", int, 19456),
        parallelism=_get(raw, "argon2_parallelism", int, 1),
    )
    if not argon2_meets_asvs(a2):
        raise ConfigError(
            "config keys 'argon2_time_cost'/'argon2_memory_cost'/'argon2_parallelism' "
            "are below the OWASP ASVS argon2id minimum (e.g. t=2, m=19456 KiB, p=1)"
        )

    code_ttl = _get(raw, "code_ttl_seconds", int, 300)
    if not 1 <= code_ttl <= 600:
        raise ConfigError("config key 'code_ttl_seconds' must be 1..600")
    at_ttl = _get(raw, "access_token_ttl_seconds", int, 3600)
    if not 60 <= at_ttl <= 86400:
        raise ConfigError("config key 'access_token_ttl_seconds' must be 60..86400")
    cache = _get(raw, "userinfo_cache_seconds", float, 2.0)
    if not 0 <= cache <= 30:
        raise ConfigError("config key 'userinfo_cache_seconds' must be 0..30")

    log_level = _get(raw, "log_level", str, "INFO").upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigError(f"config key 'log_level' must be one of {sorted(_LOG_LEVELS)}")
    pool = _get(raw, "db_pool_size", int, 20)
    tp = _get(raw, "threadpool_size", int, 40)
    if pool < 1 or tp < 1:
        raise ConfigError("config keys 'db_pool_size'/'threadpool_size' must be >= 1")

    a2c_default = max(1, -(-(os.cpu_count() or 1) // workers))  # ceil(cores / workers)
    a2c = _get(raw, "argon2_max_concurrency", int, a2c_default)
    if a2c < 0:
        raise ConfigError("config key 'argon2_max_concurrency' must be >= 0 (0 = unlimited)")

    # JupyterHub's REST API, told when an admin disables, resets or deletes a user.
    hub_api_url = _get(raw, "hub_api_url", str, "").rstrip("/")
    hub_api_token = _get(raw, "hub_api_token", str, "")
    if bool(hub_api_url) != bool(hub_api_token):
        raise ConfigError("config keys 'hub_api_url' and 'hub_api_token' are set together or not at all")
    if hub_api_url and urlsplit(hub_api_url).scheme not in ("http", "https"):
        raise ConfigError("config key 'hub_api_url' must be an http(s) URL")

    return Settings(
        secret_key=secret_key,
        database_url=database_url,
        invite_codes=invite_codes,
        rate_limit=rate_limit,
        trusted_proxies=trusted,
        allowed_origins=allowed_origins,
        public_url=public_url,
        root_path=root_path,
        login_page_url=login_page_url,
        logout_redirect_default=logout_default,
        clients=clients,
        password_min_length=pmin,
        password_max_length=pmax,
        password_require_classes=_get(raw, "password_require_classes", bool, False),
        workers=workers,
        host=_get(raw, "host", str, "127.0.0.1"),
        port=port,
        argon2=a2,
        code_ttl_seconds=code_ttl,
        access_token_ttl_seconds=at_ttl,
        userinfo_cache_seconds=cache,
        log_level=log_level,
        access_log=_get(raw, "access_log", bool, False),
        dev_reload=_get(raw, "dev_reload", bool, False),
        db_pool_size=pool,
        threadpool_size=tp,
        argon2_max_concurrency=a2c,
        hub_api_url=hub_api_url,
        hub_api_token=hub_api_token,
        path=path,
    )
