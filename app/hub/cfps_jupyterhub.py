"""JupyterHub helpers of CFPS Hub, imported by /etc/jupyterhub/jupyterhub_config.py.

roles/hub copies this one file into the site-packages of the hub's venv; the
config (roles/hub/templates/etc/jupyterhub/jupyterhub_config.py.j2) keeps only
settings. It runs inside the hub: the standard library and the hub's own
packages only.
"""

import asyncio
import contextlib
import os
import re

from docker.errors import APIError
from dockerspawner import DockerSpawner
from traitlets import Integer, Unicode

__all__ = [
    "CFPSDockerSpawner",
    "StartLine",
    "active_server_limit",
    "host_memory_bytes",
    "parse_bytes",
    "request_home",
    "wait_for_port",
]

# Binary units, as JupyterHub's ByteSpecification (DockerSpawner.mem_limit) reads them.
UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
# A whole number of bytes, or of K, M, G or T (any case). roles/hub/tasks/validate.yml
# checks hub_mem_limit with the same pattern (app/hub/tests keeps the two equal).
SIZE_PATTERN = r"0*[1-9][0-9]*[KMGTkmgt]?"


def parse_bytes(size: str) -> int:
    """Bytes in a memory size such as "2G", "512m" or "1073741824".

    What ByteSpecification takes, less its fractions ("1.5G": write "1536M")
    and zero; anything else raises ValueError.
    """
    if not isinstance(size, str):
        raise TypeError(f"a memory size is a string such as '2G', not {type(size).__name__}")
    if re.fullmatch(SIZE_PATTERN, size) is None:
        raise ValueError(
            f"{size!r} is not a memory size: a whole number above 0, optionally followed by K, M, G or T "
            "(binary units, any case), such as 2G or 512M"
        )
    digits, unit = re.fullmatch(r"([0-9]+)(.?)", size).groups()
    return int(digits) * UNITS[unit.upper()]


def meminfo_bytes(path: str = "/proc/meminfo") -> int:
    """MemTotal of a /proc/meminfo file, in bytes."""
    with open(path, encoding="ascii") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name == "MemTotal":
                value, unit = rest.split()
                if unit != "kB":
                    raise ValueError(f"{path}: MemTotal in {unit!r}, expected kB")
                return int(value) * 1024
    raise ValueError(f"{path}: no MemTotal line")


def host_memory_bytes() -> int:
    """Physical memory of the host the hub runs on, in bytes."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        pages = page_size = -1
    if pages > 0 and page_size > 0:
        return pages * page_size
    return meminfo_bytes()


def active_server_limit(configured: int, mem_limit: str, mem_total_bytes: int | None = None) -> int:
    """Running servers at most (JupyterHub.active_server_limit).

    `configured` when above 0; for 0, as many servers of `mem_limit` as the
    host's memory holds (`mem_total_bytes`, read from the host when None), and
    at least 1.
    """
    if isinstance(configured, bool) or not isinstance(configured, int) or configured < 0:
        raise ValueError(f"the configured active server limit must be a whole number, 0 or more (got {configured!r})")
    per_server = parse_bytes(mem_limit)
    if configured > 0:
        return configured
    total = host_memory_bytes() if mem_total_bytes is None else mem_total_bytes
    return max(1, total // per_server)


async def wait_for_port(ip, port, timeout, died=None, interval=0.05, died_every=20) -> bool:
    """Wait until ip:port accepts a TCP connection: True then, False at `timeout` seconds.

    `died`, an async callable, is asked every `died_every` failed attempts
    whether the process that should listen is gone; True ends the wait (False).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    tries = 0
    while (left := deadline - loop.time()) > 0:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), min(1, left))
        except (OSError, TimeoutError):
            tries += 1
            if died is not None and tries % died_every == 0 and await died():
                return False
            await asyncio.sleep(interval)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


async def request_home(socket_path: str, name: str, timeout: float) -> str:
    """Ask the root helper behind socket_path (cfps_home_storage) for name's home folder.

    The helper makes, grows and mounts the home's own filesystem; its path is
    returned. Any other answer raises RuntimeError with the helper's reason,
    which the researcher reads on the spawn page.
    """
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(socket_path), timeout)
    except (OSError, TimeoutError) as err:
        raise RuntimeError(f"{HOME_FAILED} (home helper {socket_path}: {err})") from err
    try:
        writer.write(f"{name}\n".encode())
        await writer.drain()
        line = (await asyncio.wait_for(reader.readline(), timeout)).decode(errors="replace").strip()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    status, _, detail = line.partition(" ")
    if status != "ok" or not detail.startswith("/"):
        raise RuntimeError(f"{HOME_FAILED} ({line or 'no answer from the home helper'})")
    return detail


HOME_FAILED = "主目录无法准备，请联系管理员。Your home folder could not be prepared; please tell the administrator."


class StartLine:
    """At most `size` servers starting at once; the others wait their turn in arrival order.

    JupyterHub's own concurrent_spawn_limit refuses a spawn beyond it (429,
    "try again in N seconds"), so a class arriving together would be sent away
    and reload by hand. Here the extra spawns wait instead, and their spawn
    pending page says how many are ahead.
    """

    def __init__(self, size: int):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"servers starting at once must be a whole number, 1 or more (got {size!r})")
        self.size = size
        self._free = asyncio.Semaphore(size)  # fair: waiters are served first come, first served
        self._waiting = []

    def ahead(self, who) -> int | None:
        """How many wait before `who`; None when `who` does not wait (started, or not arrived)."""
        try:
            return self._waiting.index(who)
        except ValueError:
            return None

    @contextlib.asynccontextmanager
    async def turn(self, who):
        self._waiting.append(who)
        try:
            await self._free.acquire()
        finally:
            self._waiting.remove(who)
        try:
            yield
        finally:
            self._free.release()


class CFPSDockerSpawner(DockerSpawner):
    """DockerSpawner with a line for starts, a short stop, and a start() that returns when the port answers.

    - Line: at most `start_concurrency` servers start at once (hub-wide); the
      others wait in arrival order (StartLine), their progress page says so.
    - Stop: `docker stop` waits `stop_timeout` seconds before SIGKILL, not
      Docker's 10: DockerSpawner sends every Docker call through one thread,
      so a long stop held up everyone's spawn.
    - Ready: the port is tried every 50 ms, up to http_timeout; JupyterHub's
      own wait backs off exponentially (0.2 s doubling, not configurable) and
      saw a ready server up to about 1.5 s late (benchmarks/spawn.py). A
      container that died while starting ends the wait at once, and the hub
      reports it.
    - Home: with home_socket set, the root helper behind it first makes the
      user's home filesystem, its size the disk quota (cfps_home_storage),
      and the volume home_volume is bound to it; the config mounts that
      volume as the home.
    """

    start_concurrency = Integer(
        4,
        min=1,
        config=True,
        help="Servers starting at once (container created and started, until its port answers); "
        "more spawns wait in line, in arrival order.",
    )
    stop_timeout = Integer(
        10,
        min=1,
        config=True,
        help="Seconds `docker stop` waits for the server to exit before it is killed.",
    )

    home_socket = Unicode(
        "",
        config=True,
        help="Socket of the home helper (cfps_home_storage); empty: homes are plain Docker volumes, no quota.",
    )
    home_volume = Unicode(
        "jupyterhub-home-{username}",
        config=True,
        help="With home_socket: the Docker volume bound to the user's home folder (mount it at the home).",
    )

    _line = None  # one line for the whole hub (every spawner of this class)

    @property
    def start_line(self) -> StartLine:
        cls = type(self)
        if cls._line is None or cls._line.size != self.start_concurrency:
            cls._line = StartLine(self.start_concurrency)
        return cls._line

    async def prepare_home_volume(self):
        """Have the helper make the home's filesystem, and bind the home volume to it."""
        path = await request_home(self.home_socket, self.escaped_name, self.start_timeout)
        name = self.home_volume.format(username=self.escaped_name)
        opts = {"type": "none", "o": "bind", "device": path}
        # Docker hands back an existing volume of that name as it is; its answer
        # lists no options after a daemon restart, so the check reads them back.
        await self.docker("create_volume", name=name, driver="local", driver_opts=opts)
        volume = await self.docker("inspect_volume", name)
        if volume.get("Driver") != "local" or (volume.get("Options") or {}) != opts:
            raise RuntimeError(f"{HOME_FAILED} (volume {name} exists but is not bound to {path})")

    async def start(self, *args, **kwargs):
        async with self.start_line.turn(self):
            if self.home_socket:
                await self.prepare_home_volume()
            ip, port = await super().start(*args, **kwargs)
            await wait_for_port(ip, port, self.http_timeout, died=self._server_died)
        return ip, port

    async def progress(self):
        line, said = self.start_line, None
        while (ahead := line.ahead(self)) is not None:
            if ahead != said:
                said = ahead
                yield {
                    "progress": 10,
                    "message": f"排队等待启动，前面还有 {ahead} 位 / Waiting in line to start: {ahead} ahead",
                }
            await asyncio.sleep(0.5)
        async for event in super().progress():
            yield event

    async def stop_object(self):
        try:
            await self.docker("stop", self.container_id, timeout=self.stop_timeout)
        except APIError as e:
            if e.status_code == 404:  # already removed, as DockerSpawner's own stop_object
                return
            raise

    async def _server_died(self):
        return await self.poll() is not None
