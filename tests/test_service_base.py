"""The Wyoming service base: ping, malformed frames, limits, one bad client never hurts another."""

from __future__ import annotations

import asyncio
import json

from wyoming.event import Event
from wyoming.ping import Ping

from jarvis.protocol.service import Connection, ServiceHandler, WyomingServer
from jarvis.protocol.wire import WireLimits


class Echo(ServiceHandler):
    async def handle_event(self, event: Event) -> bool:
        if event.type == "echo":
            await self.write_event(Event("echoed", event.data, event.payload))
            return True
        return await self.unsupported(event)


async def _server(limits: WireLimits | None = None) -> WyomingServer:
    server = WyomingServer(
        "tcp://127.0.0.1:0",
        lambda r, w: Echo(r, w, limits or WireLimits()),
        limits or WireLimits(),
    )
    await server.start()
    return server


async def _raw(server: WyomingServer, blob: bytes) -> list[Event | None]:
    conn = await Connection.open(server.uri)
    conn.writer.write(blob)
    await conn.writer.drain()
    events = []
    async with asyncio.timeout(5):
        while (event := await conn.read_event()) is not None:
            events.append(event)
    await conn.close()
    return events


async def test_ping_and_echo() -> None:
    server = await _server()
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(Ping(text="x").event())
            pong = await conn.read_event(timeout=5)
            assert pong is not None and pong.type == "pong" and pong.data["text"] == "x"
            await conn.write_event(Event("echo", {"a": 1}, b"\x00\x01"))
            echoed = await conn.read_event(timeout=5)
            assert echoed is not None
            assert (echoed.type, echoed.data, echoed.payload) == ("echoed", {"a": 1}, b"\x00\x01")
    finally:
        await server.stop()


async def test_bad_json_header_gets_error_and_close() -> None:
    server = await _server()
    try:
        events = await _raw(server, b"{not json\n")
        assert [e.type for e in events if e] == ["error"]
        assert events[0] is not None and events[0].data["code"] == "bad-header"
    finally:
        await server.stop()


async def test_oversized_payload_is_refused_without_allocation() -> None:
    server = await _server(WireLimits(max_payload_bytes=1000))
    try:
        header = json.dumps({"type": "echo", "payload_length": 10**12}).encode() + b"\n"
        events = await _raw(server, header)
        assert len(events) == 1 and events[0] is not None
        assert events[0].type == "error" and events[0].data["code"] == "too-large"
    finally:
        await server.stop()


async def test_unknown_event_answered_connection_stays() -> None:
    server = await _server()
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(Event("no-such-thing"))
            err = await conn.read_event(timeout=5)
            assert err is not None and err.type == "error"
            assert err.data["code"] == "unsupported-event"
            await conn.write_event(Event("echo", {"still": "here"}))
            echoed = await conn.read_event(timeout=5)
            assert echoed is not None and echoed.data == {"still": "here"}
    finally:
        await server.stop()


async def test_bad_client_does_not_disturb_good_one() -> None:
    server = await _server()
    try:
        async with await Connection.open(server.uri) as good:
            await _raw(server, b"\xff\xfe garbage\n")
            await good.write_event(Event("echo", {"ok": True}))
            echoed = await good.read_event(timeout=5)
            assert echoed is not None and echoed.data == {"ok": True}
    finally:
        await server.stop()


async def test_probe_reports_healthy_and_dead_services() -> None:
    from wyoming.info import Info

    from jarvis.protocol.probe import describe

    class Describable(ServiceHandler):
        async def handle_event(self, event: Event) -> bool:
            if event.type == "describe":
                await self.write_event(Info().event())
            return True

    server = WyomingServer("tcp://127.0.0.1:0", Describable)
    await server.start()
    try:
        info = await describe(server.uri, timeout=3)
        assert isinstance(info, dict)
    finally:
        await server.stop()
    try:
        await describe(server.uri, timeout=3)
    except OSError:
        pass
    else:
        raise AssertionError("a stopped service must not look healthy")
