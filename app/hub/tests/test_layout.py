"""The role's side of the module: the config template keeps only settings, the pins agree."""

import re
from pathlib import Path

import cfps_jupyterhub

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "roles/hub/templates/etc/jupyterhub/jupyterhub_config.py.j2"


def pins(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("==", 1) for line in lines if re.match(r"^[A-Za-z0-9_.-]+==", line))


def test_template_imports_only_the_module():
    text = TEMPLATE.read_text(encoding="utf-8")
    imports = [line for line in text.splitlines() if re.match(r"\s*(import|from)\s", line)]
    assert imports == ["from cfps_jupyterhub import CFPSDockerSpawner, active_server_limit, parse_bytes"]
    for name in ("CFPSDockerSpawner", "active_server_limit", "parse_bytes"):
        assert name in cfps_jupyterhub.__all__


def test_template_defines_nothing_and_does_no_arithmetic_in_jinja():
    text = TEMPLATE.read_text(encoding="utf-8")
    assert not re.search(r"^\s*(class|def|async def)\s", text, re.M)
    assert "{% set" not in text
    assert "hub_mem_limit[" not in text and "memtotal" not in text


def test_the_hub_pins_live_in_one_file():
    hub = ROOT / "app/hub/requirements.txt"
    assert pins(hub)["jupyterhub"]
    # The image and the .venv name the packages and take the versions from the hub's file.
    for path, constraint in (
        (ROOT / "requirements-dev.txt", "-c app/hub/requirements.txt"),
        (ROOT / "app/notebook/requirements.txt", None),
    ):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert "jupyterhub" in lines and not any(line.startswith("jupyterhub==") for line in lines), path
        assert constraint is None or constraint in lines, path
    assert "-c /tmp/cfps/hub-requirements.txt" in (ROOT / "app/notebook/Dockerfile").read_text(encoding="utf-8")
