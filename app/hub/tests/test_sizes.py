"""Memory sizes and the active server limit, as the hub computes them at start."""

import os
import re
from pathlib import Path

import cfps_home_storage
import pytest
import yaml
from jupyterhub.traitlets import ByteSpecification
from traitlets import HasTraits

from cfps_jupyterhub import SIZE_PATTERN, UNITS, active_server_limit, host_memory_bytes, meminfo_bytes, parse_bytes

ROOT = Path(__file__).resolve().parents[3]
GIB = 1024**3

GOOD = {
    "1": 1,
    "1073741824": GIB,
    "512K": 512 * 1024,
    "512k": 512 * 1024,
    "512M": 512 * 1024**2,
    "1536m": 1536 * 1024**2,
    "2G": 2 * GIB,
    "2g": 2 * GIB,
    "1T": 1024**4,
    "1t": 1024**4,
    "02G": 2 * GIB,
}
BAD = [
    "",
    " ",
    "G",
    "2GB",
    "2 G",
    " 2G",
    "2G ",
    "2G\n",
    "-1G",
    "+1G",
    "0",
    "0G",
    "00M",
    "1.5G",
    "1.5.G",
    "2P",
    "2B",
    "2KiB",
    "1_000",
    "１G",  # a full-width digit: int() would take it
    "²G",
    "lots",
]


class Limits(HasTraits):
    mem = ByteSpecification()


@pytest.mark.parametrize(("text", "value"), GOOD.items())
def test_parse_bytes_reads_sizes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", [t for t in GOOD if t[-1] not in "kmgt"])
def test_parse_bytes_agrees_with_jupyterhub(text):
    # JupyterHub takes upper-case suffixes only, and plain numbers only as ints.
    value = text if text[-1].isalpha() else int(text)
    assert parse_bytes(text) == Limits(mem=value).mem


@pytest.mark.parametrize("text", BAD)
def test_parse_bytes_refuses_anything_else(text):
    with pytest.raises(ValueError, match="is not a memory size"):
        parse_bytes(text)


@pytest.mark.parametrize("value", [2 * GIB, 2.0, None, b"2G", True])
def test_parse_bytes_wants_a_string(value):
    with pytest.raises(TypeError, match="a memory size is a string"):
        parse_bytes(value)


def validate_pattern():
    """The pattern roles/hub validates sizes with (vars/main.yml __hub_size_pattern, a fullmatch)."""
    role_vars = yaml.safe_load((ROOT / "roles/hub/vars/main.yml").read_text(encoding="utf-8"))
    tasks = (ROOT / "roles/hub/tasks/validate.yml").read_text(encoding="utf-8")
    for name in ("hub_mem_limit", "hub_home_quota", "hub_home_reserve"):
        assert f"{name} | string is regex(__hub_size_pattern, match_type='fullmatch')" in tasks
    return role_vars["__hub_size_pattern"]


def test_the_role_and_both_helpers_validate_with_the_same_pattern():
    assert validate_pattern() == SIZE_PATTERN == cfps_home_storage.SIZE_PATTERN
    assert cfps_home_storage.UNITS == UNITS


@pytest.mark.parametrize("text", [*GOOD, *BAD])
def test_the_role_accepts_exactly_what_the_helper_accepts(text):
    try:
        parse_bytes(text)
        parsed = True
    except ValueError:
        parsed = False
    assert (re.fullmatch(validate_pattern(), text) is not None) == parsed


def test_configured_limit_wins():
    assert active_server_limit(7, "2G", mem_total_bytes=GIB) == 7


@pytest.mark.parametrize(
    ("total", "mem", "limit"),
    [
        (16 * GIB, "2G", 8),
        (16 * GIB - 1, "2G", 7),
        (16 * GIB, "2g", 8),
        (16 * GIB, "1536M", 10),
        (GIB, "2G", 1),
        (0, "2G", 1),
    ],
)
def test_zero_divides_the_host_memory(total, mem, limit):
    assert active_server_limit(0, mem, mem_total_bytes=total) == limit


def test_zero_reads_this_host_memory():
    total = meminfo_bytes()
    assert active_server_limit(0, "1G") == max(1, total // GIB)
    assert active_server_limit(0, "1") == total


@pytest.mark.parametrize("configured", [-1, 1.5, "0", None, True])
def test_a_bad_configured_limit_is_refused(configured):
    with pytest.raises(ValueError, match="active server limit"):
        active_server_limit(configured, "2G", mem_total_bytes=GIB)


def test_a_bad_memory_limit_is_refused_even_with_a_configured_limit():
    with pytest.raises(ValueError, match="is not a memory size"):
        active_server_limit(4, "2GB")


@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="Linux only")
def test_host_memory_is_the_kernel_total():
    assert host_memory_bytes() == meminfo_bytes("/proc/meminfo") > 0


def test_meminfo_file(tmp_path):
    path = tmp_path / "meminfo"
    path.write_text("MemFree:  100 kB\nMemTotal:       16384 kB\n", encoding="ascii")
    assert meminfo_bytes(str(path)) == 16384 * 1024
    path.write_text("MemFree:  100 kB\n", encoding="ascii")
    with pytest.raises(ValueError, match="no MemTotal"):
        meminfo_bytes(str(path))
