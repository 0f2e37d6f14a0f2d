"""Playbook runs from a Molecule verifier: against the scenario's instance, with
the same connection as the tests (molecule/conftest.py), and what they reported."""

import json
import os
import re
import subprocess

import yaml

from conftest import INSTANCE, ROOT, SCENARIO_DIR


def run_playbook(playbook, *args, extra_vars=None, inventory=None):
    """Run a playbook against the instance; return the CompletedProcess.

    The inventory is the bare instance unless one is given (Molecule's own,
    with the instance in the cfps_hub group, for playbooks that target it).
    """
    cmd = [
        "ansible-playbook",
        "-i",
        inventory or f"{INSTANCE},",
        "-c",
        "community.docker.docker",
        str(playbook),
        *args,
    ]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(ROOT / "roles"), ANSIBLE_FORCE_COLOR="0")
    # Failures go to stderr: fold both streams so a test reads one output.
    return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)


def recap(result):
    """The PLAY RECAP counters for the instance, as a dict of ints."""
    match = re.search(rf"^{re.escape(INSTANCE)}\s*:\s*(.*)$", result.stdout, re.M)
    assert match, f"no play recap in output:\n{result.stdout[-3000:]}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def flat(text):
    """Output with all white space folded, so wrapped messages still match."""
    return " ".join(text.split())


def refused(result):
    """A playbook run that failed before any change; returns its output, white space folded."""
    assert result.returncode != 0, result.stdout[-3000:]
    assert recap(result)["changed"] == 0, result.stdout[-5000:]
    return flat(result.stdout)


def assert_check_mode_clean(inventory=None):
    """`--check --diff` of the scenario's converge on the converged instance changes nothing."""
    result = run_playbook(SCENARIO_DIR / "converge.yml", "--check", "--diff", inventory=inventory)
    counts = recap(result)
    assert result.returncode == 0, result.stdout[-3000:]
    assert counts["changed"] == 0, f"check mode reports changes:\n{result.stdout[-5000:]}"
    assert counts["failed"] == 0


def role_playbook(tmp_path, role, vars_files=(), gather_facts=False, **play_vars):
    """A playbook with only `role`, the given vars files and variables at play level (like an
    inventory's): a check that refuses does so in seconds, not after every role a converge runs first."""
    play = {"name": f"{role} only", "hosts": "all", "gather_facts": gather_facts, "roles": [role], "vars": play_vars}
    if vars_files:
        play["vars_files"] = [str(path) for path in vars_files]
    path = tmp_path / f"{role}-only.yml"
    path.write_text(yaml.safe_dump([play]))
    return path
