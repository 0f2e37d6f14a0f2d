"""cfps_dvapis.sql() against real database engines.

SQLite (a real engine, in a temp file) covers results, binding and laziness;
a MySQL URL to a closed port covers the connection error, which must name the
host and the port. The MariaDB path is proven end to end in molecule/hub.
"""

import socket
import sqlite3

import pandas as pd
import pytest

import cfps_dvapis
from cfps_dvapis import DatabaseUnavailable, sql


def use_sqlite(tmp_path, monkeypatch, tables):
    """A SQLite file with tables {CREATE TABLE statement: rows} as the database sql() connects to."""
    path = tmp_path / "cfps.db"
    with sqlite3.connect(path) as conn:
        for create, rows in tables.items():
            conn.execute(create)
            insert = f"INSERT INTO {create.split()[2]} VALUES ({', '.join('?' * len(rows[0]))})"  # noqa: S608 (the test's own names)
            conn.executemany(insert, rows)
    monkeypatch.setenv("CFPS_DB_URL", f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_db(tmp_path, monkeypatch):
    person = [(1, 30, "a"), (2, 65, "b"), (3, 70, "c'); DROP TABLE x;--")]
    return use_sqlite(
        tmp_path, monkeypatch, {"CREATE TABLE person_2018 (pid INTEGER PRIMARY KEY, age INTEGER, name TEXT)": person}
    )


def test_returns_a_dataframe(sqlite_db):
    df = sql("SELECT pid, age FROM person_2018 ORDER BY pid")
    assert isinstance(df, pd.DataFrame)
    assert df["pid"].tolist() == [1, 2, 3]


def test_named_parameters_are_bound(sqlite_db):
    df = sql("SELECT pid FROM person_2018 WHERE age > :age ORDER BY pid", {"age": 60})
    assert df["pid"].tolist() == [2, 3]


def test_a_hostile_value_stays_a_value(sqlite_db):
    df = sql("SELECT pid FROM person_2018 WHERE name = :n", {"n": "c'); DROP TABLE x;--"})
    assert df["pid"].tolist() == [3]
    assert sql("SELECT COUNT(*) AS n FROM person_2018")["n"][0] == 3


def test_positional_parameters(sqlite_db):
    df = sql("SELECT pid FROM person_2018 WHERE age BETWEEN :p0 AND :p1", [60, 66])
    assert df["pid"].tolist() == [2]


def test_index_col(sqlite_db):
    df = sql("SELECT pid, age FROM person_2018", index_col="pid")
    assert df.index.name == "pid" and df.loc[2, "age"] == 65


def test_empty_query_is_refused(sqlite_db):
    with pytest.raises(ValueError, match="non-empty"):
        sql("  ")


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_import_and_engine_need_no_database(monkeypatch):
    # A kernel must start while the database is down: nothing connects before sql().
    port = closed_port()
    for key, value in {
        "CFPS_DB_HOST": "127.0.0.1",
        "CFPS_DB_PORT": str(port),
        "CFPS_DB_USER": "u",
        "CFPS_DB_PASSWORD": "p",
        "CFPS_DB_NAME": "cfps",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CFPS_DB_URL", raising=False)
    eng = cfps_dvapis.engine()
    assert eng.url.host == "127.0.0.1" and eng.url.port == port
    with pytest.raises(DatabaseUnavailable, match=rf"127\.0\.0\.1:{port}"):
        sql("SELECT 1")


def test_missing_settings_are_named(monkeypatch):
    for key in ("CFPS_DB_URL", "CFPS_DB_HOST", "CFPS_DB_USER", "CFPS_DB_NAME"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(DatabaseUnavailable, match="CFPS_DB_HOST, CFPS_DB_USER, CFPS_DB_NAME"):
        sql("SELECT 1")


@pytest.fixture
def labelled_db(tmp_path, monkeypatch):
    """The label tables as cfps_import writes them, in SQLite."""
    value_labels = [("person_2010", "gender", 1, "男"), ("person_2010", "gender", 0, "女"),
                    ("person_2010", "gender", -8, "不适用"), ("person_2010", "prov", 11, "北京市"),
                    ("other_2010", "gender", 1, "other")]  # fmt: skip
    variables = [("person_2010", 2, "gender", "性别", "byte", "TINYINT", "gender"),
                 ("person_2010", 1, "pid", "个人编码", "long", "INT", None)]  # fmt: skip
    use_sqlite(tmp_path, monkeypatch, {
        "CREATE TABLE meta_value_labels (table_name TEXT, column_name TEXT, value REAL, label TEXT)": value_labels,
        "CREATE TABLE meta_variables (table_name TEXT, position INT, column_name TEXT, label TEXT,"
        " stata_type TEXT, sql_type TEXT, value_label_set TEXT)": variables,
    })  # fmt: skip


def test_label_replaces_codes_of_labelled_columns(labelled_db):
    df = pd.DataFrame({"pid": [1, 2, 3, 4], "gender": [1, -8, 7, None], "prov": [11, 11, 12, 11]})
    out = cfps_dvapis.label(df, "person_2010")
    assert out["gender"].tolist()[:3] == ["男", "不适用", 7]
    assert pd.isna(out["gender"].tolist()[3])
    assert out["prov"].tolist() == ["北京市", "北京市", 12, "北京市"]
    assert out["pid"].tolist() == [1, 2, 3, 4]
    # The input is left as it was.
    assert df["gender"].tolist()[:2] == [1, -8]


def test_label_only_the_chosen_columns(labelled_db):
    df = pd.DataFrame({"gender": [0], "prov": [11]})
    out = cfps_dvapis.label(df, "person_2010", columns=["gender"])
    assert out.iloc[0].tolist() == ["女", 11]


def test_label_says_what_is_wrong(labelled_db):
    df = pd.DataFrame({"pid": [1], "gender": [1]})
    with pytest.raises(LookupError, match="no value labels for table 'person_2099'"):
        cfps_dvapis.label(df, "person_2099")
    with pytest.raises(KeyError, match="not columns of the DataFrame: age"):
        cfps_dvapis.label(df, "person_2010", columns=["age"])
    with pytest.raises(KeyError, match="no value labels in person_2010 for: pid"):
        cfps_dvapis.label(df, "person_2010", columns=["pid"])


def test_variables_in_file_order(labelled_db):
    df = cfps_dvapis.variables("person_2010")
    assert df["column_name"].tolist() == ["pid", "gender"]
    assert df["label"].tolist() == ["个人编码", "性别"]
