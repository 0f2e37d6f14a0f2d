#!/usr/bin/env python3
"""Researchers arriving at a CFPS Hub test host, each through the real public path.

    python3 benchmarks/load.py https://hub.localhost:8443 --users 50 --window 60 \\
        --invite-file inventories/local/credentials/invite_code.txt \\
        --password-file inventories/local/credentials/load_password.txt \\
        --docker-host cfps-hub-local

Every simulated researcher has a browser's cookie jar of their own and does
what the browser does, in order (the phases of the table):

  site      GET /                                   the landing page
  authorize GET /jupyter/ .. /api/authorize .. /login/?client_id=…   (hub -> site's login page)
  login     POST /api/login (JSON, the page's Origin) -> {"redirect": …/oauth_callback?code…}
  callback  GET /jupyter/hub/oauth_callback         the hub redeems the code: hub cookie
  spawn     GET /jupyter/hub/ -> /hub/spawn -> /hub/spawn-pending/<u>, its progress
            event stream until "ready" (the page's EventSource)
  lab       GET /jupyter/user/<u>/lab               the server's own OAuth with the hub, lab HTML
  kernel    POST …/api/sessions (XSRF header), the kernel websocket (cookies, Origin),
            kernel_info_reply
  sql       a cell `sql("SELECT COUNT(*) FROM person_2018")`; the count printed is checked
  stop      the hub home page's "Stop My Server" (DELETE …/hub/api/users/<u>/server) until gone
            (--leave-running: not stopped, left to the idle culler)

and two sums the goals speak of: `login_total` (authorize + login + callback: click
to hub cookie) and `to_kernel` (spawn + lab + kernel: logged in to a running kernel).

The accounts (<prefix>001…) are registered with the invite code before the
arrivals start (timed as `register`, outside the window); an account that
exists already must have the password of --password-file. Arrivals are spread
uniformly at random over --window seconds (--seed repeats a run). Every
failure ends that researcher's run and is counted by kind (phase and cause,
e.g. `spawn:429 Too many users`); a JSON report with every researcher's
timings, the host's CPU and memory samples and the number of notebook
containers running is written to --report, and a table is printed. The hub
role lets hub_concurrent_spawn_limit servers start at once and keeps the others
waiting in line on the spawn pending page ("Waiting in line to start: N
ahead"): the driver reads those progress events as the page does, the wait is
in `spawn`, and the table counts who waited and the longest line. A spawn the
hub refuses (429: active_server_limit; JupyterHub's own concurrent_spawn_limit
if a host sets one) shows a page that does not retry by itself, so it is a
failure, unless --retry-429: then the researcher waits the Retry-After the hub
sent (as a person reading "try again in 30 seconds" would) and reloads
(counted apart, the wait is in `spawn`).

Only against a local test host: the URL's host must be `localhost`,
`*.localhost` or `*.test` (RFC 6761 names that never reach the internet), and
the address connected to (the name's loopback, or --connect) must be a
loopback or private address. Host figures are read from this machine's /proc
(the demo host and the test instances share its kernel); with --docker-host
(the host container's name) the notebook containers are counted with
`docker exec <host> docker ps`, and each one's CPU seconds and memory peak are
read from its cgroup (a nested engine's containers are in this machine's
cgroup tree). The table says what the rest of the machine was doing (its CPU
in the 5 s before the first arrival, the load average) and what the driver
itself used. Exit status: 0 when every researcher got
through, 1 when any failed, 2 for bad arguments.
"""

import argparse
import asyncio
import contextlib
import html
import ipaddress
import json
import math
import os
import random
import re
import resource
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

# The kernel protocol, shared with scripts/check_url.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from kernel_protocol import CellError, Request, execute  # noqa: E402

PHASES = ["site", "authorize", "login", "callback", "spawn", "lab", "kernel", "sql", "stop"]
SUMS = {"login_total": ["authorize", "login", "callback"], "to_kernel": ["spawn", "lab", "kernel"]}
CODE = 'print("persons", int(sql("SELECT COUNT(*) FROM person_2018").iloc[0, 0]))'
MAX_USERS = 200
MAX_WINDOW = 600
MAX_TIMEOUT = 3600
LOCAL_SUFFIXES = (".localhost", ".test")


class Failure(Exception):
    """One researcher's run ended: `kind` is what the table counts."""

    def __init__(self, kind, detail=""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind, self.detail = kind, detail


# --- Where it may run ---------------------------------------------------------------------


def local_target(url, connect):
    """(scheme://host:port, host, (address, port)) of a local test host, or ValueError."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host:
        raise ValueError(f"{url!r}: an https URL is expected, e.g. https://hub.localhost:8443")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(f"{url!r}: the site's root URL is expected (no path)")
    if host != "localhost" and not host.endswith(LOCAL_SUFFIXES):
        raise ValueError(
            f"{host!r} is not a local test host: only localhost, *.localhost and *.test are driven "
            "(a load test never goes to a real server)"
        )
    port = parts.port or 443
    if connect:
        address, _, cport = connect.rpartition(":")
        if not address or not cport.isdigit():
            raise ValueError(f"--connect {connect!r}: ADDRESS:PORT expected")
        target = (address.strip("[]"), int(cport))
    else:
        # As browsers do (RFC 6761): a *.localhost name is loopback; a *.test name needs --connect.
        if host != "localhost" and not host.endswith(".localhost"):
            raise ValueError(f"{host!r}: give --connect ADDRESS:PORT (a .test name does not resolve)")
        target = ("127.0.0.1", port)
    try:
        ip = ipaddress.ip_address(target[0])
    except ValueError:
        raise ValueError(f"--connect {target[0]!r}: an IP address is expected") from None
    if not (ip.is_loopback or ip.is_private):
        raise ValueError(f"{ip} is neither a loopback nor a private address: not a local test host")
    return f"https://{parts.netloc}", host, target


class FixedResolver(AbstractResolver):
    """Every name resolves to the one test host address (a browser's --host-resolver-rules)."""

    def __init__(self, target):
        self.address, self.port = target

    async def resolve(self, host, port=0, family=socket.AF_INET):
        fam = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        return [{"hostname": host, "host": self.address, "port": self.port, "family": fam, "proto": 0, "flags": 0}]

    async def close(self):
        pass


# --- One researcher -----------------------------------------------------------------------


class Researcher:
    def __init__(self, run, name):
        self.run, self.name = run, name
        self.times, self.notes = {}, {}
        self.failure = None
        self.server = f"/jupyter/user/{name}"
        self.session = None

    async def __aenter__(self):
        connector = aiohttp.TCPConnector(resolver=FixedResolver(self.run.target), ssl=self.run.tls, limit=6)
        self.session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.CookieJar(),
            timeout=aiohttp.ClientTimeout(total=self.run.args.request_timeout),
            headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8", "User-Agent": "cfps-load/1"},
        )
        return self

    async def __aexit__(self, *exc):
        await self.session.close()

    def url(self, path):
        return path if path.startswith("https://") else f"{self.run.origin}{path}"

    async def get(self, path, phase, expect=(200,), redirects=True, stop_at=None):
        """GET, following redirects by hand (cookies kept) unless `stop_at(path)` says stop there.

        Returns (status, final URL, body text).
        """
        url = self.url(path)
        for _ in range(20):
            async with self.session.get(url, allow_redirects=False) as resp:
                status, text = resp.status, await resp.text(errors="replace")
                location = resp.headers.get("Location")
                retry_after = resp.headers.get("Retry-After")
            if redirects and status in (301, 302, 303, 307, 308) and location:
                url = str(URL(url).join(URL(location)))
                if stop_at and stop_at(urlsplit(url).path):
                    return status, url, text
                continue
            if status not in expect:
                if retry_after:
                    self.notes.setdefault("retry_after", []).append(retry_after)
                raise Failure(f"{phase}:{status} {page_message(text)}".rstrip(), f"GET {urlsplit(url).path}")
            return status, url, text
        raise Failure(f"{phase}:redirect loop", url)

    def cookie(self, name, path):
        for c in self.session.cookie_jar:
            if c.key == name and path.startswith(c["path"] or "/"):
                return c.value
        return None

    async def phase(self, name, coro):
        t0 = time.monotonic()
        try:
            result = await coro
        except Failure:
            raise
        except TimeoutError as err:
            raise Failure(f"{name}:timeout", str(err)) from err
        except aiohttp.ClientResponseError as err:
            raise Failure(f"{name}:{err.status}", str(err)) from err
        except (aiohttp.ClientError, OSError) as err:
            raise Failure(f"{name}:{type(err).__name__}", str(err)) from err
        self.times[name] = time.monotonic() - t0
        return result

    async def journey(self):
        await self.phase("site", self.get("/", "site"))
        params = await self.phase("authorize", self.authorize())
        callback = await self.phase("login", self.log_in(params))
        await self.phase("callback", self.callback(callback))
        await self.phase("spawn", self.spawn())
        await self.phase("lab", self.get(f"{self.server}/lab", "lab"))
        kernel_ws, session_id = await self.phase("kernel", self.kernel())
        try:
            await self.phase("sql", self.sql(kernel_ws, session_id))
        finally:
            await kernel_ws.close()
        if not self.run.args.leave_running:
            await self.phase("stop", self.stop())

    async def authorize(self):
        # The landing page's "进入平台" link; the hub (auto_login) sends the browser on to
        # /api/authorize, which sends it to the site's login page with the OAuth parameters.
        _, url, _ = await self.get("/jupyter/", "authorize")
        params = dict(parse_qsl(urlsplit(url).query))
        if urlsplit(url).path.rstrip("/") != "/login" or "client_id" not in params:
            raise Failure("authorize:not the login page", url)
        return params

    async def log_in(self, params):
        body = {"username": self.name, "password": self.run.password, **params}
        headers = {"Origin": self.run.origin, "Accept": "application/json"}
        async with self.session.post(self.url("/api/login"), json=body, headers=headers) as resp:
            answer = await json_or_text(resp)
            if resp.status != 200 or "redirect" not in answer:
                raise Failure(f"login:{resp.status} {answer.get('error', '')}".rstrip(), str(answer)[:300])
        return answer["redirect"]

    async def callback(self, redirect):
        # Stop at the hub's own pages: the spawn is the next phase.
        status, url, text = await self.get(redirect, "callback", stop_at=lambda p: not p.endswith("/oauth_callback"))
        if status not in (301, 302, 303, 307, 308) or not self.cookie("jupyterhub-hub-login", "/jupyter/hub/"):
            raise Failure("callback:no hub cookie", f"{status} {url}")

    async def spawn(self):
        # /jupyter/hub/ -> /hub/spawn (starts the server) -> /hub/spawn-pending/<u> while it starts,
        # or straight on to /jupyter/user/<u>/ when it was quick.
        while True:
            try:
                status, url, text = await self.get(
                    "/jupyter/hub/", "spawn", stop_at=lambda p: p.startswith(f"{self.server}/")
                )
                break
            except Failure as err:
                # --retry-429: a researcher who waits as the hub's page asks, then reloads.
                if not (self.run.args.retry_429 and err.kind.startswith("spawn:429")):
                    raise
                wait = int(self.notes["retry_after"][-1]) if self.notes.get("retry_after") else 30
                self.notes.setdefault("refused", []).append(err.kind)
                await asyncio.sleep(wait)
        if urlsplit(url).path.startswith(f"{self.server}/"):
            self.notes["spawn_pending_page"] = False
            return
        match = re.search(r'new EventSource\("([^"]+)"\)', text)
        if "/spawn-pending/" not in url or not match:
            raise Failure("spawn:unexpected page", f"{url}: {page_message(text)}")
        self.notes["spawn_pending_page"] = True
        progress = html.unescape(match.group(1))
        last = {}
        async with self.session.get(
            self.url(progress),
            headers={"Accept": "text/event-stream"},
            timeout=aiohttp.ClientTimeout(total=self.run.args.spawn_timeout, sock_read=self.run.args.spawn_timeout),
        ) as resp:
            if resp.status != 200:
                raise Failure(f"spawn:progress {resp.status}", await resp.text())
            async for raw in resp.content:
                line = raw.decode(errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                last = json.loads(line[5:])
                line_ahead = re.search(r"Waiting in line to start: (\d+) ahead", last.get("message", ""))
                if line_ahead:
                    ahead = int(line_ahead.group(1))
                    self.notes["line_ahead"] = max(ahead, self.notes.get("line_ahead", -1))
                if last.get("ready"):
                    break
                if last.get("failed"):
                    raise Failure("spawn:failed", last.get("message", ""))
        if not last.get("ready"):
            raise Failure("spawn:progress ended", str(last)[:300])
        # The page reloads itself: the hub now sends the browser to the server.
        status, url, _ = await self.get(url, "spawn", stop_at=lambda p: p.startswith(f"{self.server}/"))
        if not urlsplit(url).path.startswith(f"{self.server}/"):
            raise Failure("spawn:not sent to the server", url)

    async def kernel(self):
        xsrf = self.cookie("_xsrf", f"{self.server}/")
        if not xsrf:
            raise Failure("kernel:no _xsrf cookie from the lab page")
        body = {
            "path": f"load-{uuid.uuid4().hex[:8]}.ipynb",
            "type": "notebook",
            "name": "",
            "kernel": {"name": "python3"},
        }
        async with self.session.post(
            self.url(f"{self.server}/api/sessions"), json=body, headers={"X-XSRFToken": xsrf}
        ) as resp:
            answer = await json_or_text(resp)
            if resp.status != 201:
                raise Failure(f"kernel:sessions {resp.status}", str(answer)[:300])
        kernel_id, session_id = answer["kernel"]["id"], uuid.uuid4().hex
        ws = await self.session.ws_connect(
            f"wss://{urlsplit(self.run.origin).netloc}{self.server}/api/kernels/{kernel_id}/channels"
            f"?session_id={session_id}",
            origin=self.run.origin,
            max_msg_size=0,
        )
        try:
            info = Request("kernel_info_request", {}, session_id, self.name)
            await self.request(ws, info, "kernel", self.run.args.kernel_timeout)
        except BaseException:
            await ws.close()
            raise
        return ws, session_id

    async def request(self, ws, request, phase, timeout):
        """Send a shell request; return (its reply, what it printed) once the kernel is idle again."""
        await ws.send_str(request.text)
        deadline = time.monotonic() + timeout
        while not request.done:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"{phase}:no answer", f"{request.msg_type} within {timeout} s")
            msg = await ws.receive(timeout=left)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise Failure(f"{phase}:websocket closed", str(msg.type))
            try:
                request.take(msg.data)
            except CellError as err:
                raise Failure(f"{phase}:cell error {err.ename}", err.evalue[:300]) from None
        return request.reply, request.output

    async def sql(self, ws, session_id):
        cell = execute(CODE, session_id, self.name)
        _, printed = await self.request(ws, cell, "sql", self.run.args.cell_timeout)
        words = printed.split()
        if len(words) != 2 or words[0] != "persons" or not words[1].isdigit() or int(words[1]) <= 0:
            raise Failure("sql:wrong output", printed[:200])
        expected = self.run.args.expect_persons
        if expected is not None and int(words[1]) != expected:
            raise Failure("sql:wrong count", f"{words[1]} persons, expected {expected}")
        self.notes["persons"] = int(words[1])

    async def stop(self):
        # The hub home page's "Stop My Server" button: its XSRF token, DELETE, then wait until stopped.
        _, _, text = await self.get("/jupyter/hub/home", "stop")
        match = re.search(r'xsrf_token:\s*"([^"]+)"', text)
        if not match:
            raise Failure("stop:no xsrf token on the home page")
        headers = {"X-XSRFToken": html.unescape(match.group(1))}
        api = self.url(f"/jupyter/hub/api/users/{self.name}")
        async with self.session.delete(f"{api}/server", headers=headers) as resp:
            if resp.status not in (202, 204):
                raise Failure(f"stop:{resp.status}", await resp.text())
        deadline = time.monotonic() + self.run.args.stop_timeout
        while True:
            async with self.session.get(api, headers=headers) as resp:
                info = await json_or_text(resp)
                if resp.status != 200:
                    raise Failure(f"stop:user {resp.status}", str(info)[:300])
            if not info.get("servers"):
                return
            if time.monotonic() > deadline:
                raise Failure("stop:still running", f"after {self.run.args.stop_timeout} s")
            await asyncio.sleep(0.5)


async def json_or_text(resp):
    text = await resp.text(errors="replace")
    try:
        value = json.loads(text)
    except ValueError:
        return {"text": text[:300]}
    return value if isinstance(value, dict) else {"value": value}


def page_message(text):
    """The message of a hub error page (e.g. "Too many users trying to log in right now…")."""
    match = re.search(r'<div class="error">\s*<h1>[^<]*</h1>\s*<p>\s*([^<]+?)\s*</p>', text) or re.search(
        r"<p>\s*((?:Too many|Active user)[^<]+?)\s*</p>", text
    )
    # The first sentence only ("Try again in 30 seconds." varies), so failures group by kind.
    return html.unescape(match.group(1)).split(". ")[0].rstrip(".")[:60] if match else ""


# --- The run ------------------------------------------------------------------------------


class Run:
    def __init__(self, args, origin, target, password):
        self.args, self.origin, self.target, self.password = args, origin, target, password
        self.tls = ssl.create_default_context()
        # The test hosts' certificates are self-signed.
        self.tls.check_hostname = False
        self.tls.verify_mode = ssl.CERT_NONE
        self.samples = []
        self.servers = {}
        self.t0 = None


async def register(run, name, invite):
    """The site's /register page: 201, or the account exists already (its password must match)."""
    async with Researcher(run, name) as r:
        t0 = time.monotonic()
        body = {"username": name, "password": run.password, "invite_code": invite}
        async with r.session.post(
            r.url("/api/register"), json=body, headers={"Origin": run.origin, "Accept": "application/json"}
        ) as resp:
            answer = await json_or_text(resp)
            if resp.status == 201:
                return time.monotonic() - t0
            if answer.get("error") == "username_taken":
                return None
            raise Failure(f"register:{resp.status} {answer.get('error', '')}", str(answer)[:300])


async def one(run, name, delay):
    await asyncio.sleep(delay)
    record = {"user": name, "arrival": round(delay, 3), "times": {}, "failure": None}
    async with Researcher(run, name) as r:
        start = time.monotonic()
        try:
            # Bounded by the researcher's own timeout and what is left of the whole run's.
            left = run.args.timeout - (start - run.t0)
            await asyncio.wait_for(r.journey(), max(1.0, min(run.args.user_timeout, left)))
        except Failure as err:
            record["failure"] = {"kind": err.kind, "detail": err.detail[:500]}
        except TimeoutError:
            done = [p for p in PHASES if p in r.times]
            nxt = PHASES[len(done)] if len(done) < len(PHASES) else "end"
            record["failure"] = {"kind": f"{nxt}:user timeout", "detail": f"{time.monotonic() - start:.0f} s"}
        except Exception as err:  # noqa: BLE001 (a driver bug must not hide the other researchers)
            record["failure"] = {"kind": f"driver:{type(err).__name__}", "detail": str(err)[:500]}
        record["total"] = round(time.monotonic() - start, 3)
        record["times"] = {k: round(v, 3) for k, v in r.times.items()}
        for name_, parts in SUMS.items():
            if all(p in r.times for p in parts):
                record["times"][name_] = round(sum(r.times[p] for p in parts), 3)
        record["notes"] = r.notes
    status = "FAIL " + record["failure"]["kind"] if record["failure"] else "ok"
    print(f"  {time.monotonic() - run.t0:6.1f} s  {name}: {status}", flush=True)
    return record


def cpu_times():
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values), idle


def meminfo():
    out = {}
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            name, _, rest = line.partition(":")
            out[name] = int(rest.split()[0]) * 1024
    return out


def notebook_containers(docker_host):
    """Full ids of the notebook containers running in the host container, or None."""
    if not docker_host:
        return None
    try:
        result = subprocess.run(
            ["docker", "exec", docker_host, "docker", "ps", "-q", "--no-trunc", "--filter", "name=^jupyter-"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.split() if result.returncode == 0 else None


# A nested engine's containers share this machine's cgroup tree (cgroupns host):
# (CPU file, memory peak file) for cgroup v1 (cgroupfs driver) and v2.
CGROUP_FILES = [
    ("/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage", "/sys/fs/cgroup/memory/docker/{id}/memory.max_usage_in_bytes"),
    (
        "/sys/fs/cgroup/system.slice/docker-{id}.scope/cpu.stat",
        "/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.peak",
    ),
    ("/sys/fs/cgroup/docker/{id}/cpu.stat", "/sys/fs/cgroup/docker/{id}/memory.peak"),
]


def container_usage(cid):
    """(CPU seconds used, memory peak in bytes) of one container, read from its cgroup; None if unseen."""
    for cpu_file, mem_file in CGROUP_FILES:
        try:
            cpu_text = Path(cpu_file.format(id=cid)).read_text(encoding="ascii")
            mem = int(Path(mem_file.format(id=cid)).read_text(encoding="ascii"))
        except (OSError, ValueError):
            continue
        if cpu_file.endswith("cpu.stat"):
            usec = dict(line.split() for line in cpu_text.splitlines())["usage_usec"]
            return int(usec) / 1e6, mem
        return int(cpu_text) / 1e9, mem
    return None


async def sample(run, stop_event):
    """Every second: this machine's CPU busy share, memory in use, load; containers every 3 s."""
    last = cpu_times()
    containers, tick = None, 0
    while not stop_event.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), 1.0)
        total, idle = cpu_times()
        busy = 1 - (idle - last[1]) / max(1, total - last[0])
        last = (total, idle)
        mem = meminfo()
        if run.t0 is not None and tick % 3 == 0:
            ids = await asyncio.to_thread(notebook_containers, run.args.docker_host)
            containers = None if ids is None else len(ids)
            for cid in ids or []:
                usage = container_usage(cid)
                if usage:
                    # Cumulative CPU and the peak only grow: the last reading is the largest.
                    run.servers[cid] = {"cpu_s": round(usage[0], 2), "mem_peak": usage[1]}
        tick += 1
        run.samples.append(
            {
                "t": None if run.t0 is None else round(time.monotonic() - run.t0, 1),
                "cpu": round(100 * busy, 1),
                "mem_used": mem["MemTotal"] - mem["MemAvailable"],
                "load1": os.getloadavg()[0],
                "containers": containers,
            }
        )


def percentile(values, q):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summarize(records, samples, baseline_mem, servers):
    phases = {}
    for phase in [*PHASES, *SUMS]:
        values = [r["times"][phase] for r in records if phase in r["times"]]
        if values:
            phases[phase] = {
                "n": len(values),
                "p50": round(percentile(values, 50), 2),
                "p95": round(percentile(values, 95), 2),
                "max": round(max(values), 2),
            }
    failures = {}
    for r in records:
        if r["failure"]:
            failures[r["failure"]["kind"]] = failures.get(r["failure"]["kind"], 0) + 1
    in_line = [r["notes"]["line_ahead"] for r in records if "line_ahead" in r.get("notes", {})]
    refused = {}
    for r in records:
        for kind in r.get("notes", {}).get("refused", []):
            refused[kind] = refused.get(kind, 0) + 1
    host = {}
    if samples:
        cpu_peak = max(samples, key=lambda s: s["cpu"])
        mem_peak = max(samples, key=lambda s: s["mem_used"])
        counted = [s["containers"] for s in samples if s["containers"] is not None]
        host = {
            "cpu_peak_percent": cpu_peak["cpu"],
            "cpu_mean_percent": round(sum(s["cpu"] for s in samples) / len(samples), 1),
            "mem_used_baseline_gib": round(baseline_mem / 2**30, 2),
            "mem_used_peak_gib": round(mem_peak["mem_used"] / 2**30, 2),
            "mem_peak_over_baseline_gib": round((mem_peak["mem_used"] - baseline_mem) / 2**30, 2),
            "containers_at_mem_peak": mem_peak["containers"],
            "containers_at_cpu_peak": cpu_peak["containers"],
            "containers_max": max(counted) if counted else None,
            "load1_max": round(max(s["load1"] for s in samples), 2),
        }
    if servers:
        cpu = [v["cpu_s"] for v in servers.values()]
        mem = [v["mem_peak"] / 2**20 for v in servers.values()]
        host["servers_measured"] = len(servers)
        host["server_cpu_s"] = {"p50": round(percentile(cpu, 50), 1), "max": round(max(cpu), 1), "sum": round(sum(cpu))}
        host["server_mem_peak_mib"] = {"p50": round(percentile(mem, 50)), "max": round(max(mem))}
    return {
        "ok": sum(1 for r in records if not r["failure"]),
        "users": len(records),
        "phases": phases,
        "failures": failures,
        "refused_then_retried": refused,
        "waited_in_line": len(in_line),
        "line_ahead_max": max(in_line, default=0),
        "host": host,
    }


def print_table(report):
    s = report["summary"]
    a = report["args"]
    print(
        f"\n{s['users']} users arriving within {a['window']} s at {report['url']}: {s['ok']} ok, "
        f"{s['users'] - s['ok']} failed; load before {report['load_before']}, after {report['load_after']}"
    )
    print(f"{'phase':<12}{'n':>4}{'p50 s':>9}{'p95 s':>9}{'max s':>9}")
    for name, v in s["phases"].items():
        print(f"{name:<12}{v['n']:>4}{v['p50']:>9.2f}{v['p95']:>9.2f}{v['max']:>9.2f}")
    if s["failures"]:
        print("failures:")
        for kind, n in sorted(s["failures"].items(), key=lambda kv: -kv[1]):
            print(f"  {n:>4}  {kind}")
    else:
        print("failures: none")
    for kind, n in s["refused_then_retried"].items():
        print(f"  ({n} times {kind}, retried after Retry-After)")
    if s["waited_in_line"]:
        print(f"waited in the hub's line to start: {s['waited_in_line']} (at most {s['line_ahead_max']} ahead)")
    h = s["host"]
    if h:
        print(
            f"host: CPU peak {h['cpu_peak_percent']} % of {report['cpus']} cores (mean {h['cpu_mean_percent']} %), "
            f"load1 max {h['load1_max']}; memory in use {h['mem_used_baseline_gib']} GiB before, "
            f"peak {h['mem_used_peak_gib']} GiB (+{h['mem_peak_over_baseline_gib']} GiB) of "
            f"{report['mem_total_gib']} GiB; notebook containers: {h['containers_at_mem_peak']} at the "
            f"memory peak, {h['containers_max']} at most"
        )
        if "servers_measured" in h:
            c, m = h["server_cpu_s"], h["server_mem_peak_mib"]
            print(
                f"per server ({h['servers_measured']} seen, from their cgroups): CPU {c['p50']} s p50, "
                f"{c['max']} s max, {c['sum']} s in all; memory peak {m['p50']} MiB p50, {m['max']} MiB max"
            )
    print(
        f"this machine's CPU in the 5 s before: {report['cpu_before_percent']} %; the driver itself used "
        f"{report['driver_cpu_s']} CPU s"
    )
    print(f"report: {report['report']}")


async def main_async(args, origin, target, password, invite):
    run = Run(args, origin, target, password)
    names = [f"{args.prefix}{i:03d}" for i in range(1, args.users + 1)]
    print(f"registering {len(names)} accounts (or finding them) with the invite code", flush=True)
    reg_times = []
    for name in names:
        took = await register(run, name, invite)
        if took is not None:
            reg_times.append(took)
    rng = random.Random(args.seed)
    delays = sorted(rng.uniform(0, args.window) for _ in names)
    # Five seconds of this machine before anyone arrives: what the rest of it was doing.
    stop_event = asyncio.Event()
    sampler = asyncio.create_task(sample(run, stop_event))
    await asyncio.sleep(5.5)
    before = list(run.samples)
    run.samples.clear()
    baseline = meminfo()
    baseline_mem = baseline["MemTotal"] - baseline["MemAvailable"]
    load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    usage0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    run.t0 = time.monotonic()
    print(f"{len(names)} researchers arriving over {args.window} s", flush=True)
    try:
        records = await asyncio.gather(*(one(run, n, d) for n, d in zip(names, delays, strict=True)))
    finally:
        stop_event.set()
        await sampler
    usage1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    driver_cpu = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in zip(usage0, usage1, strict=True))
    report = {
        "url": origin,
        "connect": f"{target[0]}:{target[1]}",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - (time.monotonic() - run.t0))),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if not k.endswith("_file")},
        "cpus": os.cpu_count(),
        "mem_total_gib": round(baseline["MemTotal"] / 2**30, 1),
        "load_before": load_before,
        "load_after": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "register": {
            "new": len(reg_times),
            "existing": len(names) - len(reg_times),
            "p50": round(percentile(reg_times, 50), 2) if reg_times else None,
            "max": round(max(reg_times), 2) if reg_times else None,
        },
        "cpu_before_percent": round(sum(x["cpu"] for x in before) / max(1, len(before)), 1),
        "driver_cpu_s": round(driver_cpu, 1),
        "summary": summarize(records, run.samples, baseline_mem, run.servers),
        "users": records,
        "samples": run.samples,
        "servers": run.servers,
        "report": str(args.report),
    }
    args.report.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print_table(report)
    return 0 if report["summary"]["ok"] == len(records) else 1


def read_secret(path, what, create=False):
    p = Path(path)
    if create and not p.exists():
        p.touch(mode=0o600)
        p.write_text(secrets.token_urlsafe(18) + "\n", encoding="utf-8")
    try:
        value = p.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ValueError(f"{what} {path}: {err.strerror}") from err
    if not value:
        raise ValueError(f"{what} {path} is empty")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("url", help="the test host's public URL, e.g. https://hub.localhost:8443")
    parser.add_argument("--connect", metavar="ADDRESS:PORT", help="connect here instead of the URL's name")
    parser.add_argument("--users", type=int, default=10, help=f"researchers, 1..{MAX_USERS} (default 10)")
    parser.add_argument("--window", type=float, default=60, help=f"arrivals spread over this many s (<= {MAX_WINDOW})")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the arrival times")
    parser.add_argument("--prefix", default="load", help="account names: <prefix>001… (default load)")
    parser.add_argument("--invite-file", required=True, help="an invite code (registers missing accounts)")
    parser.add_argument(
        "--password-file",
        help="the accounts' password (generated when missing); without it a random one, so the accounts must be new",
    )
    parser.add_argument("--expect-persons", type=int, help="the count sql() must print (else any count > 0)")
    parser.add_argument("--leave-running", action="store_true", help="do not stop the servers (the culler will)")
    parser.add_argument(
        "--retry-429",
        action="store_true",
        help="a refused spawn (429) is retried after its Retry-After (30 s without), as a patient researcher does; "
        "else it is a failure",
    )
    parser.add_argument("--docker-host", help="host container whose notebook containers are counted")
    parser.add_argument("--report", type=Path, help="JSON report path (default: a new file in the temp dir)")
    parser.add_argument("--timeout", type=float, default=1200, help=f"whole run, s (<= {MAX_TIMEOUT})")
    parser.add_argument("--user-timeout", type=float, default=900, help="one researcher's journey, s")
    parser.add_argument("--request-timeout", type=float, default=120, help="one HTTP request, s")
    parser.add_argument("--spawn-timeout", type=float, default=600, help="the spawn's progress stream, s")
    parser.add_argument("--kernel-timeout", type=float, default=180, help="kernel_info_reply, s")
    parser.add_argument("--cell-timeout", type=float, default=180, help="the sql() cell, s")
    parser.add_argument("--stop-timeout", type=float, default=180, help="server stopped, s")
    args = parser.parse_args(argv)
    problems = []
    if not 1 <= args.users <= MAX_USERS:
        problems.append(f"--users {args.users}: 1..{MAX_USERS}")
    if not 0 <= args.window <= MAX_WINDOW:
        problems.append(f"--window {args.window}: 0..{MAX_WINDOW} s")
    if not 0 < args.timeout <= MAX_TIMEOUT:
        problems.append(f"--timeout {args.timeout}: above 0, at most {MAX_TIMEOUT} s")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,12}", args.prefix):
        problems.append(f"--prefix {args.prefix!r}: 1-13 of a-z, 0-9, _ (a name is the prefix and 3 digits)")
    if len(args.prefix) + 3 < 4:
        problems.append(f"--prefix {args.prefix!r}: account names need at least 4 characters")
    if problems:
        parser.error("; ".join(problems))
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    try:
        origin, _, target = local_target(args.url, args.connect)
        invite = read_secret(args.invite_file, "--invite-file")
        password = (
            read_secret(args.password_file, "--password-file", create=True)
            if args.password_file
            else secrets.token_urlsafe(18)
        )
    except ValueError as err:
        parser.error(str(err))
    if args.report is None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        args.report = Path(tempfile.gettempdir()) / f"cfps-load-{stamp}-{args.users}u.json"
    try:
        return asyncio.run(main_async(args, origin, target, password, invite))
    except Failure as err:
        print(f"FAIL {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
