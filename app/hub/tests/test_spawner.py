"""CFPSDockerSpawner.start() waits for the server's port, against real sockets on 127.0.0.1.

Docker is not involved: the only stand-in is a subclass between
CFPSDockerSpawner and DockerSpawner whose start() returns the address a
container would have, and whose poll() says whether it still runs.
"""

import asyncio
import socket

import pytest
from docker.errors import APIError
from dockerspawner import DockerSpawner

from cfps_jupyterhub import CFPSDockerSpawner, StartLine, wait_for_port


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


# --- The line for starts, and the stop timeout ------------------------------------------


def test_the_line_lets_size_through_in_arrival_order():
    async def main():
        line = StartLine(2)
        inside, most, order = 0, 0, []

        async def one(i):
            nonlocal inside, most
            async with line.turn(i):
                order.append(i)
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.1)
                inside -= 1

        tasks = []
        for i in range(6):
            tasks.append(asyncio.ensure_future(one(i)))
            await asyncio.sleep(0.005)  # arrivals in this order
        # Two start, four wait, the next in line has nobody ahead.
        assert [line.ahead(i) for i in range(6)] == [None, None, 0, 1, 2, 3]
        await asyncio.gather(*tasks)
        assert most == 2
        assert order == list(range(6))
        assert [line.ahead(i) for i in range(6)] == [None] * 6

    asyncio.run(main())


def test_a_spawn_given_up_while_waiting_leaves_the_line():
    async def main():
        line = StartLine(1)
        hold = asyncio.Event()

        async def one(i):
            async with line.turn(i):
                await hold.wait()

        first = asyncio.ensure_future(one("a"))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(one("b"))
        third = asyncio.ensure_future(one("c"))
        await asyncio.sleep(0.01)
        assert (line.ahead("b"), line.ahead("c")) == (0, 1)
        second.cancel()  # e.g. the hub's start_timeout
        await asyncio.sleep(0.01)
        assert (line.ahead("b"), line.ahead("c")) == (None, 0)
        hold.set()
        await asyncio.gather(first, third)
        assert second.cancelled()

    asyncio.run(main())


@pytest.mark.parametrize("size", [0, -1, True, 1.5, "4"])
def test_the_line_refuses_a_bad_size(size):
    with pytest.raises(ValueError, match="servers starting at once"):
        StartLine(size)


class SlowContainer(StartedContainer):
    """A container whose start takes `delay` seconds; it counts the starts in progress."""

    delay = 0.2
    running = 0
    most = 0

    async def start(self):
        cls = SlowContainer
        cls.running += 1
        cls.most = max(cls.most, cls.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            cls.running -= 1
        return self.address


class LinedSpawner(CFPSDockerSpawner, SlowContainer):
    pass


def test_spawns_beyond_start_concurrency_wait_and_say_so():
    async def main():
        LinedSpawner._line = None
        SlowContainer.most = 0
        port = free_port()
        spawners = [LinedSpawner(http_timeout=10, start_concurrency=2) for _ in range(5)]
        for s in spawners:
            s.address = ("127.0.0.1", port)
        with Listener(port, delay=0):
            await asyncio.sleep(0.05)
            starts = [asyncio.ensure_future(s.start()) for s in spawners]
            await asyncio.sleep(0.05)
            # The last one's spawn pending page: two ahead of it, then on with the usual message.
            messages = [event["message"] async for event in spawners[4].progress()]
            results = await asyncio.gather(*starts)
        assert results == [("127.0.0.1", port)] * 5
        assert SlowContainer.most == 2
        assert messages[0] == "排队等待启动，前面还有 2 位 / Waiting in line to start: 2 ahead"
        # Each change said once, counting down; then DockerSpawner's own message.
        ahead = [int(m.split(": ")[1].split()[0]) for m in messages[:-1]]
        assert ahead == sorted(set(ahead), reverse=True)
        assert messages[-1] == "Spawning server..."

    asyncio.run(main())


class RecordingDocker(DockerSpawner):
    """DockerSpawner's side of a stop: records the Docker call, or answers with `error`."""

    error = None

    def docker(self, method, *args, **kwargs):
        self.calls = [*getattr(self, "calls", []), (method, args, kwargs)]
        future = asyncio.get_running_loop().create_future()
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(None)
        return future


class StoppingSpawner(CFPSDockerSpawner, RecordingDocker):
    pass


def test_stop_waits_stop_timeout_before_the_kill():
    async def main():
        spawner = StoppingSpawner(stop_timeout=3)
        spawner.object_id = "c0ffee"
        await spawner.stop_object()
        assert spawner.calls == [("stop", ("c0ffee",), {"timeout": 3})]

    asyncio.run(main())


def test_stop_of_a_container_already_gone_is_no_error():
    async def main():
        spawner = StoppingSpawner()
        spawner.object_id = "c0ffee"
        spawner.error = APIError("gone", response=type("R", (), {"status_code": 404, "reason": "Not Found"})())
        await spawner.stop_object()
        spawner.error = APIError("boom", response=type("R", (), {"status_code": 500, "reason": "Server Error"})())
        with pytest.raises(APIError):
            await spawner.stop_object()

    asyncio.run(main())
