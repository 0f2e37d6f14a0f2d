"""Verify the frontend role: the site built on the host with Debian's Node.js,
published in versioned releases behind an atomic `current` symlink, rebuilt
only when the sources change, kept when a build fails, and the dev profile's
Vite server as a hardened unit."""

import re
import shutil

import pytest

from conftest import ROOT, SCENARIO_DIR, assert_exposure
from playbook import assert_check_mode_clean, flat, recap, refused, run_playbook

SITE = "/var/www/cfps-hub"
CURRENT = f"{SITE}/current"
RELEASES = f"{SITE}/releases"
CONVERGE = SCENARIO_DIR / "converge.yml"
# The frontend role alone (common already ran): for the extra runs below.
FRONTEND = SCENARIO_DIR / "frontend-only.yml"
APP = ROOT / "app" / "frontend"


def releases(host):
    out = host.check_output(f"find {RELEASES} -mindepth 1 -maxdepth 1 -printf '%f %T@\\n' | sort")
    return dict(line.split() for line in out.splitlines())


def live(host):
    return host.check_output(f"readlink {CURRENT}")


def task_ran(result, name):
    """True when the task's block in the output reports ok/changed/failed (not skipping)."""
    block = result.stdout.split(f"TASK [frontend : {name}]", 1)
    if len(block) < 2:
        return False
    body = block[1].split("\nTASK [", 1)[0]
    return re.search(r"^\s*(ok|changed|fatal|failed):", body, re.M) is not None


def source_copy(tmp_path, edit=None):
    """A copy of app/frontend (no node_modules, dist) with one file changed."""
    dest = tmp_path / "frontend"
    shutil.copytree(APP, dest, ignore=shutil.ignore_patterns("node_modules", "dist", ".vite"))
    if edit:
        path, text = edit
        with (dest / path).open("a") as fh:
            fh.write(text)
    return dest


XML_NAMESPACES = {"http://www.w3.org/2000/svg"}


def test_site_published_under_current(host):
    target = live(host)
    assert re.fullmatch(r"releases/[0-9a-f]{16}", target), target
    assert host.file(CURRENT).is_symlink
    for page in ("index.html", "login/index.html", "register/index.html", "password/index.html"):
        f = host.file(f"{CURRENT}/{page}")
        assert f.is_file and f.user == "root" and f.mode == 0o644, page
    assert "CFPS" in host.file(f"{CURRENT}/index.html").content_string
    assets = host.check_output(f"ls {CURRENT}/assets")
    assert ".js" in assets and ".css" in assets


def test_built_files_reference_no_third_party_host(host):
    found = host.run(f"grep -rhoE 'https?://[^\"'\"'\"' )<>]+' {CURRENT}/").stdout.split()
    # XML namespace names (the favicon's xmlns) are identifiers, never fetched.
    found = [url for url in found if url not in XML_NAMESPACES]
    assert found == [], found


def test_built_with_debian_node_as_the_build_user(host):
    assert host.package("nodejs").is_installed and host.package("npm").is_installed
    if host.system_info.codename == "bookworm":
        assert host.check_output("node --version").startswith("v18.")
    user = host.user("cfps-frontend")
    assert user.shell == "/usr/sbin/nologin" and user.home == "/var/lib/cfps-frontend"
    # node_modules was written by npm ci running as the build user, not root.
    assert host.file("/var/lib/cfps-frontend/src/node_modules").user == "cfps-frontend"
    npmrc = host.file("/var/lib/cfps-frontend/.npmrc").content_string
    assert "cafile=/etc/ssl/certs/ca-certificates.crt" in npmrc
    # prod profile: no dev server.
    assert not host.file("/etc/systemd/system/cfps-frontend.service").exists


def test_second_converge_does_not_rebuild(host):
    before, target = releases(host), live(host)
    index_mtime = host.file(f"{CURRENT}/index.html").mtime
    result = run_playbook(CONVERGE)
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result)["changed"] == 0
    assert not task_ran(result, "build | Build the site (npm run build)")
    assert releases(host) == before
    assert live(host) == target
    assert host.file(f"{CURRENT}/index.html").mtime == index_mtime


def test_check_mode_reports_no_changes():
    assert_check_mode_clean()


def test_failing_build_keeps_the_live_site(host, tmp_path):
    before, target = releases(host), live(host)
    index = host.file(f"{CURRENT}/index.html").content_string
    # A type error: `tsc --noEmit` in `npm run build` fails.
    broken = source_copy(tmp_path, ("src/page.ts", "\nexport const broken: number = 'not a number';\n"))
    result = run_playbook(FRONTEND, extra_vars={"frontend_src_dir": str(broken)})
    assert result.returncode != 0
    out = flat(result.stdout)
    assert "still serves the previous release" in out
    assert "TS2322" in out or "error TS" in out, "the compiler's message is shown"
    assert live(host) == target
    assert releases(host) == before
    assert host.file(f"{CURRENT}/index.html").content_string == index
    # Back to the good sources: that release exists, so nothing is rebuilt.
    result = run_playbook(FRONTEND)
    assert result.returncode == 0, result.stdout[-3000:]
    assert not task_ran(result, "build | Build the site (npm run build)")
    assert live(host) == target
    assert releases(host) == before


def test_new_sources_make_a_new_release_and_old_ones_are_pruned(host, tmp_path):
    first = live(host)
    changed = source_copy(tmp_path, ("index.html", "\n<!-- release two -->\n"))
    result = run_playbook(FRONTEND, extra_vars={"frontend_src_dir": str(changed), "frontend_releases_keep": 1})
    assert result.returncode == 0, result.stdout[-3000:]
    second = live(host)
    assert second != first
    assert "release two" in host.file(f"{CURRENT}/index.html").content_string
    # keep 1: only the live release is left.
    assert list(releases(host)) == [second.split("/")[1]]
    # Back to the original sources: built again (it was pruned) and live again.
    result = run_playbook(FRONTEND)
    assert result.returncode == 0, result.stdout[-3000:]
    assert live(host) == first
    assert set(releases(host)) == {first.split("/")[1], second.split("/")[1]}


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"frontend_app_profile": "staging"}, "frontend_app_profile"),
        ({"frontend_releases_keep": 0}, "frontend_releases_keep must be 1 or more"),
        ({"frontend_src_dir": "/nonexistent"}, "frontend_src_dir must be a folder with package.json"),
    ],
)
def test_bad_values_are_refused_before_any_change(host, extra, needle):
    target = live(host)
    result = run_playbook(FRONTEND, extra_vars=extra)
    assert needle in refused(result)
    assert live(host) == target


@pytest.fixture
def dev_profile(host):
    result = run_playbook(FRONTEND, extra_vars={"frontend_app_profile": "dev"})
    assert result.returncode == 0, result.stdout[-3000:]
    yield result
    result = run_playbook(FRONTEND)
    assert result.returncode == 0, result.stdout[-3000:]


def test_dev_profile_runs_the_dev_server(host, dev_profile):
    service = host.service("cfps-frontend")
    assert service.is_running and service.is_enabled
    assert host.socket("tcp://127.0.0.1:3000").is_listening
    assert not host.socket("tcp://0.0.0.0:3000").is_listening
    page = host.check_output("curl -sS --max-time 20 http://127.0.0.1:3000/login")
    assert "login" in page and "/src/login.ts" in page
    assert "landing.heading" in host.check_output("curl -sS --max-time 20 http://127.0.0.1:3000/")
    # Runs as its own user with the sandbox on.
    pid = host.check_output("systemctl show -p MainPID --value cfps-frontend")
    assert host.check_output(f"stat -c %U /proc/{pid}") == "cfps-frontend"
    assert_exposure(host, "frontend", "cfps-frontend.service")
    # A second dev converge changes nothing; prod files are still published.
    again = run_playbook(FRONTEND, extra_vars={"frontend_app_profile": "dev"})
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-3000:]
    assert host.file(f"{CURRENT}/index.html").is_file


def test_prod_profile_stops_and_disables_the_dev_server(host, dev_profile):
    # From a running dev server (the fixture), back to prod.
    result = run_playbook(FRONTEND)
    assert result.returncode == 0, result.stdout[-3000:]
    service = host.service("cfps-frontend")
    assert not service.is_running
    assert not service.is_enabled
    assert not host.file("/etc/systemd/system/cfps-frontend.service").exists
    assert not host.socket("tcp://127.0.0.1:3000").is_listening
    assert host.file(f"{CURRENT}/login/index.html").is_file
