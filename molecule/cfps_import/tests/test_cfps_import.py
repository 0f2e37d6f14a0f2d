"""Verify the cfps_import role: synthetic Stata files in, exact tables and labels out.

Converge imported the fixtures (fixtures.py) from the controller. The values are
compared with the tables the fixtures were made from, column by column; the
labels as the read-only account reads them from a container on docker0, as a
notebook does. Tests that import more use folders and tables of their own.
"""

import hashlib
import json
import math
import shlex
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from conftest import SCENARIO_DIR, copy_in, error_code, mysql_from_container
from playbook import assert_check_mode_clean, flat, recap, refused, run_playbook

sys.path.insert(0, str(SCENARIO_DIR))
import fixtures  # noqa: E402

CONVERGE = yaml.safe_load((SCENARIO_DIR / "converge.yml").read_text())
PASSWORD = CONVERGE[1]["roles"][3]["vars"]["mysql_grants_password"]
IMPORT_ONLY = SCENARIO_DIR / "import-only.yml"
VENV_PYTHON = "/opt/cfps-import/venv/bin/python"
ALL_TABLES = (
    "SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'cfps'"
)

# Runs in the instance with the importer's venv: one digest per column, rows in key order.
DIGESTS = """
import hashlib, json, sys, pymysql
table = sys.argv[1]
conn = pymysql.connect(unix_socket="/run/mysqld/mysqld.sock", user="root", database="cfps", charset="utf8mb4")
cur = conn.cursor()
cur.execute("SELECT primary_key FROM meta_tables WHERE table_name = %s", (table,))
key = cur.fetchone()[0].split(",")
cur.execute(f"SELECT * FROM `{table}` ORDER BY " + ", ".join(f"`{k}`" for k in key))
rows = cur.fetchall()
names = [d[0] for d in cur.description]
canon = lambda v: "NULL" if v is None else v if isinstance(v, str) else repr(float(v))
print(json.dumps({"rows": len(rows), "columns": names, "digests": [
    hashlib.sha256("\\n".join(canon(r[i]) for r in rows).encode()).hexdigest() for i in range(len(names))]}))
"""


def canon(value):
    if isinstance(value, str):
        return value
    value = float(value)
    return "NULL" if math.isnan(value) else repr(value)


def source_digests(table):
    return [hashlib.sha256("\n".join(canon(v) for v in table.data[c]).encode()).hexdigest() for c in table.columns]


def db_digests(host, table_name):
    out = host.check_output(f"{VENV_PYTHON} -c {shlex.quote(DIGESTS)} {table_name}")
    return json.loads(out)


def as_root(host, statement):
    result = host.run(f"mariadb cfps --batch --skip-column-names -e {shlex.quote(statement)}")
    assert result.rc == 0, result.stderr
    return result.stdout_bytes.decode("utf-8").strip()


def readonly(host, statement):
    result = mysql_from_container(host, statement, user="jupyterhub", password=PASSWORD, database="cfps")
    assert result.rc == 0, result.stderr
    return result.stdout_bytes.decode("utf-8").strip()


def import_dir(host, folder, files=None, **extra):
    """Run the role alone on a folder of the instance."""
    return run_playbook(
        IMPORT_ONLY,
        extra_vars={"cfps_import_dir": folder, "cfps_import_files": files or {}, **extra},
    )


def write_fixture(host, path, name, version=None, **override):
    """A fixture file (optionally with other rows) written into the instance at path."""
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "file.dta"
        fixtures.write(local, version or fixtures.FIXTURES[name][1], fixtures.table(name, **override))
        host.run_expect([0], f"mkdir -p {shlex.quote(str(Path(path).parent))}")
        copy_in(local, path)


@pytest.mark.parametrize("name", list(fixtures.FIXTURES))
def test_every_column_equals_the_source_file(host, name):
    table_name = fixtures.FIXTURES[name][0]
    source = fixtures.table(name)
    db = db_digests(host, table_name)
    assert db["rows"] == source.rows
    assert db["columns"] == source.columns, "column order differs from the file"
    differ = [c for c, a, b in zip(source.columns, source_digests(source), db["digests"], strict=True) if a != b]
    assert differ == [], f"{table_name}: columns whose values differ from the file: {differ[:10]}"


def test_types_follow_the_stata_storage_types(host):
    rows = as_root(
        host,
        "SELECT v.column_name, v.stata_type, c.column_type FROM meta_variables v JOIN information_schema.columns c"
        " ON c.table_schema = 'cfps' AND c.table_name = v.table_name AND c.column_name = v.column_name"
        " WHERE v.table_name = 'person_2018' ORDER BY v.position",
    )
    seen = {}
    for line in rows.splitlines():
        column, stata, sql = line.split("\t")
        seen.setdefault(stata if not stata.startswith("str") or stata == "strL" else "str#", set()).add(sql)
    assert seen["byte"] == {"tinyint(4)"}
    assert seen["int"] == {"smallint(6)"}
    # long without missing values; with them pandas writes the column as double.
    assert seen["long"] == {"int(11)"}
    # Stata float is kept as DOUBLE: MariaDB would print FLOAT with six digits.
    assert seen["float"] == {"double"}
    assert seen["double"] == {"double"}
    assert seen["strL"] == {"longtext"}
    assert all(t.startswith("varchar(") for t in seen["str#"])
    engines = as_root(
        host,
        "SELECT table_name, engine, table_collation FROM information_schema.tables WHERE table_schema = 'cfps'"
        " AND table_name IN ('person_2018', 'famecon_2010', 'famconf_2010', 'adult_2010') ORDER BY table_name",
    )
    assert {tuple(line.split("\t")[1:]) for line in engines.splitlines()} == {("Aria", "utf8mb4_bin")}


def test_primary_keys_of_each_file_kind(host):
    keys = as_root(
        host,
        "SELECT table_name, GROUP_CONCAT(column_name ORDER BY seq_in_index) FROM information_schema.statistics"
        " WHERE table_schema = 'cfps' AND index_name = 'PRIMARY' AND table_name LIKE '%\\_20%' GROUP BY table_name",
    )
    assert dict(line.split("\t") for line in keys.splitlines()) == {
        "adult_2010": "pid",
        "famconf_2010": "pid,fid10",
        "famecon_2010": "fid10",
        "person_2018": "pid",
    }


def test_wide_file_has_all_its_columns(host):
    count = as_root(host, "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'adult_2010'")
    assert int(count) == 1100 > 1017


@pytest.mark.parametrize("name", ["cfps2018person_202012.dta", "cfps2010famecon_201906.dta"])
def test_labels_round_trip_for_the_readonly_account(host, name):
    table_name = fixtures.FIXTURES[name][0]
    source = fixtures.table(name)
    variables = readonly(
        host,
        f"SELECT column_name, label FROM meta_variables WHERE table_name = '{table_name}' ORDER BY position",  # noqa: S608
    )
    assert [tuple(line.split("\t")) for line in variables.splitlines()] == [
        (c, source.labels[c]) for c in source.columns
    ]
    values = readonly(
        host,
        "SELECT column_name, CAST(value AS SIGNED), label FROM meta_value_labels"  # noqa: S608 (a fixture's name)
        f" WHERE table_name = '{table_name}' ORDER BY column_name, value",
    )
    expected = sorted((c, v, text) for c, labels in source.value_labels.items() for v, text in labels.items())
    assert [(c, int(v), t) for c, v, t in (line.split("\t") for line in values.splitlines())] == expected
    # Chinese intact, byte for byte: the GB18030 file's label reads back as UTF-8 of the same text.
    assert "不适用".encode() in values.encode()


def test_readonly_account_selects_and_cannot_write(host):
    assert readonly(host, "SELECT COUNT(*) FROM person_2018") == str(fixtures.table("cfps2018person_202012.dta").rows)
    for statement in (
        "INSERT INTO person_2018 (pid) VALUES (1)",
        "UPDATE meta_value_labels SET label = 'x'",
        "DELETE FROM meta_variables",
        "DROP TABLE adult_2010",
        "CREATE TABLE person_2019 (pid INT)",
    ):
        result = mysql_from_container(host, statement, user="jupyterhub", password=PASSWORD, database="cfps")
        assert error_code(result) == 1142, statement
    grants = as_root(host, "SHOW GRANTS FOR 'jupyterhub'@'172.17.0.%'")
    assert sorted(g.split(" IDENTIFIED BY")[0] for g in grants.splitlines()) == [
        "GRANT SELECT ON `cfps`.* TO `jupyterhub`@`172.17.0.%`",
        "GRANT USAGE ON *.* TO `jupyterhub`@`172.17.0.%`",
    ]


def test_check_mode_reports_no_change():
    assert_check_mode_clean()


def test_changed_file_replaces_its_table_and_unchanged_is_skipped(host):
    folder = "/srv/test-swap"
    host.run_expect([0], f"rm -rf {folder}")
    write_fixture(host, f"{folder}/cfps2012comm_1.dta", "cfps2010famecon_201906.dta", kind="comm", year=2012)
    first = import_dir(host, folder)
    assert first.returncode == 0, first.stdout[-3000:]
    assert db_digests(host, "comm_2012")["rows"] == 300
    again = import_dir(host, folder)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-3000:]
    newer = fixtures.table("cfps2010famecon_201906.dta", kind="comm", year=2012, nrows=120, seed=99)
    write_fixture(
        host, f"{folder}/cfps2012comm_1.dta", "cfps2010famecon_201906.dta", kind="comm", year=2012, nrows=120, seed=99
    )
    second = import_dir(host, folder)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "comm_2012 <- cfps2012comm_1.dta: 120 rows" in second.stdout
    db = db_digests(host, "comm_2012")
    assert db["rows"] == 120 and db["digests"] == source_digests(newer)
    leftovers = as_root(host, "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'comm%\\_\\_%'")
    assert leftovers == ""
    assert as_root(host, "SELECT row_count FROM meta_tables WHERE table_name = 'comm_2012'") == "120"


def test_corrupt_file_fails_naming_it_and_the_table_stays(host):
    folder = "/srv/test-corrupt"
    host.run_expect([0], f"rm -rf {folder}")
    write_fixture(host, f"{folder}/cfps2014famecon_1.dta", "cfps2010famecon_201906.dta", year=2014)
    assert import_dir(host, folder).returncode == 0
    before = db_digests(host, "famecon_2014")
    host.run_expect([0], f"truncate -s 30000 {folder}/cfps2014famecon_1.dta")
    result = import_dir(host, folder)
    assert result.returncode != 0
    assert f"{folder}/cfps2014famecon_1.dta: cannot read rows" in flat(result.stdout)
    assert db_digests(host, "famecon_2014") == before
    assert (
        as_root(host, "SELECT COUNT(*) FROM information_schema.tables WHERE table_name LIKE 'famecon\\_2014\\_\\_%'")
        == "0"
    )


@pytest.mark.parametrize(
    ("files", "setup", "message"),
    [
        # Two files, one table.
        (
            {"b.dta": {"table": "clash_2010"}, "a.dta": {"table": "clash_2010"}},
            "",
            "table clash_2010 is also the table of",
        ),
        # A table nobody imported (the synthetic sample, a researcher's own).
        (
            {"a.dta": {"table": "foreign_2010"}},
            "CREATE TABLE IF NOT EXISTS foreign_2010 (x INT)",
            "foreign_2010 exists in cfps and was not made by cfps-import",
        ),
        ({"a.dta": {"table": "enc_2010", "encoding": "klingon-8"}}, "", "unknown encoding 'klingon-8'"),
        # The GB18030 file read as UTF-8: its Chinese labels do not decode.
        ({"a.dta": {"table": "utf_2010", "encoding": "UTF-8"}}, "", "it is not UTF-8: set the file's encoding"),
        # A key with duplicates: found while loading; the half-made table is dropped.
        ({"a.dta": {"table": "dup_2010", "key": ["q0001"]}}, "", "(q0001) is not a key of this file"),
    ],
    ids=["name-clash", "foreign-table", "unknown-encoding", "wrong-encoding", "duplicate-key"],
)
def test_bad_input_fails_naming_the_file_and_changes_nothing(host, files, setup, message):
    folder = f"/srv/test-bad-{hashlib.sha256(json.dumps(files).encode()).hexdigest()[:8]}"
    host.run_expect([0], f"rm -rf {folder}")
    for name in files:
        write_fixture(host, f"{folder}/{name}", "cfps2010famecon_201906.dta")
    if setup:
        as_root(host, setup)
    tables_before = as_root(host, ALL_TABLES)
    result = import_dir(host, folder, files)
    assert message in refused(result)
    assert as_root(host, ALL_TABLES) == tables_before


def test_progress_log_names_every_file(host):
    log = host.file("/var/log/cfps-import.log").content_string
    for name, (table, _, _) in fixtures.FIXTURES.items():
        assert f"{name} -> {table}: loaded" in log
