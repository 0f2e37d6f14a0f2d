"""SYNTHETIC Stata files shaped like the CFPS releases (never real CFPS data).

Two writers, so both encodings the publisher's files come in can be made:

- ``write_dta115``: format 115 (Stata 12), text in GB18030 as old releases
  have it. Written here byte by byte from the format's documentation, since
  neither pandas nor pyreadstat writes legacy text in any encoding but
  Latin-1/UTF-8.
- ``write_dta118``: format 118 (Stata 14+, UTF-8) through pandas, with strL.

``synthetic_table`` makes a CFPS-like table: an id column, coded byte/int
columns with negative codes (-1 不知道, -2 拒绝回答, -8 不适用 ...) and Chinese
value labels, floats, doubles, strings, missing values.

    python3 app/sampledata/synthetic_dta.py OUT_DIR [--scale 0.05]

writes a synthetic 2010 wave in the manual's shapes (scaled rows) to OUT_DIR.
"""

from __future__ import annotations

import argparse
import datetime
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# Stata's system missing value "." per storage type (formats 113 and later).
MISSING = {"byte": 101, "int": 32741, "long": 2147483621}
FLOAT_MISSING = struct.unpack("<f", struct.pack("<I", 0x7F000000))[0]
DOUBLE_MISSING = struct.unpack("<d", struct.pack("<Q", 0x7FE0000000000000))[0]
TYPE_CODE_115 = {"byte": 251, "int": 252, "long": 253, "float": 254, "double": 255}
NUMPY = {"byte": "<i1", "int": "<i2", "long": "<i4", "float": "<f4", "double": "<f8"}

NEGATIVE_CODES = {-1: "不知道", -2: "拒绝回答", -8: "不适用", -9: "缺失", -10: "无法判断"}
LABEL_NOTE = "SYNTHETIC — not real CFPS data"

# The CFPS 2010 wave (user manual): file kind -> (variables, rows).
WAVE_2010 = {
    "comm": (221, 635),
    "famconf": (355, 57155),
    "famecon": (624, 14798),
    "adult": (1493, 33600),
    "child": (968, 8990),
}


@dataclass
class Table:
    """Columns in order; ``types`` are Stata storage types (byte ... double, str<n>, strL)."""

    columns: list[str]
    types: dict[str, str]
    data: dict[str, list | np.ndarray]
    labels: dict[str, str] = field(default_factory=dict)
    value_labels: dict[str, dict[int, str]] = field(default_factory=dict)
    file_label: str = ""

    @property
    def rows(self) -> int:
        return len(self.data[self.columns[0]]) if self.columns else 0


def _fixed(text: str, size: int, encoding: str) -> bytes:
    raw = text.encode(encoding)
    if len(raw) >= size:
        raise ValueError(f"{text!r} does not fit in {size - 1} bytes")
    return raw + b"\0" * (size - len(raw))


def write_dta115(path: Path, table: Table, encoding: str = "gb18030") -> None:
    """Format 115, little-endian, text in ``encoding``; NaN/None become ".". No strL (format 117+)."""
    nvar, nobs = len(table.columns), table.rows
    out = bytearray()
    out += struct.pack("<BBBBHI", 115, 2, 1, 0, nvar, nobs)
    out += _fixed(table.file_label, 81, encoding) + _fixed("01 Jan 2020 00:00", 18, "ascii")
    dtypes = []
    for name in table.columns:
        kind = table.types[name]
        if kind.startswith("str"):
            width = int(kind[3:])
            if not 1 <= width <= 244:
                raise ValueError(f"{name}: format 115 holds str1..str244, not {kind}")
            out.append(width)
            dtypes.append((name, f"S{width}"))
        else:
            out.append(TYPE_CODE_115[kind])
            dtypes.append((name, NUMPY[kind]))
    for name in table.columns:
        out += _fixed(name, 33, "ascii")
    out += b"\0" * (2 * (nvar + 1))
    for name in table.columns:
        kind = table.types[name]
        out += _fixed(f"%{kind[3:]}s" if kind.startswith("str") else "%9.0g", 49, "ascii")
    for name in table.columns:
        out += _fixed(name if name in table.value_labels else "", 33, "ascii")
    for name in table.columns:
        out += _fixed(table.labels.get(name, ""), 81, encoding)
    out += b"\0" * 5  # no expansion fields
    records = np.zeros(nobs, dtype=dtypes)
    for name, _ in dtypes:
        kind, values = table.types[name], table.data[name]
        if kind.startswith("str"):
            records[name] = [v.encode(encoding) for v in values]
        else:
            arr = np.asarray(values, dtype="f8")
            missing = np.isnan(arr)
            if kind in MISSING:
                col = np.where(missing, MISSING[kind], np.nan_to_num(arr)).astype(NUMPY[kind])
            else:
                col = np.where(missing, FLOAT_MISSING if kind == "float" else DOUBLE_MISSING, arr)
            records[name] = col
    out += records.tobytes()
    for name, labels in table.value_labels.items():
        items = sorted(labels.items())
        offsets, text = [], b""
        for _, label in items:
            offsets.append(len(text))
            text += label.encode(encoding) + b"\0"
        body = struct.pack("<ii", len(items), len(text))
        body += struct.pack(f"<{len(items)}i", *offsets) + struct.pack(f"<{len(items)}i", *(v for v, _ in items))
        out += struct.pack("<i", len(body) + len(text)) + _fixed(name, 33, "ascii") + b"\0" * 3 + body + text
    Path(path).write_bytes(bytes(out))


def write_dta118(path: Path, table: Table) -> None:
    """Format 118 (UTF-8) through pandas; strL columns as strL, NaN as "."."""
    frame = pd.DataFrame({name: _pandas_column(table.types[name], table.data[name]) for name in table.columns})
    frame.to_stata(
        path,
        version=118,
        write_index=False,
        # A fixed time stamp: the same table gives the same bytes.
        time_stamp=datetime.datetime(2020, 1, 1),
        data_label=table.file_label,
        variable_labels={k: v for k, v in table.labels.items() if v},
        value_labels=table.value_labels or None,
        convert_strl=[n for n in table.columns if table.types[n] == "strL"],
    )


def _pandas_column(kind: str, values):
    if kind.startswith("str"):
        return pd.Series(list(values), dtype=object)
    arr = np.asarray(values, dtype="f8")
    if kind in ("float", "double") or np.isnan(arr).any():
        # pandas writes float32 as Stata float; an integer column with NaN as double.
        return arr.astype("f4") if kind == "float" else arr
    return arr.astype(NUMPY[kind])


def synthetic_table(
    kind: str, year: int, ncols: int, nrows: int, seed: int = 0, *, strl: bool = False, missing: bool = True
) -> Table:
    """A CFPS-like table: key columns, then coded, numeric and text columns in a fixed mix."""
    rng = np.random.default_rng(seed)
    yy = f"{year % 100:02d}"
    columns, types, data, labels, value_labels = [], {}, {}, {}, {}

    def add(name, stype, values, label=""):
        columns.append(name)
        types[name] = stype
        data[name] = values
        labels[name] = label

    ids = np.arange(nrows, dtype="f8")
    if kind == "comm":
        add(f"cid{yy}", "long", 100000 + ids, "村居编码")
    elif kind in ("famecon",):
        add(f"fid{yy}", "long", 100000 + ids, "家户号")
    else:
        add("pid", "long", 100000000 + ids, "个人编码")
        if kind == "famconf":
            add(f"fid{yy}", "long", 100000 + (ids // 4), "家户号")
    codes = {**NEGATIVE_CODES, 1: "是", 5: "否"}
    provinces = {11: "北京市", 31: "上海市", 44: "广东省", 51: "四川省", 62: "甘肃省"}
    i = 0
    while len(columns) < ncols:
        i += 1
        slot = i % 10
        name = f"q{i:04d}"
        if slot in (1, 2, 3, 4):
            values = rng.choice(list(codes), size=nrows).astype("f8")
            add(name, "byte", values, f"问题 {i}：是否同意 / question {i}")
            value_labels[name] = codes
        elif slot == 5:
            values = rng.choice([*provinces, -8], size=nrows).astype("f8")
            add(name, "byte", values, f"省份 {i}")
            value_labels[name] = {**provinces, -8: "不适用"}
        elif slot == 6:
            add(name, "int", rng.integers(-10, 30000, size=nrows).astype("f8"), f"年份或数量 {i}")
        elif slot == 7:
            values = rng.integers(-10, 2_000_000_000, size=nrows).astype("f8")
            if missing:
                values[rng.random(nrows) < 0.05] = np.nan
            add(name, "long", values, f"收入（元）{i}")
        elif slot == 8:
            add(name, "float", rng.normal(50, 20, size=nrows).astype("f4").astype("f8"), f"身高体重 {i}")
        elif slot == 9:
            values = rng.normal(0, 1e6, size=nrows)
            if missing:
                values[rng.random(nrows) < 0.05] = np.nan
            add(name, "double", values, f"权重 {i}")
        else:
            words = ["北京", "农民", "教师", "个体户", "", "无业", "tab\there", 'quote"d', "back\\slash"]
            add(name, "str20", [words[j] for j in rng.integers(0, len(words), size=nrows)], f"职业 {i}")
    if strl:
        long_text = "很长的回答。" * 5000 + "end"
        add("longtext", "strL", [long_text if j % 3 == 0 else f"短 {j}" for j in range(nrows)], "开放式回答 strL")
    return Table(columns, types, data, labels, value_labels, f"CFPS {year} {kind} — {LABEL_NOTE}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the manual's rows")
    parser.add_argument("--format", choices=["115", "118"], default="118")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed, (kind, (ncols, nrows)) in enumerate(WAVE_2010.items()):
        table = synthetic_table(kind, 2010, ncols, max(1, round(nrows * args.scale)), seed)
        path = args.out / f"cfps2010{kind}_201906.dta"
        if args.format == "115":
            write_dta115(path, table)
        else:
            write_dta118(path, table)
        print(f"{path}: {ncols} variables x {table.rows} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
