"""Configuration: one TOML file, path from $CFPS_BACKEND_CONFIG.

Read by pydantic-settings (the TOML file is its only source: no environment
variables, .env file or secrets folder) and validated by pydantic in strict
mode. No secret has a default here. Every problem raises ConfigError whose
message names the offending key, so `cfps-backend check-config` and service
start-up tell the operator exactly what to fix.
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

DEFAULT_CONFIG_PATH = "/etc/cfps-backend/config.toml"
ENV_VAR = "CFPS_BACKEND_CONFIG"

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*$")
_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
# Numeric keys: lowest, highest (None: no upper bound), what the error adds.
_RANGES: dict[str, tuple[float, float | None, str]] = {
    "password_min_length": (8, None, ""),
    "workers": (1, None, ""),
    "port": (1, 65535, ""),
    "code_ttl_seconds": (1, 600, ""),
    "access_token_ttl_seconds": (60, 86400, ""),
    "userinfo_cache_seconds": (0, 30, ""),
    "db_pool_size": (1, None, ""),
    "threadpool_size": (1, None, ""),
    "argon2_max_concurrency": (0, None, " (0 = unlimited)"),
}

# The file Settings reads while load_settings() builds it (pydantic-settings
# takes a TOML source's path from the class otherwise).
_config_file: contextvars.ContextVar[str] = contextvars.ContextVar("cfps_backend_config_file")


class ConfigError(ValueError):
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
class Argon2Params:
    time_cost: int = 2
    memory_cost: int = 19456  # KiB
    parallelism: int = 1


def argon2_meets_asvs(p: Argon2Params) -> bool:
    """One of the OWASP/ASVS argon2id profiles: (m>=47104,t>=1), (m>=19456,t>=2),
    (m>=12288,t>=3), (m>=9216,t>=4), (m>=7168,t>=5)."""
    profiles = [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)]
    return p.parallelism >= 1 and any(p.memory_cost >= m and p.time_cost >= t for m, t in profiles)


def _origin_of(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}".lower()


def _tuple(value: Any) -> Any:
    # TOML arrays arrive as lists; strict mode takes only tuples for tuple fields.
    return tuple(value) if isinstance(value, list) else value


# Messages of the validators below: one starting with "config key" is used as
# it is; any other follows "config key '<the key>'" (see _message).
StrTuple = Annotated[tuple[str, ...], BeforeValidator(_tuple)]
_STRICT = ConfigDict(strict=True, frozen=True, extra="forbid")


class Client(BaseModel):
    """One [[clients]] entry."""

    model_config = _STRICT

    client_id: str
    client_secret: Annotated[str, Field(min_length=16)]
    redirect_uris: StrTuple
    username_claim: str = "username"

    @field_validator("redirect_uris")
    @classmethod
    def _uris(cls, uris: tuple[str, ...]) -> tuple[str, ...]:
        if not uris:
            raise ValueError("must not be empty")
        for u in uris:
            p = urlsplit(u)
            if p.scheme not in ("https", "http") or not p.netloc or p.fragment:
                raise ValueError(f": {u!r} must be an absolute URL without fragment")
            if p.scheme == "http" and p.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError(f": {u!r} uses http; only https (or loopback) is allowed")
        return uris


def _default_workers() -> int:
    return os.cpu_count() or 1


def _default_argon2_concurrency(data: dict[str, Any]) -> int:
    workers = data.get("workers") or 1
    return max(1, -(-(os.cpu_count() or 1) // workers))  # ceil(cores / workers)


def _default_origins(data: dict[str, Any]) -> tuple[str, ...]:
    return (_origin_of(data["public_url"]),) if "public_url" in data else ()


class Settings(BaseSettings):
    """The service's settings. Keys, defaults and limits: app/backend/README.md."""

    model_config = SettingsConfigDict(strict=True, frozen=True, extra="forbid", case_sensitive=True)

    secret_key: Annotated[str, Field(min_length=32)]
    database_url: str = "sqlite:////var/lib/cfps-backend/cfps.db"
    invite_codes: StrTuple = ()
    rate_limit: RateLimit = RateLimit(30, 60)
    trusted_proxies: StrTuple = ("127.0.0.1",)
    public_url: str
    allowed_origins: StrTuple = Field(default_factory=_default_origins)
    root_path: str = "/api"
    login_page_url: str = "/login"
    logout_redirect_default: str = "/"
    client_list: Annotated[tuple[Client, ...], BeforeValidator(_tuple)] = Field(alias="clients")
    password_min_length: int = 8
    password_max_length: int = 128
    password_require_classes: bool = False
    workers: int = Field(default_factory=_default_workers)
    host: str = "127.0.0.1"
    port: int = 8100
    argon2_time_cost: int = 2
    argon2_memory_cost: int = 19456  # KiB
    argon2_parallelism: int = 1
    code_ttl_seconds: int = 300
    access_token_ttl_seconds: int = 3600
    userinfo_cache_seconds: float = 2.0
    log_level: str = "INFO"
    access_log: bool = False
    dev_reload: bool = False
    db_pool_size: int = 20
    threadpool_size: int = 40
    argon2_max_concurrency: int = Field(default_factory=_default_argon2_concurrency)
    # JupyterHub's REST API, told when an admin disables, resets or deletes a user.
    hub_api_url: str = ""
    hub_api_token: str = ""

    _path: str = PrivateAttr("")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The config file alone (one place per knob): no environment variable,
        # .env file or secrets folder changes a setting behind the operator's back.
        path = _config_file.get(None)
        return (TomlConfigSettingsSource(settings_cls, toml_file=path),) if path else (init_settings,)

    # ------------------------------------------------------------ derived
    @property
    def path(self) -> str:
        """The file these settings were read from."""
        return self._path

    @cached_property
    def clients(self) -> dict[str, Client]:
        return {c.client_id: c for c in self.client_list}

    @cached_property
    def argon2(self) -> Argon2Params:
        return Argon2Params(self.argon2_time_cost, self.argon2_memory_cost, self.argon2_parallelism)

    # --------------------------------------------------------- validators
    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        if not (v.startswith("sqlite") or v.startswith("mysql")):
            raise ValueError("must be a sqlite:// or mysql+pymysql:// URL")
        return v

    @field_validator("invite_codes")
    @classmethod
    def _invite_codes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(len(c) < 8 for c in v):
            raise ValueError(": every code needs >= 8 characters")
        return v

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _rate_limit(cls, v: Any) -> Any:
        if isinstance(v, RateLimit):
            return v
        if not isinstance(v, str):
            raise ValueError("must be of type str")
        return RateLimit.parse(v)

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for t in v:
            try:
                ipaddress.ip_network(t, strict=False)
            except ValueError:
                raise ValueError(f": {t!r} is not an IP address or network") from None
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        v = v.rstrip("/")
        pu = urlsplit(v)
        if pu.scheme not in ("http", "https") or not pu.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return v

    @field_validator("allowed_origins")
    @classmethod
    def _allowed_origins(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(o.rstrip("/").lower() for o in v)

    @field_validator("root_path")
    @classmethod
    def _root_path(cls, v: str) -> str:
        v = v.rstrip("/")
        if v and not v.startswith("/"):
            raise ValueError("must start with '/' (or be empty)")
        return v

    @field_validator("logout_redirect_default")
    @classmethod
    def _logout_default(cls, v: str) -> str:
        if not v.startswith("/") or v.startswith("//"):
            raise ValueError("must be a local path like '/'")
        return v

    @field_validator("client_list")
    @classmethod
    def _clients(cls, v: tuple[Client, ...]) -> tuple[Client, ...]:
        if not v:
            raise ValueError("config key 'clients' must list at least one [[clients]] entry")
        seen: set[str] = set()
        for i, c in enumerate(v):
            if c.client_id in seen:
                raise ValueError(f"config key 'clients[{i}].client_id': duplicate {c.client_id!r}")
            seen.add(c.client_id)
        return v

    @field_validator(*_RANGES)
    @classmethod
    def _in_range(cls, v: float, info: ValidationInfo) -> float:
        low, high, note = _RANGES[info.field_name]
        if not (low <= v and (high is None or v <= high)):  # also false for nan
            raise ValueError(f"must be {low}..{high}{note}" if high is not None else f"must be >= {low}{note}")
        return v

    @field_validator("password_max_length")
    @classmethod
    def _pmax(cls, v: int, info: ValidationInfo) -> int:
        if v < 64 or v < info.data.get("password_min_length", 8):
            raise ValueError("must be >= 64 and >= password_min_length")
        return v

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, v: str) -> str:
        v = v.upper()
        if v not in _LOG_LEVELS:
            raise ValueError(f"must be one of {sorted(_LOG_LEVELS)}")
        return v

    @field_validator("hub_api_url")
    @classmethod
    def _hub_api_url(cls, v: str) -> str:
        v = v.rstrip("/")
        if v and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL")
        return v

    @model_validator(mode="after")
    def _together(self) -> Settings:
        if not argon2_meets_asvs(self.argon2):
            raise ValueError(
                "config keys 'argon2_time_cost'/'argon2_memory_cost'/'argon2_parallelism' "
                "are below the OWASP ASVS argon2id minimum (e.g. t=2, m=19456 KiB, p=1)"
            )
        if bool(self.hub_api_url) != bool(self.hub_api_token):
            raise ValueError("config keys 'hub_api_url' and 'hub_api_token' are set together or not at all")
        return self


# pydantic error type -> what the key must be (type errors; strict mode, so
# "1" is no integer and 1 is no string).
_EXPECTED = {
    "string_type": "of type str",
    "int_type": "of type int",
    "float_type": "of type float",
    "bool_type": "of type bool",
    "tuple_type": "of type list",
    "list_type": "of type list",
}


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: dict[str, Any]) -> str:
    """One pydantic error as the message that names the key."""
    loc, kind = tuple(err["loc"]), err["type"]
    key = _key(loc)
    if kind == "missing":
        return f"missing required config key '{key}'"
    if kind == "extra_forbidden":
        return f"unknown config key '{key}'"
    if kind in ("value_error", "assertion_error"):
        text = str(err["ctx"]["error"])
        if text.startswith("config key"):
            return text
        return f"config key '{key}'{'' if text.startswith(':') else ' '}{text}"
    if kind == "string_too_short":
        return f"config key '{key}' must be at least {err['ctx']['min_length']} characters"
    if kind == "model_type":
        return f"config key '{key}' must be a table"
    if loc and isinstance(loc[-1], int):  # an element of a list
        return f"config key '{_key(loc[:-1])}' must be a list of strings"
    if kind == "int_type" and isinstance(err.get("input"), bool):
        return f"config key '{key}' must be an integer"
    return f"config key '{key}' must be {_EXPECTED.get(kind, 'valid: ' + err['msg'])}"


def config_path() -> str:
    return os.environ.get(ENV_VAR) or DEFAULT_CONFIG_PATH


def load_settings(path: str | None = None) -> Settings:
    path = path or config_path()
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path} not found (set {ENV_VAR} to its path)")
    token = _config_file.set(path)
    try:
        settings = Settings()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except ValidationError as exc:
        raise ConfigError(_first_message(exc)) from None
    finally:
        _config_file.reset(token)
    settings._path = path
    return settings


def _first_message(exc: ValidationError) -> str:
    # An unknown key first (a typo explains the rest); then the order of the fields.
    errors = [e for e in exc.errors(include_url=False) if e["type"] != "default_factory_not_called"]
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    return _message(errors[0])
