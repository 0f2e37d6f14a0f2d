"""The importer's own rules (roles/cfps_import/files/cfps_import.py), without a database.

Files are synthetic Stata files written by app/sampledata/synthetic_dta.py and read
back with pyreadstat, as the importer reads the publisher's. The loading into
MariaDB is proven by `molecule test -s cfps_import`.
"""

import importlib.util
import io
import sys
from pathlib import Path

import pyreadstat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app" / "sampledata"))

import synthetic_dta  # noqa: E402

_spec = importlib.util.spec_from_file_location("cfps_import", ROOT / "roles/cfps_import/files/cfps_import.py")
ci = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ci)

PATTERN = r"^cfps(?P<year>\d{4})(?P<kind>[a-z]+)(_\d+)?\.dta$"


def plan(folder, files=None, pattern=PATTERN, table="{kind}_{year}"):
    return {"dir": str(folder), "pattern": pattern, "table": table, "files": files or {}}


def touch(folder, *names):
    for name in names:
        (folder / name).write_bytes(b"x")


def test_table_names_from_the_file_names(tmp_path):
    touch(tmp_path, "cfps2018person_202012.dta", "cfps2010adult_201906.dta", "cfps2014comm.DTA", "notes.txt")
    items, errors = ci.plan_files(plan(tmp_path))
    assert errors == []
    assert sorted(i["table"] for i in items) == ["adult_2010", "comm_2014", "person_2018"]


def test_per_file_settings_win(tmp_path):
    touch(tmp_path, "cfps2010famconf_report_nat092014.dta")
    items, errors = ci.plan_files(
        plan(tmp_path, {"cfps2010famconf_report_nat092014.dta": {"table": "famconf_2010", "key": ["pid"]}})
    )
    assert errors == []
    assert items[0]["table"] == "famconf_2010" and items[0]["key"] == ["pid"]


@pytest.mark.parametrize(
    ("names", "files", "message"),
    [
        (["odd_name.dta"], {}, "odd_name.dta: the name does not match cfps_import_table_pattern"),
        (["cfps2010adult_1.dta", "cfps2010adult_2.dta"], {}, "table adult_2010 is also the table of"),
        (["a.dta"], {"a.dta": {"table": "meta_tables"}}, "'meta_tables' cannot be a table name"),
        (["a.dta"], {"a.dta": {"table": "x__new"}}, "'x__new' cannot be a table name"),
        (["a.dta"], {"a.dta": {"table": "a-b"}}, "'a-b' cannot be a table name"),
        (["a.dta"], {"a.dta": {"table": "t", "encoding": "klingon"}}, "unknown encoding 'klingon'"),
        (["cfps2010adult.dta"], {"gone.dta": {"table": "t"}}, "gone.dta: named in cfps_import_files, but not in"),
        ([], {}, "no .dta files in the folder"),
    ],
)
def test_bad_plans_are_refused_naming_the_file(tmp_path, names, files, message):
    touch(tmp_path, *names)
    _, errors = ci.plan_files(plan(tmp_path, files))
    assert any(message in e for e in errors), errors


def test_missing_folder_and_bad_rule(tmp_path):
    assert "no such folder" in ci.plan_files(plan(tmp_path / "nope"))[1][0]
    touch(tmp_path, "cfps2010adult.dta")
    assert "is not a regular expression" in ci.plan_files(plan(tmp_path, pattern="(unclosed"))[1][0]
    assert "uses 'wave'" in ci.plan_files(plan(tmp_path, table="{wave}"))[1][0]


def test_format_and_default_encoding(tmp_path):
    table = synthetic_dta.synthetic_table("person", 2018, 12, 5, 1)
    synthetic_dta.write_dta115(tmp_path / "old.dta", table)
    synthetic_dta.write_dta118(tmp_path / "new.dta", table)
    assert ci.stata_format(tmp_path / "old.dta") == 115
    assert ci.stata_format(tmp_path / "new.dta") == 118
    assert ci.default_encoding(115) == "GB18030" and ci.default_encoding(118) == "UTF-8"
    (tmp_path / "csv.dta").write_bytes(b"pid,age\n1,2\n")
    with pytest.raises(ci.ImportError_, match="csv.dta: not a Stata .dta file"):
        ci.stata_format(tmp_path / "csv.dta")


def test_gb18030_file_reads_back_in_chinese(tmp_path):
    table = synthetic_dta.synthetic_table("famecon", 2010, 12, 20, 2)
    synthetic_dta.write_dta115(tmp_path / "f.dta", table)
    # The labels are GB18030 bytes in the file, not UTF-8.
    assert "家户号".encode("gb18030") in (tmp_path / "f.dta").read_bytes()
    assert "家户号".encode() not in (tmp_path / "f.dta").read_bytes()
    meta = ci.read_meta(tmp_path / "f.dta", "GB18030")
    assert meta.column_names_to_labels["fid10"] == "家户号"
    assert meta.value_labels["q0001"][-8] == "不适用"
    with pytest.raises(ci.ImportError_, match="it is not UTF-8: set the file's encoding"):
        ci.read_meta(tmp_path / "f.dta", "UTF-8")


def test_sql_types_follow_the_storage_types(tmp_path):
    table = synthetic_dta.synthetic_table("person", 2018, 12, 30, 3, strl=True, missing=False)
    synthetic_dta.write_dta118(tmp_path / "p.dta", table)
    meta = ci.read_meta(tmp_path / "p.dta", "UTF-8")
    types = dict(zip(meta.column_names, ci.sql_types(tmp_path / "p.dta", meta), strict=True))
    assert [types[c] for c in ("q0001", "q0006", "q0007", "q0008", "q0009", "longtext")] == [
        "TINYINT",
        "SMALLINT",
        "INT",
        "DOUBLE",  # a Stata float, kept exact
        "DOUBLE",
        "LONGTEXT",
    ]
    assert types["q0010"].startswith("VARCHAR(")


def test_wide_string_files_fit_a_row():
    class Meta:
        column_names = [f"s{i}" for i in range(300)]
        readstat_variable_types = dict.fromkeys(column_names, "string")
        variable_storage_width = dict.fromkeys(column_names, 200)

    types = ci.sql_types(Path("wide.dta"), Meta)
    varchar = [t for t in types if t.startswith("VARCHAR")]
    assert sum(4 * 200 + 2 for _ in varchar) <= ci.ROW_LIMIT
    assert types.count("TEXT") == 300 - len(varchar) > 0


@pytest.mark.parametrize(
    ("table", "columns", "key"),
    [
        ("comm_2010", ["cid", "x"], ["cid"]),
        ("famecon_2018", ["fid18", "fid16", "x"], ["fid18"]),
        ("famconf_2010", ["pid", "fid10", "x"], ["pid", "fid10"]),
        ("person_2018", ["pid", "fid18"], ["pid"]),
        ("crossyear_2018", ["x", "y"], []),
    ],
)
def test_primary_key_by_file_kind(table, columns, key):
    assert ci.primary_key(Path("f.dta"), table, columns, None) == key


def test_given_key_must_exist():
    assert ci.primary_key(Path("f.dta"), "person_2018", ["pid"], []) == []
    with pytest.raises(ci.ImportError_, match="f.dta: key column.s. pidx not in the file"):
        ci.primary_key(Path("f.dta"), "person_2018", ["pid"], ["pidx"])


def test_text_escapes_what_load_data_reads(tmp_path):
    import pandas as pd

    frame = pd.DataFrame(
        {"n": [1.0, float("nan")], "d": [0.1, float("nan")], "s": ['a\tb\n"c"\\d', ""]},
    )
    out = io.BytesIO()
    ci.write_chunk(frame, ["INT", "DOUBLE", "VARCHAR(20)"], out)
    assert out.getvalue().decode() == '1\t0.1\t"a\tb\n""c""\\\\d"\n\\N\t\\N\t""\n'


def test_synthetic_files_read_back_exactly(tmp_path):
    table = synthetic_dta.synthetic_table("adult", 2010, 20, 40, 4)
    synthetic_dta.write_dta115(tmp_path / "a.dta", table)
    frame, _ = pyreadstat.read_dta(str(tmp_path / "a.dta"), encoding="GB18030")
    for column in table.columns:
        got = frame[column].tolist()
        want = list(table.data[column])
        if table.types[column].startswith("str"):
            assert got == want, column
        else:
            assert [None if v != v else float(v) for v in got] == [None if v != v else float(v) for v in want]
