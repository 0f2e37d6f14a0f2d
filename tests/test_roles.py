"""Static checks of the roles and the variable layout (no host needed)."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())


def load(path):
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", ROLES)
def test_role_has_the_standard_files(role):
    base = ROOT / "roles" / role
    for name in ("defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml", "README.md"):
        assert (base / name).is_file(), f"{role}: {name} missing"


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_prefixed_and_specified(role):
    base = ROOT / "roles" / role
    defaults = load(base / "defaults/main.yml")
    options = load(base / "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name in defaults:
        assert name.startswith(f"{role}_"), f"{role}: {name} lacks the role prefix"
        assert name in options, f"{role}: {name} has no argument spec"
    for name, spec in options.items():
        assert name.startswith(f"{role}_"), f"{role}: spec {name} lacks the role prefix"
        if spec.get("required"):
            assert name not in defaults, f"{role}: required {name} must not have a default"
        elif "default" in spec:
            # The spec documents the same default the role really uses.
            assert spec["default"] == defaults.get(name), f"{role}: {name} spec default differs"


@pytest.mark.parametrize("role", ROLES)
def test_role_readme_lists_every_variable(role):
    readme = (ROOT / "roles" / role / "README.md").read_text()
    options = load(ROOT / "roles" / role / "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name in options:
        assert name in readme, f"{role}: README does not mention {name}"


def inventory_host_vars(inventory, host):
    out = subprocess.run(
        ["ansible-inventory", "-i", str(ROOT / "inventories" / inventory), "--playbook-dir", str(ROOT), "--host", host],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return json.loads(out)


def test_inventory_group_file_wins_over_root_group_vars():
    # Root group_vars/all.yml says accept; the prod inventory's group file says drop.
    assert load(ROOT / "group_vars/all.yml")["firewall_host_policy"] == "accept"
    prod = inventory_host_vars("prod", "hub.example.org")
    assert prod["firewall_host_policy"] == "drop"
    # Values the inventory does not set come from the root file.
    assert prod["docker_bridge_ip"] == "172.17.0.1"
    assert prod["hub_api_port"] == 8081


def test_local_inventory_uses_the_root_settings():
    local = inventory_host_vars("local", "cfps-hub-local")
    assert local["firewall_host_policy"] == "accept"
    assert local["ansible_connection"] == "community.docker.docker"
