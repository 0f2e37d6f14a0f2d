"""Verify the backend role: the auth service as a hardened unit on 127.0.0.1:8100.

A user registers with the invite code and logs in through the real OAuth flow
(POST /login with PKCE, POST /token, GET /userinfo), from inside the instance.
The same account still logs in after a second converge (secrets kept byte for
byte) and after a reboot.
"""

import json
import re
import shlex

import pytest

from conftest import SCENARIO_DIR, assert_exposure, reboot
from conftest import oauth_login as conftest_oauth_login
from playbook import assert_check_mode_clean, flat, recap, refused, run_playbook

BASE = "http://127.0.0.1:8100"
INVITE = "cfps-test-invite-2024"
CLIENT_ID = "jupyterhub"
CLIENT_SECRET = "test-client-secret-0123456789"
REDIRECT_URI = "https://hub.example.test/jupyter/hub/oauth_callback"
USERNAME = "molecule_user"
PASSWORD = "Slow-Orange-Tractor-47"
WRONG_PASSWORD = "Fast-Purple-Bicycle-12"
CONFIG = "/etc/cfps-backend/config.toml"
SECRET = "/etc/cfps-backend/secret_key"
DB = "/var/lib/cfps-backend/cfps.db"
BACKUPS = "/var/lib/cfps-backend/backups"


# Runs inside the instance (system python3, standard library only): one OAuth
# login of argv[1]/argv[2], printed as JSON.
def oauth_login(host, username=USERNAME, password=PASSWORD):
    return conftest_oauth_login(host, username, password, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)


def assert_logs_in(host):
    result = oauth_login(host)
    assert result["login_status"] == 303, result
    assert result["redirect_ok"], result
    assert result["token_status"] == 200, result
    assert result["userinfo_status"] == 200
    assert result["userinfo"]["username"] == USERNAME


def db_revision(host):
    """(current, head) schema revisions, as check-config reports them."""
    cli = "/opt/cfps-backend/venv/bin/cfps-backend"
    out = host.check_output(f"runuser -u cfps-backend -- {cli} --config {CONFIG} check-config")
    assert "config OK" in out
    match = re.search(r"database: revision (\S+) \(head (\S+)\)", out)
    assert match, out
    return match.group(1), match.group(2)


def sqlite(host, path, statements, user="root"):
    """Run SQL statements (';'-separated) on an SQLite file in the instance; print the first row."""
    script = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); r = c.executescript(sys.argv[2]); c.commit()"
    if statements.lower().startswith("select"):
        script = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])"
    cmd = " ".join(shlex.quote(a) for a in ("runuser", "-u", user, "--", "python3", "-c", script, path, statements))
    return host.check_output(cmd)


def curl_post_json(host, path, payload):
    """(status, body) of a JSON POST."""
    data = shlex.quote(json.dumps(payload))
    out = host.check_output(
        f"curl -s -w '\\n%{{http_code}}' -H 'Content-Type: application/json' -d {data} {BASE}{path}"
    )
    body, status = out.rsplit("\n", 1)
    return status, body


def sha256(host, path):
    return host.check_output(f"sha256sum {path}").split()[0]


def wait_healthy(host, seconds=120):
    # Until the service answers (its start after a boot can take a while on a busy machine).
    retry = f"--retry {seconds} --retry-delay 1 --retry-max-time {seconds} --retry-connrefused"
    host.run_expect([0], f"curl -sf {retry} -o /dev/null {BASE}/health")


def test_service_active_and_enabled(host):
    svc = host.service("cfps-backend")
    assert svc.is_running and svc.is_enabled
    unit = host.check_output("systemctl show cfps-backend -p User -p Restart -p Environment")
    assert "User=cfps-backend" in unit and "Restart=on-failure" in unit
    assert "CFPS_BACKEND_CONFIG=/etc/cfps-backend/config.toml" in unit


def test_system_user(host):
    user = host.user("cfps-backend")
    assert user.group == "cfps-backend"
    assert user.shell == "/usr/sbin/nologin"
    assert user.home == "/var/lib/cfps-backend"


def test_listens_on_loopback_only(host):
    # As the service user, ss may read the service's sockets and name their processes.
    owned = host.check_output("runuser -u cfps-backend -- ss -ltnpH").splitlines()
    service_sockets = [line.split()[3] for line in owned if "users:" in line]
    assert service_sockets, owned
    assert set(service_sockets) == {"127.0.0.1:8100"}
    # And nothing else listens on 8100 on any address.
    listeners = [line.split()[3] for line in host.check_output("ss -ltnH").splitlines()]
    assert [addr for addr in listeners if addr.endswith(":8100")] == ["127.0.0.1:8100"]


def test_files_and_permissions(host):
    config = host.file(CONFIG)
    assert (config.user, config.group, config.mode) == ("root", "cfps-backend", 0o640)
    secret = host.file(SECRET)
    assert (secret.user, secret.mode) == ("root", 0o600)
    assert re.fullmatch(r"[A-Za-z0-9]{64}", secret.content_string)
    assert f'secret_key = "{secret.content_string}"' in config.content_string
    state = host.file("/var/lib/cfps-backend")
    assert (state.user, state.mode) == ("cfps-backend", 0o750)
    # Only the package was copied: no tests, no caches.
    assert host.file("/opt/cfps-backend/src/cfps_backend/cli.py").exists
    assert not host.file("/opt/cfps-backend/src/tests").exists
    assert host.run("find /opt/cfps-backend/src -name __pycache__").stdout == ""


def test_config_is_valid_for_the_service(host):
    # Migrated on deploy: the database is at the head revision.
    current, head = db_revision(host)
    assert current == head != "none"


def test_health(host):
    body = json.loads(host.check_output(f"curl -sf {BASE}/health"))
    assert body == {"status": "ok", "database": "ok"}


def test_register_with_invite_code(host):
    status, body = curl_post_json(
        host, "/register", {"username": USERNAME, "password": PASSWORD, "invite_code": INVITE}
    )
    assert status == "201", body
    assert json.loads(body)["username"] == USERNAME
    # A wrong code is refused.
    status, body = curl_post_json(
        host, "/register", {"username": "other_user", "password": PASSWORD, "invite_code": "not-the-code"}
    )
    assert status == "400", body


def test_oauth_login(host):
    assert_logs_in(host)
    wrong = oauth_login(host, password=WRONG_PASSWORD)
    assert wrong["login_status"] == 401


def test_second_converge_keeps_secrets(host):
    before = {path: sha256(host, path) for path in (SECRET, CONFIG)}
    pid_before = host.check_output("systemctl show -p MainPID --value cfps-backend")
    result = run_playbook(SCENARIO_DIR / "converge.yml")
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result)["changed"] == 0
    assert {path: sha256(host, path) for path in (SECRET, CONFIG)} == before
    # Nothing was reinstalled or restarted, no backup was taken.
    assert host.check_output("systemctl show -p MainPID --value cfps-backend") == pid_before
    assert host.check_output(f"ls -A {BACKUPS}") == ""
    assert_logs_in(host)


def test_check_mode_reports_no_changes():
    assert_check_mode_clean()


def test_login_after_reboot(host):
    reboot(host)
    wait_healthy(host)
    assert host.service("cfps-backend").is_enabled
    assert host.service("cfps-backend").is_running, host.run("systemctl status --no-pager cfps-backend").stdout
    assert_logs_in(host)


def test_hardening_exposure(host):
    assert_exposure(host, "backend", "cfps-backend.service")


def test_missing_client_secret_fails_before_any_change(host):
    before = sha256(host, CONFIG)
    result = run_playbook(SCENARIO_DIR / "no-client-secret.yml")
    assert result.returncode != 0
    counts = recap(result)
    assert counts["failed"] == 1 and counts["changed"] == 0
    assert "backend_hub_client_secret" in flat(result.stdout)
    assert sha256(host, CONFIG) == before


def test_short_client_secret_is_refused(host):
    result = run_playbook(SCENARIO_DIR / "converge.yml", extra_vars={"backend_hub_client_secret": "too-short"})
    out = refused(result)
    assert "backend_hub_client_secret must have at least 16 characters" in out


@pytest.fixture
def foreign_database(host):
    """Swap in an SQLite file without our schema (and a broken install stamp); restore afterwards."""
    host.run_expect([0], "systemctl stop cfps-backend")
    host.run_expect([0], f"mkdir -p /root/db-keep && mv {DB}* /root/db-keep/")
    sqlite(host, DB, "create table keepme (x); insert into keepme values (42);", user="cfps-backend")
    host.run_expect([0], "rm /opt/cfps-backend/venv/.cfps-backend-src.sha256")
    yield
    host.run_expect([0], "systemctl stop cfps-backend")
    host.run_expect([0], f"rm -f {DB}* {BACKUPS}/* && mv /root/db-keep/* /var/lib/cfps-backend/ && rmdir /root/db-keep")
    host.run_expect([0], "systemctl start cfps-backend")
    wait_healthy(host)


def test_converge_repairs_install_and_backs_up_before_migrating(host, foreign_database):
    result = run_playbook(SCENARIO_DIR / "converge.yml")
    assert result.returncode == 0, result.stdout[-3000:]
    # The missing stamp made pip run again; the unmigrated database was backed up, then migrated.
    assert re.search(r"Install the package with pip\]\s*\**\s*changed:", result.stdout), result.stdout[-5000:]
    assert host.file("/opt/cfps-backend/venv/.cfps-backend-src.sha256").exists
    backups = host.check_output(f"ls {BACKUPS}").split()
    assert len(backups) == 1 and re.fullmatch(r"cfps\.db\.\d{8}T\d{6}Z", backups[0])
    assert sqlite(host, f"{BACKUPS}/{backups[0]}", "select x from keepme") == "42"
    assert host.file(f"{BACKUPS}/{backups[0]}").user == "cfps-backend"
    current, head = db_revision(host)
    assert current == head != "none"
    assert json.loads(host.check_output(f"curl -sf {BASE}/health"))["status"] == "ok"


def test_still_logs_in_after_restore(host):
    assert_logs_in(host)
