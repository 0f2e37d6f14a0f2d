"""`cfps-backend` command line."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from . import audit, migrate
from .config import ENV_VAR, ConfigError, Settings, config_path, load_settings
from .i18n import message

# Seconds a uvicorn worker may take to answer the supervisor's health check (cmd_serve).
HEALTHCHECK_TIMEOUT = 60


def _settings(args) -> Settings:
    if args.config:
        os.environ[ENV_VAR] = os.path.abspath(args.config)
    return load_settings()


def _service(settings: Settings):
    from .service import Service

    return Service(settings)


def _migrated_settings(args) -> Settings:
    """The settings, once the database schema is known to be current."""
    settings = _settings(args)
    if not migrate.is_up_to_date(settings.database_url):
        raise ConfigError(
            "database schema is not at the current revision "
            f"(have {migrate.current_revision(settings.database_url)}, "
            f"need {migrate.head_revision(settings.database_url)}): run `cfps-backend db upgrade`"
        )
    return settings


def cmd_serve(args) -> int:
    import uvicorn

    st = _migrated_settings(args)
    os.environ[ENV_VAR] = os.path.abspath(st.path)
    audit.setup_logging(st.log_level, st.access_log)
    workers = 1 if st.dev_reload else (args.workers or st.workers)
    kwargs = {}
    if st.dev_reload:
        kwargs["reload"] = True
        kwargs["reload_dirs"] = [os.path.dirname(os.path.abspath(__file__))]
    uvicorn.run(
        "cfps_backend.asgi:app",
        factory=True,
        host=args.host or st.host,
        port=args.port or st.port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=list(st.trusted_proxies),
        log_config=None,
        log_level=st.log_level.lower(),
        access_log=st.access_log,
        server_header=False,
        timeout_graceful_shutdown=10,
        # uvicorn pings each worker and kills one that does not answer in time
        # (5 s by default). On a host busy starting notebook servers, workers
        # starved of CPU missed the ping and were killed, their replacements
        # too: 502/504 for every login (benchmarks/load.py, #17).
        timeout_worker_healthcheck=args.worker_healthcheck_timeout,
        **kwargs,
    )
    return 0


def cmd_db_upgrade(args) -> int:
    st = _settings(args)
    before = migrate.current_revision(st.database_url)
    migrate.upgrade(st.database_url)
    after = migrate.current_revision(st.database_url)
    print(f"database at revision {after} (was {before or 'empty'})")
    return 0


def cmd_check_config(args) -> int:
    st = _settings(args)
    print(f"config OK: {st.path}")
    print(
        f"  clients: {', '.join(st.clients)}; workers: {st.workers}; rate_limit: "
        f"{st.rate_limit.limit}/{st.rate_limit.period}s; argon2id t={st.argon2.time_cost} "
        f"m={st.argon2.memory_cost}KiB p={st.argon2.parallelism}"
    )
    try:
        rev = migrate.current_revision(st.database_url)
        head = migrate.head_revision(st.database_url)
        print(f"  database: revision {rev or 'none'} (head {head})")
    except Exception as exc:  # noqa: BLE001
        print(f"  database: unreachable ({exc.__class__.__name__})")
        return 1
    return 0


def cmd_invite_create(args) -> int:
    st = _migrated_settings(args)
    print(_service(st).create_invite(args.uses, args.expires_days, args.note or ""))
    return 0


def _fmt_ts(ts: int | None) -> str:
    if ts is None:
        return "never"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _print_table(columns: dict[str, str], rows) -> None:
    """A header line, then a line a row; columns maps each heading to its format spec (alignment, width)."""
    line = "  ".join(f"{{:{spec}}}" for spec in columns.values())
    print(line.format(*columns))
    for row in rows:
        print(line.format(*row))


def cmd_invite_list(args) -> int:
    invites = _service(_migrated_settings(args)).list_invites()
    rows = ((i.id, i.prefix + "…", f"{i.uses:>4}/{i.max_uses:<4}", _fmt_ts(i.expires_at), i.note) for i in invites)
    _print_table({"id": ">4", "code": "<8", "uses": ">9", "expires": "<20", "note": ""}, rows)
    return 0


def cmd_user_list(args) -> int:
    users = _service(_migrated_settings(args)).list_users()
    rows = ((u.username, "disabled" if u.disabled else "active", _fmt_ts(u.created_at)) for u in users)
    _print_table({"username": "<16", "status": "<8", "created": ""}, rows)
    return 0


def _end_hub_session(st: Settings, name: str) -> int:
    """After an admin action: end the user's hub session and stop their server."""
    from .hub import HubError, end_session

    try:
        told = end_session(st, name)
    except HubError as exc:
        print(f"error: {exc}; run the command again once the hub answers (its session goes on until then)", file=sys.stderr)
        return 1
    if told:
        print("  their JupyterHub session is ended and their server stopped (their files are kept)")
    return 0


def cmd_user_enable(args, disabled: bool) -> int:
    st = _migrated_settings(args)
    if not _service(st).set_disabled(args.name, disabled):
        print(f"error: no user {args.name!r}", file=sys.stderr)
        return 1
    print(f"user {args.name} {'disabled' if disabled else 'enabled'}")
    return _end_hub_session(st, args.name) if disabled else 0


def cmd_user_delete(args) -> int:
    st = _migrated_settings(args)
    if not _service(st).delete_user(args.name):
        print(f"error: no user {args.name!r}", file=sys.stderr)
        return 1
    print(f"user {args.name} deleted")
    return _end_hub_session(st, args.name)


def cmd_user_reset(args) -> int:
    st = _migrated_settings(args)
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("new password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    fail = _service(st).reset_password(args.name, password)
    if fail:
        print(f"error: {message(fail.error, 'en', **fail.params)}", file=sys.stderr)
        return 1
    print(f"password of {args.name} reset; its access tokens were revoked")
    return _end_hub_session(st, args.name)


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line and exit status 2 (argparse's usual status)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _bounded(kind, low, high):
    """An argparse type: a finite number of `kind` in [low, high]."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not (low <= value <= high):  # also false for nan; inf is out of range
            raise argparse.ArgumentTypeError(f"{text!r} is not between {low} and {high}")
        return value

    return parse


def _username(text: str) -> str:
    """Stripped and lower-cased, as the HTTP side does."""
    from .policy import normalize_username

    name = normalize_username(text)
    if not name:
        raise argparse.ArgumentTypeError("the user name is empty")
    return name


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cfps-backend", description="CFPS Hub auth service")
    p.add_argument("--config", help=f"config file (default: ${ENV_VAR} or {config_path()})")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    s = sub.add_parser("serve", help="run the HTTP service (uvicorn)")
    s.add_argument("--host")
    s.add_argument("--port", type=_bounded(int, 1, 65535))
    s.add_argument("--workers", type=_bounded(int, 1, 64))
    s.add_argument(
        "--worker-healthcheck-timeout",
        type=_bounded(int, 1, 3600),
        default=HEALTHCHECK_TIMEOUT,
        metavar="SECONDS",
        help=f"seconds a worker may take to answer uvicorn's health check before it is replaced "
        f"(default {HEALTHCHECK_TIMEOUT}; uvicorn's own is 5)",
    )
    s.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database").add_subparsers(dest="dbcmd", required=True, parser_class=_Parser)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    sub.add_parser("check-config", help="validate the config file").set_defaults(func=cmd_check_config)

    inv = sub.add_parser("invite", help="invite codes").add_subparsers(dest="invcmd", required=True, parser_class=_Parser)
    ic = inv.add_parser("create", help="create a code (printed once)")
    ic.add_argument("--uses", type=_bounded(int, 1, 1_000_000), default=1, help="1 to 1000000 (default 1)")
    ic.add_argument(
        "--expires-days", type=_bounded(float, 0.001, 3650), default=7.0, help="more than 0, at most 3650 (default 7)"
    )
    ic.add_argument("--note", default="")
    ic.set_defaults(func=cmd_invite_create)
    inv.add_parser("list", help="list codes").set_defaults(func=cmd_invite_list)

    us = sub.add_parser("user", help="accounts").add_subparsers(dest="usercmd", required=True, parser_class=_Parser)
    us.add_parser("list").set_defaults(func=cmd_user_list)
    d = us.add_parser("disable", help="refuse new logins; end the hub session, stop the server")
    d.add_argument("name", type=_username)
    d.set_defaults(func=lambda a: cmd_user_enable(a, True))
    e = us.add_parser("enable")
    e.add_argument("name", type=_username)
    e.set_defaults(func=lambda a: cmd_user_enable(a, False))
    x = us.add_parser("delete", help="remove the account (the user's files are kept)")
    x.add_argument("name", type=_username)
    x.set_defaults(func=cmd_user_delete)
    r = us.add_parser("reset-password", help="read the new password from stdin")
    r.add_argument("name", type=_username)
    r.set_defaults(func=cmd_user_reset)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"cfps-backend: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
