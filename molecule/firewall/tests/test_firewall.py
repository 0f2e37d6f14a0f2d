"""Verify the firewall role from inside a notebook-like container.

Test scaffolding in the instance:
- listeners on 8081 (hub API), 3306 (MySQL) and 8100 (auth service) on all
  addresses of the instance;
- a network namespace "ext" behind a veth pair that holds 169.254.169.254,
  10.99.0.1 and 10.99.0.2 with a web server, so that "dropped" means dropped by
  the firewall: the instance itself reaches every one of them.
The same confinement is then proven after a reboot, a Docker restart and a
netfilter-persistent reload.
"""

import pytest

from conftest import (
    PROBE_IMAGE,
    ROOT,
    assert_check_mode_clean,
    ensure_probe_image,
    flat,
    instance_ip,
    probe_from_container,
    reboot,
    recap,
    run_playbook,
    tcp_open,
)

BRIDGE = "172.17.0.1"
ALLOWED = [(BRIDGE, 8081), (BRIDGE, 3306), ("10.99.0.2", 80)]
BLOCKED = [(BRIDGE, 8100), ("169.254.169.254", 80), ("10.99.0.1", 80)]


def start_unit(host, unit, command):
    if host.run(f"systemctl is-active --quiet {unit}").rc != 0:
        host.run(f"systemctl reset-failed {unit}")
        host.run_expect([0], f"systemd-run --unit {unit} {command}")


def setup_targets(host):
    """Idempotent: listeners and the 'ext' namespace (gone after a reboot)."""
    ensure_probe_image(host)
    for port in (8081, 3306, 8100):
        start_unit(host, f"cfps-probe-{port}", f"python3 -m http.server {port} --bind 0.0.0.0")
    if host.run("ip netns pids ext").rc != 0:
        host.run_expect(
            [0],
            "set -e; ip netns add ext; ip link add veth-ext type veth peer name veth-in netns ext; "
            "ip addr add 10.99.0.254/24 dev veth-ext; ip link set veth-ext up; "
            "ip route add 169.254.169.254/32 dev veth-ext; "
            "ip -n ext link set lo up; ip -n ext link set veth-in up; "
            "ip -n ext addr add 10.99.0.1/24 dev veth-in; ip -n ext addr add 10.99.0.2/24 dev veth-in; "
            "ip -n ext addr add 169.254.169.254/32 dev veth-in; ip -n ext route add default via 10.99.0.254",
        )
    start_unit(host, "cfps-probe-ext", "ip netns exec ext python3 -m http.server 80 --bind 0.0.0.0")
    # Controls: the instance itself reaches every target, so a closed port
    # seen from a container is the firewall's doing.
    for ip, port in ALLOWED + BLOCKED:
        host.run_expect([0], f"timeout 10 bash -c 'until exec 3<>/dev/tcp/{ip}/{port}; do sleep 0.2; done'")


def assert_confined(host):
    setup_targets(host)
    seen = probe_from_container(host, ALLOWED + BLOCKED)
    assert {t: seen[t] for t in ALLOWED} == dict.fromkeys(ALLOWED, True)
    assert {t: seen[t] for t in BLOCKED} == dict.fromkeys(BLOCKED, False)
    # Exactly one jump each: reloads never pile up duplicates.
    assert host.check_output("iptables -S INPUT").count("-j CFPS-INPUT") == 1
    assert host.check_output("iptables -S DOCKER-USER").count("-j CFPS-FORWARD") == 1


def assert_docker_chains_intact(host):
    ensure_probe_image(host)
    # Docker's own NAT and forward rules are still in place.
    assert "MASQUERADE" in host.check_output("iptables -t nat -S POSTROUTING")
    assert "-j DOCKER-USER" in host.check_output("iptables -S FORWARD")
    assert host.run(f"docker run --rm {PROBE_IMAGE} true").rc == 0


def test_confined_after_converge(host):
    assert_confined(host)
    assert_docker_chains_intact(host)


def test_rules_files(host):
    v4 = host.file("/etc/iptables/cfps-hub.v4")
    assert v4.mode == 0o640 and v4.user == "root"
    assert host.file("/usr/share/netfilter-persistent/plugins.d/45-cfps-hub").mode == 0o755
    assert host.service("netfilter-persistent").is_enabled
    # IPv6: the bridge gets nothing either.
    assert "-A CFPS-INPUT -i docker0 -j DROP" in host.check_output("ip6tables -S CFPS-INPUT")
    # The package never snapshotted Docker's live rules.
    assert not host.file("/etc/iptables/rules.v4").exists


def test_confined_after_reboot(host):
    reboot(host)
    assert_confined(host)
    assert_docker_chains_intact(host)


def test_confined_after_docker_restart(host):
    host.run_expect([0], "systemctl restart docker")
    assert_confined(host)
    assert_docker_chains_intact(host)


def test_confined_after_netfilter_reload(host):
    host.run_expect([0], "netfilter-persistent reload")
    host.run_expect([0], "netfilter-persistent reload")
    assert_confined(host)
    assert_docker_chains_intact(host)


def test_check_mode_reports_no_changes():
    assert_check_mode_clean()


def test_port_given_as_word_is_refused_before_any_change(host):
    before = host.file("/etc/iptables/cfps-hub.v4").content_string
    result = run_playbook(
        ROOT / "molecule/firewall/converge.yml", extra_vars={"firewall_bridge_allowed_tcp_ports": ["eighty"]}
    )
    assert result.returncode != 0
    assert recap(result)["changed"] == 0
    assert "firewall_bridge_allowed_tcp_ports" in result.stdout
    assert host.file("/etc/iptables/cfps-hub.v4").content_string == before


def test_port_out_of_range_is_refused(host):
    result = run_playbook(
        ROOT / "molecule/firewall/converge.yml", extra_vars={"firewall_host_allowed_tcp_ports": [70000]}
    )
    assert result.returncode != 0
    assert "firewall_host_allowed_tcp_ports must list TCP ports from 1 to 65535" in flat(result.stdout)


def test_bad_policy_is_refused(host):
    result = run_playbook(ROOT / "molecule/firewall/converge.yml", extra_vars={"firewall_host_policy": "block"})
    assert result.returncode != 0
    assert "firewall_host_policy" in result.stdout


def converge(**extra_vars):
    result = run_playbook(ROOT / "molecule/firewall/converge.yml", extra_vars=extra_vars or None)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.fixture
def host_policy_drop(host):
    """The host policy drop with only 443 open, for one test; accept again after it."""
    setup_targets(host)
    start_unit(host, "cfps-probe-443", "python3 -m http.server 443 --bind 0.0.0.0")
    converge(firewall_host_policy="drop", firewall_host_allowed_tcp_ports=[443])
    yield
    converge()


def test_host_policy_drop_opens_only_listed_ports(host, host_policy_drop):
    ip = instance_ip(host)
    assert tcp_open(ip, 443)
    assert not tcp_open(ip, 8100)
    # Containers are still confined the same way.
    assert_confined(host)


def test_host_policy_back_to_accept(host, host_policy_drop):
    # Starts from drop (8100 closed, its listener running), whatever ran before.
    ip = instance_ip(host)
    assert not tcp_open(ip, 8100)
    converge()
    assert tcp_open(ip, 8100)
    assert_confined(host)
