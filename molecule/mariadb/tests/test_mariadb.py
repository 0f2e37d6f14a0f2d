"""Verify the mariadb role: where the server listens, before and after a reboot."""

import pytest

from conftest import instance_ip, probe_from_container, reboot, tcp_open
from playbook import assert_check_mode_clean, refused, role_playbook, run_playbook

BRIDGE = "172.17.0.1"


def listeners(host):
    out = host.check_output("ss -Htln 'sport = :3306'")
    return sorted(line.split()[3] for line in out.splitlines())


def started_after_docker(host):
    docker_up = int(host.check_output("systemctl show docker -p ActiveEnterTimestampMonotonic --value"))
    mariadb_start = int(host.check_output("systemctl show mariadb -p ExecMainStartTimestampMonotonic --value"))
    return 0 < docker_up <= mariadb_start


def test_server_listens_on_bridge_and_loopback_only(host):
    assert host.service("mariadb").is_running and host.service("mariadb").is_enabled
    assert listeners(host) == ["127.0.0.1:3306", f"{BRIDGE}:3306"]
    conf = host.file("/etc/mysql/mariadb.conf.d/60-cfps-hub.cnf")
    assert conf.mode == 0o644
    assert "bind-address = 127.0.0.1,172.17.0.1" in conf.content_string


def test_containers_reach_the_server_on_the_bridge(host):
    assert probe_from_container(host, [(BRIDGE, 3306)]) == {(BRIDGE, 3306): True}


def test_server_starts_after_docker(host):
    dropin = host.file("/etc/systemd/system/mariadb.service.d/cfps-hub.conf")
    assert dropin.exists and dropin.mode == 0o644
    props = host.check_output("systemctl show mariadb -p After -p Wants")
    assert props.count("docker.service") == 2
    # Socket activation would listen on every address after a reboot.
    assert host.check_output("systemctl show mariadb.socket -p LoadState --value") == "masked"


@pytest.fixture
def control_listener(host):
    """A web server on all addresses of the instance: proves the path from the controller is open."""
    host.run("systemctl reset-failed cfps-probe-8100")
    host.run_expect([0], "systemd-run --unit cfps-probe-8100 python3 -m http.server 8100 --bind 0.0.0.0")
    host.run_expect([0], "timeout 10 bash -c 'until exec 3<>/dev/tcp/127.0.0.1/8100; do sleep 0.2; done'")
    yield
    host.run("systemctl stop cfps-probe-8100")


def test_not_reachable_on_the_public_address(host, control_listener):
    ip = instance_ip(host)
    assert tcp_open(ip, 8100)
    assert not tcp_open(ip, 3306)
    # Not even from the instance itself: nothing listens there.
    assert host.run(f"timeout 3 bash -c 'exec 3<>/dev/tcp/{ip}/3306'").rc != 0


def test_after_reboot(host):
    reboot(host)
    assert host.service("mariadb").is_running
    # Ordered after Docker: the server started once docker0 was up.
    assert started_after_docker(host)
    assert listeners(host) == ["127.0.0.1:3306", f"{BRIDGE}:3306"]


def test_check_mode_reports_no_changes():
    assert_check_mode_clean()


@pytest.mark.parametrize("address", ["0.0.0.0", "127.0.0.1", "172.17.0", "hub.example.org"])  # noqa: S104
def test_bad_bind_address_is_refused(host, tmp_path, address):
    conf_before = host.file("/etc/mysql/mariadb.conf.d/60-cfps-hub.cnf").content_string
    result = run_playbook(role_playbook(tmp_path, "mariadb", mariadb_install_server=True, mariadb_bind_address=address))
    out = refused(result)
    assert "mariadb_bind_address must be the IPv4 address of the docker bridge" in out
    assert host.file("/etc/mysql/mariadb.conf.d/60-cfps-hub.cnf").content_string == conf_before


def test_former_variable_name_is_refused(host, tmp_path):
    # An inventory written before the role existed: the setting must not be ignored silently.
    result = run_playbook(
        role_playbook(tmp_path, "mariadb", mysql_grants_bind_address="10.0.0.1", mysql_grants_port=3307)
    )
    out = refused(result)
    assert "rename mysql_grants_bind_address, mysql_grants_port" in out
    assert "to mariadb_bind_address, mariadb_port" in out
    assert listeners(host) == ["127.0.0.1:3306", f"{BRIDGE}:3306"]
