"""Verify the mysql_grants role from inside a notebook-like container.

The probe image holds nothing but the instance's own `mariadb` client and the
shared libraries it links (copied from the instance, so no download): a fresh
container on docker0 connects to 172.17.0.1:3306 exactly as a notebook does.
"""

import re
import shlex

import pytest
import yaml

from conftest import ROOT, SCENARIO_DIR, copy_in, error_code, mysql_from_container
from playbook import assert_check_mode_clean, recap, refused, role_playbook, run_playbook

CONVERGE = SCENARIO_DIR / "converge.yml"
CONVERGE_PLAY = yaml.safe_load(CONVERGE.read_text())[0]
# The converge's variables for mysql_grants, the test password among them.
GRANTS_VARS = CONVERGE_PLAY["roles"][-1]["vars"]
PASSWORD = GRANTS_VARS["mysql_grants_password"]
USER = "jupyterhub"
ACCOUNT = "'jupyterhub'@'172.17.0.%'"
DATABASE = "cfps"
# The fixed size of the synthetic sample (roles/mysql_grants/README.md).
PERSONS = 1000
FAMILIES = 400
SAMPLE_TABLES = ["README", "famecon_2018", "labels_2018", "person_2018"]
README_ROWS = 6
# The stamp of the committed sample, as the role reads it.
STAMP = re.search(
    r"sample ([0-9a-f]{12})]", (ROOT / "roles/mysql_grants/files/cfps_sample_2018.sql").read_text(encoding="utf-8")
).group(1)
# The first sample, as hosts deployed before the stamp hold it (no stamp, no labels_2018).
OLD_SAMPLE = SCENARIO_DIR / "files" / "cfps_sample_2018_v1.sql"


def grants_only(tmp_path):
    """The converge's mysql_grants alone, with its variables: the roles before it
    (common, docker, firewall, mariadb) hold neither the account nor the sample."""
    files = [SCENARIO_DIR / path for path in CONVERGE_PLAY["vars_files"]]
    return role_playbook(tmp_path, "mysql_grants", files, **GRANTS_VARS)


def sql_from_container(host, statement, auth=PASSWORD):
    """Run one statement as the read-only account from a fresh container on docker0."""
    return mysql_from_container(host, statement, user=USER, password=auth, database=DATABASE)


def select(host, statement):
    result = sql_from_container(host, statement)
    assert result.rc == 0, result.stderr
    # The sample's labels hold an em dash; the instance has no UTF-8 locale.
    return result.stdout_bytes.decode("utf-8").strip()


def as_root(host, statement):
    """The administrator on the instance, through the unix socket."""
    return host.check_output(f"mariadb --batch --skip-column-names -e {shlex.quote(statement)}")


def grants(host):
    """The account's privileges, without the password hash."""
    lines = as_root(host, f"SHOW GRANTS FOR {ACCOUNT}").splitlines()
    return sorted(line.split(" IDENTIFIED BY")[0] for line in lines)


EXACTLY_SELECT = sorted(
    [
        "GRANT USAGE ON *.* TO `jupyterhub`@`172.17.0.%`",
        "GRANT SELECT ON `cfps`.* TO `jupyterhub`@`172.17.0.%`",
    ]
)


def test_account_reads_the_sample(host):
    assert select(host, "SELECT COUNT(*) FROM person_2018") == str(PERSONS)
    assert select(host, "SELECT COUNT(*) FROM famecon_2018") == str(FAMILIES)
    # Every person joins its family.
    joined = "SELECT COUNT(*) FROM person_2018 p JOIN famecon_2018 f ON p.fid18 = f.fid18"
    assert select(host, joined) == str(PERSONS)
    assert select(host, "SELECT note FROM README WHERE id = 1").startswith("SYNTHETIC — not real CFPS data")
    comment = "SELECT table_comment FROM information_schema.tables WHERE table_schema = 'cfps'"
    comments = select(host, comment).splitlines()
    assert len(comments) == len(SAMPLE_TABLES)
    assert all(c.startswith(f"SYNTHETIC — not real CFPS data [sample {STAMP}]") for c in comments)
    # Province names for the notebooks' China map.
    assert select(host, "SELECT label_zh FROM labels_2018 WHERE variable = 'provcd18' AND code = 11") == "北京"


def test_account_holds_exactly_select(host):
    assert grants(host) == EXACTLY_SELECT
    # Only this one account of that name exists.
    assert as_root(host, "SELECT host FROM mysql.user WHERE user = 'jupyterhub'") == "172.17.0.%"


DENIED = [
    ("INSERT INTO README (id, note) VALUES (99, 'x')", {1142}),
    ("UPDATE person_2018 SET income = 0", {1142}),
    ("DELETE FROM person_2018", {1142}),
    ("DROP TABLE person_2018", {1142}),
    ("CREATE TABLE scratch (x INT)", {1142}),
    ("CREATE DATABASE scratch", {1044}),
    ("GRANT SELECT ON cfps.* TO 'jupyterhub'@'172.17.0.%'", {1044}),
    ("CREATE USER 'intruder'@'%' IDENTIFIED BY 'x'", {1227}),
    ("SET GLOBAL max_connections = 10", {1227}),
    ("SELECT * FROM mysql.user", {1142}),
    ("SELECT 1 INTO OUTFILE '/tmp/cfps-out'", {1045, 1227}),
]


@pytest.mark.parametrize(("statement", "codes"), DENIED, ids=[s.split(" (")[0][:30] for s, _ in DENIED])
def test_account_is_denied(host, statement, codes):
    assert error_code(sql_from_container(host, statement)) in codes


def test_data_intact_after_denied_writes(host):
    assert select(host, "SELECT COUNT(*) FROM person_2018") == str(PERSONS)
    assert select(host, "SELECT COUNT(*) FROM README") == str(README_ROWS)


def test_wrong_password_is_refused(host):
    assert error_code(sql_from_container(host, "SELECT 1", auth="not-the-password")) == 1045


def test_account_cannot_log_in_from_loopback(host):
    # 127.0.0.1:3306 listens (see above): the refusal is the host pattern's doing.
    result = host.run(
        f"MYSQL_PWD={shlex.quote(PASSWORD)} mariadb --connect-timeout=5 -h 127.0.0.1 -u {USER} -e 'SELECT 1'"
    )
    # 1698: "Access denied for user 'jupyterhub'@'localhost'".
    assert error_code(result) in (1045, 1130, 1698)


def test_converge_takes_back_extra_privileges(host, tmp_path):
    as_root(
        host,
        f"GRANT INSERT, DELETE ON cfps.* TO {ACCOUNT}; "
        f"GRANT SELECT ON cfps.* TO {ACCOUNT} WITH GRANT OPTION; "
        f"GRANT CREATE, FILE ON *.* TO {ACCOUNT}; "
        f"GRANT SELECT ON mysql.* TO {ACCOUNT}; "
        f"SET PASSWORD FOR {ACCOUNT} = PASSWORD('tampered')",
    )
    assert grants(host) != EXACTLY_SELECT
    assert error_code(sql_from_container(host, "SELECT 1")) == 1045

    result = run_playbook(grants_only(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result)["changed"] >= 1
    assert grants(host) == EXACTLY_SELECT
    assert error_code(sql_from_container(host, "DELETE FROM README")) == 1142
    assert select(host, "SELECT COUNT(*) FROM person_2018") == str(PERSONS)
    # The password never shows up in the output.
    assert PASSWORD not in result.stdout


def sample_comments(host):
    """{table: comment} of the tables of the sample's names present in cfps."""
    query = (
        "SELECT table_name, table_comment FROM information_schema.tables "
        "WHERE table_schema = 'cfps' AND table_name IN ('README', 'famecon_2018', 'labels_2018', 'person_2018')"
    )
    # The comments hold an em dash: ask for UTF-8 (the instance has no UTF-8 locale).
    result = host.run(f"mariadb --default-character-set=utf8mb4 --batch --skip-column-names -e {shlex.quote(query)}")
    assert result.rc == 0, result.stderr
    return dict(line.split("\t", 1) for line in result.stdout_bytes.decode("utf-8").splitlines())


def test_older_sample_is_replaced(host, tmp_path):
    """A host that holds the first sample (no stamp, no labels_2018) gets the current one."""
    as_root(host, "DROP TABLE " + ", ".join(f"cfps.{t}" for t in SAMPLE_TABLES))
    copy_in(OLD_SAMPLE, "/tmp/old-sample.sql")
    host.run_expect([0], "mariadb cfps < /tmp/old-sample.sql && rm /tmp/old-sample.sql")
    old = sample_comments(host)
    assert sorted(old) == ["README", "famecon_2018", "person_2018"]
    assert not any("[sample " in c for c in old.values())

    result = run_playbook(grants_only(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result)["changed"] >= 1
    new = sample_comments(host)
    assert sorted(new) == SAMPLE_TABLES
    assert all(c.startswith(f"SYNTHETIC — not real CFPS data [sample {STAMP}]: ") for c in new.values())
    assert select(host, "SELECT COUNT(*) FROM person_2018") == str(PERSONS)
    assert select(host, "SELECT COUNT(*) FROM README") == str(README_ROWS)
    assert select(host, "SELECT COUNT(DISTINCT cmonth) FROM person_2018") == "7"

    again = run_playbook(grants_only(tmp_path))
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap(again)["changed"] == 0, again.stdout[-5000:]


@pytest.fixture
def foreign_person_table(host):
    """person_2018 replaced by a table that is not the sample (no label in its comment)."""
    as_root(
        host,
        "RENAME TABLE cfps.person_2018 TO cfps.person_2018_kept; "
        "CREATE TABLE cfps.person_2018 (pid INT PRIMARY KEY, note VARCHAR(20)) COMMENT='real survey data'; "
        "INSERT INTO cfps.person_2018 VALUES (1, 'keep me')",
    )
    yield
    as_root(host, "DROP TABLE cfps.person_2018; RENAME TABLE cfps.person_2018_kept TO cfps.person_2018")


def test_table_that_is_not_the_sample_is_refused_untouched(host, foreign_person_table, tmp_path):
    before = sample_comments(host)
    result = run_playbook(grants_only(tmp_path))
    out = refused(result)
    assert "holds person_2018 without the label" in out
    assert "Real CFPS tables are never overwritten" in out
    # Nothing dropped or loaded: the foreign table and the sample tables are as they were.
    assert as_root(host, "SELECT pid, note FROM cfps.person_2018") == "1\tkeep me"
    assert sample_comments(host) == before
    assert as_root(host, "SELECT COUNT(*) FROM cfps.person_2018_kept") == str(PERSONS)


def test_check_mode_reports_no_changes():
    assert_check_mode_clean()


def test_missing_password_fails_before_any_change(host, tmp_path):
    result = run_playbook(role_playbook(tmp_path, "mysql_grants"))
    refused(result)
    assert "mysql_grants_password" in result.stdout
    assert grants(host) == EXACTLY_SELECT


def test_empty_password_is_refused(host, tmp_path):
    result = run_playbook(role_playbook(tmp_path, "mysql_grants", mysql_grants_password=" "))  # noqa: S106
    out = refused(result)
    assert "mysql_grants_password must be a non-empty string" in out


def test_server_account_name_is_refused(host, tmp_path):
    """Pointed at root, the role would take its privileges away; every reserved name: tests/test_validation.py."""
    result = run_playbook(
        role_playbook(tmp_path, "mysql_grants", mysql_grants_password=PASSWORD, mysql_grants_user="root")
    )
    out = refused(result)
    assert "mysql_grants_user (group_vars/all.yml sets it from cfps_db_user) must be an account of its own" in out
    # root keeps every privilege.
    assert "ALL PRIVILEGES ON *.*" in as_root(host, "SHOW GRANTS FOR 'root'@'localhost'")
