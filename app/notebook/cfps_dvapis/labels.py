"""Value and variable labels of the tables imported from the CFPS Stata files.

The cfps_import role keeps them in the database next to the data:
meta_variables (one row per column) and meta_value_labels (one row per code).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .db import sql


def variables(table: str) -> pd.DataFrame:
    """The columns of ``table`` in order, with their labels and types.

    ``variables("person_2018")`` lists name, label (e.g. 性别), Stata and SQL type.
    """
    df = sql(
        "SELECT column_name, label, stata_type, sql_type, value_label_set FROM meta_variables"
        " WHERE table_name = :t ORDER BY position",
        {"t": table},
    )
    if df.empty:
        raise LookupError(f"no labels for table {table!r}: is it imported from a Stata file? / 没有表 {table} 的标签")
    return df


def label(df: pd.DataFrame, table: str, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with codes replaced by their labels (-8 -> 不适用, 1 -> 男 ...).

    ``table`` is the imported table the columns come from; ``columns`` limits the
    replacement (default: every column of ``df`` that has value labels there).
    Codes without a label, and NULLs, are kept as they are.

        label(sql("SELECT pid, gender, provcd18 FROM person_2018"), "person_2018")
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError("label() takes the DataFrame of sql() / label() 的第一个参数应为 DataFrame")
    rows = sql(
        "SELECT column_name, value, label FROM meta_value_labels WHERE table_name = :t",
        {"t": table},
    )
    if rows.empty:
        raise LookupError(
            f"no value labels for table {table!r}: is it imported from a Stata file? / 表 {table} 没有值标签"
        )
    mapping: dict[str, dict[float, str]] = {}
    for column, value, text in rows.itertuples(index=False):
        mapping.setdefault(column, {})[float(value)] = text
    if columns is None:
        chosen = [c for c in df.columns if c in mapping]
    else:
        chosen = list(columns)
        missing = [c for c in chosen if c not in df.columns]
        if missing:
            raise KeyError(f"not columns of the DataFrame: {', '.join(missing)} / 数据中没有这些列")
        unlabelled = [c for c in chosen if c not in mapping]
        if unlabelled:
            raise KeyError(f"no value labels in {table} for: {', '.join(unlabelled)} / 这些列没有值标签")
    out = df.copy()
    for column in chosen:
        codes = df[column]
        named = codes.map(lambda v, m=mapping[column]: m.get(float(v)) if pd.notna(v) else None)
        out[column] = named.where(named.notna(), codes)
    return out
