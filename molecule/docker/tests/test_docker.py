"""Verify the docker role: engine, daemon settings, data folders and volumes."""

import json

from conftest import PROBE_IMAGE, ROOT, ensure_probe_image
from playbook import assert_check_mode_clean, recap, refused, run_playbook


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


TEAM_QUOTA = 64 * 1024**2  # shared_folders_team_quota in molecule/resources/vars/test-host.yml


def test_team_folder_is_a_filesystem_of_its_own(host):
    image = host.file("/var/lib/cfps-hub/team-shared.img")
    assert image.size == TEAM_QUOTA and image.mode == 0o600 and image.user == "root"
    # Allocated up front: every block is on the disk already.
    assert int(host.check_output(f"stat -c %b {image.path}")) * 512 >= TEAM_QUOTA
    source, fstype, options = host.check_output("findmnt -n -o SOURCE,FSTYPE,OPTIONS /srv/cfps/team-shared").split()
    assert source.startswith("/dev/loop") and fstype == "ext4" and {"nodev", "nosuid"} <= set(options.split(","))
    # From fstab: mounted again at every boot, before Docker.
    fstab = [line.split() for line in host.file("/etc/fstab").content_string.splitlines() if line.strip()]
    assert [image.path, "/srv/cfps/team-shared", "ext4", "loop,nodev,nosuid", "0", "0"] in fstab
    # The researchers see no lost+found.
    assert not host.file("/srv/cfps/team-shared/lost+found").exists


def test_writing_past_the_team_quota_fails_in_the_team_folder_only(host):
    ensure_probe_image(host)
    cmd = (
        f"docker run --rm --user 1000:100 -v cfps-team-shared:/shared {PROBE_IMAGE} "
        "sh -c 'dd if=/dev/zero of=/shared/big.bin bs=1048576 count=100 2>&1'"
    )
    try:
        out = host.run(cmd)
        assert out.rc == 1 and "No space left on device" in out.stdout
        written = int(host.file("/srv/cfps/team-shared/big.bin").size)
        assert TEAM_QUOTA * 0.75 <= written <= TEAM_QUOTA
        # The host's own disk goes on.
        host.run_expect([0], "head -c 100000000 /dev/zero > /var/tmp/host.bin && rm /var/tmp/host.bin")
    finally:
        host.run("rm -f /srv/cfps/team-shared/big.bin")
    host.run_expect([0], f"docker run --rm --user 1000:100 -v cfps-team-shared:/shared {PROBE_IMAGE} touch /shared/ok")
    host.run("rm -f /srv/cfps/team-shared/ok")


def test_a_team_folder_from_before_the_quota_moves_in_and_a_raised_quota_grows_it(host):
    # A folder and image of this test's own, through the role's quota tasks alone.
    folder, image = "/srv/test-team", "/var/lib/cfps-hub/test-team.img"
    play = ROOT / "molecule/docker/team-quota-only.yml"
    own = {"shared_folders_team_dir": folder, "shared_folders_team_image": image}
    host.run_expect([0], f"install -d -o 1000 -g 100 {folder}/sub && echo thesis > {folder}/sub/paper.txt")
    host.run_expect([0], f"chown 1000:100 {folder}/sub/paper.txt")
    try:
        result = run_playbook(play, extra_vars={**own, "shared_folders_team_quota": "64M"})
        assert result.returncode == 0, result.stdout[-3000:]
        assert host.run(f"mountpoint -q {folder}").rc == 0
        paper = host.file(f"{folder}/sub/paper.txt")
        assert paper.content_string == "thesis\n" and paper.uid == 1000
        assert not host.file(f"{folder}/lost+found").exists
        # Nothing left under the mount point.
        host.run_expect([0], f'umount {folder} && [ -z "$(ls -A {folder})" ] && mount {folder}')
        again = run_playbook(play, extra_vars={**own, "shared_folders_team_quota": "64M"})
        assert recap(again)["changed"] == 0
        # Raised: the image and the mounted filesystem grow, the files stay.
        before = int(host.check_output(f"df -B1 --output=size {folder}").split()[-1])
        grown = run_playbook(play, extra_vars={**own, "shared_folders_team_quota": "96M"})
        assert grown.returncode == 0, grown.stdout[-3000:]
        assert host.file(image).size == 96 * 1024**2
        assert int(host.check_output(f"df -B1 --output=size {folder}").split()[-1]) > before + 16 * 1024**2
        assert host.file(f"{folder}/sub/paper.txt").content_string == "thesis\n"
        # Lowered again: nothing is shrunk, nothing changes.
        lowered = run_playbook(play, extra_vars={**own, "shared_folders_team_quota": "64M"})
        assert recap(lowered)["changed"] == 0 and host.file(image).size == 96 * 1024**2
    finally:
        host.run(f"umount {folder}; sed -i '\\#^{image} #d' /etc/fstab; rm -rf {folder} {image}")


def test_a_team_quota_that_eats_the_reserve_is_refused_before_any_change(host):
    free = int(host.check_output("df -B1 --output=avail /var/lib/cfps-hub").split()[-1])
    result = run_playbook(
        ROOT / "molecule/docker/converge.yml", extra_vars={"shared_folders_team_quota": f"{free // 1024**2}M"}
    )
    out = refused(result)
    assert "does not fit" in out and "shared_folders_disk_reserve (10G) stays for the host" in out
    assert host.file("/var/lib/cfps-hub/team-shared.img").size == TEAM_QUOTA


def test_bad_team_quota_is_refused(host):
    result = run_playbook(ROOT / "molecule/docker/converge.yml", extra_vars={"shared_folders_team_quota": "20GB"})
    out = refused(result)
    assert "shared_folders_team_quota must be a size of at least 32M such as 20G, or empty for no quota (got 20GB)" in (
        out
    )


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
    out = refused(result)
    assert "docker_bridge_ip must be an IPv4 address (got 172.17.0.300)" in out
    assert host.file("/etc/docker/daemon.json").content_string == before


def test_bad_type_is_refused_by_the_argument_spec(host):
    result = run_playbook(ROOT / "molecule/docker/converge.yml", extra_vars={"docker_live_restore": "maybe"})
    refused(result)
    assert "docker_live_restore" in result.stdout
