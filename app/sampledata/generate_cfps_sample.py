#!/usr/bin/env python3
"""Generate the SYNTHETIC CFPS-shaped sample database (not real CFPS data).

The tables and their columns are in columns.csv beside this file. The output
is a plain SQL dump with four tables: `person_2018`, `famecon_2018`
(real CFPS 2018 variable names and codes, invented values), `labels_2018` (the
value labels of their coded variables in Chinese and English, e.g. province
names as the ECharts China map spells them) and `README`, which says in a row
and in every table comment that the data are synthetic.

Every table comment also carries the sample's stamp, `[sample <12 hex>]`: a
digest of the whole dump, so any change to the data gives a new stamp. The
mysql_grants role compares it with the tables on a host and replaces an older
sample (a table without the SYNTHETIC label is never touched).

The output is fully deterministic: a self-contained splitmix64 generator and
integer arithmetic only (no floating point, no `random` module), so every
Python version on every platform writes the same bytes. The committed copy in
roles/mysql_grants/files/ must equal this script's output; tests/ checks that.

    python3 app/sampledata/generate_cfps_sample.py            # rewrite the committed copy
    python3 app/sampledata/generate_cfps_sample.py --check    # exit 1 if it is stale
    python3 app/sampledata/generate_cfps_sample.py -o -       # print to stdout
"""

import argparse
import csv
import datetime
import hashlib
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
# Variables added with the second sample draw from a stream of their own, so
# the columns of the first sample keep their values.
EXTRA_SEED = SEED + 2
# Fieldwork months of 2018 (cyear/cmonth/cday) with rough weights.
FIELD_MONTHS = [(6, 14), (7, 26), (8, 24), (9, 14), (10, 10), (11, 7), (12, 5)]
STAMP_SLOT = "STAMP_SLOT_0000"

# Value labels (zh-CN, English). Province names exactly as the ECharts 4.9 China
# map (echarts/map/js/china.js) names its regions, so they feed a Map chart as is.
PROVINCE_NAMES = {
    11: ("北京", "Beijing"), 12: ("天津", "Tianjin"), 13: ("河北", "Hebei"), 14: ("山西", "Shanxi"),
    15: ("内蒙古", "Inner Mongolia"), 21: ("辽宁", "Liaoning"), 22: ("吉林", "Jilin"),
    23: ("黑龙江", "Heilongjiang"), 31: ("上海", "Shanghai"), 32: ("江苏", "Jiangsu"),
    33: ("浙江", "Zhejiang"), 34: ("安徽", "Anhui"), 35: ("福建", "Fujian"), 36: ("江西", "Jiangxi"),
    37: ("山东", "Shandong"), 41: ("河南", "Henan"), 42: ("湖北", "Hubei"), 43: ("湖南", "Hunan"),
    44: ("广东", "Guangdong"), 45: ("广西", "Guangxi"), 46: ("海南", "Hainan"), 50: ("重庆", "Chongqing"),
    51: ("四川", "Sichuan"), 52: ("贵州", "Guizhou"), 53: ("云南", "Yunnan"), 54: ("西藏", "Tibet"),
    61: ("陕西", "Shaanxi"), 62: ("甘肃", "Gansu"), 63: ("青海", "Qinghai"), 64: ("宁夏", "Ningxia"),
    65: ("新疆", "Xinjiang"), 71: ("台湾", "Taiwan"), 81: ("香港", "Hong Kong"), 82: ("澳门", "Macao"),
}  # fmt: skip
# Occupation of the main job (qg303code; synthetic category codes), with weights
# for: low schooling rural, low schooling urban, senior high or college, bachelor and up.
OCCUPATIONS = [
    (1, "农民", "farmer", 60, 4, 2, 0),
    (2, "养殖户", "livestock farmer", 10, 1, 1, 0),
    (3, "渔民", "fisher", 2, 1, 0, 0),
    (4, "建筑工人", "construction worker", 10, 12, 4, 0),
    (5, "工厂工人", "factory worker", 6, 14, 10, 1),
    (6, "司机", "driver", 2, 8, 6, 1),
    (7, "厨师", "cook", 1, 6, 3, 0),
    (8, "保安", "security guard", 1, 6, 3, 0),
    (9, "保洁员", "cleaner", 1, 6, 1, 0),
    (10, "快递员", "courier", 1, 5, 4, 0),
    (11, "售货员", "shop assistant", 1, 8, 7, 1),
    (12, "个体经营者", "self-employed trader", 3, 10, 8, 2),
    (13, "服务员", "waiter", 1, 6, 4, 0),
    (14, "电工", "electrician", 1, 4, 4, 0),
    (15, "家政服务员", "domestic helper", 1, 5, 1, 0),
    (16, "销售员", "salesperson", 0, 2, 9, 6),
    (17, "技术员", "technician", 0, 1, 8, 6),
    (18, "办公室文员", "clerk", 0, 1, 8, 7),
    (19, "护士", "nurse", 0, 0, 5, 4),
    (20, "会计", "accountant", 0, 0, 5, 7),
    (21, "教师", "teacher", 0, 0, 4, 14),
    (22, "医生", "doctor", 0, 0, 1, 7),
    (23, "工程师", "engineer", 0, 0, 2, 12),
    (24, "程序员", "programmer", 0, 0, 1, 9),
    (25, "公务员", "civil servant", 0, 0, 2, 9),
    (26, "经理", "manager", 0, 0, 1, 6),
    (27, "律师", "lawyer", 0, 0, 0, 2),
    (28, "研究人员", "researcher", 0, 0, 0, 3),
]
# Current housing (fq2), weights for rural and urban families.
HOUSING = [(1, 88, 62), (2, 3, 8), (3, 1, 6), (4, 4, 19), (5, 4, 5)]
LABELS = {
    "urban18": [(0, "乡村", "rural"), (1, "城镇", "urban")],
    "gender": [(0, "女", "female"), (1, "男", "male")],
    "cfps2018edu": [
        (1, "文盲/半文盲", "illiterate or semi-literate"), (2, "小学", "primary school"),
        (3, "初中", "junior high school"), (4, "高中/中专/技校/职高", "senior high or vocational school"),
        (5, "大专", "three-year college"), (6, "大学本科", "bachelor"), (7, "硕士", "master"),
        (8, "博士", "doctorate"),
    ],
    "qea0": [
        (1, "未婚", "never married"), (2, "在婚", "married"), (3, "同居", "cohabiting"),
        (4, "离婚", "divorced"), (5, "丧偶", "widowed"),
    ],
    "employ": [(0, "失业", "unemployed"), (1, "在业", "employed"), (3, "退出劳动力市场", "out of the labour force")],
    "qp201": [
        (1, "非常健康", "excellent"), (2, "很健康", "very good"), (3, "比较健康", "good"),
        (4, "一般", "fair"), (5, "不健康", "poor"),
    ],
    "qn12012": [
        (1, "非常不满意", "very dissatisfied"), (2, "不太满意", "dissatisfied"), (3, "一般", "neutral"),
        (4, "比较满意", "satisfied"), (5, "非常满意", "very satisfied"),
    ],
    "qg303code": [(code, zh, en) for code, zh, en, *_ in OCCUPATIONS],
    "fq2": [
        (1, "完全自有", "fully owned"), (2, "部分产权", "partly owned"), (3, "公房", "public housing"),
        (4, "租住", "rented"), (5, "借住亲友房", "lent by relatives or friends"),
    ],
    "provcd18": [(code, zh, en) for code, (zh, en) in PROVINCE_NAMES.items()],
}  # fmt: skip


def read_columns():
    """Each table's columns (name, SQL type, comment), from columns.csv beside this file."""
    tables = {}
    with Path(__file__).with_name("columns.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            tables.setdefault(row["table"], []).append((row["column"], row["type"], row["comment"]))
    return tables


COLUMNS = read_columns()
PERSON_COLUMNS, FAMECON_COLUMNS, LABEL_COLUMNS = (COLUMNS[t] for t in ("person_2018", "famecon_2018", "labels_2018"))


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


def occupation(rng, edu, employ, urban):
    if employ != 1:
        return NA
    column = 3 if edu <= 3 and not urban else 4 if edu <= 3 else 5 if edu <= 5 else 6
    return rng.weighted([(occ[0], occ[column]) for occ in OCCUPATIONS if occ[column]])


def satisfaction(rng, age, employ, income, health_code):
    if age < 16:
        return NA
    score = rng.between(2, 5)
    if health_code >= 4 and rng.chance(60):
        score -= 1
    if income >= 60000 and rng.chance(50):
        score += 1
    if employ == 0:
        score -= 1
    return min(5, max(1, score))


def interview_day(rng):
    """A fieldwork day of 2018; more interviews fall on weekends."""
    month = rng.weighted(FIELD_MONTHS)
    days = (datetime.date(2018 + month // 12, month % 12 + 1, 1) - datetime.date(2018, month, 1)).days
    day = datetime.date(2018, month, rng.between(1, days))
    if day.weekday() < 5 and rng.chance(30):
        day += datetime.timedelta(days=5 - day.weekday())
    return min(day, datetime.date(2018, 12, 31))


def generate_rows():
    rng = SplitMix64(SEED)
    extra = SplitMix64(EXTRA_SEED)
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
        visit = interview_day(extra)
        for k, (role, age, gender) in enumerate(members):
            edu = education(rng, age, urban)
            employ = employment(rng, age, edu)
            income = personal_income(rng, age, edu, employ, urban)
            fam_income += max(income, 0)
            status = marital(rng, age, role)
            rated = health(rng, age)
            # Most members answer on the family's day, some a few days later.
            day = visit
            if extra.chance(25):
                day = min(visit + datetime.timedelta(days=extra.between(1, 6)), datetime.date(2018, 12, 31))
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
                    status,
                    employ,
                    income,
                    rated,
                    occupation(extra, edu, employ, urban),
                    satisfaction(extra, age, employ, income, rated),
                    day.year,
                    day.month,
                    day.day,
                )
            )
        # Transfers, farming and property income on top of wages.
        fam_income += rng.below(12000) + (0 if urban else rng.below(15000))
        fam_income = fam_income // 100 * 100
        expense = fam_income * (55 + rng.below(50)) // 100 // 100 * 100
        assets = (fam_income * rng.between(2, 12) + rng.below(150000) * (1 + 2 * urban)) // 1000 * 1000
        housing = extra.weighted([(code, urban_w if urban else rural_w) for code, rural_w, urban_w in HOUSING])
        families.append((fid, prov, county, urban, size, fam_income, fam_income // size, expense, assets, housing))
    if len(persons) != PERSONS or len(families) != FAMILIES:
        raise RuntimeError("family sizes do not add up")
    return persons, families


def sql_string(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def sql_value(value):
    return sql_string(value) if isinstance(value, str) else str(value)


def create_table(name, columns, key, comment, extra_keys=()):
    lines = [f"  `{col}` {kind} COMMENT {sql_string(note)}," for col, kind, note in columns]
    keys = ", ".join(f"`{k}`" for k in ((key,) if isinstance(key, str) else key))
    lines.append(f"  PRIMARY KEY ({keys})" + ("," if extra_keys else ""))
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
        values = ",\n".join("(" + ",".join(sql_value(v) for v in row) + ")" for row in rows[start : start + BATCH])
        out.append(f"INSERT INTO `{name}` ({cols}) VALUES\n{values};\n")
    return "".join(out)


def generate():
    """The whole SQL file, as text, with the sample's stamp in every table comment."""
    text = generate_unstamped()
    return text.replace(STAMP_SLOT, stamp_of(text))


def stamp_of(unstamped):
    """12 hex digits of the dump's SHA-256, taken before the stamp is written into it."""
    return hashlib.sha256(unstamped.encode("utf-8")).hexdigest()[:12]


def stamp():
    """The stamp of the current sample (what the mysql_grants role compares)."""
    return stamp_of(generate_unstamped())


def generate_unstamped():
    persons, families = generate_rows()
    labels = [(variable, code, zh, en) for variable, rows in sorted(LABELS.items()) for code, zh, en in rows]
    mark = f"{LABEL} [sample {STAMP_SLOT}]"
    readme = [
        (1, f"{LABEL}. Invented values with real CFPS 2018 variable names, for demos and tests only."),
        (2, f"person_2018: {PERSONS} synthetic persons (cfps2018person-like variables)."),
        (3, f"famecon_2018: {FAMILIES} synthetic families (cfps2018famecon-like variables)."),
        (4, f"Generated by app/sampledata/generate_cfps_sample.py, seed {SEED}. -8 means not applicable."),
        (5, "labels_2018: value labels in Chinese and English; provinces as the ECharts China map names them."),
        (6, f"Sample stamp {STAMP_SLOT}: the mysql_grants role replaces a sample with another stamp."),
    ]
    parts = [
        f"-- {LABEL}.\n",
        "-- A deterministic, invented sample shaped like CFPS 2018 for demos and tests.\n",
        "-- Generated by app/sampledata/generate_cfps_sample.py; do not edit by hand.\n",
        f"-- [sample {STAMP_SLOT}]\n",
        "SET NAMES utf8mb4;\n\n",
        create_table(
            "README",
            [("id", "INT NOT NULL", "Row number"), ("note", "VARCHAR(255) NOT NULL", "About this database")],
            "id",
            f"{mark}: what this database holds",
        ),
        "INSERT INTO `README` (`id`, `note`) VALUES\n"
        + ",\n".join(f"({n},{sql_string(t)})" for n, t in readme)
        + ";\n\n",
        create_table("labels_2018", LABEL_COLUMNS, ("variable", "code"), f"{mark}: value labels, zh-CN and English"),
        inserts("labels_2018", LABEL_COLUMNS, labels),
        "\n",
        create_table("famecon_2018", FAMECON_COLUMNS, "fid18", f"{mark}: family economics, 2018 shape"),
        inserts("famecon_2018", FAMECON_COLUMNS, families),
        "\n",
        create_table("person_2018", PERSON_COLUMNS, "pid", f"{mark}: persons, 2018 shape", extra_keys=("fid18",)),
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
    print(f"wrote {path} ({PERSONS} persons, {FAMILIES} families, sample {stamp()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
