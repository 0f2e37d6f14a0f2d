"""Each role's validate.yml refuses bad settings by name, run on the controller.

Only the role's validation tasks run (`tasks_from: validate`, connection
local, no facts): a refusal is proven without a host, in seconds. That the
role stops before any change on a real host is proven by its scenario.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def validate(tmp_path, role, **role_vars):
    """Run `role`'s validate.yml with role_vars; returns (ok, folded output)."""
    play = [
        {
            "name": "Validate",
            "hosts": "localhost",
            "gather_facts": False,
            "vars": role_vars,
            "tasks": [{"ansible.builtin.include_role": {"name": role, "tasks_from": "validate"}}],
        }
    ]
    path = tmp_path / "validate.yml"
    path.write_text(yaml.safe_dump(play), encoding="utf-8")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
    }
    proc = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    out = json.loads(proc.stdout)
    failed = [h for p in out["plays"] for t in p["tasks"] for h in t["hosts"].values() if h.get("failed")]
    # A loop's message is in the item that failed.
    messages = [str(r.get("msg", "")) for h in failed for r in [h, *h.get("results", [])] if r.get("failed")]
    return proc.returncode == 0, " ".join(" ".join(messages).split())


MARIADB_OK = {"mariadb_bind_address": "172.17.0.1", "mariadb_port": 3306}


def test_mariadb_accepts_the_defaults(tmp_path):
    assert validate(tmp_path, "mariadb", **MARIADB_OK) == (True, "")


@pytest.mark.parametrize("address", ["0.0.0.0", "127.0.0.1", "172.17.0", "172.17.0.256", "hub.example.org", ""])  # noqa: S104
def test_mariadb_refuses_a_bad_bind_address(tmp_path, address):
    ok, out = validate(tmp_path, "mariadb", **{**MARIADB_OK, "mariadb_bind_address": address})
    assert not ok
    assert "mariadb_bind_address must be the IPv4 address of the docker bridge" in out


def test_mariadb_refuses_the_former_names(tmp_path):
    ok, out = validate(tmp_path, "mariadb", **MARIADB_OK, mysql_grants_install_server=True)
    assert not ok
    assert "rename mysql_grants_install_server in your inventory to mariadb_install_server" in out


def test_notebook_image_accepts_the_defaults(tmp_path):
    assert validate(tmp_path, "notebook_image") == (True, "")


def test_notebook_image_refuses_the_former_names(tmp_path):
    ok, out = validate(tmp_path, "notebook_image", hub_pip_index_url="https://mirror.example.edu/pypi/simple")
    assert not ok
    assert "rename hub_pip_index_url in your inventory to notebook_image_pip_index_url" in out


@pytest.mark.parametrize("name", ["cfps-hub/notebook", "Cfps/notebook:current", "cfps hub:1", ""])
def test_notebook_image_refuses_a_name_without_a_tag(tmp_path, name):
    ok, out = validate(tmp_path, "notebook_image", notebook_image_name=name)
    assert not ok
    assert "notebook_image_name must be an image name with a tag, such as cfps-hub/notebook:current" in out


def test_shared_folders_accept_the_defaults(tmp_path):
    assert validate(tmp_path, "shared_folders", shared_folders_team_quota="") == (True, "")


def test_shared_folders_refuse_the_former_names(tmp_path):
    ok, out = validate(tmp_path, "shared_folders", shared_folders_team_quota="", docker_team_shared_quota="5G")
    assert not ok
    assert "rename docker_team_shared_quota in your inventory to shared_folders_team_quota" in out


GRANTS_OK = {
    "mysql_grants_database": "cfps",
    "mysql_grants_user": "jupyterhub",
    "mysql_grants_user_host": "172.17.0.%",
    "mysql_grants_login_user": "root",
    "mysql_grants_password": "a-test-password",
}


def test_mysql_grants_accepts_the_defaults(tmp_path):
    assert validate(tmp_path, "mysql_grants", **GRANTS_OK) == (True, "")


@pytest.mark.parametrize("name", ["root", "Root", "mysql", "mariadb.sys", "mysql.sys", "debian-sys-maint", "dba"])
def test_mysql_grants_refuses_a_server_account(tmp_path, name):
    # dba: the administrator the role itself logs in as (mysql_grants_login_user).
    ok, out = validate(
        tmp_path, "mysql_grants", **{**GRANTS_OK, "mysql_grants_login_user": "dba", "mysql_grants_user": name}
    )
    assert not ok
    assert "mysql_grants_user (group_vars/all.yml sets it from cfps_db_user) must be an account of its own" in out
    assert f"not {name}:" in out


def test_mysql_grants_refuses_an_empty_account_name(tmp_path):
    ok, out = validate(tmp_path, "mysql_grants", **{**GRANTS_OK, "mysql_grants_user": ""})
    assert not ok
    assert "mysql_grants_user must match" in out


@pytest.mark.parametrize(
    ("host", "valid"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("1.2.3", False),
        ("dev.example.org", False),
        ("300.1.1.1", False),
    ],
)  # noqa: S104
def test_frontend_dev_host(tmp_path, host, valid):
    spec = yaml.safe_load((ROOT / "roles/frontend/meta/argument_specs.yml").read_text(encoding="utf-8"))
    defaults = {k: v["default"] for k, v in spec["argument_specs"]["main"]["options"].items() if "default" in v}
    ok, out = validate(tmp_path, "frontend", **{**defaults, "frontend_dev_host": host})
    assert ok == valid, out
    assert valid or f"frontend_dev_host must be an IPv4 address (got {host})" in out
