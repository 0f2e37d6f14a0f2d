"""Verify the common role: OS preflight, CA trust, packages, locales."""

import glob
import os
from contextlib import contextmanager
from pathlib import Path

from conftest import ROOT
from playbook import assert_check_mode_clean, flat, recap, refused, run_playbook

MACHINE_CAS = sorted(glob.glob("/usr/local/share/ca-certificates/*.crt"))


def test_base_packages_installed(host):
    for pkg in ("acl", "ca-certificates", "curl", "locales", "python3-apt"):
        assert host.package(pkg).is_installed, pkg


def test_zh_cn_locale_generated(host):
    locales = host.check_output("locale -a").lower()
    assert "zh_cn.utf8" in locales
    assert "en_us.utf8" in locales


def test_extra_ca_certificates_trusted(host):
    assert MACHINE_CAS, "the test machine has no extra CA to pass in"
    bundle = host.file("/etc/ssl/certs/ca-certificates.crt").content_string
    for path in MACHINE_CAS:
        name = os.path.basename(path)
        installed = host.file(f"/usr/local/share/ca-certificates/cfps-hub/{name}")
        assert installed.exists and installed.mode == 0o644
        pem = Path(path).read_text().strip().splitlines()
        # The certificate body is in the system bundle that TLS clients read.
        assert pem[1] in bundle


def test_https_through_the_machine_proxy_verifies(host):
    # Real proof that the trust store works: an HTTPS download through the
    # test machine's TLS-inspecting proxy, with certificate verification on.
    result = host.run("curl -sS --max-time 30 -o /dev/null -w '%{http_code}' https://pypi.org/simple/pip/")
    assert result.rc == 0, result.stderr
    assert result.stdout == "200"


def test_empty_apt_lists_are_refreshed_whatever_their_age(host):
    # What a fresh cloud or debootstrap image looks like: no package index, in a
    # lists folder just touched (so its age alone says "fresh").
    host.run_expect([0], "find /var/lib/apt/lists -maxdepth 1 -type f -delete && touch /var/lib/apt/lists")
    assert not host.run("ls /var/lib/apt/lists/*_Packages*").succeeded
    try:
        # `hello` is in no list until apt is refreshed.
        result = run_playbook(ROOT / "molecule/common/converge.yml", extra_vars={"common_extra_packages": ["hello"]})
        assert result.returncode == 0, result.stdout[-3000:]
        assert host.package("hello").is_installed
        assert host.run("ls /var/lib/apt/lists/*_Packages*").succeeded
    finally:
        host.run("DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq hello")


def test_check_mode_reports_no_changes():
    assert_check_mode_clean()


@contextmanager
def fake_os_release(host, sed_expr):
    """Replace /etc/os-release (a link into /usr/lib) for one run, then restore the link."""
    host.run_expect(
        [0], f"sed {sed_expr} /usr/lib/os-release > /etc/os-release.cfps && mv -f /etc/os-release.cfps /etc/os-release"
    )
    try:
        yield
    finally:
        host.run_expect([0], "ln -sfn ../usr/lib/os-release /etc/os-release")


def test_unsupported_os_is_refused_before_any_change(host):
    # Pretend to be Debian 10 (buster); the preflight reads os-release with `raw`.
    with fake_os_release(host, "-e 's/^VERSION_ID=.*/VERSION_ID=\"10\"/'"):
        result = run_playbook(
            ROOT / "molecule/common/converge.yml",
            extra_vars={"common_extra_packages": ["sl"]},
        )
    counts = recap(result)
    assert result.returncode != 0
    assert counts["failed"] == 1 and counts["changed"] == 0
    assert "This host runs Debian 10 (buster), which reached end of life" in flat(result.stdout)
    # The extra package asked for in that run was never installed.
    assert not host.package("sl").is_installed
    assert host.file("/etc/os-release").is_symlink


def test_foreign_os_is_refused(host):
    with fake_os_release(host, "-e 's/^ID=.*/ID=ubuntu/' -e 's/^VERSION_ID=.*/VERSION_ID=\"24.04\"/'"):
        result = run_playbook(ROOT / "molecule/common/converge.yml")
    out = refused(result)
    assert "ID=ubuntu VERSION_ID=24.04" in out
    assert "supports Debian 11 (bullseye), 12 (bookworm) and 13 (trixie)" in out
