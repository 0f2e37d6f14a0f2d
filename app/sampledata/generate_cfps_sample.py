#!/usr/bin/env python3
"""Generate the SYNTHETIC CFPS-shaped sample database (not real CFPS data).

The output is a plain SQL dump with three tables: `person_2018`, `famecon_2018`
(real CFPS 2018 variable names and codes, invented values) and `README`, which
says in a row and in every table comment that the data are synthetic.

The output is fully deterministic: a self-contained splitmix64 generator and
integer arithmetic only (no floating point, no `random` module), so every
Python version on every platform writes the same bytes. The committed copy in
roles/mysql_grants/files/ must equal this script's output; tests/ checks that.

    python3 app/sampledata/generate_cfps_sample.py            # rewrite the committed copy
    python3 app/sampledata/generate_cfps_sample.py --check    # exit 1 if it is stale
    python3 app/sampledata/generate_cfps_sample.py -o -       # print to stdout
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "roles" / "mysql_grants" / "files" / "cfps_sample_2018.sql"

SEED = 20180601
PERSONS = 1000
FAMILIES = 400
# Synthetic identifiers live in a range of their own: fid18 900001..900400,
# pid = fid18 * 1000 + 101 + member index.
FID_BASE = 900000
LABEL = "SYNTHETIC — not real CFPS data"
BATCH = 100

# GB/T 2260 province codes of the 25 provinces in the CFPS sample, with rough weights.
PROVINCES = [
    (11, 2), (12, 2), (13, 5), (14, 4), (21, 5), (22, 3), (23, 4), (31, 2), (32, 5),
    (33, 4), (34, 5), (35, 3), (36, 4), (37, 7), (41, 8), (42, 5), (43, 5), (44, 7),
    (45, 4), (50, 3), (51, 6), (52, 4), (53, 4), (61, 4), (62, 5),
]  # fmt: skip
# Family size weights (sizes 1..6).
SIZES = [(1, 18), (2, 35), (3, 25), (4, 14), (5, 6), (6, 2)]
# cfps2018edu code -> years of schooling (cfps2018eduy).
EDU_YEARS = {1: 0, 2: 6, 3: 9, 4: 12, 5: 15, 6: 16, 7: 19, 8: 22}
# Typical yearly income (yuan) of an employed person by cfps2018edu.
EDU_INCOME = {1: 12000, 2: 18000, 3: 26000, 4: 34000, 5: 46000, 6: 60000, 7: 85000, 8: 110000}
NA = -8  # CFPS code for "not applicable"

PERSON_COLUMNS = [
    ("pid", "INT NOT NULL", "Person ID (synthetic: fid18*1000+101+k)"),
    ("fid18", "INT NOT NULL", "Family ID 2018, joins famecon_2018"),
    ("provcd18", "SMALLINT NOT NULL", "Province code (GB/T 2260)"),
    ("countyid18", "SMALLINT NOT NULL", "County ID (synthetic)"),
    ("urban18", "TINYINT NOT NULL", "1 urban, 0 rural"),
    ("gender", "TINYINT NOT NULL", "1 male, 0 female"),
    ("age", "SMALLINT NOT NULL", "Age in 2018"),
    ("ibirthy", "SMALLINT NOT NULL", "Year of birth"),
    ("cfps2018edu", "TINYINT NOT NULL", "Highest level: 1 illiterate .. 8 doctorate; -8 n/a"),
    ("cfps2018eduy", "TINYINT NOT NULL", "Years of schooling; -8 n/a"),
    ("qea0", "TINYINT NOT NULL", "Marital status: 1 never, 2 married, 3 cohabiting, 4 divorced, 5 widowed; -8 n/a"),
    ("employ", "TINYINT NOT NULL", "1 employed, 0 unemployed, 3 out of the labour force; -8 n/a"),
    ("income", "INT NOT NULL", "Personal yearly income, yuan; -8 n/a"),
    ("qp201", "TINYINT NOT NULL", "Self-rated health: 1 excellent .. 5 poor; -8 n/a"),
]
FAMECON_COLUMNS = [
    ("fid18", "INT NOT NULL", "Family ID 2018 (synthetic)"),
    ("provcd18", "SMALLINT NOT NULL", "Province code (GB/T 2260)"),
    ("countyid18", "SMALLINT NOT NULL", "County ID (synthetic)"),
    ("urban18", "TINYINT NOT NULL", "1 urban, 0 rural"),
    ("familysize18", "TINYINT NOT NULL", "Family members in person_2018"),
    ("fincome1", "INT NOT NULL", "Family net income, yuan"),
    ("fincome1_per", "INT NOT NULL", "Family net income per member, yuan"),
    ("expense", "INT NOT NULL", "Family yearly expenditure, yuan"),
    ("total_asset", "INT NOT NULL", "Family net assets, yuan"),
]


class SplitMix64:
    """A tiny, fully specified PRNG: same sequence everywhere."""

    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed & self.MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def below(self, n):
        """An integer in [0, n)."""
        return self.next() % n

    def between(self, lo, hi):
        """An integer in [lo, hi]."""
        return lo + self.below(hi - lo + 1)

    def chance(self, percent):
        return self.below(100) < percent

    def weighted(self, pairs):
        total = sum(w for _, w in pairs)
        r = self.below(total)
        for value, weight in pairs:
            if r < weight:
                return value
            r -= weight
        raise AssertionError("unreachable")


def family_sizes(rng):
    sizes = [rng.weighted(SIZES) for _ in range(FAMILIES)]
    while sum(sizes) > PERSONS:
        i = rng.below(FAMILIES)
        if sizes[i] > 1:
            sizes[i] -= 1
    while sum(sizes) < PERSONS:
        i = rng.below(FAMILIES)
        if sizes[i] < 6:
            sizes[i] += 1
    return sizes


def education(rng, age, urban):
    if age < 3:
        return NA
    cap = 2 if age < 12 else 3 if age < 15 else 4 if age < 18 else 6 if age < 22 else 8
    # Older and rural cohorts had less schooling.
    if age >= 60:
        pairs = [(1, 40), (2, 30), (3, 18), (4, 9), (5, 2), (6, 1)]
    elif urban:
        pairs = [(1, 3), (2, 10), (3, 27), (4, 25), (5, 15), (6, 16), (7, 3), (8, 1)]
    else:
        pairs = [(1, 10), (2, 25), (3, 38), (4, 17), (5, 6), (6, 4)]
    return min(rng.weighted(pairs), cap)


def employment(rng, age, edu):
    if age < 16:
        return NA
    if age < 23 and edu >= 4 and rng.chance(70):
        return 3  # still in school
    if age >= 60:
        return 1 if rng.chance(25) else 3
    return rng.weighted([(1, 80), (0, 6), (3, 14)])


def personal_income(rng, age, edu, employ, urban):
    if age < 16:
        return NA
    if employ != 1:
        return 0
    base = EDU_INCOME[edu] * (100 + 35 * urban) // 100
    # Right-skewed spread: 40%..220% of the base, in steps of 100 yuan.
    spread = 40 + rng.below(60) + rng.below(60) + rng.below(60)
    if rng.chance(5):
        spread += rng.below(400)
    return base * spread // 100 // 100 * 100


def marital(rng, age, role):
    if age < 16:
        return NA
    if role in ("head", "spouse") and age >= 20:
        return 2 if rng.chance(92) else rng.weighted([(3, 2), (4, 3), (5, 5)])
    if age < 25:
        return 1
    if age >= 70:
        return rng.weighted([(2, 50), (5, 50)])
    return rng.weighted([(1, 30), (2, 60), (4, 10)])


def health(rng, age):
    if age < 16:
        return NA
    shift = age // 25
    return min(5, max(1, rng.between(1, 4) + rng.below(shift + 1) // 2))


def generate_rows():
    rng = SplitMix64(SEED)
    sizes = family_sizes(rng)
    persons, families = [], []
    for i, size in enumerate(sizes):
        fid = FID_BASE + 1 + i
        prov = rng.weighted(PROVINCES)
        county = rng.between(1, 162)
        urban = 1 if rng.chance(52) else 0
        head_age = rng.between(24, 82)
        head_gender = 1 if rng.chance(60) else 0
        members = [("head", head_age, head_gender)]
        if size >= 2:
            members.append(("spouse", max(20, head_age + rng.between(-6, 4)), 1 - head_gender))
        for _ in range(size - len(members)):
            if head_age >= 45 and rng.chance(25):
                members.append(("parent", min(99, head_age + rng.between(20, 32)), rng.below(2)))
            else:
                members.append(("child", max(0, head_age - rng.between(20, 38)), rng.below(2)))
        fam_income = 0
        for k, (role, age, gender) in enumerate(members):
            edu = education(rng, age, urban)
            employ = employment(rng, age, edu)
            income = personal_income(rng, age, edu, employ, urban)
            fam_income += max(income, 0)
            persons.append(
                (
                    fid * 1000 + 101 + k,
                    fid,
                    prov,
                    county,
                    urban,
                    gender,
                    age,
                    2018 - age,
                    edu,
                    NA if edu == NA else EDU_YEARS[edu],
                    marital(rng, age, role),
                    employ,
                    income,
                    health(rng, age),
                )
            )
        # Transfers, farming and property income on top of wages.
        fam_income += rng.below(12000) + (0 if urban else rng.below(15000))
        fam_income = fam_income // 100 * 100
        expense = fam_income * (55 + rng.below(50)) // 100 // 100 * 100
        assets = (fam_income * rng.between(2, 12) + rng.below(150000) * (1 + 2 * urban)) // 1000 * 1000
        families.append((fid, prov, county, urban, size, fam_income, fam_income // size, expense, assets))
    if len(persons) != PERSONS or len(families) != FAMILIES:
        raise RuntimeError("family sizes do not add up")
    return persons, families


def sql_string(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def create_table(name, columns, key, comment, extra_keys=()):
    lines = [f"  `{col}` {kind} COMMENT {sql_string(note)}," for col, kind, note in columns]
    lines.append(f"  PRIMARY KEY (`{key}`)" + ("," if extra_keys else ""))
    lines += [f"  KEY `{k}` (`{k}`)" + ("," if n < len(extra_keys) - 1 else "") for n, k in enumerate(extra_keys)]
    return (
        f"CREATE TABLE `{name}` (\n"
        + "\n".join(lines)
        + f"\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT={sql_string(comment)};\n"
    )


def inserts(name, columns, rows):
    cols = ", ".join(f"`{c}`" for c, _, _ in columns)
    out = []
    for start in range(0, len(rows), BATCH):
        values = ",\n".join("(" + ",".join(str(v) for v in row) + ")" for row in rows[start : start + BATCH])
        out.append(f"INSERT INTO `{name}` ({cols}) VALUES\n{values};\n")
    return "".join(out)


def generate():
    """The whole SQL file, as text."""
    persons, families = generate_rows()
    readme = [
        (1, f"{LABEL}. Invented values with real CFPS 2018 variable names, for demos and tests only."),
        (2, f"person_2018: {PERSONS} synthetic persons (cfps2018person-like variables)."),
        (3, f"famecon_2018: {FAMILIES} synthetic families (cfps2018famecon-like variables)."),
        (4, f"Generated by app/sampledata/generate_cfps_sample.py, seed {SEED}. -8 means not applicable."),
    ]
    parts = [
        f"-- {LABEL}.\n",
        "-- A deterministic, invented sample shaped like CFPS 2018 for demos and tests.\n",
        "-- Generated by app/sampledata/generate_cfps_sample.py; do not edit by hand.\n",
        "SET NAMES utf8mb4;\n\n",
        create_table(
            "README",
            [("id", "INT NOT NULL", "Row number"), ("note", "VARCHAR(255) NOT NULL", "About this database")],
            "id",
            f"{LABEL}: what this database holds",
        ),
        "INSERT INTO `README` (`id`, `note`) VALUES\n"
        + ",\n".join(f"({n},{sql_string(t)})" for n, t in readme)
        + ";\n\n",
        create_table("famecon_2018", FAMECON_COLUMNS, "fid18", f"{LABEL}: family economics, 2018 shape"),
        inserts("famecon_2018", FAMECON_COLUMNS, families),
        "\n",
        create_table("person_2018", PERSON_COLUMNS, "pid", f"{LABEL}: persons, 2018 shape", extra_keys=("fid18",)),
        inserts("person_2018", PERSON_COLUMNS, persons),
    ]
    return "".join(parts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(OUTPUT), help="file to write, or - for stdout")
    parser.add_argument("--check", action="store_true", help="exit 1 if the output file differs")
    args = parser.parse_args(argv)
    text = generate()
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    if args.check:
        same = path.exists() and path.read_text(encoding="utf-8") == text
        print(f"{path}: {'up to date' if same else 'STALE, regenerate it'}")
        return 0 if same else 1
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({PERSONS} persons, {FAMILIES} families)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
