"""The test command runs every Molecule scenario, and CI runs the test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_scenario_is_run_by_the_test_command():
    script = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    listed = re.search(r"^ALL_SCENARIOS=\(([^)]*)\)", script, re.M).group(1).split()
    present = sorted(p.parent.name for p in ROOT.glob("molecule/*/molecule.yml"))
    assert sorted(listed) == present
    assert len(set(listed)) == len(listed)


def test_ci_runs_exactly_the_test_command():
    lines = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines[-1] == "exec scripts/test"


def test_scenarios_that_load_the_notebook_image_start_after_its_build():
    script = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    after = re.search(r'^AFTER_IMAGE=" ([^"]*) "$', script, re.M).group(1).split()
    loaders = [p.parent.name for p in ROOT.glob("molecule/*/converge.yml") if "cache_load.yml" in p.read_text()]
    assert sorted(after) == sorted(loaders)
    # The build saves what they load, and never loads an older save itself.
    converge = (ROOT / "molecule" / "notebook_image" / "converge.yml").read_text(encoding="utf-8")
    assert "cache_save.yml" in converge and "cache_load.yml" not in converge
