"""The site's wiring: every value reaches the roles from one place, and the inventory wins.

group_vars/all.yml (the playbooks' group_vars/all) gives each role's own
variables the shared values; it ranks below the inventory's group files, and
playbooks/site.yml sets no variables of its own. These tests render every role
variable the way the site's plays see it (the real roles, their argument specs
checked, on a copy of inventories/prod), without connecting to any host.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HOST = "hub.example.org"


def load(path):
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


SITE = load(ROOT / "playbooks" / "site.yml")
SITE_ROLES = [r["role"] for play in SITE for r in play.get("roles", [])]
SPECS = {
    role: load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    for role in SITE_ROLES
}
OPTIONS = {name: spec for options in SPECS.values() for name, spec in options.items()}
DEFAULTS = {
    name: value for role in SITE_ROLES for name, value in load(ROOT / "roles" / role / "defaults/main.yml").items()
}
GROUP_VARS = load(ROOT / "group_vars" / "all.yml")
# Every role variable group_vars/all.yml sets: the wiring and the operator settings.
WIRED = sorted(name for name in GROUP_VARS if name in OPTIONS)
UNDEFINED = "__cfps_undefined__"
# Defaults built from role_path only render inside their role; none is wired.
RENDERED = sorted(name for name in OPTIONS if "role_path" not in json.dumps(DEFAULTS.get(name, "")))

RENDER_PLAY = """\
- name: Render every role variable as the site's plays see it
  hosts: cfps_hub
  gather_facts: false
  roles: {roles}
  tasks:
    - name: render
      ansible.builtin.debug:
        msg: "{{{{ lookup('ansible.builtin.vars', item, default='{undefined}') }}}}"
      loop: {names}
      tags: [render]
"""


def render(tmp_path, overrides=None):
    """Each role option's value for HOST, with `overrides` in the inventory's group files."""
    inv = tmp_path / "inventory"
    # A copy: the password lookups write the generated secrets under it, never into the repository.
    shutil.copytree(ROOT / "inventories" / "prod", inv, ignore=shutil.ignore_patterns("credentials"))
    if overrides:
        # Sorts after vars.yml, so it wins within the group.
        (inv / "group_vars" / "cfps_hub" / "zz_test.yml").write_text(
            "---\n" + yaml.safe_dump(overrides, sort_keys=True), encoding="utf-8"
        )
    # A playbook folder like playbooks/: its group_vars is the repository's.
    play = tmp_path / "play"
    play.mkdir()
    (play / "group_vars").symlink_to(ROOT / "group_vars")
    names = RENDERED
    (play / "render.yml").write_text(
        RENDER_PLAY.format(roles=json.dumps(SITE_ROLES), names=json.dumps(names), undefined=UNDEFINED),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_NOCOLOR": "1",
    }
    # Only the roles' argument-spec checks (tagged always) and the render task
    # run; both work on the controller, so no host is contacted.
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(inv), str(play / "render.yml"), "--tags", "render", "-c", "local"],
        cwd=play,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    out = json.loads(proc.stdout)
    tasks = [t for p in out["plays"] for t in p["tasks"] if t["task"]["name"] == "render"]
    assert len(tasks) == 1
    results = tasks[0]["hosts"][HOST]["results"]
    values = {r["item"]: r["msg"] for r in results}
    assert set(values) == set(names)
    return values


def sentinel(name, index):
    """A value of the option's type that nothing in the repository sets."""
    spec = OPTIONS[name]
    kind = spec.get("type", "str")
    if spec.get("choices"):
        return next(c for c in spec["choices"] if c != DEFAULTS.get(name) and c != GROUP_VARS.get(name))
    if kind == "int":
        return 41000 + index
    if kind == "float":
        return 0.25 + index
    if kind == "bool":
        return not DEFAULTS.get(name, False)
    if kind in ("str", "path"):
        return f"/sentinel/{name}"
    if kind == "list":
        return [41000 + index] if spec.get("elements") == "int" else [f"/sentinel/{name}"]
    raise AssertionError(f"no sentinel for {name} of type {kind}")


def test_site_sets_no_variables_above_the_inventory():
    # Play and role vars outrank the inventory's group files: the site has none.
    for play in SITE:
        for key in ("vars", "vars_files", "vars_prompt"):
            assert key not in play, f"play {play['name']!r} has {key}"
        for role in play.get("roles", []):
            assert set(role) <= {"role", "tags"}, f"role {role['role']} in site.yml sets {set(role) - {'role', 'tags'}}"
    assert load(ROOT / "site.yml") == [{"name": "CFPS Hub", "ansible.builtin.import_playbook": "playbooks/site.yml"}]


def test_roles_never_set_their_documented_variables_above_the_inventory():
    # A role's vars/main.yml or a set_fact would outrank the inventory too.
    for role in SITE_ROLES:
        internal = ROOT / "roles" / role / "vars" / "main.yml"
        if internal.exists():
            assert not set(load(internal)) & set(OPTIONS), f"{role}: vars/main.yml sets a documented variable"
        for tasks in (ROOT / "roles" / role / "tasks").glob("*.yml"):
            for task in load(tasks) if isinstance(load(tasks), list) else []:
                facts = task.get("ansible.builtin.set_fact") or task.get("set_fact") or {}
                assert not set(facts) & set(OPTIONS), f"{tasks}: set_fact of a documented variable"


def test_every_required_role_variable_is_wired():
    for name, spec in OPTIONS.items():
        if spec.get("required"):
            assert name in GROUP_VARS, f"{name} is required but group_vars/all.yml does not set it"


def test_the_default_wiring(tmp_path):
    values = render(tmp_path)
    assert not [n for n, v in values.items() if v == UNDEFINED], "role variables without a value"
    assert values["docker_bridge_ip"] == "172.17.0.1"
    for name in ("firewall_bridge_ip", "mariadb_bind_address", "hub_bridge_ip", "hub_db_host"):
        assert values[name] == values["docker_bridge_ip"], name
    assert values["mysql_grants_user_host"] == "172.17.0.%"
    assert values["firewall_bridge_allowed_tcp_ports"] == [8081, 3306]
    assert values["mariadb_port"] == values["hub_db_port"] == 3306
    assert (values["mysql_grants_database"], values["mysql_grants_user"]) == ("cfps", "jupyterhub")
    assert (values["hub_db_name"], values["hub_db_user"]) == ("cfps", "jupyterhub")
    assert values["mysql_grants_password"] == values["hub_db_password"]
    assert len(values["hub_db_password"]) == 32
    assert values["backend_port"] == 8100
    auth = {n: values[n] for n in ("hub_oauth_token_url", "hub_oauth_userdata_url", "nginx_backend_upstream")}
    assert auth == {
        "hub_oauth_token_url": "http://127.0.0.1:8100/token",
        "hub_oauth_userdata_url": "http://127.0.0.1:8100/userinfo",
        "nginx_backend_upstream": "http://127.0.0.1:8100/",
    }
    assert values["frontend_dev_backend_url"] == "http://127.0.0.1:8100"
    assert values["nginx_hub_upstream"] == "http://127.0.0.1:8000"
    assert values["hub_proxy_port"] == 8000
    assert values["backend_hub_api_url"] == "http://172.17.0.1:8081/jupyter/hub/api"
    assert values["nginx_domain"] == HOST
    assert values["backend_public_url"] == values["hub_public_url"] == f"https://{HOST}"
    assert values["hub_oauth_authorize_url"] == f"https://{HOST}/api/authorize"
    assert values["backend_hub_redirect_uris"] == [f"https://{HOST}/jupyter/hub/oauth_callback"]
    assert values["backend_hub_client_id"] == values["hub_oauth_client_id"] == "jupyterhub"
    assert values["backend_hub_client_secret"] == values["hub_oauth_client_secret"]
    assert values["backend_hub_api_token"] == values["hub_backend_api_token"]
    assert values["frontend_site_root"] == "/var/www/cfps-hub"
    assert values["nginx_site_root"] == "/var/www/cfps-hub/current"
    assert values["hub_common_data_volume"] == values["shared_folders_common_data_volume"] == "cfps-common-data"
    assert values["hub_team_shared_volume"] == values["shared_folders_team_volume"] == "cfps-team-shared"
    assert values["backend_app_profile"] == values["frontend_app_profile"] == "prod"
    assert values["backup_team_shared_volume"] == values["shared_folders_team_volume"]
    assert values["backup_common_data_volume"] == values["shared_folders_common_data_volume"]
    assert values["backup_mysql_databases"] == [values["mysql_grants_database"]] == ["cfps"]
    assert values["cfps_import_database"] == values["mysql_grants_database"]
    assert values["backup_enabled"] is False
    assert len(values["backup_password"]) == 48
    # The prod inventory's own values win over group_vars/all.yml.
    assert values["firewall_host_policy"] == "drop"
    assert values["nginx_acme_email"] == "ops@example.org"
    # Where the site wires a value the role also defaults, they agree: each
    # role works alone (its Molecule scenario) as it does in the site. Only the
    # auth service's hub API access is off in a role alone (empty) and on here.
    inventory = load(ROOT / "inventories" / "prod" / "group_vars" / "cfps_hub" / "vars.yml")
    site_only = {"backend_hub_api_url", "backend_hub_api_token", "hub_backend_api_token"}
    for name in sorted(set(WIRED) - site_only - set(inventory)):
        if name in DEFAULTS and "{{" not in json.dumps(DEFAULTS[name]):
            assert values[name] == DEFAULTS[name], f"{name}: site {values[name]!r}, role default {DEFAULTS[name]!r}"


def test_an_inventory_value_reaches_every_wired_variable(tmp_path):
    overrides = {name: sentinel(name, i) for i, name in enumerate(WIRED)}
    values = render(tmp_path, overrides)
    wrong = {name: (values[name], want) for name, want in overrides.items() if values[name] != want}
    assert not wrong, f"inventory values lost (got, set): {wrong}"


# The shared values, set in the inventory: every role variable follows.
SHARED = {
    "app_domain": "cfps.example.edu",
    "app_profile": "dev",
    "docker_bridge_ip": "10.99.0.1",
    "hub_api_port": 9081,
    "mysql_port": 9306,
    "backend_port": 9100,
    "hub_proxy_port": 9000,
    "frontend_site_root": "/srv/www/cfps",
    "shared_folders_common_data_volume": "survey-data",
    "shared_folders_team_volume": "survey-team",
    "cfps_db_name": "cfps2020",
    "cfps_db_user": "reader",
    "cfps_db_password": "db-password-from-the-vault",
    "hub_oauth_client_id": "hub-client",
    "hub_oauth_client_secret": "client-secret-from-the-vault",
    "hub_backend_api_token": "hub-token-from-the-vault-0123456789",
    "extra_ca_certificates": ["/etc/ssl/campus-ca.crt"],
    "host_disk_reserve": "25G",
    "notebook_image_name": "campus/notebook:stable",
}
# What the site would otherwise write: none of it may remain anywhere.
OLD_VALUES = ("172.17.0", "8100", "8000", "8081", "3306", "/var/www/cfps-hub", "cfps-common-data", "cfps-team-shared")


def test_shared_values_from_the_inventory_reach_every_role(tmp_path):
    values = render(tmp_path, SHARED)
    expected = {
        "firewall_bridge_ip": "10.99.0.1",
        "firewall_bridge_allowed_tcp_ports": [9081, 9306],
        "mariadb_bind_address": "10.99.0.1",
        "mysql_grants_user_host": "10.99.0.%",
        "mariadb_port": 9306,
        "mysql_grants_database": "cfps2020",
        "cfps_import_database": "cfps2020",
        "backup_team_shared_volume": "survey-team",
        "backup_common_data_volume": "survey-data",
        "backup_mysql_databases": ["cfps2020"],
        "mysql_grants_user": "reader",
        "mysql_grants_password": "db-password-from-the-vault",
        "backend_port": 9100,
        "backend_public_url": "https://cfps.example.edu",
        "backend_app_profile": "dev",
        "backend_hub_client_id": "hub-client",
        "backend_hub_client_secret": "client-secret-from-the-vault",
        "backend_hub_redirect_uris": ["https://cfps.example.edu/jupyter/hub/oauth_callback"],
        "backend_hub_api_url": "http://10.99.0.1:9081/jupyter/hub/api",
        "backend_hub_api_token": "hub-token-from-the-vault-0123456789",
        "hub_public_url": "https://cfps.example.edu",
        "hub_bridge_ip": "10.99.0.1",
        "hub_api_port": 9081,
        "hub_proxy_port": 9000,
        "hub_oauth_client_id": "hub-client",
        "hub_oauth_client_secret": "client-secret-from-the-vault",
        "hub_oauth_authorize_url": "https://cfps.example.edu/api/authorize",
        "hub_oauth_token_url": "http://127.0.0.1:9100/token",
        "hub_oauth_userdata_url": "http://127.0.0.1:9100/userinfo",
        "hub_backend_api_token": "hub-token-from-the-vault-0123456789",
        "hub_db_host": "10.99.0.1",
        "hub_db_port": 9306,
        "hub_db_name": "cfps2020",
        "hub_db_user": "reader",
        "hub_db_password": "db-password-from-the-vault",
        "hub_common_data_volume": "survey-data",
        "hub_team_shared_volume": "survey-team",
        "notebook_image_extra_ca_certificates": ["/etc/ssl/campus-ca.crt"],
        "hub_notebook_image": "campus/notebook:stable",
        "common_extra_ca_certificates": ["/etc/ssl/campus-ca.crt"],
        "docker_bridge_ip": "10.99.0.1",
        "shared_folders_common_data_volume": "survey-data",
        "shared_folders_team_volume": "survey-team",
        "frontend_app_profile": "dev",
        "frontend_site_root": "/srv/www/cfps",
        "frontend_dev_backend_url": "http://127.0.0.1:9100",
        "nginx_domain": "cfps.example.edu",
        "nginx_site_root": "/srv/www/cfps/current",
        "nginx_backend_upstream": "http://127.0.0.1:9100/",
        "nginx_hub_upstream": "http://127.0.0.1:9000",
        "hub_home_reserve": "25G",
        "shared_folders_disk_reserve": "25G",
    }
    wrong = {name: (values[name], want) for name, want in expected.items() if values[name] != want}
    assert not wrong, f"shared values lost (got, expected): {wrong}"
    # No role variable still carries a value the shared names replace.
    stale = {n: v for n, v in values.items() if any(old in json.dumps(v) for old in OLD_VALUES)}
    assert not stale, f"role variables not wired to the shared values: {stale}"


def literal_values(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from literal_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from literal_values(value)
    else:
        yield str(node)


@pytest.mark.parametrize("value", ["172.17.0.1", *OLD_VALUES[1:]])
def test_each_shared_value_is_written_once(value):
    # Once in group_vars/all.yml (comments aside), never in the playbooks or the inventories.
    pattern = re.compile(rf"(?<![\w./-]){re.escape(value)}(?![\w-])")
    in_group_vars = [v for v in literal_values(GROUP_VARS) if pattern.search(v)]
    assert len(in_group_vars) == 1, f"{value} in group_vars/all.yml: {in_group_vars}"
    for path in [*(ROOT / "playbooks").glob("*.yml"), ROOT / "site.yml", *(ROOT / "inventories").rglob("*.yml")]:
        found = [v for v in literal_values(load(path)) if pattern.search(v)]
        assert not found, f"{value} written again in {path.relative_to(ROOT)}: {found}"
