"""Service pools over real sockets: least-busy balancing, round-robin ties, down/backoff/back."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator

import pytest
from wyoming.event import Event
from wyoming.info import Info

from jarvis.protocol.service import ServiceHandler, WyomingServer
from jarvis.server.bench.procs import free_port
from jarvis.server.hub.services import ServicePool, ServiceUnavailable


class DescribeOnly(ServiceHandler):
    """A minimal Wyoming service: answers describe, counts connections."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[str]) -> None:
        super().__init__(reader, writer)
        seen.append(self.peer)

    async def handle_event(self, event: Event) -> bool:
        await self.write_event(Info().event())
        return True


@contextlib.asynccontextmanager
async def service(port: int = 0) -> AsyncIterator[tuple[WyomingServer, list[str]]]:
    seen: list[str] = []
    server = WyomingServer(f"tcp://127.0.0.1:{port}", functools.partial(DescribeOnly, seen=seen))
    async with server:
        yield server, seen


async def test_least_busy_then_round_robin() -> None:
    async with service() as (a, _), service() as (b, _):
        pool = ServicePool("stt", [a.uri, b.uri])
        async with pool.connect(), pool.connect():
            # two requests in flight at once: one on each service
            assert [s.in_flight for s in pool.services] == [1, 1]
            async with pool.connect():
                assert sorted(s.in_flight for s in pool.services) == [1, 2]
        assert [s.in_flight for s in pool.services] == [0, 0]
        # idle services take turns
        for _ in range(4):
            async with pool.connect():
                pass
        assert [s.requests for s in pool.services] == [4, 3] or [s.requests for s in pool.services] == [3, 4]


async def test_down_service_is_skipped_then_used_again() -> None:
    port_b = free_port()
    async with service() as (a, _):
        pool = ServicePool("tts", [a.uri, f"tcp://127.0.0.1:{port_b}"], backoff_initial=30)
        for _ in range(3):
            async with pool.connect():
                pass
        assert not pool.services[1].up
        assert pool.services[0].requests == 3 and pool.services[1].requests == 0
        assert pool.services[1].failures == 1  # tried once, then skipped during its backoff
        async with service(port_b):
            pool.services[1].retry_at = 0  # the backoff is over
            for _ in range(2):
                async with pool.connect():
                    pass
            assert pool.services[1].up and pool.services[1].requests >= 1


async def test_all_down_raises_then_recovers_without_waiting_for_backoff() -> None:
    port = free_port()
    pool = ServicePool("brain", [f"tcp://127.0.0.1:{port}"], backoff_initial=60)
    with pytest.raises(ServiceUnavailable, match="no brain service reachable"):
        async with pool.connect():
            pass
    assert not pool.any_up
    async with service(port):
        async with pool.connect():  # every service down: tried anyway, despite the 60 s backoff
            pass
        assert pool.any_up


async def test_connection_lost_mid_request_marks_down() -> None:
    async with service() as (a, _):
        pool = ServicePool("stt", [a.uri])
        with pytest.raises(ConnectionResetError):
            async with pool.connect():
                raise ConnectionResetError("peer went away")
        assert not pool.services[0].up
        info = await pool.describe()
        assert info is not None and pool.services[0].up


def test_bad_uri_is_refused_at_startup() -> None:
    with pytest.raises(ValueError):
        ServicePool("stt", ["http://nope"])
    with pytest.raises(ValueError):
        ServicePool("stt", [])
