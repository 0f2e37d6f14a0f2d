"""Verify the hub role: a real spawn through the hub API, inside the instance.

A service token (hub_api_services in vars.yml) drives the REST API through the
proxy on 127.0.0.1:8000, as an operator's script would.
"""

import contextlib
import hashlib
import importlib.util
import json
import re
import shlex

import pytest
import yaml

from conftest import ROOT, SCENARIO_DIR, assert_exposure
from playbook import assert_check_mode_clean, refused, role_playbook, run_playbook

TOKEN = "cfps-test-api-token-0123456789abcdef0123456789"
API = "http://127.0.0.1:8000/jupyter/hub/api"
USER = "alice_01"
# Writes person_2018 of the synthetic sample the mysql_grants role loads.
SAMPLE_GENERATOR = ROOT / "app/sampledata/generate_cfps_sample.py"


def api(host, method, path, body=None, expect=(200, 201, 202, 204)):
    data = f"-d {shlex.quote(json.dumps(body))}" if body is not None else ""
    out = host.check_output(
        f"curl -sS -X {method} -H 'Authorization: token {TOKEN}' -H 'Content-Type: application/json' "
        f"-w '\\n%{{http_code}}' {data} {API}{path}"
    )
    text, _, status = out.rpartition("\n")
    assert int(status) in expect, f"{method} {path}: {status} {text}"
    return json.loads(text) if text.strip() else None


def container_name(host):
    # DockerSpawner escapes the name: alice_01 -> jupyter-alice-5f01.
    return host.check_output("docker ps --format '{{.Names}}' | grep '^jupyter-alice-'")


@pytest.fixture(scope="module")
def server(host):
    """A running server for USER, started through the hub API."""
    api(host, "POST", f"/users/{USER}", expect=(201, 409))
    api(host, "POST", f"/users/{USER}/server", expect=(201, 202, 400))
    host.run_expect(
        [0],
        "for i in $(seq 1 300); do "
        f"curl -s -H 'Authorization: token {TOKEN}' {API}/users/{USER} | grep -q '\"ready\": *true'"
        " && exit 0; sleep 1; done; exit 1",
    )
    return container_name(host)


def sample_persons():
    """PERSONS of the sample generator: the rows its person_2018 holds."""
    spec = importlib.util.spec_from_file_location("generate_cfps_sample", SAMPLE_GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PERSONS


def pyexec(host, name, code):
    return host.run(f"docker exec {name} python3 -c {shlex.quote(code)}")


def test_units_active_and_enabled(host):
    for unit in ("jupyterhub", "jupyterhub-proxy", "cfps-home-storage.socket", "cfps-homes.service"):
        svc = host.service(unit)
        assert svc.is_running and svc.is_enabled, unit


def listeners(host, port):
    """The local addresses of every TCP socket listening on port ("addr:port")."""
    # ss -Hltn: State Recv-Q Send-Q Local-Address:Port Peer-Address:Port [Process]
    local = [line.split()[3] for line in host.check_output("ss -Hltn").splitlines()]
    return {address for address in local if address.rsplit(":", 1)[1] == str(port)}


def test_listeners(host):
    # The hub API on the docker bridge address only: a bind on all addresses
    # (0.0.0.0 or [::]) would also show the bridge address to a substring check.
    bridge = host.check_output("ip -4 -o addr show dev docker0").split()[3].split("/")[0]
    assert bridge == "172.17.0.1"
    hub_api = listeners(host, 8081)
    assert hub_api == {f"{bridge}:8081"}
    assert not hub_api & {"0.0.0.0:8081", "[::]:8081", "*:8081"}
    # The proxy and its API on loopback only.
    assert listeners(host, 8000) == {"127.0.0.1:8000"}
    assert listeners(host, 8001) == {"127.0.0.1:8001"}


def test_state_and_config_modes(host):
    for path in ("/var/lib/jupyterhub/jupyterhub_cookie_secret", "/var/lib/jupyterhub/jupyterhub.sqlite"):
        f = host.file(path)
        assert f.exists and f.mode == 0o600 and f.user == "jupyterhub", path
    assert host.file("/var/lib/jupyterhub").mode == 0o700
    for path in ("/etc/jupyterhub/jupyterhub_config.py", "/etc/jupyterhub/proxy.env"):
        f = host.file(path)
        assert f.mode == 0o640 and f.user == "root" and f.group == "jupyterhub", path


HUB_PY = "/opt/jupyterhub/venv/bin/python3"
MODULE = ROOT / "app/hub/cfps_jupyterhub.py"


def as_hub(host, code):
    """Output of Python code run by the hub's venv Python as the hub's user."""
    return host.check_output(f"cd / && runuser -u jupyterhub -- {HUB_PY} -c {shlex.quote(code)}")


def test_module_installed_in_the_hub_venv(host):
    purelib = as_hub(host, "import sysconfig; print(sysconfig.get_path('purelib'))")
    installed = host.file(f"{purelib}/cfps_jupyterhub.py")
    assert installed.user == "root" and installed.mode == 0o644
    assert installed.sha256sum == hashlib.sha256(MODULE.read_bytes()).hexdigest()
    assert as_hub(host, "import cfps_jupyterhub; print(cfps_jupyterhub.__file__)") == installed.path


def test_config_imports_the_module_and_keeps_only_settings(host):
    config = host.file("/etc/jupyterhub/jupyterhub_config.py").content_string
    assert "from cfps_jupyterhub import CFPSDockerSpawner, active_server_limit, parse_bytes" in config
    assert "\nclass " not in config and "\ndef " not in config


def test_hub_config_limits_come_from_the_helper(host):
    # The config as the hub loads it at start, by the hub's Python and user.
    code = (
        "import json; from traitlets.config import PyFileConfigLoader; "
        "c = PyFileConfigLoader('jupyterhub_config.py', path='/etc/jupyterhub').load_config(); "
        "print(json.dumps([c.JupyterHub.active_server_limit, c.DockerSpawner.mem_limit, "
        "c.DockerSpawner.extra_host_config, c.JupyterHub.spawner_class.__module__, "
        "c.JupyterHub.spawner_class.__name__, c.JupyterHub.concurrent_spawn_limit, "
        "c.CFPSDockerSpawner.start_concurrency, c.CFPSDockerSpawner.stop_timeout, "
        "c.GenericOAuthenticator.http_request_kwargs, c.Spawner.start_timeout]))"
    )
    limit, mem, extra, module, name, hub_spawn_limit, line, stop, oauth, start_timeout = json.loads(as_hub(host, code))
    # The role's default server limit, not RAM / hub_mem_limit (1G here).
    assert limit == 50
    assert mem == 1024**3
    # hub_concurrent_spawn_limit 1 here: the spawner's line; JupyterHub refuses nothing itself.
    assert (hub_spawn_limit, line, stop) == (0, 1, 2)
    assert oauth == {"connect_timeout": 30, "request_timeout": 60}
    assert start_timeout == 600
    # hub_pids_limit is 128 here; no-new-privileges and cap_drop keep their defaults.
    assert extra == {
        "memswap_limit": 1024**3,
        "pids_limit": 128,
        "security_opt": ["no-new-privileges:true"],
        "cap_drop": ["ALL"],
    }
    assert (module, name) == ("cfps_jupyterhub", "CFPSDockerSpawner")


def test_mounts_and_limits(host, server):
    info = json.loads(host.check_output(f"docker inspect {server}"))[0]
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    # hub_home_quota is set: the home is the volume bound to the user's own filesystem.
    assert mounts["/home/jovyan"]["Name"] == "jupyterhub-home-alice-5f01"
    assert mounts["/home/jovyan"]["RW"] is True
    assert mounts["/home/jovyan/data"]["Name"] == "cfps-common-data" and mounts["/home/jovyan/data"]["RW"] is False
    assert mounts["/home/jovyan/team-shared"]["Name"] == "cfps-team-shared" and mounts["/home/jovyan/team-shared"]["RW"]
    assert info["HostConfig"]["Memory"] == 1024**3
    assert info["HostConfig"]["MemorySwap"] == 1024**3
    assert info["Config"]["User"] in ("1000:100", "1000")
    # Writes: data is read-only, the team folder and the home are writable.
    assert host.run(f"docker exec {server} touch /home/jovyan/data/x").rc != 0
    host.run_expect([0], f"docker exec {server} touch /home/jovyan/team-shared/from-{USER} /home/jovyan/mine")
    assert host.file(f"/srv/cfps/team-shared/from-{USER}").uid == 1000


def test_examples_copied_on_first_start_and_trusted(host, server):
    out = host.check_output(f"docker exec {server} ls /home/jovyan/examples")
    assert "welcome.ipynb" in out and "database-tutorial.ipynb" in out
    check = (
        "import nbformat; from nbformat.sign import NotebookNotary; "
        "nb = nbformat.read('/home/jovyan/examples/welcome.ipynb', 4); print(NotebookNotary().check_signature(nb))"
    )
    assert host.check_output(f"docker exec {server} python3 -c {shlex.quote(check)}") == "True"


def test_sql_helper_answers(host, server):
    result = pyexec(host, server, "from cfps_dvapis import sql; print(int(sql('SELECT 1 AS one').one[0]))")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "1"
    result = pyexec(
        host, server, "from cfps_dvapis import sql; print(int(sql('SELECT COUNT(*) AS n FROM person_2018').n[0]))"
    )
    assert result.rc == 0, result.stderr
    # Exactly the synthetic sample's persons: a partial or doubled import fails.
    assert int(result.stdout) == sample_persons()


def test_preload_in_a_real_kernel(host, server):
    # Execute a notebook in the image's kernel: sql, pd and np are there without imports.
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": "print(type(sql).__name__, pd.__name__, np.__name__, plt.__name__)",
            }
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    host.run_expect(
        [0], f"docker exec -i {server} sh -c {shlex.quote('cat > /tmp/preload.ipynb')} <<'EOF'\n{json.dumps(nb)}\nEOF"
    )
    out = host.check_output(
        f"docker exec {server} jupyter nbconvert --to notebook --execute --stdout /tmp/preload.ipynb"
    )
    assert "function pandas numpy matplotlib.pyplot" in out


def test_auth_service_port_unreachable_from_the_notebook(host, server):
    if host.run("systemctl is-active --quiet cfps-probe-8100").rc != 0:
        host.run("systemctl reset-failed cfps-probe-8100")
        host.run_expect([0], "systemd-run --unit cfps-probe-8100 python3 -m http.server 8100 --bind 0.0.0.0")
    host.run_expect([0], "timeout 10 bash -c 'until exec 3<>/dev/tcp/172.17.0.1/8100; do sleep 0.2; done'")
    probe = (
        "import socket,sys; s=socket.socket(); s.settimeout(3); "
        "sys.exit(s.connect_ex(('172.17.0.1', int(sys.argv[1]))))"
    )
    assert host.run(f"docker exec {server} python3 -c {shlex.quote(probe)} 8100").rc != 0
    assert host.run(f"docker exec {server} python3 -c {shlex.quote(probe)} 8081").rc == 0


def test_server_survives_a_hub_restart(host, server):
    cid = host.check_output(f"docker inspect -f '{{{{.Id}}}}' {server}")
    host.run_expect([0], "systemctl restart jupyterhub")
    host.run_expect(
        [0],
        "for i in $(seq 1 60); do curl -sf http://127.0.0.1:8000/jupyter/hub/health && exit 0; sleep 1; done; exit 1",
    )
    assert host.check_output(f"docker inspect -f '{{{{.Id}}}} {{{{.State.Running}}}}' {server}") == f"{cid} true"
    status = host.check_output(
        f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Authorization: token {TOKEN}' "
        f"http://127.0.0.1:8000/jupyter/user/{USER}/api/status"
    )
    assert status == "200"


HEALTH = "http://127.0.0.1:8000/jupyter/hub/health"


def hub_healthy(host):
    return host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' {HEALTH}") == "200"


def test_container_limits(host, server):
    info = json.loads(host.check_output(f"docker inspect {server}"))[0]["HostConfig"]
    assert info["PidsLimit"] == 128
    assert info["SecurityOpt"] == ["no-new-privileges:true"]
    assert info["CapDrop"] == ["ALL"]
    status = host.check_output(f"docker exec {server} cat /proc/1/status")
    fields = dict(line.split(":", 1) for line in status.splitlines())
    assert fields["NoNewPrivs"].strip() == "1"
    assert int(fields["CapBnd"], 16) == 0 and int(fields["CapEff"], 16) == 0


# Starts `sleep` children until the kernel refuses, writes [children, errno]
# to argv[1], holds them 15 s, then ends them and writes argv[1].done.
FORK = """
import json, os, subprocess, sys, time
children, err = [], None
try:
    while len(children) < 1000:
        children.append(subprocess.Popen(["sleep", "300"]))
except OSError as e:
    err = e.errno
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump([len(children), err], f)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(15)
for child in children:
    child.kill()
    child.wait()
open(sys.argv[1] + ".done", "w").close()
"""


def test_a_fork_bomb_stops_at_the_pids_limit(host, server):
    # Read from the host: the home volume's folder.
    result = f"{HOMES}/alice-5f01/forkbomb.json"
    host.run(f"rm -f {result} {result}.done")
    host.run_expect([0], f"docker exec -d {server} python3 -c {shlex.quote(FORK)} /home/jovyan/forkbomb.json")
    try:
        host.run_expect([0], f"timeout 120 sh -c 'until [ -e {result} ]; do sleep 0.2; done'")
        children, err = json.loads(host.file(result).content_string)
        assert err == 11  # EAGAIN: the pids cgroup refused the fork
        # 128 in all, less the server's own processes and threads.
        assert 32 <= children < 128
        assert hub_healthy(host)
        host.run_expect([0], f"timeout 120 sh -c 'until [ -e {result}.done ]; do sleep 0.2; done'")
        # Only the bomb's own container was full: the server itself kept running.
        host.run_expect([0], f"docker exec {server} true")
        assert host.check_output(f"docker inspect -f '{{{{.State.Running}}}}' {server}") == "true"
    finally:
        host.run(f"rm -f {result} {result}.done")


def progress_events(text):
    """The events of a spawn progress stream (`data: {...}` lines)."""
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


def test_spawns_beyond_the_limit_wait_in_line_and_all_start(host):
    # hub_concurrent_spawn_limit is 1: JupyterHub alone answered the second and third 429.
    users = ["line_a", "line_b", "line_c"]
    for user in users:
        api(host, "POST", f"/users/{user}", expect=(201, 409))
    auth = f"-H 'Authorization: token {TOKEN}'"
    script = " ".join(
        f"curl -s -o /dev/null -w '%{{http_code}}' -X POST {auth} {API}/users/{u}/server > /tmp/{u}.code &"
        for u in users
    )
    # Each spawn pending page's event stream, as the browser reads it, until the server is ready.
    script += " sleep 0.5; " + " ".join(
        f"curl -sN --max-time 300 {auth} {API}/users/{u}/server/progress > /tmp/{u}.progress &" for u in users
    )
    host.run_expect([0], f"bash -c {shlex.quote(script + ' wait')}")
    try:
        codes = {u: host.file(f"/tmp/{u}.code").content_string for u in users}
        assert set(codes.values()) <= {"201", "202"}, codes
        events = {u: progress_events(host.file(f"/tmp/{u}.progress").content_string) for u in users}
        for user, seen in events.items():
            assert seen and seen[-1].get("ready") is True, f"{user}: {seen}"
        # The last in line waited for two starts at least: its page said so, in both languages.
        lines = [e["message"] for seen in events.values() for e in seen if "Waiting in line" in e.get("message", "")]
        assert lines, events
        assert all(m.startswith("排队等待启动，前面还有 ") for m in lines)
        for user in users:
            assert api(host, "GET", f"/users/{user}")["servers"][""]["ready"] is True
    finally:
        for user in users:
            api(host, "DELETE", f"/users/{user}/server", expect=(202, 204, 400))
        host.run_expect(
            [0],
            "for i in $(seq 1 120); do "
            "docker ps --format '{{.Names}}' | grep -q '^jupyter-line-' || exit 0; sleep 1; done; exit 1",
        )
        host.run(f"rm -f {' '.join(f'/tmp/{u}.code /tmp/{u}.progress' for u in users)}")


HOMES = "/srv/cfps/homes"
IMAGES = "/var/lib/cfps-hub/homes"
QUOTA = 64 * 1024**2  # hub_home_quota in converge.yml
HELPER = "/usr/local/sbin/cfps-home-storage"
# Writes zeros in 1 MiB blocks to argv[1], at most argv[2] MiB, and prints the
# bytes written and the errno that stopped it ("None": none).
FILL = """
import os, sys
written, err = 0, None
try:
    with open(sys.argv[1], "wb", buffering=0) as f:
        for _ in range(int(sys.argv[2])):
            written += f.write(bytes(1024 * 1024))
        os.fsync(f.fileno())
except OSError as e:
    err = e.errno
print(written, err)
"""
ENOSPC = 28


def start_server(host, user):
    """Start user's server through the hub API and wait until it is ready; its container's name."""
    api(host, "POST", f"/users/{user}", expect=(201, 409))
    api(host, "POST", f"/users/{user}/server", expect=(201, 202, 400))
    host.run_expect(
        [0],
        f"curl -sN --max-time 300 -H 'Authorization: token {TOKEN}' {API}/users/{user}/server/progress"
        " | grep -q '\"ready\": *true'",
    )
    return f"jupyter-{user.replace('_', '-5f')}"


def stop_server(host, user):
    api(host, "DELETE", f"/users/{user}/server", expect=(202, 204))
    name = f"jupyter-{user.replace('_', '-5f')}"
    host.run_expect([0], f"timeout 120 sh -c 'while docker inspect {name} >/dev/null 2>&1; do sleep 0.5; done'")


def fill(host, name, path, mib):
    """Write mib MiB to path inside container name: (bytes written, errno or None)."""
    out = host.check_output(f"docker exec {name} python3 -c {shlex.quote(FILL)} {path} {mib}")
    written, err = out.split()
    return int(written), None if err == "None" else int(err)


def helper(host, name, **overrides):
    """Run the home helper by hand, as its socket service does, with some arguments changed."""
    unit = host.file("/etc/systemd/system/cfps-home-storage@.service").content_string
    argv = shlex.split(next(line for line in unit.splitlines() if line.startswith("ExecStart=")).split("=", 1)[1])
    for key, value in overrides.items():
        argv[argv.index(f"--{key}") + 1] = value
    return host.run(f"echo {name} | {shlex.join(argv)}")


def test_each_home_is_a_filesystem_of_its_own(host, server):
    # alice's home: an ext4 image of exactly the quota, allocated up front, root only.
    image = host.file(f"{IMAGES}/alice-5f01.img")
    assert image.size == QUOTA and image.mode == 0o600 and image.user == "root"
    assert int(host.check_output(f"stat -c %b {image.path}")) * 512 >= QUOTA
    assert host.file(IMAGES).mode == 0o700
    source, fstype, options = host.check_output(f"findmnt -n -o SOURCE,FSTYPE,OPTIONS {HOMES}/alice-5f01").split()
    assert source.startswith("/dev/loop") and fstype == "ext4"
    assert {"nodev", "nosuid"} <= set(options.split(","))
    # Mounted at boot before Docker starts any container.
    assert "docker.service" in host.check_output("systemctl show -p Before --value cfps-homes.service").split()
    # Inside, the researcher's df shows the quota as the disk's size.
    size = int(host.check_output(f"docker exec {server} df -B1 --output=size /home/jovyan").split()[-1])
    assert QUOTA * 0.85 <= size <= QUOTA


def test_writing_past_the_quota_fails_and_others_keep_writing(host, server):
    bob = start_server(host, "bob")
    try:
        written, err = fill(host, server, "/home/jovyan/big.bin", 200)
        assert err == ENOSPC
        # ext4's journal and tables take a little of it.
        assert QUOTA * 0.75 <= written <= QUOTA
        # alice's home is full; bob's home, the team folder, the hub and MariaDB are not.
        assert fill(host, bob, "/home/jovyan/data.bin", 32) == (32 * 1024**2, None)
        assert fill(host, bob, "/home/jovyan/team-shared/bob.bin", 8) == (8 * 1024**2, None)
        assert hub_healthy(host)
        assert host.service("mariadb").is_running
        host.run_expect([0], "mysql -N -e 'SELECT 1'")
    finally:
        host.run(f"rm -f {HOMES}/alice-5f01/big.bin {HOMES}/bob/data.bin /srv/cfps/team-shared/bob.bin")
        stop_server(host, "bob")
    # Deleting frees the space again.
    assert fill(host, server, "/home/jovyan/small.bin", 8) == (8 * 1024**2, None)
    host.run(f"rm -f {HOMES}/alice-5f01/small.bin")


@contextlib.contextmanager
def server_of(host, user):
    """The user's notebook server (its container's name), stopped afterwards."""
    name = start_server(host, user)
    try:
        yield name
    finally:
        stop_server(host, user)


def assert_quota_holds(host, name, user):
    """Writing 200 MiB into the home stops at the quota with ENOSPC; the file goes after."""
    try:
        written, err = fill(host, name, "/home/jovyan/big.bin", 200)
        assert err == ENOSPC and written <= QUOTA
    finally:
        host.run(f"rm -f {HOMES}/{user}/big.bin")


def test_the_home_and_its_quota_outlive_the_server(host):
    with server_of(host, "carol") as name:
        host.run_expect([0], f"docker exec {name} sh -c 'echo kept > /home/jovyan/note.txt'")
    assert host.run(f"docker inspect {name}").rc != 0  # the container went; the home stays
    with server_of(host, "carol") as name:
        assert host.check_output(f"docker exec {name} cat /home/jovyan/note.txt") == "kept"
        assert_quota_holds(host, name, "carol")


def test_a_home_from_before_quotas_is_copied_in_and_kept(host):
    # A plain volume jupyterhub-user-<name>, as the hub made them before quotas.
    config = host.file("/etc/jupyterhub/jupyterhub_config.py").content_string
    image = config.split('c.DockerSpawner.image = "', 1)[1].split('"', 1)[0]
    host.run_expect([0], "docker volume create jupyterhub-user-dave")
    host.run_expect(
        [0],
        f"docker run --rm -v jupyterhub-user-dave:/home/jovyan {image} "
        "sh -c 'echo from-before > /home/jovyan/thesis.txt'",
    )
    with server_of(host, "dave") as name:
        assert host.check_output(f"docker exec {name} cat /home/jovyan/thesis.txt") == "from-before"
        # The old volume is left as it was: the operator removes it.
        old = host.check_output("docker volume inspect -f '{{.Mountpoint}}' jupyterhub-user-dave")
        assert host.file(f"{old}/thesis.txt").content_string.strip() == "from-before"
        assert_quota_holds(host, name, "dave")


def test_files_restored_into_a_homes_folder_are_taken_in(host):
    # A backup restored on a new host puts the files in the folder, with no image yet.
    host.run_expect([0], f"install -d -o 1000 -g 100 {HOMES}/erin && echo restored > {HOMES}/erin/paper.txt")
    host.run_expect([0], f"chown 1000:100 {HOMES}/erin/paper.txt")
    with server_of(host, "erin") as name:
        assert host.check_output(f"docker exec {name} cat /home/jovyan/paper.txt") == "restored"
        assert host.run(f"mountpoint -q {HOMES}/erin").rc == 0
        assert host.file(f"{IMAGES}/erin.img").size == QUOTA


def test_a_raised_quota_grows_the_home_and_the_reserve_refuses_a_new_one(host):
    # gina's home is made at 64M, then the helper runs with a quota of 96M: it grows, files kept.
    assert helper(host, "gina").stdout.strip() == f"ok {HOMES}/gina"
    host.run_expect([0], f"echo kept > {HOMES}/gina/note.txt")
    answer = helper(host, "gina", quota="96M")
    assert answer.rc == 0, answer.stdout + answer.stderr
    assert host.file(f"{IMAGES}/gina.img").size == 96 * 1024**2
    size = int(host.check_output(f"df -B1 --output=size {HOMES}/gina").split()[-1])
    assert size > QUOTA
    assert host.file(f"{HOMES}/gina/note.txt").content_string == "kept\n"
    # A reserve larger than the free disk: a new home is refused, nothing is left behind.
    free = int(host.check_output(f"df -B1 --output=avail {IMAGES}").split()[-1])
    answer = helper(host, "hank", reserve=str(free))
    assert answer.rc == 1
    assert "it keeps for the database and logs" in answer.stdout and answer.stdout.startswith("error ")
    assert not host.file(f"{IMAGES}/hank.img").exists and not host.file(f"{IMAGES}/hank.img.new").exists
    # A name that is not an escaped user name is refused.
    assert helper(host, "../etc").stdout.startswith("error not an escaped user name")


def test_check_mode_reports_no_changes():
    assert_check_mode_clean()


def test_servers_start_from_the_newest_build(host):
    config = host.file("/etc/jupyterhub/jupyterhub_config.py").content_string
    assert 'c.DockerSpawner.image = "cfps-hub/notebook:current"' in config
    # Newest first: the digest-tagged build the role made last, and :current on it.
    images = [
        line.split()
        for line in host.check_output("docker images --format '{{.Tag}} {{.ID}}' cfps-hub/notebook").splitlines()
    ]
    ids = dict(images)
    newest = next(image_id for tag, image_id in images if tag != "current")
    assert ids["current"] == newest


def hub_only(tmp_path):
    """The converge's hub play with the hub role alone (its checks refuse before
    any change, so the roles the converge runs first would only add minutes)."""
    plays = yaml.safe_load((SCENARIO_DIR / "converge.yml").read_text())
    play = next(play for play in plays if play["name"] == "Converge the hub")
    files = [SCENARIO_DIR / path for path in play["vars_files"]]
    return role_playbook(tmp_path, "hub", files, play.get("gather_facts", True), **play["vars"])


def test_hub_refuses_a_missing_notebook_image(host, tmp_path):
    result = run_playbook(hub_only(tmp_path), extra_vars={"hub_notebook_image": "cfps-hub/notebook:missing"})
    out = refused(result)
    assert (
        "hub_notebook_image cfps-hub/notebook:missing is not on this host: build it with the notebook_image role" in out
    )


def test_bad_capability_name_is_refused(host, tmp_path):
    result = run_playbook(hub_only(tmp_path), extra_vars={"hub_cap_drop": ["CAP_NET_RAW"]})
    out = refused(result)
    assert "hub_cap_drop a list of capability names such as ALL or NET_RAW, without CAP_" in out


def test_bad_timeouts_are_refused(host, tmp_path):
    result = run_playbook(
        hub_only(tmp_path), extra_vars={"hub_oauth_connect_timeout": 30, "hub_oauth_request_timeout": 20}
    )
    out = refused(result)
    assert "hub_oauth_request_timeout at least as long (got 20)" in out


def test_bad_memory_limit_is_refused(host, tmp_path):
    # "2GB" starts like a size: refused only if the whole value must match, as parse_bytes() wants.
    result = run_playbook(hub_only(tmp_path), extra_vars={"hub_mem_limit": "2GB"})
    out = refused(result)
    assert "hub_mem_limit must be a size such as 2G or 512M (got 2GB)" in out


def test_bad_home_quota_is_refused(host, tmp_path):
    result = run_playbook(hub_only(tmp_path), extra_vars={"hub_home_quota": "10GB"})
    out = refused(result)
    assert "hub_home_quota must be a size of at least 32M such as 10G or 512M, or empty for no quota (got 10GB)" in out


def test_the_quota_cannot_be_taken_away_from_existing_homes(host, server, tmp_path):
    result = run_playbook(hub_only(tmp_path), extra_vars={"hub_home_quota": ""})
    out = refused(result)
    assert "hub_home_quota is empty, but" in out
    assert "homes with a quota are in /var/lib/cfps-hub/homes" in out


def test_units_run_in_the_sandbox(host):
    units = ("jupyterhub.service", "jupyterhub-proxy.service", "cfps-homes.service", "cfps-home-storage@probe.service")
    for unit in units:
        assert_exposure(host, "hub", unit)
    # The proxy runs as a user of its own, neither root nor nobody.
    pid = host.check_output("systemctl show -p MainPID --value jupyterhub-proxy")
    uid = int(re.search(r"^Uid:\s+(\d+)", host.file(f"/proc/{pid}/status").content_string, re.M).group(1))
    assert uid not in (0, 65534), uid
