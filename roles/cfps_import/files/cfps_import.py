#!/usr/bin/env python3
"""Load the CFPS survey's Stata files into MariaDB, labels included.

    cfps-import --plan PLAN.json [--jobs N] [--log FILE] [--dry-run]

PLAN.json (written by the cfps_import role) names the database and the files:

    {"database": "cfps", "socket": "/run/mysqld/mysqld.sock", "tmpdir": "/var/tmp/cfps-import",
     "dir": "/srv/cfps/import", "pattern": "^cfps(?P<year>\\d{4})(?P<kind>[a-z]+)(_\\d+)?\\.dta$",
     "table": "{kind}_{year}",
     "files": {"cfps2010adult_201906.dta": {"table": "adult_2010", "encoding": "GB18030", "key": ["pid"]}}}

Every *.dta file of "dir" is imported; its table comes from "pattern" (a
regular expression with named groups) and "table" (those groups in braces),
or from "files", which also sets a file's encoding and primary key.

For each file: the checksum is compared with the last import of that table
(meta_tables); an unchanged file is skipped. Otherwise the file is read with
pyreadstat in chunks, written as tab-separated text, loaded with one
LOAD DATA LOCAL INFILE into `<table>__new`, checked (rows, warnings), keyed,
then swapped in with one atomic RENAME TABLE, and its labels replace the old
ones in meta_variables / meta_value_labels. Any error leaves the existing table
as it was and names the file. Files load in parallel (--jobs).

Progress goes to stderr and --log, one line per chunk; the summary is one JSON
object on stdout: {"changed": bool, "files": [...]}. --dry-run says which
files would load and changes nothing.
"""

from __future__ import annotations

import argparse
import codecs
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from pathlib import Path

SUFFIXES = ("__new", "__old")
META_TABLES = ("meta_tables", "meta_variables", "meta_value_labels")
# Rows per read; bounds memory on wide files (1,500 columns x 4,000 rows of float64 = 48 MB).
CELLS_PER_CHUNK = 6_000_000
# MariaDB's limit on a row's fixed part (BLOB/TEXT excluded), in bytes.
ROW_LIMIT = 65_535
INTEGER_TYPES = {"int8": "TINYINT", "int16": "SMALLINT", "int32": "INT"}
# A Stata float is stored as DOUBLE (its exact value): MariaDB returns FLOAT with six
# significant digits, so 1234567 stored as FLOAT reads back as 1234570.
FLOAT_TYPES = {"float": "DOUBLE", "double": "DOUBLE"}
# The text write_chunk() writes, as LOAD DATA reads it.
LOAD_FORMAT = (
    "CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '\\\\'"
    " LINES TERMINATED BY '\\n'"
)
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class ImportError_(Exception):
    """An error the operator can act on; the message names the file."""


def log(message: str, stream=None) -> None:
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
    print(line, file=sys.stderr, flush=True)
    if stream is not None:
        stream.write(line + "\n")
        stream.flush()


# --- reading the file ---------------------------------------------------------


def stata_format(path: Path) -> int:
    """The dta format version from the file's first bytes (113..119)."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"<stata_dta>"):
        m = re.search(rb"<release>(\d{3})</release>", head)
        if m:
            return int(m.group(1))
    elif len(head) >= 4 and 102 <= head[0] <= 115 and head[1] in (1, 2) and head[2] == 1:
        return head[0]
    raise ImportError_(f"{path}: not a Stata .dta file (unknown header {head[:16]!r})")


def default_encoding(version: int) -> str:
    # Stata 14+ (formats 118, 119) writes UTF-8; older releases of CFPS are GB18030.
    return "UTF-8" if version >= 118 else "GB18030"


def check_encoding(path: Path, encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ImportError_(f"{path}: unknown encoding {encoding!r} (e.g. GB18030, UTF-8)") from None
    return encoding


def read_meta(path: Path, encoding: str):
    import pyreadstat

    try:
        _, meta = pyreadstat.read_dta(str(path), metadataonly=True, encoding=encoding)
    except Exception as exc:  # pyreadstat raises its own types; the message is what counts
        hint = (
            f"; it is not {encoding}: set the file's encoding in cfps_import_files"
            if "encoding" in str(exc)
            else "; the file is truncated or corrupt"
        )
        raise ImportError_(f"{path}: cannot read the file's header ({type(exc).__name__}: {exc}){hint}") from None
    return meta


def sql_types(path: Path, meta) -> list[str]:
    """One SQL type per column, from the Stata storage types; long strings become TEXT to fit a row."""
    types, widths = [], {}
    for i, name in enumerate(meta.column_names):
        rtype = meta.readstat_variable_types[name]
        if rtype in INTEGER_TYPES:
            types.append(INTEGER_TYPES[rtype])
        elif rtype in FLOAT_TYPES:
            types.append(FLOAT_TYPES[rtype])
        elif rtype == "string":
            width = meta.variable_storage_width.get(name, 0)
            if width == 0:  # strL: up to 2 GB
                types.append("LONGTEXT")
            else:
                types.append(f"VARCHAR({width})")
                widths[i] = width
        else:
            raise ImportError_(f"{path}: column {name} has an unsupported type {rtype!r}")
    fixed = {"TINYINT": 1, "SMALLINT": 2, "INT": 4, "DOUBLE": 8, "LONGTEXT": 12}
    size = sum(fixed.get(t, 0) for t in types) + sum(4 * w + 2 for w in widths.values()) + len(types) // 8 + 1
    for i in sorted(widths, key=widths.get, reverse=True):
        if size <= ROW_LIMIT:
            break
        types[i] = "TEXT" if widths[i] * 4 < 65_535 else "MEDIUMTEXT"
        size -= 4 * widths[i] + 2 - 12
    return types


def primary_key(path: Path, table: str, columns: list[str], key: list[str] | None) -> list[str]:
    """The given key, or the CFPS key of the file kind: comm cid.., famecon fid.., famconf (pid, fid..), else pid."""
    if key is not None:
        missing = [k for k in key if k not in columns]
        if missing:
            raise ImportError_(f"{path}: key column(s) {', '.join(missing)} not in the file")
        return key
    kind = table.split("_")[0].lower()
    cid = [c for c in columns if re.fullmatch(r"cid\d*", c)]
    fid = [c for c in columns if re.fullmatch(r"fid\d*", c)]
    if kind.startswith("comm") and cid:
        return cid[:1]
    if kind == "famconf" and "pid" in columns and fid:
        return ["pid", fid[0]]
    if kind.startswith("fam") and fid:
        return fid[:1]
    if "pid" in columns:
        return ["pid"]
    return []


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- writing the text LOAD DATA reads ---------------------------------------------


def write_chunk(frame, types: list[str], out) -> None:
    """Tab-separated text for LOAD DATA, written by Arrow's C++ CSV writer (ten times pandas' speed).

    NULL is \\N; strings are enclosed in double quotes (doubled inside), with
    backslashes escaped; numbers as integers or the shortest exact double.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    arrays = []
    for name, sqltype in zip(frame.columns, types, strict=True):
        col = frame[name]
        if sqltype in ("TINYINT", "SMALLINT", "INT"):
            # Whole numbers in float64 (NaN for missing) cast exactly; twice pandas' Int64 speed.
            values = pa.array(col.to_numpy(dtype="float64", na_value=np.nan), from_pandas=True)
            arrays.append(values.cast(pa.int64()))
        elif sqltype == "DOUBLE":
            arrays.append(pa.array(col.to_numpy(dtype="float64", na_value=np.nan), from_pandas=True))
        else:
            text = col.astype(object).where(col.notna(), None)
            escaped = [None if v is None else str(v).replace("\\", "\\\\").replace("\0", "\\0") for v in text]
            arrays.append(pa.array(escaped, type=pa.string()))
    table = pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])
    options = pcsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="needed", null_string="\\N")
    pcsv.write_csv(table, out, options)


# --- the database -----------------------------------------------------------------


def connect(plan: dict):
    import pymysql

    return pymysql.connect(
        unix_socket=plan["socket"],
        user=plan.get("user", "root"),
        database=plan["database"],
        charset="utf8mb4",
        local_infile=True,
        autocommit=True,
    )


def q(ident: str) -> str:
    return "`" + ident.replace("`", "``") + "`"


def ensure_meta(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS meta_tables ("
            " table_name VARCHAR(64) PRIMARY KEY, source_file VARCHAR(255) NOT NULL,"
            " sha256 CHAR(64) NOT NULL, stata_format SMALLINT NOT NULL, encoding VARCHAR(32) NOT NULL,"
            " file_label TEXT, row_count INT NOT NULL, column_count INT NOT NULL,"
            " primary_key VARCHAR(255) NOT NULL, seconds DOUBLE NOT NULL, imported_at DATETIME NOT NULL"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='cfps-import: one row per imported table'"
        )
        cur.execute(
            "CREATE TABLE IF NOT EXISTS meta_variables ("
            " table_name VARCHAR(64) NOT NULL, position SMALLINT NOT NULL, column_name VARCHAR(64) NOT NULL,"
            " label TEXT, stata_type VARCHAR(16) NOT NULL, sql_type VARCHAR(32) NOT NULL,"
            " stata_format VARCHAR(64), value_label_set VARCHAR(64),"
            " PRIMARY KEY (table_name, column_name), KEY (table_name, position)"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='cfps-import: variable labels'"
        )
        cur.execute(
            "CREATE TABLE IF NOT EXISTS meta_value_labels ("
            " table_name VARCHAR(64) NOT NULL, column_name VARCHAR(64) NOT NULL, value DOUBLE NOT NULL,"
            " label TEXT NOT NULL, PRIMARY KEY (table_name, column_name, value)"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='cfps-import: value labels, codes to text'"
        )


def imported(conn) -> dict[str, str]:
    """Table -> sha256 of the file last imported into it (none before the first import)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name = 'meta_tables'"
        )
        if cur.fetchone()[0] == 0:
            return {}
        cur.execute("SELECT table_name, sha256 FROM meta_tables")
        return dict(cur.fetchall())


def foreign_tables(conn, database: str, tables: list[str]) -> list[str]:
    """Tables of these names that no import created (e.g. the synthetic sample)."""
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (database,))
        present = {r[0] for r in cur.fetchall()}
    ours = set(imported(conn))
    return sorted(t for t in tables if t in present and t not in ours)


# --- one file -------------------------------------------------------------------------


def load_file(plan: dict, item: dict, log_path: str | None) -> dict:
    import pyreadstat

    path, table = Path(item["path"]), item["table"]
    stream = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
    started = time.monotonic()
    conn = connect(plan)
    new, old = table + "__new", table + "__old"
    try:
        digest = sha256(path)
        if imported(conn).get(table) == digest:
            log(f"{path.name} -> {table}: unchanged (sha256 {digest[:12]}), skipped", stream)
            return {"file": str(path), "table": table, "status": "unchanged"}
        version = stata_format(path)
        encoding = check_encoding(path, item.get("encoding") or default_encoding(version))
        meta = read_meta(path, encoding)
        columns = list(meta.column_names)
        bad = [c for c in columns if not IDENT.match(c)]
        if bad:
            raise ImportError_(f"{path}: column names MariaDB cannot take as they are: {', '.join(bad[:5])}")
        types = sql_types(path, meta)
        key = primary_key(path, table, columns, item.get("key"))
        rows_total = meta.number_rows
        chunk = max(1, CELLS_PER_CHUNK // max(1, len(columns)))
        log(f"{path.name} -> {table}: format {version}, {encoding}, {len(columns)} columns, {rows_total} rows", stream)
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {q(new)}")
            ddl = ", ".join(f"{q(c)} {t}" for c, t in zip(columns, types, strict=True))
            # The key is made with the table: Aria rebuilds the whole table for an
            # ADD PRIMARY KEY after the load (measured: +25 % on a 1,493-column file).
            if key:
                ddl += f", PRIMARY KEY ({', '.join(q(k) for k in key)})"
            cur.execute(
                f"CREATE TABLE {q(new)} ({ddl}) ENGINE=Aria DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT=%s",
                (f"cfps-import: {path.name}"[:2048],),
            )
        tmpdir = Path(plan.get("tmpdir") or tempfile.gettempdir())
        tmpdir.mkdir(parents=True, exist_ok=True)
        done = 0
        # The server loads one chunk while this process reads the next.
        with ThreadPoolExecutor(max_workers=1) as loader:
            pending = None
            while done < rows_total:
                try:
                    frame, _ = pyreadstat.read_dta(
                        str(path),
                        encoding=encoding,
                        row_offset=done,
                        row_limit=min(chunk, rows_total - done),
                        disable_datetime_conversion=True,
                        apply_value_formats=False,
                    )
                except Exception as exc:
                    raise ImportError_(
                        f"{path}: cannot read rows from {done + 1} on ({type(exc).__name__}: {exc});"
                        " the file is truncated, corrupt, or not in the encoding "
                        f"{encoding} (set the file's encoding in cfps_import_files)"
                    ) from None
                if len(frame) == 0:
                    raise ImportError_(f"{path}: the header announces {rows_total} rows, the file holds {done}")
                # One LOAD DATA per chunk: the text on disk stays near one chunk's size.
                rows = len(frame)
                with tempfile.NamedTemporaryFile("wb", dir=tmpdir, suffix=".tsv", delete=False) as tsv:
                    try:
                        write_chunk(frame, types, tsv)
                    except BaseException:
                        os.unlink(tsv.name)
                        raise
                del frame
                if pending is not None:
                    pending.result()
                pending = loader.submit(load_chunk, conn, path, new, tsv.name, key)
                done += rows
                log(
                    f"{path.name} -> {table}: {done}/{rows_total} rows read, {time.monotonic() - started:.1f} s", stream
                )
            if pending is not None:
                pending.result()
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {q(new)}")  # noqa: S608 (q() quotes the name)
            loaded = cur.fetchone()[0]
            if loaded != rows_total:
                raise ImportError_(f"{path}: {loaded} rows loaded, the file holds {rows_total}")
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s",
                (table,),
            )
            exists = cur.fetchone()[0] == 1
            # Labels first, in one transaction; the swap after it is one atomic statement.
            # One file at a time: parallel deletes and inserts in the label tables deadlock.
            cur.execute("SELECT GET_LOCK('cfps_import_labels', 3600)")
            conn.begin()
            cur.execute("DELETE FROM meta_variables WHERE table_name = %s", (table,))
            cur.execute("DELETE FROM meta_value_labels WHERE table_name = %s", (table,))
            cur.execute("DELETE FROM meta_tables WHERE table_name = %s", (table,))
            cur.executemany(
                "INSERT INTO meta_variables VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        table,
                        i + 1,
                        c,
                        meta.column_names_to_labels.get(c),
                        stata_type(meta, c),
                        types[i],
                        meta.original_variable_types.get(c),
                        meta.variable_to_label.get(c),
                    )
                    for i, c in enumerate(columns)
                ],
            )
            cur.executemany(
                "INSERT INTO meta_value_labels VALUES (%s, %s, %s, %s)",
                [
                    (table, c, float(v), text)
                    for c, labelset in meta.variable_to_label.items()
                    for v, text in meta.value_labels.get(labelset, {}).items()
                ],
            )
            seconds = time.monotonic() - started
            cur.execute(
                "INSERT INTO meta_tables VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NOW())",
                (table, path.name, digest, version, encoding, meta.file_label, rows_total, len(columns),
                 ",".join(key), seconds),
            )  # fmt: skip
            if exists:
                cur.execute(f"DROP TABLE IF EXISTS {q(old)}")
                cur.execute(f"RENAME TABLE {q(table)} TO {q(old)}, {q(new)} TO {q(table)}")
                cur.execute(f"DROP TABLE {q(old)}")
            else:
                cur.execute(f"RENAME TABLE {q(new)} TO {q(table)}")
            # RENAME commits the labels' transaction with it.
            cur.execute("SELECT RELEASE_LOCK('cfps_import_labels')")
        seconds = time.monotonic() - started
        log(
            f"{path.name} -> {table}: loaded {rows_total} rows x {len(columns)} columns in {seconds:.1f} s"
            f" ({rows_total * len(columns) / max(seconds, 1e-9):,.0f} cells/s)",
            stream,
        )
        return {
            "file": str(path),
            "table": table,
            "status": "loaded",
            "rows": rows_total,
            "columns": len(columns),
            "seconds": round(seconds, 2),
        }
    except BaseException:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {q(new)}")
        raise
    finally:
        conn.close()
        if stream:
            stream.close()


def load_chunk(conn, path: Path, table: str, text: str, key: list[str]) -> None:
    """LOAD DATA of one chunk's text; any warning (a value the server changed) fails the file."""
    import pymysql

    try:
        with conn.cursor() as cur:
            cur.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE {q(table)} {LOAD_FORMAT}", (text,))
            cur.execute("SHOW WARNINGS LIMIT 5")
            warnings = cur.fetchall()
    except pymysql.err.IntegrityError as exc:
        raise ImportError_(
            f"{path}: ({', '.join(key)}) is not a key of this file ({exc.args[-1]}); set the file's key in"
            " cfps_import_files ([] for none)"
        ) from None
    finally:
        os.unlink(text)
    duplicate = [w for w in warnings if w[1] == 1062]
    if duplicate:
        # LOAD DATA LOCAL skips duplicate keys with a warning instead of failing.
        raise ImportError_(
            f"{path}: ({', '.join(key)}) is not a key of this file ({duplicate[0][2]}); set the file's key in"
            " cfps_import_files ([] for none)"
        )
    if warnings:
        raise ImportError_(f"{path}: the database changed values while loading: {warnings}")


def stata_type(meta, column: str) -> str:
    rtype = meta.readstat_variable_types[column]
    if rtype == "string":
        width = meta.variable_storage_width.get(column, 0)
        return f"str{width}" if width else "strL"
    return {"int8": "byte", "int16": "int", "int32": "long"}.get(rtype, rtype)


# --- the run --------------------------------------------------------------------------


def plan_files(plan: dict) -> tuple[list[dict], list[str]]:
    """The files to import with their tables, and the errors found before any change."""
    errors, items, seen = [], [], {}
    folder = Path(plan["dir"])
    if not folder.is_dir():
        return [], [f"{folder}: no such folder (cfps_import_dir)"]
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".dta")
    if not names:
        errors.append(f"{folder}: no .dta files in the folder (cfps_import_dir)")
    overrides = plan.get("files") or {}
    errors += [f"{folder / n}: named in cfps_import_files, but not in the folder" for n in overrides if n not in names]
    try:
        pattern = re.compile(plan["pattern"], re.IGNORECASE)
    except re.error as exc:
        return [], [f"cfps_import_table_pattern {plan['pattern']!r} is not a regular expression: {exc}"]
    for name in names:
        path, over = folder / name, overrides.get(name) or {}
        table = over.get("table")
        if not table:
            match = pattern.fullmatch(name)
            if not match:
                errors.append(
                    f"{path}: the name does not match cfps_import_table_pattern; give its table in cfps_import_files"
                )
                continue
            try:
                table = plan["table"].format(**match.groupdict()).lower()
            except (KeyError, IndexError, ValueError) as exc:
                errors.append(f"cfps_import_table_name {plan['table']!r} uses {exc} that the pattern does not name")
                continue
        if not IDENT.match(table) or table.endswith(SUFFIXES) or table.startswith("meta_"):
            errors.append(f"{path}: {table!r} cannot be a table name (letters, digits, _; not meta_*, *__new, *__old)")
        elif table in seen:
            errors.append(f"{path}: table {table} is also the table of {seen[table]}")
        seen[table] = path
        encoding = over.get("encoding")
        if encoding:
            try:
                codecs.lookup(encoding)
            except LookupError:
                errors.append(f"{path}: unknown encoding {encoding!r} (e.g. GB18030, UTF-8)")
        items.append({"path": str(path), "table": table, "encoding": encoding, "key": over.get("key")})
    # Largest first: the longest load starts at once.
    items.sort(key=lambda i: -Path(i["path"]).stat().st_size)
    return items, errors


def run(plan: dict, jobs: int, log_path: str | None, dry_run: bool = False) -> tuple[dict, int]:
    items, errors = plan_files(plan)
    if not errors:
        conn = connect(plan)
        try:
            if not dry_run:
                ensure_meta(conn)
            foreign = foreign_tables(conn, plan["database"], [i["table"] for i in items])
            done = imported(conn)
        finally:
            conn.close()
        errors += [
            f"table {t} exists in {plan['database']} and was not made by cfps-import (the synthetic sample?):"
            " drop or rename it, or map the file to another table name in cfps_import_files"
            for t in foreign
        ]
    if not errors:
        # Every file to load is opened before any table changes: a bad header or encoding stops the run here.
        for item in items:
            item["sha256"] = sha256(Path(item["path"]))
            if done.get(item["table"]) != item["sha256"]:
                try:
                    path = Path(item["path"])
                    encoding = check_encoding(path, item["encoding"] or default_encoding(stata_format(path)))
                    read_meta(path, encoding)
                except ImportError_ as exc:
                    errors.append(str(exc))
    if errors:
        return {"changed": False, "failed": errors, "files": []}, 2
    if dry_run:
        results = [
            {
                "file": i["path"],
                "table": i["table"],
                "status": "unchanged" if done.get(i["table"]) == i["sha256"] else "would load",
            }
            for i in items
        ]
        return {"changed": any(r["status"] != "unchanged" for r in results), "failed": [], "files": results}, 0
    results, failed = [], []
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(items)))) as pool:
        futures = {pool.submit(load_file, plan, item, log_path): item for item in items}
        for future in as_completed(futures):
            try:
                results.append(future.result())
            except ImportError_ as exc:
                failed.append(str(exc))
            except Exception as exc:
                failed.append(f"{futures[future]['path']}: {type(exc).__name__}: {exc}")
    results.sort(key=lambda r: r["table"])
    loaded = [r for r in results if r["status"] == "loaded"]
    summary = {
        "changed": bool(loaded),
        "failed": failed,
        "files": results,
        "seconds": round(time.monotonic() - started, 2),
        "rows": sum(r["rows"] for r in loaded),
        "cells": sum(r["rows"] * r["columns"] for r in loaded),
    }
    summary["lines"] = [
        f"{r['table']} <- {Path(r['file']).name}: {r['rows']} rows x {r['columns']} columns in {r['seconds']} s"
        for r in loaded
    ] + [
        f"{len(loaded)} loaded, {len(results) - len(loaded)} unchanged, {len(failed)} failed:"
        f" {summary['rows']} rows, {summary['cells']} cells in {summary['seconds']} s"
    ]
    return summary, 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Load CFPS Stata files into MariaDB.")
    parser.add_argument("--plan", required=True, type=Path, help="the plan's JSON file, or - for stdin")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--log", default=None)
    parser.add_argument("--dry-run", action="store_true", help="say which files would load; change nothing")
    args = parser.parse_args(argv)
    plan = json.loads(sys.stdin.read() if str(args.plan) == "-" else args.plan.read_text(encoding="utf-8"))
    summary, rc = run(plan, args.jobs if args.jobs > 0 else os.cpu_count() or 1, args.log, args.dry_run)
    print(json.dumps(summary, ensure_ascii=False))
    for line in summary["failed"]:
        print(f"cfps-import: {line}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
