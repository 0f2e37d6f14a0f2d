"""Verify the notebook_image role: the image it built from scratch in the instance.

What a server started from it does (sql(), the examples, charts served offline
through the hub) is proven by the hub and site scenarios, which load this image.
"""

import glob
import re
import shlex
from pathlib import Path

from conftest import SCENARIO_DIR
from playbook import assert_check_mode_clean, recap, refused, role_playbook, run_playbook

IMAGE = "cfps-hub/notebook:current"
# The machine's CAs, as the converge passes them (molecule/resources/vars/test-host.yml).
TEST_HOST_VARS = SCENARIO_DIR / "../resources/vars/test-host.yml"
CAS = "{{ common_extra_ca_certificates }}"


def builds(host):
    """(tag, image id) of every cfps-hub/notebook image, newest first."""
    listing = host.check_output("docker images --format '{{.Tag}} {{.ID}}' cfps-hub/notebook")
    return [tuple(line.split()) for line in listing.splitlines()]


def in_image(host, *argv):
    """Run a command in a throw-away container of the image, with no network."""
    entrypoint, *args = argv
    return host.run(f"docker run --rm --network none --entrypoint {entrypoint} {IMAGE} {shlex.join(args)}")


def test_current_names_the_one_build(host):
    # The converge built once and the idempotence run built nothing.
    images = builds(host)
    digests = [tag for tag, _ in images if tag != "current"]
    assert len(digests) == 1, images
    assert re.fullmatch(r"[0-9a-f]{16}", digests[0])
    assert dict(images)["current"] == dict(images)[digests[0]]


def test_researchers_get_the_helper_and_offline_charts(host):
    code = "import os, cfps_dvapis, matplotlib, pandas, pyecharts; print(os.getuid(), os.getgid())"
    answer = in_image(host, "python3", "-c", code)
    assert answer.rc == 0, answer.stderr
    assert answer.stdout.split() == ["1000", "100"]
    # ECharts and the China map, served by each notebook server (no outside network).
    for name in ("echarts.min.js", "maps/china.js"):
        assert in_image(host, "test", "-s", f"/opt/cfps/static/cfps-echarts/{name}").rc == 0, name


def test_the_machines_cas_are_trusted_in_the_image(host):
    # The same files the converge passed, installed and in the bundle pip and requests use.
    bundle = in_image(host, "cat", "/etc/ssl/certs/ca-certificates.crt").stdout
    listed = in_image(host, "ls", "/usr/local/share/ca-certificates/cfps-hub").stdout.split()
    cas = sorted(glob.glob("/usr/local/share/ca-certificates/*.crt"))
    assert listed == [Path(path).name for path in cas]
    for path in cas:
        pem = Path(path).read_text()
        body = "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))
        assert body in "".join(bundle.splitlines()), path


def test_check_mode_reports_no_changes():
    assert_check_mode_clean()


def test_a_changed_input_would_build_again(host, tmp_path):
    # Check mode with another pip index: the new digest needs a build, and only
    # that is reported; nothing is built and :current stays where it was.
    before = builds(host)
    playbook = role_playbook(
        tmp_path,
        "notebook_image",
        [TEST_HOST_VARS],
        notebook_image_extra_ca_certificates=CAS,
        notebook_image_pip_index_url="https://pypi.org/simple/",
    )
    result = run_playbook(playbook, "--check")
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result)["changed"] == 1, result.stdout[-5000:]
    assert re.search(r"Build the notebook image when its inputs changed\]\s*\**\s*changed:", result.stdout)
    assert builds(host) == before


def test_a_name_without_a_tag_is_refused(host, tmp_path):
    before = builds(host)
    playbook = role_playbook(tmp_path, "notebook_image", notebook_image_name="cfps-hub/notebook")
    out = refused(run_playbook(playbook))
    assert (
        "notebook_image_name must be an image name with a tag, such as cfps-hub/notebook:current "
        "(got cfps-hub/notebook)" in out
    )
    assert builds(host) == before
