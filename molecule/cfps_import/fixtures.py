#!/usr/bin/env python3
"""The scenario's SYNTHETIC Stata files (never real CFPS data), made at test time.

    python3 fixtures.py OUT_DIR      # writes the files below into OUT_DIR

One place for what converge imports and what the tests compare it with: the
tests rebuild the same tables from the same seeds.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "app" / "sampledata"))

import synthetic_dta  # noqa: E402

# file name -> (table, dta format, synthetic_table arguments)
FIXTURES = {
    # Stata 14+ (UTF-8) with a strL column.
    "cfps2018person_202012.dta": (
        "person_2018", 118, dict(kind="person", year=2018, ncols=60, nrows=400, seed=11, strl=True),
    ),
    # Stata 12 (GB18030), the family key.
    "cfps2010famecon_201906.dta": ("famecon_2010", 115, dict(kind="famecon", year=2010, ncols=80, nrows=300, seed=12)),
    # Stata 12 (GB18030), the (pid, fid10) key.
    "cfps2010famconf_201906.dta": ("famconf_2010", 115, dict(kind="famconf", year=2010, ncols=40, nrows=500, seed=13)),
    # Wider than InnoDB's 1,017 columns.
    "cfps2010adult_201906.dta": ("adult_2010", 118, dict(kind="adult", year=2010, ncols=1100, nrows=150, seed=14)),
}  # fmt: skip


def table(name, **override):
    """The synthetic table behind a fixture file (arguments may be overridden)."""
    return synthetic_dta.synthetic_table(**{**FIXTURES[name][2], **override})


def write(path, version, data):
    if version == 115:
        synthetic_dta.write_dta115(path, data)
    else:
        synthetic_dta.write_dta118(path, data)


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, (_, version, _) in FIXTURES.items():
        write(out / name, version, table(name))


if __name__ == "__main__":
    main(sys.argv[1])
