"""Malformed frames against a real server on 127.0.0.1: each gets an ``error`` with the right code
(or, where nothing can be answered, a close), is logged, and another client keeps being served."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest
from wyoming.event import Event

from jarvis.protocol.service import Connection, ServiceHandler, WyomingServer
from jarvis.protocol.wire import WireLimits

LIMITS = WireLimits(max_header_bytes=4096, max_data_bytes=2048, max_payload_bytes=8192)


class Echo(ServiceHandler):
    async def handle_event(self, event: Event) -> bool:
        if event.type == "echo":
            await self.write_event(Event("echoed", event.data, event.payload))
            return True
        return await self.unsupported(event)


@pytest.fixture
async def server() -> AsyncIterator[WyomingServer]:
    srv = WyomingServer("tcp://127.0.0.1:0", lambda r, w: Echo(r, w, LIMITS), LIMITS)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def _header(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


async def _send_raw(server: WyomingServer, blob: bytes, eof: bool = True) -> list[Event]:
    """Send ``blob`` (then half-close) and collect what the server answers until it closes."""
    conn = await Connection.open(server.uri)
    try:
        conn.writer.write(blob)
        await conn.writer.drain()
        if eof:
            conn.writer.write_eof()
        events = []
        async with asyncio.timeout(5):
            while (event := await conn.read_event()) is not None:
                events.append(event)
        return events
    finally:
        await conn.close()


async def _still_serving(server: WyomingServer) -> None:
    async with await Connection.open(server.uri) as conn:
        await conn.write_event(Event("echo", {"alive": True}, b"\x00"))
        echoed = await conn.read_event(timeout=5)
        assert echoed is not None and echoed.type == "echoed" and echoed.data == {"alive": True}


CASES = {
    # name: (bytes sent, expected error code)
    "eof-inside-header": (b'{"type": "echo"', "truncated"),
    "eof-inside-data": (_header({"type": "echo", "data_length": 100}) + b'{"a":', "truncated"),
    "eof-inside-payload": (_header({"type": "echo", "payload_length": 100}) + b"\x00" * 10, "truncated"),
    "data-length-over-cap": (_header({"type": "echo", "data_length": 10**9}), "too-large"),
    "payload-length-over-cap": (_header({"type": "echo", "payload_length": 10**12}), "too-large"),
    "negative-data-length": (_header({"type": "echo", "data_length": -5}), "bad-header"),
    "negative-payload-length": (_header({"type": "echo", "payload_length": -1}), "bad-header"),
    "string-payload-length": (_header({"type": "echo", "payload_length": "10"}), "bad-header"),
    "float-data-length": (_header({"type": "echo", "data_length": 1.5}), "bad-header"),
    "bool-data-length": (_header({"type": "echo", "data_length": True}), "bad-header"),
    "header-over-cap": (b'{"type": "echo", "data": {"x": "' + b"a" * 10_000 + b'"}}\n', "too-large"),
    "header-not-json": (b"this is not json\n", "bad-header"),
    "header-not-utf8": (b"\xff\xfe\xfd\n", "bad-header"),
    "header-is-array": (_header([1, 2, 3]), "bad-header"),
    "header-is-string": (_header("echo"), "bad-header"),
    "header-without-type": (_header({"data": {}}), "bad-header"),
    "type-not-string": (_header({"type": 5}), "bad-header"),
    "data-not-object": (_header({"type": "echo", "data": [1]}), "bad-header"),
    "data-block-not-json": (_header({"type": "echo", "data_length": 8}) + b"not json", "bad-data"),
    "data-block-not-object": (_header({"type": "echo", "data_length": 3}) + b"[1]", "bad-data"),
    # Nesting deeper than Python's recursion limit (json.loads raises RecursionError): malformed, not
    # "internal". 1,000 levels fit these test caps; a real header may nest 30,000 deep.
    "header-nested-too-deep": (
        b'{"type": "echo", "data": {"x": ' + b"[" * 2000 + b"]" * 2000 + b"}}\n",
        "bad-header",
    ),
    "data-block-nested-too-deep": (
        _header({"type": "echo", "data_length": 2000}) + b"[" * 1000 + b"]" * 1000,
        "bad-data",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_malformed_frame_gets_error_and_close(
    server: WyomingServer, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    blob, code = CASES[case]
    async with await Connection.open(server.uri) as bystander:  # connected before, during, after
        with caplog.at_level(logging.WARNING, logger="jarvis.protocol.service"):
            events = await _send_raw(server, blob)
        assert [e.type for e in events] == ["error"], events
        assert events[0].data["code"] == code
        assert events[0].data["text"]
        assert any("malformed frame" in r.getMessage() and code in r.getMessage() for r in caplog.records)
        # A client connected all along is still served, and so is a new one.
        await bystander.write_event(Event("echo", {"n": 1}))
        echoed = await bystander.read_event(timeout=5)
        assert echoed is not None and echoed.data == {"n": 1}
    await _still_serving(server)


async def test_oversized_header_without_newline_is_refused(server: WyomingServer) -> None:
    """A peer that streams a header line forever is cut off at the cap, not buffered."""
    events = await _send_raw(server, b"{" + b" " * 20_000, eof=False)
    assert [e.type for e in events] == ["error"]
    assert events[0].data["code"] == "too-large"
    await _still_serving(server)


async def test_valid_frames_after_a_bad_client_and_within_caps(server: WyomingServer) -> None:
    await _send_raw(server, b"garbage\n")
    async with await Connection.open(server.uri) as conn:
        payload = bytes(range(256)) * 32  # 8192 bytes: exactly the cap
        await conn.write_event(Event("echo", {"k": "v" * 1000}, payload))
        echoed = await conn.read_event(timeout=5)
        assert echoed is not None and echoed.payload == payload and echoed.data == {"k": "v" * 1000}


async def test_many_bad_clients_at_once_do_not_stop_the_server(server: WyomingServer) -> None:
    blobs = [CASES[name][0] for name in sorted(CASES)]
    results = await asyncio.gather(*(_send_raw(server, blob) for blob in blobs))
    assert all([e.type for e in events] == ["error"] for events in results)
    await _still_serving(server)
