"""Verify the docker role: engine, daemon settings, data folders and volumes."""

import json

from conftest import PROBE_IMAGE, ROOT, assert_check_mode_clean, ensure_probe_image, flat, recap, run_playbook


def test_engine_running_and_enabled(host):
    svc = host.service("docker")
    assert svc.is_running and svc.is_enabled


def test_daemon_settings(host):
    settings = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert settings["live-restore"] is True
    assert settings["icc"] is False
    assert settings["bip"] == "172.17.0.1/16"
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LiveRestoreEnabled"] is True


def test_bridge_address(host):
    assert "inet 172.17.0.1/16" in host.check_output("ip -4 addr show dev docker0")


def test_data_folders(host):
    common = host.file("/srv/cfps/common-data")
    assert common.is_directory and common.user == "root" and common.mode == 0o755
    team = host.file("/srv/cfps/team-shared")
    assert team.is_directory and team.uid == 1000 and team.gid == 100 and team.mode == 0o2775


def test_volumes_bind_the_folders(host):
    for name, device in (("cfps-common-data", "/srv/cfps/common-data"), ("cfps-team-shared", "/srv/cfps/team-shared")):
        vol = json.loads(host.check_output(f"docker volume inspect {name}"))[0]
        assert vol["Options"] == {"type": "none", "o": "bind", "device": device}


def test_uid_1000_uses_the_volumes(host):
    ensure_probe_image(host)
    host.run_expect([0], "echo cfps > /srv/cfps/common-data/readme.txt")
    cmd = (
        f"docker run --rm --user 1000:100 -v cfps-common-data:/data:ro -v cfps-team-shared:/shared {PROBE_IMAGE} "
        "sh -c 'cat /data/readme.txt && touch /shared/from-container"
        " && (touch /data/nope 2>/dev/null && echo WROTE || echo RO)'"
    )
    out = host.check_output(cmd)
    assert out.split() == ["cfps", "RO"]
    made = host.file("/srv/cfps/team-shared/from-container")
    assert made.uid == 1000 and made.gid == 100
    host.run("rm -f /srv/cfps/team-shared/from-container /srv/cfps/common-data/readme.txt")


def test_containers_survive_a_daemon_restart(host):
    ensure_probe_image(host)
    host.run("docker rm -f cfps-live-restore")
    cid = host.check_output(f"docker run -d --name cfps-live-restore {PROBE_IMAGE} sleep 600")
    pid_before = host.check_output("docker inspect -f '{{.State.Pid}}' cfps-live-restore")
    host.run_expect([0], "systemctl restart docker")
    assert host.check_output("docker inspect -f '{{.State.Running}} {{.Id}}' cfps-live-restore") == f"true {cid}"
    assert host.check_output("docker inspect -f '{{.State.Pid}}' cfps-live-restore") == pid_before
    host.run("docker rm -f cfps-live-restore")


def test_no_traffic_between_containers(host):
    ensure_probe_image(host)
    host.run("docker rm -f cfps-icc-target")
    host.check_output(f"docker run -d --name cfps-icc-target {PROBE_IMAGE} nc -ll -p 8888 -e cat")
    ip = host.check_output("docker inspect -f '{{.NetworkSettings.IPAddress}}' cfps-icc-target")
    try:
        # The host reaches the container, another container does not.
        assert host.run(f"timeout 3 bash -c 'exec 3<>/dev/tcp/{ip}/8888'").rc == 0
        assert host.run(f"docker run --rm {PROBE_IMAGE} nc -w 3 {ip} 8888 </dev/null").rc != 0
    finally:
        host.run("docker rm -f cfps-icc-target")


def test_check_mode_reports_no_changes():
    assert_check_mode_clean()


def test_bad_bridge_address_is_refused_before_any_change(host):
    before = host.file("/etc/docker/daemon.json").content_string
    result = run_playbook(ROOT / "molecule/docker/converge.yml", extra_vars={"docker_bridge_ip": "172.17.0.300"})
    assert result.returncode != 0
    assert recap(result)["changed"] == 0
    assert "docker_bridge_ip must be an IPv4 address (got 172.17.0.300)" in flat(result.stdout)
    assert host.file("/etc/docker/daemon.json").content_string == before


def test_bad_type_is_refused_by_the_argument_spec(host):
    result = run_playbook(ROOT / "molecule/docker/converge.yml", extra_vars={"docker_live_restore": "maybe"})
    assert result.returncode != 0
    assert recap(result)["changed"] == 0
    assert "docker_live_restore" in result.stdout
