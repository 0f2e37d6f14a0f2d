"""Shared helpers for the Testinfra verifiers of every Molecule scenario.

The instance is reached straight through Docker (`docker://cfps-<scenario>`),
which is much faster than going through Ansible for each command. Playbook runs
from a test (check mode, bad input) use the same connection.
"""

import json
import os
import re
import shlex
import socket
import subprocess
from pathlib import Path

import pytest
import testinfra

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "default")
INSTANCE = f"cfps-{SCENARIO}"
SCENARIO_DIR = ROOT / "molecule" / SCENARIO
PROBE_IMAGE = "cfps-probe:latest"
MYSQL_PROBE_IMAGE = "cfps-mysql-probe:latest"
BRIDGE = "172.17.0.1"


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host(f"docker://{INSTANCE}")


def wait_for_boot(timeout=120):
    """Wait until systemd in the instance reports running (or degraded): scripts/files/wait-for-boot."""
    with (ROOT / "scripts/files/wait-for-boot").open("rb") as script:
        done = subprocess.run(
            ["docker", "exec", "-i", INSTANCE, "sh", "-s", str(timeout)], stdin=script, capture_output=True, text=True
        )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def reboot(host):
    """Restart the instance container: a real reboot of its systemd."""
    subprocess.run(["docker", "restart", "-t", "30", INSTANCE], check=True, capture_output=True)
    return wait_for_boot()


def copy_in(local, path):
    """Copy a file of the controller into the instance (docker cp: any size, byte for byte)."""
    subprocess.run(["docker", "cp", str(local), f"{INSTANCE}:{path}"], check=True, capture_output=True)


def ensure_probe_image(host):
    """A tiny image (static busybox) inside the instance, for network probes."""
    if host.run(f"docker image inspect {PROBE_IMAGE}").rc == 0:
        return
    host.run_expect([0], "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static")
    host.run_expect(
        [0],
        "set -e; d=$(mktemp -d); mkdir -p $d/bin; cp /bin/busybox $d/bin/; "
        "for a in sh nc wget sleep cat ls touch id true dd; do ln -s busybox $d/bin/$a; done; "
        f"tar -C $d -c . | docker import - {PROBE_IMAGE}; rm -rf $d",
    )


def instance_ip(host):
    """The instance's own address on its Molecule network (what another machine would reach)."""
    return host.check_output("ip -4 -o addr show dev eth0").split()[3].split("/")[0]


def tcp_open(ip, port):
    """True when this controller can open a TCP connection to ip:port."""
    try:
        with socket.create_connection((ip, port), timeout=3):
            return True
    except OSError:
        return False


def probe_from_container(host, targets, timeout=3):
    """Try every (ip, port) from one fresh container, in parallel.

    Returns {(ip, port): True if the TCP connection opened}.
    """
    ensure_probe_image(host)
    script = " ".join(
        f"(nc -w {timeout} {ip} {port} </dev/null >/dev/null 2>&1"
        f" && echo {ip}:{port}=open || echo {ip}:{port}=closed) &"
        for ip, port in targets
    )
    out = host.check_output(f"docker run --rm {PROBE_IMAGE} sh -c '{script} wait'")
    seen = dict(line.split("=") for line in out.split())
    return {(ip, port): seen[f"{ip}:{port}"] == "open" for ip, port in targets}


def ensure_mysql_probe_image(host):
    """An image with only the instance's mariadb client and its libraries (no download)."""
    if host.run(f"docker image inspect {MYSQL_PROBE_IMAGE}").rc == 0:
        return
    host.run_expect(
        [0],
        "set -e; d=$(mktemp -d); bin=$(readlink -f /usr/bin/mariadb); "
        "for f in $bin $(ldd $bin | grep -o '/[^ ]*'); do cp --parents -L $f $d; done; "
        "mkdir -p $d/usr/bin $d/tmp; [ -e $d/usr/bin/mariadb ] || cp $bin $d/usr/bin/mariadb; "
        f"tar -C $d -c . | docker import - {MYSQL_PROBE_IMAGE}; rm -rf $d",
    )


def mysql_from_container(host, statement, *, user, password, database):
    """Run one statement as a database account from a fresh container on docker0, as a notebook would."""
    ensure_mysql_probe_image(host)
    return host.run(
        f"docker run --rm -e MYSQL_PWD={shlex.quote(password)} {MYSQL_PROBE_IMAGE} "
        f"/usr/bin/mariadb --connect-timeout=5 --default-character-set=utf8mb4 -h {BRIDGE} -u {user} -D {database} "
        "--batch --skip-column-names "
        f"-e {shlex.quote(statement)}"
    )


def error_code(result):
    """The server's error number of a failed mariadb client run."""
    match = re.search(r"ERROR (\d+)", result.stderr_bytes.decode("utf-8", "replace"))
    assert result.rc != 0 and match, f"expected an error, got rc={result.rc}: {result.stdout} {result.stderr}"
    return int(match.group(1))


def assert_exposure(host, role, unit):
    """`systemd-analyze security` rates unit no worse than the figure its role README records.

    The README's sandbox table has a row `| \\`unit\\` | figure | ... |` for each
    unit (a template as `name@.service`; unit may be an instance of it).
    """
    row = re.sub(r"@[^.]*\.", "@.", unit)
    readme = (ROOT / "roles" / role / "README.md").read_text(encoding="utf-8")
    recorded = re.search(rf"^\| `{re.escape(row)}` \| ([0-9.]+) \|", readme, re.M)
    assert recorded, f"roles/{role}/README.md records no exposure for {row}"
    out = host.check_output(f"systemd-analyze security --no-pager {shlex.quote(unit)}")
    score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
    print(f"systemd-analyze security {unit}: {score} (recorded: {recorded.group(1)})")
    assert score <= float(recorded.group(1)), out


def oauth_login(host, *args):
    """app/backend/tests/hub_client.py in the instance: user, password, client id, secret, redirect URI."""
    script = (ROOT / "app/backend/tests/hub_client.py").read_text(encoding="utf-8")
    quoted = " ".join(shlex.quote(a) for a in args)
    return json.loads(host.check_output(f"python3 -c {shlex.quote(script)} {quoted}"))
