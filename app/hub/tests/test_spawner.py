"""CFPSDockerSpawner.start() waits for the server's port, against real sockets on 127.0.0.1.

Docker is not involved: the only stand-in is a subclass between
CFPSDockerSpawner and DockerSpawner whose start() returns the address a
container would have, and whose poll() says whether it still runs.
"""

import asyncio
import socket

from dockerspawner import DockerSpawner

from cfps_jupyterhub import CFPSDockerSpawner, wait_for_port


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Listener:
    """An asyncio TCP server opened `delay` seconds from now; it counts its connections."""

    def __init__(self, port, delay):
        self.port, self.delay = port, delay
        self.opened_at = self.server = None
        self.connections = 0

    async def _handle(self, reader, writer):
        self.connections += 1
        writer.close()

    async def _open(self):
        await asyncio.sleep(self.delay)
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.opened_at = asyncio.get_running_loop().time()

    def __enter__(self):
        self.task = asyncio.ensure_future(self._open())
        return self

    def __exit__(self, *exc):
        self.task.cancel()
        if self.server is not None:
            self.server.close()


class StartedContainer(DockerSpawner):
    """DockerSpawner's side: the container is up at (ip, port); poll() reports `exit_status`."""

    address = ("127.0.0.1", 0)
    exit_status = None
    polls = 0

    async def start(self):
        return self.address

    async def poll(self):
        self.polls += 1
        return self.exit_status


class Spawner(CFPSDockerSpawner, StartedContainer):
    pass


def test_the_stand_in_sits_between_the_spawner_and_dockerspawner():
    assert Spawner.__mro__[1:4] == (CFPSDockerSpawner, StartedContainer, DockerSpawner)


async def timed(coro):
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    result = await coro
    return result, loop.time(), loop.time() - t0


def test_start_returns_once_the_port_listens():
    async def main():
        port = free_port()
        spawner = Spawner(http_timeout=10)
        spawner.address = ("127.0.0.1", port)
        with Listener(port, delay=0.6) as listener:
            result, done_at, elapsed = await timed(spawner.start())
            await asyncio.sleep(0.05)
            assert result == ("127.0.0.1", port)
            assert listener.opened_at is not None and done_at >= listener.opened_at
            # Found within a poll interval or so, far below the hub's back-off.
            assert done_at - listener.opened_at < 0.3
            assert 0.55 < elapsed < 1.5
            assert listener.connections == 1
        # Twelve failed tries at most in 0.6 s: poll() was never needed.
        assert spawner.polls == 0

    asyncio.run(main())


def test_start_returns_at_once_when_the_port_already_listens():
    async def main():
        port = free_port()
        spawner = Spawner(http_timeout=10)
        spawner.address = ("127.0.0.1", port)
        with Listener(port, delay=0):
            await asyncio.sleep(0.1)
            result, _, elapsed = await timed(spawner.start())
        assert result == ("127.0.0.1", port) and elapsed < 0.2

    asyncio.run(main())


def test_a_container_that_died_ends_the_wait():
    async def main():
        spawner = Spawner(http_timeout=30)
        spawner.address = ("127.0.0.1", free_port())
        spawner.exit_status = 1
        result, _, elapsed = await timed(spawner.start())
        # The hub gets the address back and finds the server gone itself.
        assert result == spawner.address
        assert spawner.polls == 1
        assert elapsed < 5

    asyncio.run(main())


def test_start_gives_up_at_http_timeout():
    async def main():
        spawner = Spawner(http_timeout=1)
        spawner.address = ("127.0.0.1", free_port())
        result, _, elapsed = await timed(spawner.start())
        assert result == spawner.address
        assert 0.9 < elapsed < 2
        assert spawner.polls >= 0  # still running: poll() said so each time it was asked

    asyncio.run(main())


def test_wait_for_port_reports_the_outcome():
    async def main():
        port = free_port()
        assert await wait_for_port("127.0.0.1", port, 0.5) is False
        with Listener(port, delay=0.2):
            assert await wait_for_port("127.0.0.1", port, 5) is True

        async def gone():
            return True

        result, _, elapsed = await timed(wait_for_port("127.0.0.1", port, 30, died=gone, died_every=3))
        assert result is False and elapsed < 1

    asyncio.run(main())
