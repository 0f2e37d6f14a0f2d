"""Verify the backup role: a backup of one host restored onto a fresh one.

cfps-backup gets researchers (registered through the auth service's API with
an invite code of 4 uses, 2 used), their homes as Docker volumes — a plain
volume as before quotas and a volume bound to a folder as the hub makes
now — with a notebook, a file with a Chinese name and random data, files in
the team folder, a row in the CFPS database, an access token from the auth
service, and a user in the hub (a group, an API token, a stopped named server
with its spawner state). It is backed up by the systemd service while the
auth service and the hub run. cfps-backup-restore, converged the same way but
never used, gets playbooks/restore.yml alone; there the researcher logs in
with the old password and the old access token is accepted (the auth service
runs with the restored signing key), every file is byte-equal with the same
owner and mode, the invite code has the same uses left, the hub started from
the restored database answers with the same user, the row is back and
`restic check` is clean. A second backup of the first host adds little to the
repository.
"""

import json
import re
import secrets
import shlex
import time

import pytest
import testinfra

from conftest import INSTANCE, ROOT, SCENARIO_DIR, assert_exposure
from conftest import oauth_login as conftest_oauth_login
from playbook import flat, run_playbook

TARGET = f"{INSTANCE}-restore"
PASSWORD = "cfps-test-backup-password"
GROUP_VARS = SCENARIO_DIR / "group_vars" / "all.yml"
CLI = "runuser -u cfps-backend -- /opt/cfps-backend/venv/bin/cfps-backend --config /etc/cfps-backend/config.toml"
CLIENT_ID = "jupyterhub"
CLIENT_SECRET = "test-client-secret-0123456789"
REDIRECT_URI = "https://hub.example.test/jupyter/hub/oauth_callback"
USER_PASSWORD = "Quiet-River-Lantern-58"
# Per run, so that the verifier can run again on the same instances.
RUN = secrets.token_hex(3)
USERS = [f"wang{RUN}", f"li{RUN}"]
PLAIN_VOLUME = f"jupyterhub-user-{USERS[0]}"
BOUND_VOLUME = f"jupyterhub-home-{USERS[1]}"
BOUND_DIR = f"/srv/cfps/homes/{USERS[1]}"
DATA_DIRS = [f"/var/lib/docker/volumes/{PLAIN_VOLUME}/_data", BOUND_DIR, "/srv/cfps/team-shared"]
MARKER = f"标记-{RUN}"
NOTEBOOK = json.dumps(
    {
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": "print('收入')", "outputs": [], "execution_count": None}
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    },
    ensure_ascii=False,
)
SEED = r"""
set -eu
docker volume create {plain} >/dev/null
mkdir -p {bound_dir}
docker volume create -d local -o type=none -o o=bind -o device={bound_dir} {bound} >/dev/null
for d in /var/lib/docker/volumes/{plain}/_data {bound_dir}; do
  mkdir -p "$d/work"
  printf '%s' {notebook} > "$d/work/分析.ipynb"
  echo '城乡收入差距 synthetic notes' > "$d/数据说明.txt"
  head -c 3000000 /dev/urandom > "$d/work/synthetic-{run}.bin"
  chown -R 1000:100 "$d"
  chmod 0600 "$d/数据说明.txt"
done
printf 'team notes {run}\n' > /srv/cfps/team-shared/团队笔记-{run}.md
head -c 2000000 /dev/urandom > /srv/cfps/team-shared/shared-{run}.bin
chown -R 1000:100 /srv/cfps/team-shared
mariadb -e "CREATE TABLE IF NOT EXISTS cfps.backup_marker (v VARCHAR(64)) DEFAULT CHARSET=utf8mb4;
            INSERT INTO cfps.backup_marker VALUES ('{marker}')"
"""
# sha256, owner, group and mode of every file in the data folders.
FINGERPRINT = "find {dirs} -type f -print0 | sort -z | xargs -0 stat -c '%n %u %g %a' && " + (
    "find {dirs} -type f -print0 | sort -z | xargs -0 sha256sum"
)

# Runs inside the instance (system python3): one OAuth login, printed as JSON.
HUB_API = "http://127.0.0.1:8081/hub/api"
# The service token of files/jupyterhub_config.py.
HUB_TOKEN = "backup-test-hub-token-0123456789abcdef"
HUB_GROUP = f"survey-team-{RUN}"
HUB_SERVER = f"""
from jupyterhub import orm
db = orm.new_session_factory("sqlite:////var/lib/jupyterhub/jupyterhub.sqlite")()
user = orm.User.find(db, "{USERS[0]}")
db.add(orm.Spawner(user=user, name="analysis",
                   state={{"object_name": "jupyter-{USERS[0]}-analysis", "object_id": "{RUN * 8}"}}))
db.commit()
"""


def oauth_login(host, username, password):
    return conftest_oauth_login(host, username, password, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)


def userinfo(host, token):
    """The auth service's /userinfo for a bearer token: (HTTP status, body)."""
    out = host.check_output(
        f"curl -s -w '\\n%{{http_code}}' -H {shlex.quote('Authorization: Bearer ' + token)} http://127.0.0.1:8100/userinfo"
    )
    body, status = out.rsplit("\n", 1)
    return int(status), body


def hub_api(host, method, path, data=None, token=HUB_TOKEN):
    """One call to the hub's REST API on the instance: (HTTP status, JSON body or None)."""
    cmd = f"curl -s -w '\\n%{{http_code}}' -X {method} -H {shlex.quote('Authorization: token ' + token)}"
    if data is not None:
        cmd += f" -d {shlex.quote(json.dumps(data))}"
    body, status = host.check_output(f"{cmd} {shlex.quote(HUB_API + path)}").rsplit("\n", 1)
    return int(status), (json.loads(body) if body else None)


def wait_hub(host):
    host.run_expect(
        [0],
        "curl -sf --retry 180 --retry-delay 1 --retry-connrefused --retry-all-errors -o /dev/null http://127.0.0.1:8081/hub/health",
    )


def hub_user(host):
    """What the hub knows of the researcher, stopped servers with their spawner state; no activity times."""
    status, model = hub_api(host, "GET", f"/users/{USERS[0]}?include_stopped_servers")
    assert status == 200, (status, model)
    model.pop("last_activity")
    for server in model["servers"].values():
        server.pop("last_activity")
    return model


def seed_hub(host):
    """The researcher in the hub: created through its API, in a group, with an API token of their own,
    and a stopped named server as DockerSpawner leaves it (its state written with the hub's ORM)."""
    wait_hub(host)
    assert hub_api(host, "POST", f"/users/{USERS[0]}")[0] == 201
    assert hub_api(host, "POST", f"/groups/{HUB_GROUP}", {"users": [USERS[0]]})[0] == 201
    status, token = hub_api(host, "POST", f"/users/{USERS[0]}/tokens", {"note": "backup-test"})
    assert status == 201, token
    python = "/opt/jupyterhub/venv/bin/python"
    host.run_expect([0], f"cd / && runuser -u jupyterhub -- {python} -c {shlex.quote(HUB_SERVER)}")
    # The running hub reads its users' servers once: it sees the new one after a restart.
    host.run_expect([0], "systemctl restart jupyterhub")
    wait_hub(host)
    return token["token"]


def register(host, username, invite):
    data = shlex.quote(json.dumps({"username": username, "password": USER_PASSWORD, "invite_code": invite}))
    out = host.check_output(
        f"curl -s -w '\\n%{{http_code}}' -H 'Content-Type: application/json' -d {data} http://127.0.0.1:8100/register"
    )
    return out.rsplit("\n", 1)[1]


def wait_healthy(host):
    host.run_expect(
        [0],
        "curl -sf --retry 180 --retry-delay 1 --retry-connrefused --retry-all-errors -o /dev/null http://127.0.0.1:8100/health",
    )


def added_bytes(log):
    """restic's "Added to the repository" of one run, in bytes."""
    match = re.search(r"Added to the repository: ([0-9.]+) (B|KiB|MiB|GiB)", log)
    assert match, log[-3000:]
    return float(match.group(1)) * {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[match.group(2)]


def run_backup(host):
    """Start the service (oneshot: returns when done); its rc, journal of that run and seconds taken."""
    t = time.monotonic()
    rc = host.run("systemctl start cfps-backup.service").rc
    seconds = time.monotonic() - t
    invocation = host.check_output("systemctl show -p InvocationID --value cfps-backup.service")
    log = host.check_output(f"journalctl -o cat --no-pager _SYSTEMD_INVOCATION_ID={invocation}")
    return rc, log, seconds


def target_inventory(tmp_path, name=TARGET):
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(f"[cfps_hub]\n{name}\n", encoding="utf-8")
    return str(inventory)


def target_recap(result):
    match = re.search(rf"^{re.escape(TARGET)}\s*:\s*(.*)$", result.stdout, re.M)
    assert match, result.stdout[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def restore(tmp_path, **extra):
    return run_playbook(
        ROOT / "playbooks" / "restore.yml",
        "-e",
        f"@{GROUP_VARS}",
        extra_vars={"backup_password": PASSWORD, **extra},
        inventory=target_inventory(tmp_path),
    )


@pytest.fixture(scope="module")
def target():
    return testinfra.get_host(f"docker://{TARGET}")


@pytest.fixture(scope="module")
def restored(host, target, tmp_path_factory):
    """Seed the first host, back it up, restore onto the second; what each side saw."""
    wait_healthy(host)
    invite = host.check_output(f"{CLI} invite create --uses 4 --note backup-test").strip().splitlines()[-1]
    for user in USERS:
        assert register(host, user, invite) == "201"
    host.run_expect(
        [0],
        SEED.format(
            plain=PLAIN_VOLUME,
            bound=BOUND_VOLUME,
            bound_dir=BOUND_DIR,
            notebook=shlex.quote(NOTEBOOK),
            run=RUN,
            marker=MARKER,
        ),
    )
    login = oauth_login(host, USERS[0], USER_PASSWORD)
    assert login["token_status"] == 200, login
    hub_token = seed_hub(host)
    before = {
        "access_token": login["access_token"],
        "hub_token": hub_token,
        "hub_user": hub_user(host),
        "cookie_secret": host.check_output("sha256sum /var/lib/jupyterhub/jupyterhub_cookie_secret").split()[0],
        "files": host.check_output(FINGERPRINT.format(dirs=" ".join(DATA_DIRS))),
        "invites": host.check_output(f"{CLI} invite list"),
        "secret": host.check_output("sha256sum /etc/cfps-backend/secret_key").split()[0],
        "secret_stat": host.check_output("stat -c '%U %G %a' /etc/cfps-backend/secret_key"),
    }
    rc, log, backup_seconds = run_backup(host)
    assert rc == 0, log[-3000:]
    before["added"] = added_bytes(log)
    before["status"] = host.check_output("cfps-backup status")
    assert host.check_output("hostname") != target.check_output("hostname")
    t = time.monotonic()
    result = restore(tmp_path_factory.mktemp("restore"))
    restore_seconds = time.monotonic() - t
    assert result.returncode == 0, result.stdout[-5000:]
    # What `cfps-backup restore` itself reports (the playbook also stops, starts and configures).
    reported = re.search(r"restore of [0-9a-f]{8} done in ([0-9.]+) s", result.stdout)
    assert reported, result.stdout[-5000:]
    wait_healthy(target)
    before["seconds"] = {"backup": backup_seconds, "restore": restore_seconds, "restored": float(reported.group(1))}
    return before


def test_timer_and_units(host):
    assert host.service("cfps-backup.timer").is_enabled
    assert host.service("cfps-backup.timer").is_running
    timer = host.file("/etc/systemd/system/cfps-backup.timer").content_string
    assert "Persistent=true" in timer and "RandomizedDelaySec=1800" in timer
    for path in ("/etc/cfps-backup/password", "/etc/cfps-backup/config.json"):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("root", "root", 0o600)


def test_status_names_the_last_good_backup(restored):
    assert re.match(r"last good backup: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ snapshot [0-9a-f]{8}\n", restored["status"])


def test_user_logs_in_with_the_old_password(restored, target):
    result = oauth_login(target, USERS[0], USER_PASSWORD)
    assert result["login_status"] == 303, result
    assert result["token_status"] == 200, result
    assert result["userinfo"]["username"] == USERS[0]
    assert oauth_login(target, USERS[0], "Wrong-Password-123")["login_status"] == 401


def test_files_are_byte_equal(restored, target):
    after = target.check_output(FINGERPRINT.format(dirs=" ".join(DATA_DIRS)))
    assert after == restored["files"]
    assert "分析.ipynb" in after and "数据说明.txt" in after and "团队笔记" in after


def test_volumes_exist_again(restored, target):
    assert target.run(f"docker volume inspect {PLAIN_VOLUME}").rc == 0
    bound = json.loads(target.check_output(f"docker volume inspect {BOUND_VOLUME}"))[0]
    assert bound["Options"] == {"type": "none", "o": "bind", "device": BOUND_DIR}


def test_invite_code_has_the_same_uses_left(restored, target):
    assert re.search(r"\b2/4\b.*backup-test", restored["invites"])
    assert target.check_output(f"{CLI} invite list") == restored["invites"]


def test_auth_service_runs_with_the_restored_signing_key(restored, host, target):
    line = "grep '^secret_key = ' /etc/cfps-backend/config.toml | sha256sum"
    assert target.check_output(line) == host.check_output(line)
    # Access tokens are kept as keyed digests: one issued before the backup is
    # accepted after restore.yml alone only with the restored key in use.
    status, body = userinfo(target, restored["access_token"])
    assert status == 200, body
    assert json.loads(body)["username"] == USERS[0]
    assert userinfo(target, restored["access_token"][:-4] + "AAAA")[0] == 401


def test_hub_knows_the_user(restored, target):
    # The restore restarted jupyterhub.service on the restored database and cookie secret.
    wait_hub(target)
    assert hub_user(target) == restored["hub_user"]
    assert restored["hub_user"]["groups"] == [HUB_GROUP]
    assert restored["hub_user"]["servers"]["analysis"]["state"]["object_name"] == f"jupyter-{USERS[0]}-analysis"
    status, users = hub_api(target, "GET", "/users")
    assert USERS[0] in [u["name"] for u in users], users
    # The researcher's own API token, kept hashed in the hub's database.
    status, me = hub_api(target, "GET", "/user", token=restored["hub_token"])
    assert (status, me["name"]) == (200, USERS[0]), me
    assert (
        target.check_output("sha256sum /var/lib/jupyterhub/jupyterhub_cookie_secret").split()[0]
        == (restored["cookie_secret"])
    )


def test_secrets_and_database_are_back(restored, target):
    assert target.check_output("sha256sum /etc/cfps-backend/secret_key").split()[0] == restored["secret"]
    assert target.check_output("stat -c '%U %G %a' /etc/cfps-backend/secret_key") == restored["secret_stat"]
    rows = target.check_output("mariadb -N -e 'SELECT v FROM cfps.backup_marker'").splitlines()
    assert MARKER in rows


def test_restic_check_is_clean(restored, target):
    out = target.check_output("cfps-backup check 2>&1")
    assert "no errors were found" in out


def test_second_backup_is_incremental(restored, host, capsys):
    rc, log, seconds = run_backup(host)
    assert rc == 0, log[-3000:]
    added = added_bytes(log)
    first = restored["seconds"]
    with capsys.disabled():
        print(
            f"\nfirst backup (~8 MB of files): {first['backup']:.1f} s, added {restored['added'] / 2**20:.1f} MiB; "
            f"restore playbook: {first['restore']:.1f} s (cfps-backup restore: {first['restored']:.1f} s); "
            f"second backup: {seconds:.1f} s, added {added / 2**10:.0f} KiB"
        )
    assert restored["added"] > 7 * 2**20
    assert added < 1 * 2**20


def test_failed_backup_shows_in_systemctl_failed(host):
    host.run_expect([0], "cp -p /etc/cfps-backup/password /root/backup-password.keep")
    try:
        host.run_expect([0], "echo not-the-password-at-all > /etc/cfps-backup/password")
        rc, log, _ = run_backup(host)
        assert rc != 0
        assert host.check_output("systemctl is-failed cfps-backup.service || true") == "failed"
        assert "cfps-backup.service" in host.check_output("systemctl --failed --no-legend --plain")
        assert "cfps-backup run:" in log
    finally:
        host.run_expect([0], "mv /root/backup-password.keep /etc/cfps-backup/password")
        host.run_expect([0], "systemctl reset-failed cfps-backup.service")


@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({}, "backup_password"),
        ({"backup_password": "short"}, "backup_password"),
        ({"backup_password": PASSWORD, "backup_repository": "/mnt/no-backup-disk/restic"}, "backup_repository"),
        ({"backup_password": PASSWORD, "backup_keep_weekly": -2}, "backup_keep_weekly"),
        ({"backup_password": PASSWORD, "backup_keep_daily": "many"}, "backup_keep_daily"),
        ({"backup_password": PASSWORD, "backup_on_calendar": "every full moon"}, "backup_on_calendar"),
    ],
)
def test_wrong_input_fails_before_any_change(host, extra, variable):
    config = host.file("/etc/cfps-backup/config.json").content_string
    result = run_playbook(SCENARIO_DIR / "backup-only.yml", extra_vars=extra)
    assert result.returncode != 0
    assert variable in flat(result.stdout), result.stdout[-3000:]
    assert re.search(r"changed=0\b", result.stdout), result.stdout[-3000:]
    assert host.file("/etc/cfps-backup/config.json").content_string == config


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"backup_restore_snapshot": "deadbeef"}, "backup_restore_snapshot deadbeef is not in"),
        ({"backup_repository": "/srv/backup-repo/nothing-here"}, "there is no restic repository at backup_repository"),
        ({"backup_enabled": False}, "backup_enabled is false for this host"),
    ],
)
def test_restore_refuses_a_missing_repository_or_snapshot(target, tmp_path, extra, message):
    config = target.file("/etc/cfps-backup/config.json").content_string
    result = restore(tmp_path, **extra)
    assert result.returncode != 0
    assert message in flat(result.stdout), result.stdout[-3000:]
    assert target_recap(result)["changed"] == 0
    assert target.file("/etc/cfps-backup/config.json").content_string == config
    assert target.service("cfps-backend").is_running


def test_backup_playbook_refuses_a_host_with_backups_off(tmp_path):
    result = run_playbook(
        ROOT / "playbooks" / "backup.yml",
        extra_vars={"backup_password": PASSWORD, "backup_enabled": False},
        inventory=target_inventory(tmp_path, INSTANCE),
    )
    assert result.returncode != 0
    assert "backup_enabled is false for cfps-backup" in flat(result.stdout), result.stdout[-3000:]
    assert re.search(r"changed=0\b", result.stdout), result.stdout[-3000:]


def test_switched_off_the_timer_stops_and_nothing_is_deleted(target, tmp_path):
    inventory = target_inventory(tmp_path)
    try:
        result = run_playbook(
            SCENARIO_DIR / "backup-only.yml",
            extra_vars={"backup_password": PASSWORD, "backup_enabled": False},
            inventory=inventory,
        )
        assert result.returncode == 0, result.stdout[-3000:]
        assert target_recap(result)["changed"] == 1, result.stdout[-3000:]
        timer = target.service("cfps-backup.timer")
        assert not timer.is_enabled and not timer.is_running
        assert target.file("/etc/cfps-backup/config.json").exists
        assert target.file("/usr/local/sbin/cfps-backup").exists
    finally:
        again = {"backup_password": PASSWORD}
        result = run_playbook(SCENARIO_DIR / "backup-only.yml", extra_vars=again, inventory=inventory)
        assert result.returncode == 0, result.stdout[-3000:]
    assert target.service("cfps-backup.timer").is_enabled
    assert target.service("cfps-backup.timer").is_running


def test_backup_unit_runs_in_the_sandbox(host):
    assert_exposure(host, "backup", "cfps-backup.service")
