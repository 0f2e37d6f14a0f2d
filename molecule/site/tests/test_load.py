"""CI's small load run: five researchers at once through the real public path.

benchmarks/load.py (the driver of issue #17) registers five new accounts with
the invite code, and each of them, arriving within 5 s of the others: opens
the site, logs in through the hub's OAuth and the site's login page, gets a
server, a kernel over the websocket with the browser's Origin, runs sql() and
stops the server again. The test fails on any functional failure, never on
time: the timings are printed (and kept in the JSON report) for the reader.
"""

import json
import secrets
import subprocess
import sys
import time

from conftest import INSTANCE, ROOT, instance_ip

# app_public_url, backend_invite_codes and the check service's token in converge.yml.
ORIGIN = "https://hub.example.test:18443"
INVITE = "site-test-invite-2026"
ADMIN_TOKEN = "site-test-check-token-2026-0123456789abcdef"
HUB_API = "http://127.0.0.1:8000/jupyter/hub/api"
USERS = 5


def running_notebooks(host):
    return host.check_output("docker ps -q --filter name=^jupyter-").split()


def stop_every_server(host):
    """An idle hub, whatever other tests left running: the class arrives at an empty server."""
    auth = f"-H 'Authorization: token {ADMIN_TOKEN}'"
    users = json.loads(host.check_output(f"curl -sf {auth} '{HUB_API}/users?state=active'"))
    for user in users:
        host.run_expect([0], f"curl -sf -X DELETE {auth} '{HUB_API}/users/{user['name']}/server'")
    deadline = time.monotonic() + 180
    while running_notebooks(host):
        assert time.monotonic() < deadline, f"servers still running after 180 s: {running_notebooks(host)}"
        time.sleep(1)


def test_five_researchers_at_once_log_in_spawn_and_query(host, tmp_path):
    expected = int(host.check_output("mysql -N -B -e 'SELECT COUNT(*) FROM cfps.person_2018'"))
    assert expected > 0
    stop_every_server(host)
    invite = tmp_path / "invite"
    invite.write_text(INVITE)
    report = tmp_path / "load.json"
    # New accounts each run (a random prefix), so a second verify starts from scratch too.
    prefix = f"l{secrets.token_hex(3)}_"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks/load.py"),
            ORIGIN,
            f"--connect={instance_ip(host)}:443",
            f"--users={USERS}",
            "--window=5",
            f"--prefix={prefix}",
            f"--invite-file={invite}",
            f"--expect-persons={expected}",
            f"--docker-host={INSTANCE}",
            f"--report={report}",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(report.read_text())["summary"]
    assert summary["failures"] == {}
    assert summary["ok"] == USERS
    # Every researcher went through every phase, the server's stop included.
    assert {phase: v["n"] for phase, v in summary["phases"].items()} == {
        phase: USERS
        for phase in ("site", "authorize", "login", "callback", "spawn", "lab", "kernel", "sql", "stop")
        + ("login_total", "to_kernel")
    }
    # They were there at the same time (journeys overlapping), and their servers ran in
    # containers of the instance, all gone again at the end.
    journeys = sorted((u["arrival"], u["arrival"] + u["total"]) for u in json.loads(report.read_text())["users"])
    assert any(later[0] < earlier[1] for earlier, later in zip(journeys, journeys[1:], strict=False))
    assert summary["host"]["containers_max"] >= 1
    names = {f"jupyter-{prefix.replace('_', '-5f')}{i:03d}" for i in range(1, USERS + 1)}
    assert not names & set(host.check_output("docker ps -a --format '{{.Names}}'").split())
