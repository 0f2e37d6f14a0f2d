"""The committed synthetic CFPS sample equals its generator's output and holds no real data."""

import datetime
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
TABLES = ["README", "famecon_2018", "labels_2018", "person_2018"]
# The region names of the ECharts 4.9 China map (echarts/map/js/china.js), which
# the notebooks load: Map data must use exactly these.
CHINA_MAP_NAMES = {
    "北京",
    "天津",
    "河北",
    "山西",
    "内蒙古",
    "辽宁",
    "吉林",
    "黑龙江",
    "上海",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "广西",
    "海南",
    "重庆",
    "四川",
    "贵州",
    "云南",
    "西藏",
    "陕西",
    "甘肃",
    "青海",
    "宁夏",
    "新疆",
    "台湾",
    "香港",
    "澳门",
}


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


def columns_of(sql, table):
    return re.search(rf"INSERT INTO `{table}` \(([^)]*)\) VALUES", sql).group(1).replace("`", "").split(", ")


def label_rows(sql):
    """(variable, code, label_zh, label_en) of every row of labels_2018."""
    block = re.search(r"INSERT INTO `labels_2018` \([^)]*\) VALUES\n(.*?);\n", sql, re.S).group(1)
    pattern = r"\('(\w+)',(-?\d+),'([^'\\]*)','([^'\\]*)'\),?"
    rows = [re.fullmatch(pattern, line) for line in block.splitlines()]
    assert all(rows), "a labels_2018 row is not (variable, code, 'zh', 'en')"
    return [(m[1], int(m[2]), m[3], m[4]) for m in rows]


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
    assert sorted(tables) == TABLES
    comments = re.findall(r"\) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='([^']*)';", sql)
    assert len(comments) == len(TABLES)
    assert all(c.startswith("SYNTHETIC — not real CFPS data") for c in comments)
    assert sql.startswith("-- SYNTHETIC — not real CFPS data.")
    assert "(1,'SYNTHETIC — not real CFPS data." in sql


def test_every_table_carries_the_sample_stamp(gen, sql):
    """The stamp the mysql_grants role compares: a digest of the dump, in every table comment."""
    stamp = gen.stamp()
    assert re.fullmatch(r"[0-9a-f]{12}", stamp)
    comments = re.findall(r"COMMENT='(SYNTHETIC[^']*)';", sql)
    assert len(comments) == len(TABLES)
    assert all(c.startswith(f"SYNTHETIC — not real CFPS data [sample {stamp}]: ") for c in comments)
    # The role reads the first "[sample …]" of the file (roles/mysql_grants/vars/main.yml).
    assert re.search(r"\[sample ([0-9a-f]{12})\]", sql).group(1) == stamp
    assert gen.STAMP_SLOT not in sql
    # Any change to the data changes the stamp.
    assert gen.stamp_of(gen.generate_unstamped().replace("(900001101,", "(900001199,")) != stamp


def test_readme_rows(sql):
    rows = re.search(r"INSERT INTO `README` \([^)]*\) VALUES\n(.*?);\n", sql, re.S).group(1).splitlines()
    assert len(rows) == 6


def test_labels_are_the_fixed_vocabulary(gen, sql):
    labels = label_rows(sql)
    expected = [(v, c, zh, en) for v, rows in sorted(gen.LABELS.items()) for c, zh, en in rows]
    assert labels == expected
    assert len({(v, c) for v, c, _, _ in labels}) == len(labels)
    provinces = {c: zh for v, c, zh, _ in labels if v == "provcd18"}
    assert set(provinces.values()) == CHINA_MAP_NAMES
    coded = {v: {c for w, c, _, _ in labels if w == v} for v, _, _, _ in labels}
    people = rows_of(sql, "person_2018")
    cols = columns_of(sql, "person_2018")
    for var in ("provcd18", "urban18", "gender", "cfps2018edu", "qea0", "employ", "qp201", "qn12012", "qg303code"):
        i = cols.index(var)
        assert {p[i] for p in people} - {-8} <= coded[var], var
    fam_cols = columns_of(sql, "famecon_2018")
    for var in ("provcd18", "fq2"):
        assert {f[fam_cols.index(var)] for f in rows_of(sql, "famecon_2018")} <= coded[var], var


def test_interview_dates(sql):
    cols = columns_of(sql, "person_2018")
    y, m, d = (cols.index(c) for c in ("cyear", "cmonth", "cday"))
    days = {datetime.date(p[y], p[m], p[d]) for p in rows_of(sql, "person_2018")}
    assert min(days) >= datetime.date(2018, 6, 1) and max(days) <= datetime.date(2018, 12, 31)
    # Enough distinct days for a calendar chart.
    assert len(days) > 100


def test_real_cfps_variable_names(sql):
    for name in ("pid", "fid18", "provcd18", "urban18", "gender", "age", "cfps2018edu", "employ", "income"):
        assert f"`{name}` " in sql
    for name in ("fincome1", "familysize18", "fincome1_per", "fq2", "qg303code", "qn12012", "cyear", "cmonth", "cday"):
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
    # Chinese text only in the fixed value labels (checked above), never in data rows.
    outside_labels = re.sub(r"INSERT INTO `labels_2018` .*?;\n", "", sql, flags=re.S)
    assert not re.search(r"[\u4e00-\u9fff]", outside_labels), "no Chinese text (names, places) in the data"
    # Not a dump of a real release: no Stata/SPSS or release markers.
    for marker in ("cfps2018person_", "cfps2018famecon_", ".dta", ".sav", "@", "http"):
        assert marker not in sql.lower()
