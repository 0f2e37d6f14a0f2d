"""The committed synthetic CFPS sample equals its generator's output and holds no real data."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "app" / "sampledata" / "generate_cfps_sample.py"
COMMITTED = ROOT / "roles" / "mysql_grants" / "files" / "cfps_sample_2018.sql"
README = ROOT / "roles" / "mysql_grants" / "README.md"
# The row count other roles' tests rely on (SELECT COUNT(*) FROM person_2018).
PERSON_ROWS = 1000
FAMILY_ROWS = 400


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_cfps_sample", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return load_generator()


@pytest.fixture(scope="module")
def sql():
    return COMMITTED.read_text(encoding="utf-8")


def rows_of(sql, table):
    """The value tuples of every INSERT into `table`, as lists of ints."""
    rows = []
    for block in re.findall(rf"INSERT INTO `{table}` \([^)]*\) VALUES\n(.*?);\n", sql, re.S):
        rows += [[int(v) for v in line.strip("(),").split(",")] for line in block.splitlines()]
    return rows


def test_committed_sql_equals_generator_output(gen, sql):
    assert gen.generate() == sql, "regenerate with: python3 app/sampledata/generate_cfps_sample.py"


def test_generator_is_deterministic(gen):
    assert gen.generate() == gen.generate()


def test_check_flag_agrees(gen, capsys):
    assert gen.main(["--check"]) == 0


def test_fixed_row_counts(gen, sql):
    assert gen.PERSONS == PERSON_ROWS and gen.FAMILIES == FAMILY_ROWS
    persons, families = rows_of(sql, "person_2018"), rows_of(sql, "famecon_2018")
    assert len(persons) == PERSON_ROWS
    assert len(families) == FAMILY_ROWS
    # Keys are unique and every person belongs to a listed family of the stated size.
    assert len({p[0] for p in persons}) == PERSON_ROWS
    sizes = {f[0]: f[4] for f in families}
    for fid, size in sizes.items():
        assert sum(1 for p in persons if p[1] == fid) == size
    # The role README states the same figure for other roles' tests.
    assert PERSON_ROWS == 1000
    assert "`SELECT COUNT(*) FROM person_2018` = **1000**" in README.read_text(encoding="utf-8")


def test_every_table_is_labelled_synthetic(sql):
    tables = re.findall(r"CREATE TABLE `(\w+)`", sql)
    assert sorted(tables) == ["README", "famecon_2018", "person_2018"]
    comments = re.findall(r"\) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='([^']*)';", sql)
    assert len(comments) == 3
    assert all(c.startswith("SYNTHETIC — not real CFPS data") for c in comments)
    assert sql.startswith("-- SYNTHETIC — not real CFPS data.")
    assert "(1,'SYNTHETIC — not real CFPS data." in sql


def test_real_cfps_variable_names(sql):
    for name in ("pid", "fid18", "provcd18", "urban18", "gender", "age", "cfps2018edu", "employ", "income"):
        assert f"`{name}` " in sql
    for name in ("fincome1", "familysize18", "fincome1_per"):
        assert f"`{name}` " in sql


def test_no_real_data_markers(sql):
    # Only synthetic identifiers: fid18 900001..900400, pid = fid18*1000 + 101 + k.
    for p in rows_of(sql, "person_2018"):
        assert 900001 <= p[1] <= 900400 and p[0] // 1000 == p[1] and 101 <= p[0] % 1000 <= 106
    assert all(900001 <= f[0] <= 900400 for f in rows_of(sql, "famecon_2018"))
    # No free text outside the README table and comments: no names, addresses,
    # ID card or phone numbers can hide in the data rows.
    data = "".join(re.findall(r"INSERT INTO `(?:person|famecon)_2018` .*?;\n", sql, re.S))
    assert "'" not in data.split("VALUES", 1)[1]
    assert not re.search(r"\b\d{17}[\dXx]\b", sql), "looks like a resident ID number"
    assert not re.search(r"\b1[3-9]\d{9}\b", sql), "looks like a mobile number"
    assert not re.search(r"[\u4e00-\u9fff]", sql), "no Chinese text (names, places) in the sample"
    # Not a dump of a real release: no Stata/SPSS or release markers.
    for marker in ("cfps2018person_", "cfps2018famecon_", ".dta", ".sav", "@", "http"):
        assert marker not in sql.lower()
