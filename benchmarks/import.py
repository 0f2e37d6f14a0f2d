#!/usr/bin/env python3
"""How fast the CFPS import is: a SYNTHETIC 2010 wave in the manual's exact shapes.

Makes the five files of the 2010 wave (comm 221 x 635, famconf 355 x 57,155,
famecon 624 x 14,798, adult 1,493 x 33,600, child 968 x 8,990; Stata 14
format, synthetic values) and, in one run against a MariaDB server:

1. imports the whole wave with the importer of roles/cfps_import (its own
   code, in parallel as the role runs it): wall time, cells/s;
2. loads the adult-shaped file the way the original loader did, as a
   baseline: pandas.read_stata, then one INSERT per row (PyMySQL, MyISAM,
   FLOAT and VARCHAR(10) columns), over --baseline-rows rows;
3. loads the same adult rows with MariaDB's own LOAD DATA from a text file
   prepared beforehand (not timed): the server's physical limit.

and prints the three side by side (rows/s, the importer's speed-up over the
baseline, its share of the LOAD DATA limit). Needs the importer's packages
(pyreadstat, pandas, PyMySQL: requirements-dev.txt or the importer's venv on a
host) and a server reached by its unix socket as an account allowed to create
a database; everything happens in a scratch database that is dropped at the end.

    sudo /opt/cfps-import/venv/bin/python benchmarks/import.py              # on a CFPS Hub host
    python benchmarks/import.py --socket /run/mysqld/mysqld.sock --json out.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app" / "sampledata"))

import synthetic_dta  # noqa: E402


def load_importer():
    spec = importlib.util.spec_from_file_location("cfps_import", ROOT / "roles/cfps_import/files/cfps_import.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["cfps_import"] = module  # the worker processes import it by name
    spec.loader.exec_module(module)
    return module


def connect(socket, user, database=None, **kw):
    import pymysql

    return pymysql.connect(unix_socket=socket, user=user, database=database, charset="utf8mb4", autocommit=True, **kw)


def make_wave(folder: Path, scale: float) -> dict[str, Path]:
    files = {}
    folder.mkdir(parents=True)
    for seed, (kind, (ncols, nrows)) in enumerate(synthetic_dta.WAVE_2010.items()):
        path = folder / f"cfps2010{kind}_201906.dta"
        table = synthetic_dta.synthetic_table(kind, 2010, ncols, max(1, round(nrows * scale)), seed)
        synthetic_dta.write_dta118(path, table)
        files[kind] = path
    return files


def baseline_insert(path: Path, socket, user, database, rows: int) -> dict:
    """The original loader: read_stata, then one INSERT per row into FLOAT/VARCHAR(10) MyISAM columns."""
    import pandas as pd

    started = time.monotonic()
    frame = pd.read_stata(path, convert_categoricals=False)
    if rows:
        frame = frame.head(rows)
    read = time.monotonic() - started
    cols = []
    for name, dtype in frame.dtypes.items():
        cols.append(f"`{name}` {'FLOAT' if dtype.kind in 'iuf' else 'VARCHAR(10)'}")
    conn = connect(socket, user, database)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS baseline_adult")
        cur.execute(f"CREATE TABLE baseline_adult ({', '.join(cols)}) ENGINE=MyISAM DEFAULT CHARSET=utf8mb4")
        insert = f"INSERT INTO baseline_adult VALUES ({', '.join(['%s'] * len(frame.columns))})"  # noqa: S608
        t = time.monotonic()
        for row in frame.itertuples(index=False):
            cur.execute(insert, [None if v != v else (v[:10] if isinstance(v, str) else float(v)) for v in row])
        insert_seconds = time.monotonic() - t
        cur.execute("DROP TABLE baseline_adult")
    conn.close()
    return {"rows": len(frame), "read_seconds": read, "insert_seconds": insert_seconds}


def physical_limit(importer, path: Path, socket, user, database, tmp: Path) -> dict:
    """LOAD DATA of the adult rows from a text file written beforehand (untimed), same table types."""
    import pyreadstat

    meta = importer.read_meta(path, "UTF-8")
    types = importer.sql_types(path, meta)
    frame, _ = pyreadstat.read_dta(str(path))
    text = tmp / "adult.tsv"
    with open(text, "wb") as out:
        importer.write_chunk(frame, types, out)
    ddl = ", ".join(f"`{c}` {t}" for c, t in zip(meta.column_names, types, strict=True))
    conn = connect(socket, user, database, local_infile=True)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS limit_adult")
        cur.execute(f"CREATE TABLE limit_adult ({ddl}) ENGINE=Aria DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
        t = time.monotonic()
        cur.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE limit_adult {importer.LOAD_FORMAT}",
            (str(text),),
        )
        seconds = time.monotonic() - t
        cur.execute("DROP TABLE limit_adult")
    conn.close()
    text.unlink()
    return {"rows": len(frame), "seconds": seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", default="/run/mysqld/mysqld.sock")
    parser.add_argument("--user", default="root")
    parser.add_argument("--database", default="cfps_import_bench", help="scratch database, dropped at the end")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the manual's rows (1 = exact)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--baseline-rows", type=int, default=3000, help="rows the per-row baseline inserts (0: all)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    importer = load_importer()
    admin = connect(args.socket, args.user)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{args.database}`")
        cur.execute(f"CREATE DATABASE `{args.database}` CHARACTER SET utf8mb4")
    report = {"cpus": os.cpu_count(), "scale": args.scale, "load_before": os.getloadavg()}
    try:
        with tempfile.TemporaryDirectory(prefix="cfps-import-bench-") as tmp:
            tmp = Path(tmp)
            t = time.monotonic()
            files = make_wave(tmp / "wave", args.scale)
            report["generate_seconds"] = time.monotonic() - t
            report["file_bytes"] = sum(p.stat().st_size for p in files.values())
            plan = {
                "database": args.database,
                "socket": args.socket,
                "user": args.user,
                "tmpdir": str(tmp / "text"),
                "dir": str(tmp / "wave"),
                "pattern": r"^cfps(?P<year>\d{4})(?P<kind>[a-z]+)(_\d+)?\.dta$",
                "table": "{kind}_{year}",
                "files": {},
            }
            print(f"importing {len(files)} files ({report['file_bytes'] / 1e6:.0f} MB), {args.jobs} jobs ...")
            t = time.monotonic()
            summary, rc = importer.run(plan, args.jobs, None)
            wave_seconds = time.monotonic() - t
            if rc != 0:
                print(json.dumps(summary, ensure_ascii=False, indent=1), file=sys.stderr)
                return 1
            report["wave"] = {"seconds": wave_seconds, "cells": summary["cells"], "rows": summary["rows"],
                              "files": summary["files"]}  # fmt: skip
            adult = next(f for f in summary["files"] if f["table"] == "adult_2010")
            print("baseline: one INSERT per row ...")
            report["baseline"] = baseline_insert(
                files["adult"], args.socket, args.user, args.database, args.baseline_rows
            )
            print("limit: LOAD DATA of a ready text file ...")
            report["limit"] = physical_limit(importer, files["adult"], args.socket, args.user, args.database, tmp)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{args.database}`")
        admin.close()
    report["load_after"] = os.getloadavg()

    adult_rps = adult["rows"] / adult["seconds"]
    base = report["baseline"]
    base_rps = base["rows"] / (base["read_seconds"] * base["rows"] / adult["rows"] + base["insert_seconds"])
    limit_rps = report["limit"]["rows"] / report["limit"]["seconds"]
    wave = report["wave"]
    print()
    print(f"whole 2010 wave (scale {args.scale}): {wave['seconds']:.1f} s for {wave['rows']:,} rows,"
          f" {wave['cells']:,} cells = {wave['cells'] / wave['seconds']:,.0f} cells/s (goal <= 180 s)")  # fmt: skip
    for f in wave["files"]:
        print(f"  {f['table']:<14} {f['rows']:>7,} rows x {f['columns']:>5} columns  {f['seconds']:6.1f} s")
    print()
    print(f"adult-shaped table, {adult['columns']} columns        rows/s    vs importer")
    print(f"  importer (read + text + LOAD DATA)   {adult_rps:9,.0f}    1.00")
    print(f"  baseline: one INSERT per row         {base_rps:9,.0f}    {base_rps / adult_rps:.3f}"
          f"   (importer {adult_rps / base_rps:.1f}x faster; goal >= 20x; {base['rows']:,} rows)")  # fmt: skip
    print(f"  LOAD DATA of a ready file (limit)    {limit_rps:9,.0f}    {limit_rps / adult_rps:.2f}"
          f"   (importer at {adult_rps / limit_rps:.0%} of the limit)")  # fmt: skip
    print(f"load average before {report['load_before'][0]:.2f}, after {report['load_after'][0]:.2f}")
    report["adult_rows_per_s"] = {"importer": adult_rps, "baseline": base_rps, "limit": limit_rps}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
