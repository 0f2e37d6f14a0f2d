"""The example inventories parse as operators use them (`-i inventories/<name>`)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPECTED_HOSTS = {"prod": {"hub.example.org"}, "local": {"cfps-hub-local"}}


def credential_files(inventory):
    """The files the password lookups of group_vars write under credentials/."""
    sources = [ROOT / "group_vars" / "all.yml", *(ROOT / "inventories" / inventory).glob("group_vars/**/*.yml")]
    names = set()
    for path in sources:
        names |= set(re.findall(r"/credentials/([^'\"]+)'", path.read_text(encoding="utf-8")))
    return names


def inventory_hosts(path):
    out = subprocess.run(
        ["ansible-inventory", "-i", str(path), "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    grouped = {h for group in data.values() if isinstance(group, dict) for h in group.get("hosts", [])}
    return grouped | set(data["_meta"]["hostvars"])


@pytest.mark.parametrize("name", sorted(EXPECTED_HOSTS))
def test_generated_credentials_are_never_read_as_hosts(tmp_path, name):
    # A copy, with every credential file written as a first run writes it.
    inv = tmp_path / name
    shutil.copytree(ROOT / "inventories" / name, inv, ignore=shutil.ignore_patterns("credentials"))
    (inv / "credentials").mkdir()
    files = credential_files(name)
    assert files, "no generated credentials found in group_vars"
    for i, file in enumerate(sorted(files)):
        (inv / "credentials" / file).write_text(f"Zq8secretValue{i:04d}\n")
    hosts = inventory_hosts(inv)
    assert hosts == EXPECTED_HOSTS[name], f"secrets parsed as hosts: {hosts - EXPECTED_HOSTS[name]}"
