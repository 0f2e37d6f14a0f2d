"""Verify the firewall role from inside a notebook-like container.

Test scaffolding in the instance:
- listeners on 8081 (hub API), 3306 (MySQL) and 8100 (auth service) on all
  addresses of the instance;
- a network namespace "ext" behind a veth pair that holds 169.254.169.254,
  10.99.0.1 and 10.99.0.2 with a web server, and on its loopback (the sink a
  dummy interface would be; the test machines' kernel has no dummy driver)
  Alibaba Cloud's metadata address 100.100.100.200 (same web server) and a DNS
  stand-in on 100.100.2.136:53, so that "dropped" means dropped by the
  firewall: the instance itself reaches every one of them. They sit behind a
  namespace, not on the instance itself, so that a container's packets to
  them are forwarded (FORWARD, the chain under test), as to a real metadata
  service, and never leave the instance.
The same confinement is then proven after a reboot, a Docker restart and a
netfilter-persistent reload.
"""

import pytest

from conftest import PROBE_IMAGE, ROOT, ensure_probe_image, instance_ip, probe_from_container, reboot, tcp_open
from playbook import assert_check_mode_clean, refused, run_playbook

# converge.yml's firewall role and values without common and docker.
FIREWALL_ONLY = ROOT / "molecule/firewall/firewall-only.yml"
BRIDGE = "172.17.0.1"
ALIBABA_METADATA = "100.100.100.200"
# Alibaba Cloud's resolver address: DNS passes, its other ports do not.
RESOLVER = "100.100.2.136"
ALLOWED = [(BRIDGE, 8081), (BRIDGE, 3306), ("10.99.0.2", 80), (RESOLVER, 53)]
BLOCKED = [(BRIDGE, 8100), ("169.254.169.254", 80), ("10.99.0.1", 80), (ALIBABA_METADATA, 80), (RESOLVER, 80)]


def start_unit(host, unit, command):
    if host.run(f"systemctl is-active --quiet {unit}").rc != 0:
        host.run(f"systemctl reset-failed {unit}")
        host.run_expect([0], f"systemd-run --unit {unit} {command}")


def setup_targets(host):
    """Idempotent: listeners and the 'ext' namespace (gone after a reboot)."""
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
    # The metadata and resolver addresses on the loopback of "ext": the sink a
    # dummy interface would be (the test machines' kernel has no dummy driver).
    host.run_expect(
        [0],
        f"set -e; ip -n ext addr replace {ALIBABA_METADATA}/32 dev lo; ip -n ext addr replace {RESOLVER}/32 dev lo; "
        f"ip route replace {ALIBABA_METADATA}/32 via 10.99.0.1; ip route replace {RESOLVER}/32 via 10.99.0.1",
    )
    start_unit(host, "cfps-probe-ext", "ip netns exec ext python3 -m http.server 80 --bind 0.0.0.0")
    start_unit(host, "cfps-probe-dns", f"ip netns exec ext python3 -m http.server 53 --bind {RESOLVER}")
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
    assert host.check_output("ip6tables -S INPUT").count("-j CFPS-INPUT") == 1
    assert host.check_output("ip6tables -S DOCKER-USER").count("-j CFPS-FORWARD") == 1
    forward6 = host.check_output("ip6tables -S CFPS-FORWARD")
    assert "-A CFPS-FORWARD -d fe80::/10 -j DROP" in forward6
    assert "-A CFPS-FORWARD -d fc00::/7 -j DROP" in forward6


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


def drop_count(host, family, net):
    """Packets the DROP rule for net in CFPS-FORWARD has matched so far."""
    for line in host.check_output(f"{family} -w -v -S CFPS-FORWARD").splitlines():
        if f"-d {net} " in line and line.endswith("-j DROP"):
            return int(line.split(" -c ")[1].split()[0])
    raise AssertionError(f"no DROP rule for {net} in {family} CFPS-FORWARD")


def test_alibaba_metadata_is_dropped_by_the_forward_rule(host):
    """100.100.100.200 on a dummy interface: the instance reaches it, a container
    does not, and it is the 100.64.0.0/10 rule that drops the container's packets."""
    setup_targets(host)  # includes the control: the instance itself gets an answer
    before = drop_count(host, "iptables", "100.64.0.0/10")
    assert probe_from_container(host, [(ALIBABA_METADATA, 80)]) == {(ALIBABA_METADATA, 80): False}
    assert drop_count(host, "iptables", "100.64.0.0/10") > before


# IPv6: AWS's metadata address (unique local, in fc00::/7) and two addresses
# of the "ext" namespace, one of them allow-listed in converge.yml.
V6_METADATA = "fd00:ec2::254"
V6_ALLOWED = "fd99::2"
V6_BLOCKED = "fd99::1"
V6_PORT = 8080


def ipv6_bridge_commands(action):
    """Shell commands that turn the IPv6 scaffolding on (idempotent) or off."""
    if action == "on":
        return (
            # The instance is a container with IPv6 off and /proc/sys read-only.
            "set -e; mount -o remount,bind,rw /proc/sys; "
            "for i in all default docker0 veth-ext; do echo 0 > /proc/sys/net/ipv6/conf/$i/disable_ipv6; done; "
            "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding; "
            "ip netns pids c6 >/dev/null 2>&1 || { ip netns add c6; "
            "ip link add c6-host type veth peer name c6-in netns c6; }; "
            "ip link set c6-host master docker0 up; ip -n c6 link set lo up; ip -n c6 link set c6-in up; "
            "ip -6 addr replace fd42:cf95::1/64 dev docker0 nodad; "
            "ip -n c6 -6 addr replace fd42:cf95::2/64 dev c6-in nodad; "
            "ip -n c6 -6 route replace default via fd42:cf95::1; "
            "ip -6 addr replace fd99::fe/64 dev veth-ext nodad; "
            f"ip -n ext -6 addr replace {V6_BLOCKED}/64 dev veth-in nodad; "
            f"ip -n ext -6 addr replace {V6_ALLOWED}/64 dev veth-in nodad; "
            f"ip -n ext -6 addr replace {V6_METADATA}/128 dev lo; "
            "ip -n ext -6 route replace default via fd99::fe; "
            f"ip -6 route replace {V6_METADATA}/128 via {V6_BLOCKED}"
        )
    return (
        "ip netns del c6; ip -6 addr del fd42:cf95::1/64 dev docker0; ip -6 addr del fd99::fe/64 dev veth-ext; "
        "for i in all default docker0 veth-ext; do echo 1 > /proc/sys/net/ipv6/conf/$i/disable_ipv6; done; "
        "echo 0 > /proc/sys/net/ipv6/conf/all/forwarding; mount -o remount,bind,ro /proc/sys"
    )


@pytest.fixture
def ipv6_bridge(host):
    """IPv6 on docker0 for one test, as the day the daemon enables it: a network
    namespace "c6" plugged into docker0 as Docker plugs a container, with an
    IPv6 address and docker0 as its gateway, and the IPv6 targets in "ext".
    Docker's own default bridge has no IPv6 (the docker role's daemon.json)."""
    setup_targets(host)
    host.run_expect([0], ipv6_bridge_commands("on"))
    start_unit(host, "cfps-probe-ext6", f"ip netns exec ext python3 -m http.server {V6_PORT} --bind ::")
    yield
    host.run(ipv6_bridge_commands("off"))


def tcp6_connects(host, ip, netns=None):
    prefix = f"ip netns exec {netns} " if netns else ""
    return host.run(f"{prefix}timeout 3 bash -c 'exec 3<>/dev/tcp/{ip}/{V6_PORT}'").rc == 0


def test_ipv6_metadata_is_dropped_for_the_bridge(host, ipv6_bridge):
    # Controls: the instance itself reaches all three (waiting for the listener).
    for ip in (V6_METADATA, V6_ALLOWED, V6_BLOCKED):
        host.run_expect([0], f"timeout 10 bash -c 'until exec 3<>/dev/tcp/{ip}/{V6_PORT}; do sleep 0.2; done'")
    before = drop_count(host, "ip6tables", "fc00::/7")
    seen = {ip: tcp6_connects(host, ip, netns="c6") for ip in (V6_METADATA, V6_ALLOWED, V6_BLOCKED)}
    assert seen == {V6_METADATA: False, V6_ALLOWED: True, V6_BLOCKED: False}
    assert drop_count(host, "ip6tables", "fc00::/7") > before


def test_ipv6_forward_lists(host):
    """The IPv6 chain holds the allow-list entry before the link-local and ULA drops."""
    rules = host.check_output("ip6tables -w -S CFPS-FORWARD").splitlines()
    allowed = rules.index("-A CFPS-FORWARD -d fd99::2/128 -j RETURN")
    assert allowed < rules.index("-A CFPS-FORWARD -d fc00::/7 -j DROP")
    assert allowed < rules.index("-A CFPS-FORWARD -d fe80::/10 -j DROP")
    # No IPv4 entry in the IPv6 file, no IPv6 one in the IPv4 file.
    assert "10.99.0.2" not in host.file("/etc/iptables/cfps-hub.v6").content_string
    assert "fd99::2" not in host.file("/etc/iptables/cfps-hub.v4").content_string


def test_check_mode_reports_no_changes():
    assert_check_mode_clean()


def test_port_given_as_word_is_refused_before_any_change(host):
    before = host.file("/etc/iptables/cfps-hub.v4").content_string
    result = run_playbook(
        ROOT / "molecule/firewall/converge.yml", extra_vars={"firewall_bridge_allowed_tcp_ports": ["eighty"]}
    )
    refused(result)
    assert "firewall_bridge_allowed_tcp_ports" in result.stdout
    assert host.file("/etc/iptables/cfps-hub.v4").content_string == before


def test_port_out_of_range_is_refused(host):
    result = run_playbook(FIREWALL_ONLY, extra_vars={"firewall_host_allowed_tcp_ports": [70000]})
    assert "firewall_host_allowed_tcp_ports must list TCP ports from 1 to 65535" in refused(result)


@pytest.mark.parametrize(
    "name, value, message",
    [
        (
            "firewall_forward_allowed_networks",
            ["10.20.30.40/33"],
            "firewall_forward_allowed_networks must list IPv4 or IPv6 addresses or networks",
        ),
        (
            "firewall_forward_blocked_networks",
            ["fd00:ec2::254::1"],
            "firewall_forward_blocked_networks must list IPv4 or IPv6 addresses or networks",
        ),
        ("firewall_bridge_ip", "172.17.0.1/16", "firewall_bridge_ip must be the IPv4 address of the bridge"),
    ],
)
def test_bad_address_is_refused_before_any_change(host, name, value, message):
    before = {f: host.file(f"/etc/iptables/cfps-hub.{f}").content_string for f in ("v4", "v6")}
    result = run_playbook(FIREWALL_ONLY, extra_vars={name: value})
    out = refused(result)
    assert message in out
    assert {f: host.file(f"/etc/iptables/cfps-hub.{f}").content_string for f in ("v4", "v6")} == before


def test_bad_policy_is_refused(host):
    result = run_playbook(FIREWALL_ONLY, extra_vars={"firewall_host_policy": "block"})
    assert result.returncode != 0
    assert "firewall_host_policy" in result.stdout


def converge(**extra_vars):
    result = run_playbook(FIREWALL_ONLY, extra_vars=extra_vars or None)
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
