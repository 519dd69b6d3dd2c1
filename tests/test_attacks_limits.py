"""Issue 15, section 2: bounded resources under attack, over real sockets on 127.0.0.1.

Each attack runs against small limits passed to constructors, so the whole file stays fast. A flood
"from one address" comes from 127.0.0.2 (Linux routes all of 127/8 to loopback), so a well-behaved
client on 127.0.0.1 is a different peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, Satellite

from jarvis.protocol.service import (
    ACCEPT_ERROR_PREFIX,
    ConnectionLimits,
    RateLimitFilter,
    ServiceHandler,
    WyomingServer,
)
from jarvis.protocol.wire import read_event, write_event

INFO = Info(
    satellite=Satellite(
        name="limits",
        attribution=Attribution(name="t", url="https://example.invalid"),
        installed=True,
        description="limits",
        version="1",
    )
)


class Describable(ServiceHandler):
    """``describe`` -> ``info``; ``auth`` marks the peer authenticated (as the hub's secret would)."""

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(INFO.event())
            return True
        if event.type == "auth":
            self.mark_authenticated()
            await self.write_event(Event("authenticated"))
            return True
        return await self.unsupported(event)


@contextlib.asynccontextmanager
async def serving(limits: ConnectionLimits) -> AsyncIterator[WyomingServer]:
    server = WyomingServer("tcp://127.0.0.1:0", Describable, connection_limits=limits)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class Raw:
    """A raw client connection, optionally from another loopback source address."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: WyomingServer, source: str = "127.0.0.1") -> Raw:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, local_addr=(source, 0)
            )
        return cls(reader, writer)

    async def send(self, event: Event) -> None:
        await write_event(event, self.writer)

    async def read(self, timeout: float = 5.0) -> Event | None:
        async with asyncio.timeout(timeout):
            return await read_event(self.reader)

    async def closed_with(self, timeout: float = 5.0) -> list[str]:
        """Error codes received until the server closed the connection."""
        codes = []
        async with asyncio.timeout(timeout):
            while (event := await read_event(self.reader)) is not None:
                assert event.type == "error", event
                codes.append(event.data.get("code"))
        return codes

    async def describe(self) -> Info:
        await self.send(Describe().event())
        event = await self.read()
        assert event is not None and Info.is_type(event.type), event
        return Info.from_event(event)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def _close_all(conns: list[Raw]) -> None:
    await asyncio.gather(*(c.close() for c in conns))


async def _until(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (server counters have no event to await)
            await asyncio.sleep(0.01)


# -- connection caps ------------------------------------------------------------------------------


async def test_idle_flood_from_one_address_is_capped_and_others_are_served() -> None:
    limits = ConnectionLimits(max_per_address=4, max_total=16, reserved=4)
    async with serving(limits) as server:
        flood = [await Raw.open(server, "127.0.0.2") for _ in range(4)]
        await _until(lambda: server.connection_count == 4)
        extra = [await Raw.open(server, "127.0.0.2") for _ in range(3)]
        for conn in extra:  # beyond the cap: an error, then closed
            assert await conn.closed_with() == ["too-many-connections"]
        assert server.refused == 3 and server.connection_count == 4
        # A well-behaved client elsewhere is served, and so is one that started before the flood.
        good = await Raw.open(server)
        assert (await good.describe()).satellite is not None
        # The idle ones still hold their slots; closing them frees them.
        await _close_all(flood)
        await _until(lambda: server.connection_count == 1)
        again = await Raw.open(server, "127.0.0.2")
        assert (await again.describe()).satellite is not None
        await _close_all([good, again, *extra])


async def test_reserve_keeps_slots_for_authenticated_peers() -> None:
    limits = ConnectionLimits(max_per_address=2, max_total=8, reserved=3, probation_s=0.3)
    async with serving(limits) as server:
        # Anonymous connections from several addresses fill everything outside the reserve.
        flood = [await Raw.open(server, f"127.0.1.{i // 2 + 1}") for i in range(5)]
        await _until(lambda: server.connection_count == 5)
        # The next anonymous client gets a reserved slot on probation, and loses it in time...
        anonymous = await Raw.open(server, "127.0.2.1")
        assert (await anonymous.describe()).satellite is not None
        # ...while a client that authenticates keeps its reserved slot past the probation.
        satellite = await Raw.open(server, "127.0.2.2")
        await satellite.send(Event("auth"))
        assert (ack := await satellite.read()) is not None and ack.type == "authenticated"
        assert await anonymous.closed_with(timeout=3) == ["too-many-connections"]
        await asyncio.sleep(limits.probation_s + 0.2)
        assert (await satellite.describe()).satellite is not None
        await _close_all([anonymous, satellite, *flood])


async def test_total_cap_refuses_when_full() -> None:
    limits = ConnectionLimits(max_per_address=10, max_total=3, reserved=1, probation_s=30)
    async with serving(limits) as server:
        held = [await Raw.open(server, f"127.0.3.{i + 1}") for i in range(3)]
        await _until(lambda: server.connection_count == 3)
        refused = await Raw.open(server, "127.0.3.9")
        assert await refused.closed_with() == ["too-many-connections"]
        await _close_all([refused, *held])


# -- slowloris and idle peers -----------------------------------------------------------------------


async def test_slowloris_partial_frame_is_closed_after_the_deadline() -> None:
    limits = ConnectionLimits(frame_deadline_s=0.5)
    async with serving(limits) as server:
        slow = await Raw.open(server)
        good = await Raw.open(server)
        started = time.monotonic()

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                for byte in b'{"type": "describe", "data": {"padding": "' + b"x" * 100:
                    slow.writer.write(bytes([byte]))
                    await slow.writer.drain()
                    await asyncio.sleep(0.05)

        trickler = asyncio.create_task(trickle())
        try:
            assert await slow.closed_with(timeout=5) == ["frame-timeout"]
            assert 0.4 < time.monotonic() - started < 3
            # Meanwhile, and after, others are served.
            assert (await good.describe()).satellite is not None
        finally:
            trickler.cancel()
            await asyncio.gather(trickler, return_exceptions=True)
        await _close_all([slow, good])


async def test_an_idle_peer_is_closed_only_with_an_idle_timeout() -> None:
    async with serving(ConnectionLimits(idle_timeout_s=0.3)) as server:
        idle = await Raw.open(server)
        busy = await Raw.open(server)
        for _ in range(4):  # a peer that keeps talking is never idle
            await asyncio.sleep(0.15)
            assert (await busy.describe()).satellite is not None
        assert await idle.closed_with() == ["idle-timeout"]
        await _close_all([idle, busy])
    async with serving(ConnectionLimits()) as server:  # default: no idle timeout
        idle = await Raw.open(server)
        with pytest.raises(TimeoutError):
            await idle.read(timeout=0.5)
        await idle.close()


# -- file-descriptor pressure --------------------------------------------------------------------------

FD_SERVER = textwrap.dedent(
    """
    import asyncio, logging, resource, sys
    from wyoming.event import Event
    from wyoming.info import Describe
    from jarvis.protocol.service import ConnectionLimits, ServiceHandler, WyomingServer

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))

    class H(ServiceHandler):
        async def handle_event(self, event):
            if Describe.is_type(event.type):
                await self.write_event(Event("info", {}))
            return True

    async def main():
        caps = ConnectionLimits(max_per_address=10_000, max_total=10_000, reserved=0)
        server = WyomingServer("tcp://127.0.0.1:0", H, connection_limits=caps)
        await server.start()
        print(server.port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await server.stop()

    asyncio.run(main())
    """
)


async def test_fd_pressure_recovers_and_does_not_flood_the_log(tmp_path: Path) -> None:
    """The server runs out of descriptors, backs off, serves again once they are free, logs little."""
    log = tmp_path / "server.log"
    with log.open("wb") as stderr:  # noqa: ASYNC230
        proc = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-c", FD_SERVER, "40"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        port = int(await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20))

        class Target:
            pass

        target = Target()
        target.port = port  # type: ignore[attr-defined]
        conns: list[Raw] = []
        starved: Raw | None = None
        for _ in range(80):  # beyond the server's 40 fds; the kernel backlog completes the rest
            conn = await Raw.open(target)  # type: ignore[arg-type]
            conns.append(conn)
            await conn.send(Describe().event())
            try:
                await conn.read(timeout=0.5)
            except TimeoutError:
                starved = conn  # accept() failed: the server is out of descriptors
                break
        assert starved is not None, "the server never ran out of file descriptors"
        await asyncio.sleep(3.5)  # a few of asyncio's one-second accept retries
        await _close_all(conns)
        # Descriptors free again: a new client is served (after the backlog drains).
        fresh = await Raw.open(target)  # type: ignore[arg-type]
        await fresh.send(Describe().event())
        answer = await fresh.read(timeout=10)
        assert answer is not None and answer.type == "info"
        await fresh.close()
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(b"\n")
                proc.stdin.flush()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log.read_text(errors="replace")  # noqa: ASYNC240
    lines = text.splitlines()
    assert sum("cannot accept connections" in line for line in lines) == 1, text[-3000:]
    again = [line for line in lines if "accepting connections again" in line]
    assert len(again) == 1, text[-3000:]
    # It backed off (at most ~1 s apart) instead of spinning: a handful of attempts in ~4 s.
    attempts = int(again[0].rsplit(" after ", 1)[1].split()[0])
    assert 1 <= attempts <= 15, again
    assert ACCEPT_ERROR_PREFIX not in text and "Traceback" not in text, text[-3000:]
    assert len(lines) < 20, text[-3000:]


def test_rate_limit_filter_counts_what_it_held_back() -> None:
    logger = logging.getLogger("jarvis.test.ratelimit")
    logger.propagate = False
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    filt = RateLimitFilter("flood", interval_s=0.2)
    logger.addFilter(filt)
    try:
        for _ in range(100):
            logger.error("flood\nsecond line")
            logger.error("other")
        time.sleep(0.25)
        logger.error("flood\nsecond line")
    finally:
        logger.removeFilter(filt)
        logger.removeHandler(handler)
    floods = [m for m in seen if m.startswith("flood")]
    assert len(floods) == 2
    assert "99 more like it" in floods[1] and floods[1].endswith("second line")
    assert seen.count("other") == 100
