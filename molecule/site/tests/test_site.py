"""The whole platform in one instance, driven by a real headless Chromium.

A researcher's first day: landing page -> register with the invite code -> log
in -> JupyterLab -> a notebook that runs sql() on the sample database and saves
a file in the home. Then the instance reboots, the researcher logs in again,
the file is still there and the platform still answers.

Chromium runs on this controller (Debian's package, driven by Playwright) and
reaches the instance's nginx (port 443, self-signed) as
https://hub.example.test:18443, the way a port forward presents it.
"""

import base64
import os
import re
import secrets
import select
import shlex
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect, sync_playwright

from conftest import ROOT, instance_ip, reboot, tcp_open
from playbook import assert_check_mode_clean

DOMAIN = "hub.example.test"
# Browsed on a port other than 443, as the local demo and any port forward are
# (app_public_url in converge.yml): the notebook servers compare the websocket's
# Origin with the Host nginx forwards, so a dropped port kills every kernel.
PUBLIC_PORT = 18443
ORIGIN = f"https://{DOMAIN}:{PUBLIC_PORT}"
# The site's login page as the hub's OAuth redirect opens it.
LOGIN_PAGE = re.compile(rf"^{re.escape(ORIGIN)}/login/?\?.*client_id=")
INVITE = "site-test-invite-2026"  # backend_invite_codes in converge.yml
# A new researcher each run (4-16 of a-z, 0-9, _), so a re-run of verify on the
# same instance starts from a fresh account and home.
USER = f"journey_{secrets.token_hex(3)}"
PASSWORD = "Panel-survey-2026!"
LAB = f"{ORIGIN}/jupyter/user/{USER}/lab"
NOTEBOOK = "Untitled.ipynb"
BACKEND_CLI = "/opt/cfps-backend/venv/bin/cfps-backend"
CHECK_TOKEN = "site-test-check-token-2026-0123456789abcdef"  # hub_api_services in converge.yml
NEWS_PLUGIN = "@jupyterlab/apputils-extension:notification"
# Long enough for a first spawn and a kernel that preloads pandas on a busy machine.
STEP_TIMEOUT_MS = 180_000

expect.set_options(timeout=STEP_TIMEOUT_MS)

CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# The browser, in a network namespace of its own (see chromium_netns.py).
CHROMIUM = Path(__file__).with_name("chromium_netns.py")


class _Relay(socketserver.BaseRequestHandler):
    def handle(self):
        with socket.create_connection(self.server.target) as upstream:
            ends = {self.request: upstream, upstream: self.request}
            while True:
                readable, _, _ = select.select(list(ends), [], [])
                for end in readable:
                    data = end.recv(65536)
                    if not data:
                        return
                    ends[end].sendall(data)


@contextmanager
def relay_socket(ip, port):
    """A unix socket whose connections are relayed to ip:port; Chromium's namespace reaches it."""
    with tempfile.TemporaryDirectory() as tmp:
        server = socketserver.ThreadingUnixStreamServer(f"{tmp}/relay.sock", _Relay)
        server.daemon_threads = True
        server.target = (ip, port)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address
        finally:
            server.shutdown()
            server.server_close()


@contextmanager
def browser_page(ip, site_only=False):
    """A fresh browser (no cookies) whose DOMAIN:PUBLIC_PORT leads to the instance's 443.

    site_only: no other host name resolves (a campus network without outside access).
    """
    with relay_socket(ip, 443) as relay, sync_playwright() as pw:
        # In Chromium's namespace, DOMAIN:PUBLIC_PORT is 127.0.0.1:PUBLIC_PORT, relayed to the instance's 443.
        rules = f"MAP {DOMAIN} 127.0.0.1" + (", MAP * ~NOTFOUND" if site_only else "")
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules={rules}"],
            env={**os.environ, "CFPS_RELAY_SOCKET": relay, "CFPS_RELAY_PORT": str(PUBLIC_PORT)},
        )
        context = browser.new_context(ignore_https_errors=True, locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        problems = []
        # Our own pages (not JupyterLab's) must load without a console error:
        # this is where a wrong CSP in the real nginx vhost would show.
        page.on(
            "console",
            lambda m: m.type == "error" and "/jupyter/" not in page.url and problems.append(f"{page.url}: {m.text}"),
        )
        page.on("pageerror", lambda e: "/jupyter/" not in page.url and problems.append(f"{page.url}: {e}"))
        try:
            yield page, problems
        except BaseException:
            # What the browser showed when a step failed, for the log reader.
            shot = Path(tempfile.gettempdir()) / f"cfps-site-failure-{int(time.time())}.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failed step: {shot}")
            raise
        finally:
            browser.close()


def sample_count(host):
    """The number of persons the sample database holds, read as root on the host."""
    return int(host.check_output("mysql -N -B -e 'SELECT COUNT(*) FROM cfps.person_2018'"))


def submit(page, form, **fields):
    """Fill the site's form #<form>-form and send it: the auth service's answer to /api/<form>."""
    for name, value in fields.items():
        page.fill(f"#{name}", value)
    with page.expect_response(lambda r: r.url == f"{ORIGIN}/api/{form}") as answer:
        page.click(f"#{form}-form button[type=submit]")
    return answer.value


def log_in(page, user=USER, password=PASSWORD):
    """On the site's /login page (reached through the hub's OAuth redirect)."""
    page.wait_for_url(LOGIN_PAGE)
    submit(page, "login", username=user, password=password)
    page.wait_for_url(re.compile(rf"^{re.escape(ORIGIN)}/jupyter/user/{user}/lab"))


def register(page, user, password=PASSWORD):
    """Through the site's /register page; ends on /login, where the hub sent the new user."""
    if page.url != f"{ORIGIN}/register/":
        page.goto(f"{ORIGIN}/register/")
    answer = submit(page, "register", username=user, password=password, invite_code=INVITE)
    assert answer.status == 201, answer.text()
    page.wait_for_url(LOGIN_PAGE)


# A GET from inside the page, as JupyterLab makes it: the page's cookies, the
# XSRF header the notebook server asks of cookie-authenticated fetches, and
# Chromium's own resolver. A redirect is not followed (status 0).
FETCH_JSON = """async (url) => {
  const xsrf = document.cookie.match(/(?:^|;\\s*)_xsrf=([^;]+)/);
  const r = await fetch(url, {redirect: 'manual', headers: xsrf ? {'X-XSRFToken': xsrf[1]} : {}});
  return [r.status, r.status === 200 ? await r.json() : null];
}"""


def fetch_json(page, url):
    """(status, JSON body or None) of a GET from inside the page."""
    return tuple(page.evaluate(FETCH_JSON, url))


def fetch_status(page, url):
    return fetch_json(page, url)[0]


def backend_cli(host, *args):
    """The operator's `cfps-backend` on the host, as its README shows it."""
    return host.run(f"runuser -u cfps-backend -- {BACKEND_CLI} --config /etc/cfps-backend/config.toml {' '.join(args)}")


KERNEL_IDLE = re.compile(r"Python 3 \(ipykernel\) \| (Idle|空闲)")


def new_notebook_run(page, code):
    """Open a new notebook from the launcher, run one cell, return its output locator."""
    # The card of the launcher's notebook section (its category name is translated).
    page.locator('.jp-Launcher-section:has([data-icon="ui-components:notebook"]) .jp-LauncherCard').first.click()
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    # Ready for a run once the status bar names the new notebook's kernel as
    # idle: it is attached. The toolbar's idle indicator shows before that,
    # and a run pressed then is dropped (4 of 6 new notebooks on the demo; 0
    # of 14 after the status bar's word).
    expect(page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE)).to_have_count(1)
    cell = panel.locator(".jp-Cell").first
    editor = cell.locator(".cm-content")
    editor.fill(code)  # one input event: no auto-closed brackets
    expect(editor).to_have_text(code)
    editor.press("Control+Enter")
    expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[[0-9*]+\]"))
    expect(editor).to_have_text(code)
    return cell.locator(".jp-OutputArea-output")


def notebook_container(user=USER):
    # DockerSpawner escapes the name: journey_01 -> jupyter-journey-5f01.
    return "jupyter-" + "".join(c if c.isalnum() else f"-{ord(c):02x}" for c in user)


def test_only_web_ports_answer_from_outside(host):
    ip = instance_ip(host)
    assert tcp_open(ip, 443) and tcp_open(ip, 80)
    # Hub API, MySQL, the proxy and the auth service stay inside the host.
    for port in (8081, 3306, 8000, 8100):
        assert not tcp_open(ip, port), f"port {port} reachable from outside the host"


def test_journey_from_landing_page_to_a_query_result(host):
    expected = sample_count(host)
    assert expected > 0
    code = (
        'n = int(sql("SELECT COUNT(*) AS n FROM person_2018").iloc[0, 0]); '
        'open("journey.txt", "w").write(f"persons={n}\\n"); '
        'print(f"persons={n}")'
    )
    with browser_page(instance_ip(host)) as (page, problems):
        page.goto(f"{ORIGIN}/")
        expect(page.locator("#open-hub")).to_be_visible()
        page.click('main a[href="/register/"]')
        page.wait_for_url(f"{ORIGIN}/register/")
        # Registered, the site sends the new user through the hub's OAuth login.
        register(page, USER)
        log_in(page)
        assert not problems, problems
        # Offline campus networks: JupyterLab neither asks to fetch Jupyter news
        # nor checks PyPI for updates (the server's effective settings).
        # (overrides.json becomes the schema's defaults; a new user has no own value.)
        status, plugin = fetch_json(page, f"{LAB}/api/settings/{NEWS_PLUGIN}")
        assert status == 200, plugin
        effective = {k: plugin["settings"].get(k, v.get("default")) for k, v in plugin["schema"]["properties"].items()}
        assert effective["fetchNews"] == "false"
        assert effective["checkForUpdates"] is False

        output = new_notebook_run(page, code)
        expect(output).to_contain_text(f"persons={expected}")

        # Save the notebook (accepting the name if JupyterLab asks for one).
        page.keyboard.press("Control+s")
        dialog = page.locator(".jp-Dialog")
        try:
            dialog.wait_for(timeout=3_000)
            page.keyboard.press("Enter")
        except PlaywrightTimeoutError:
            pass
        expect(page.locator(".jp-DirListing-item", has_text=NOTEBOOK)).to_be_visible()
        expect(page.locator(".jp-mod-dirty")).to_have_count(0)

    # The files really are in the user's home, in the container.
    name = notebook_container()
    assert host.run(f"docker exec {name} cat /home/jovyan/journey.txt").stdout == f"persons={expected}\n"
    # The saved notebook holds the cell's output.
    assert host.run(f"docker exec {name} grep -q 'persons={expected}' /home/jovyan/{NOTEBOOK}").rc == 0


def test_reboot_then_log_in_again_and_the_files_are_there(host):
    # A researcher of its own, with a file in the home, whatever ran before.
    user = f"reboot_{secrets.token_hex(3)}"
    expected = sample_count(host)
    with browser_page(instance_ip(host)) as (page, _):
        register(page, user)
        log_in(page, user)
    host.run_expect([0], f"docker exec {notebook_container(user)} sh -c 'echo before-reboot > /home/jovyan/kept.txt'")

    reboot(host)
    # Every unit came back by itself, none failed.
    host.run_expect(
        [0],
        f"for i in $(seq 1 120); do curl -skf --resolve {DOMAIN}:443:127.0.0.1 "
        f"https://{DOMAIN}/jupyter/hub/health && exit 0; sleep 1; done; exit 1",
    )
    assert host.check_output("systemctl --failed --no-legend --plain") == ""

    with browser_page(instance_ip(host)) as (page, problems):
        page.goto(f"{ORIGIN}/")
        page.click("#open-hub")
        log_in(page, user)
        assert not problems, problems
        page.goto(f"{ORIGIN}/jupyter/user/{user}/lab?reset")
        expect(page.locator(".jp-DirListing-item", has_text="kept.txt")).to_be_visible()
        output = new_notebook_run(
            page,
            'print(open("kept.txt").read().strip(), int(sql("SELECT COUNT(*) FROM person_2018").iloc[0, 0]))',
        )
        expect(output).to_contain_text(f"before-reboot {expected}")
    # The home came back at boot as the filesystem of its own (hub_home_quota 256M
    # here), so the quota still holds: writing past it fails.
    container = notebook_container(user)
    assert host.run(f"mountpoint -q /srv/cfps/homes/{container.removeprefix('jupyter-')}").rc == 0
    out = host.run(f"docker exec {container} sh -c 'head -c 300M /dev/zero 2>&1 >/home/jovyan/big.bin'")
    try:
        assert "No space left on device" in out.stdout
        # A full home harms nobody else: the auth service, the hub and MariaDB answer.
        for path in ("/api/health", "/jupyter/hub/health"):
            host.run_expect([0], f"curl -skf --resolve {DOMAIN}:443:127.0.0.1 https://{DOMAIN}{path}")
        assert sample_count(host) == expected
    finally:
        host.run(f"docker exec {container} rm -f /home/jovyan/big.bin")


def test_disabling_a_researcher_ends_the_open_lab_and_stops_the_server(host):
    user = f"gone_{secrets.token_hex(3)}"
    status_url = f"{ORIGIN}/jupyter/user/{user}/api/status"
    with browser_page(instance_ip(host)) as (page, _):
        register(page, user)
        log_in(page, user)
        assert fetch_status(page, status_url) == 200
        assert notebook_container(user) in host.check_output("docker ps --format '{{.Names}}'").split()

        result = backend_cli(host, "user", "disable", user)
        assert result.rc == 0, result.stdout + result.stderr
        assert "JupyterHub session is ended" in result.stdout
        # Within 30 s (the hub answers once the server has stopped, so at once here).
        deadline = time.monotonic() + 30
        while notebook_container(user) in host.check_output("docker ps --format '{{.Names}}'").split():
            assert time.monotonic() < deadline, "the disabled user's server still runs after 30 s"
            time.sleep(1)
        # The open tab's cookies no longer reach a server, and a new login is refused.
        assert fetch_status(page, status_url) != 200
        page.goto(f"{ORIGIN}/jupyter/hub/login")
        page.wait_for_url(LOGIN_PAGE)
        assert submit(page, "login", username=user, password=PASSWORD).status == 403


def test_a_researcher_changes_the_password_in_the_browser(host):
    user = f"chpw_{secrets.token_hex(3)}"
    new_password = "Family-Panel-2010-2022"
    with browser_page(instance_ip(host)) as (page, problems):
        register(page, user)
        page.goto(f"{ORIGIN}/password/")
        answer = submit(page, "password", username=user, password=PASSWORD, new_password=new_password)
        assert answer.status == 200, answer.text()
        expect(page.locator("[data-form-status]")).to_contain_text("密码已修改")
        # The old password fails, the new one opens JupyterLab.
        page.goto(f"{ORIGIN}/jupyter/hub/login")
        page.wait_for_url(LOGIN_PAGE)
        assert submit(page, "login", username=user, password=PASSWORD).status == 401
        expect(page.locator("#password-error")).to_have_text("用户名或密码错误。")
        log_in(page, user, new_password)
        assert not [p for p in problems if "401" not in p], problems


def test_public_url_check_of_scripts_up_runs_a_cell(host, tmp_path):
    # The end check of scripts/up, against this site: through the public URL
    # (port included) the check account logs in, and a cookie-authenticated
    # kernel websocket with the browser's Origin runs sql().
    files = {"token": CHECK_TOKEN, "invite": INVITE}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/check_url.py"),
            ORIGIN,
            f"--connect={instance_ip(host)}:443",
            f"--token-file={tmp_path / 'token'}",
            f"--invite-file={tmp_path / 'invite'}",
            # Kept for the instance's life, so a second verify logs in again.
            f"--password-file={Path(os.environ['MOLECULE_EPHEMERAL_DIRECTORY']) / 'check_password.txt'}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"sql() counted {sample_count(host)} persons" in result.stdout
    # The check account's server is stopped again.
    assert notebook_container("cfps_check") not in host.check_output("docker ps -a --format '{{.Names}}'").split()


# Share of a PNG's pixels that are not (near) white, decoded by the page itself.
# A chart that did not draw is all white (0); a three-word cloud is about 0.2 %.
INK = """async (b64) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.width;
  c.height = img.height;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) ink++;
  }
  return ink / (d.length / 4);
}"""
GALLERY = sorted((ROOT / "app/notebook/examples").glob("gallery-*.ipynb"))
# The notebooks with the add-ons and the map: each must draw in the browser.
BROWSER_GALLERY = [
    nb.name for nb in GALLERY if any(k in nb.read_text() for k in ("Map(", "Bar3D(", "WordCloud(", "Liquid("))
]


@pytest.fixture(scope="module")
def gallery_user(host):
    """A researcher of these tests, registered (each test logs in: its server runs then)."""
    user = f"charts_{secrets.token_hex(3)}"
    with browser_page(instance_ip(host)) as (page, _):
        register(page, user)
    return user


def test_every_gallery_notebook_runs_top_to_bottom_in_a_researchers_container(host, gallery_user):
    assert len(GALLERY) >= 12
    with browser_page(instance_ip(host)) as (page, _):
        page.goto(f"{ORIGIN}/jupyter/hub/login")
        log_in(page, gallery_user)
    container = notebook_container(gallery_user)
    # nbclient (jupyter execute), in the user's own container: its database
    # account, its firewall, its memory limit, the kernel's startup preload.
    for notebook in GALLERY:
        result = host.run(f"docker exec -w /home/jovyan/examples {container} jupyter execute {notebook.name}")
        assert result.rc == 0, f"{notebook.name}:\n{result.stderr[-3000:]}"


def test_imported_stata_data_with_labels_in_a_researchers_container(host, gallery_user):
    """The synthetic wave converge imported: sql() reads it, label() turns a code into its Chinese label."""
    with browser_page(instance_ip(host)) as (page, _):
        page.goto(f"{ORIGIN}/jupyter/hub/login")
        log_in(page, gallery_user)
    code = (
        "from cfps_dvapis import label, sql, variables\n"
        "df = sql('SELECT pid, q0001 FROM adult_2010 WHERE q0001 = -8 ORDER BY pid LIMIT 1')\n"
        "print(sql('SELECT COUNT(*) AS n FROM adult_2010').n[0], label(df, 'adult_2010').q0001[0],"
        " variables('adult_2010').label[0])"
    )
    result = host.run(f"docker exec {notebook_container(gallery_user)} python -c {shlex.quote(code)}")
    assert result.rc == 0, result.stderr
    # 1 % of the manual's 33,600 adults; -8 is 不适用; pid's label is 个人编码.
    assert result.stdout_bytes.decode("utf-8").split() == ["336", "不适用", "个人编码"]


def test_gallery_charts_draw_offline_map_included(host, gallery_user):
    """Saved gallery notebooks draw their pyecharts charts with every host but the site unreachable."""
    assert any("Map(" in (ROOT / "app/notebook/examples" / nb).read_text() for nb in BROWSER_GALLERY)
    requests = []
    with browser_page(instance_ip(host), site_only=True) as (page, _):
        page.context.on("request", lambda r: requests.append(r.url))
        page.goto(f"{ORIGIN}/jupyter/hub/login")
        log_in(page, gallery_user)
        for notebook in BROWSER_GALLERY:
            # Run in the researcher's own kernel and saved, as after a session;
            # trusted as the server trusts what its user saves. Opening it must
            # draw every chart again, in this browser, from the platform alone.
            host.run_expect(
                [0],
                f"docker exec -w /home/jovyan/examples {notebook_container(gallery_user)} "
                f"sh -c 'jupyter execute --inplace {notebook} && jupyter trust {notebook}'",
            )
            page.goto(f"{ORIGIN}/jupyter/user/{gallery_user}/lab/tree/examples/{notebook}?reset")
            panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            charts = panel.locator(".jp-OutputArea-output .cfps-echarts .chart-container")
            expect(charts.first).to_be_visible()
            for i in range(charts.count()):
                chart = charts.nth(i)
                chart.scroll_into_view_if_needed()
                # The chart's own canvas (or SVG) exists and has pixels on it.
                expect(chart.locator("canvas, svg").first).to_be_attached()
                png = chart.screenshot(animations="disabled")
                ink = page.evaluate(INK, base64.b64encode(png).decode())
                assert ink > 0.001, f"{notebook}: chart {i + 1} is blank ({ink:.2%} drawn)"
            assert panel.locator(".cfps-echarts-error").count() == 0, notebook
    outside = [u for u in requests if not u.startswith((ORIGIN + "/", "data:", "blob:"))]
    assert not outside, outside
    assert any("/static/cfps-echarts/maps/china.js" in u for u in requests)


def test_memory_in_the_status_bar_and_a_cell_killed_for_memory_says_so(host):
    user = f"memory_{secrets.token_hex(3)}"
    with browser_page(instance_ip(host)) as (page, _):
        register(page, user)
        log_in(page, user)
        # jupyter-resource-usage: used against the container's limit (hub_mem_limit 1G).
        usage = page.locator(".jp-StatusBar-Widget", has_text="Mem:")
        # (The figure is padded: "Mem:  147.45 / 1024.00 MB".)
        expect(usage).to_contain_text(re.compile(r"Mem:\s+[0-9.]+ / 1024\.00 MB"))
        shot = Path(tempfile.gettempdir()) / "cfps-site-memory-indicator.png"
        page.screenshot(path=str(shot))
        print(f"memory indicator: {usage.inner_text()!r} (screenshot {shot})")
        # 128 MiB blocks until the container limit: the OOM killer ends the kernel.
        output = new_notebook_run(page, "blocks = [np.ones(2**24) for _ in range(10**6)]")
        expect(output).to_contain_text("内核因内存不足被系统终止")
        expect(output).to_contain_text("memory limit (1.0 GiB)")
        expect(output).to_contain_text("run the cells again")


def test_whole_site_is_check_mode_clean():
    assert_check_mode_clean(inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.mark.parametrize("unit", ["nginx", "cfps-backend", "jupyterhub", "jupyterhub-proxy", "mariadb", "docker"])
def test_services_enabled_and_running_after_reboot(host, unit):
    svc = host.service(unit)
    assert svc.is_enabled and svc.is_running, unit
