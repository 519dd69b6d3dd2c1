"""Fuzzing with hypothesis: the Wyoming frame parser and the web API's JSON bodies (issue 15).

- :func:`jarvis.protocol.wire.read_event` on arbitrary bytes, on headers with every length and type
  wrong, on nested JSON up to 40,000 deep, on integers past Python's 4,300-digit conversion limit,
  on non-UTF-8 bytes and on lengths up to 10**30: every input gives an event, a clean EOF or a
  :class:`ProtocolError` with one of the documented codes, within a bounded time and memory.
- The same inputs through a real :class:`WyomingServer` on 127.0.0.1: the server answers ``error``
  with that code (never ``internal``), closes that one connection, and keeps serving a client that
  was connected all along.
- The web app's routes that take a body: arbitrary JSON values, deep nesting, a wrong type in each
  field, odd charsets, lone surrogates: never a 500.

Each test runs its examples on one event loop of its own (``asyncio.Runner``), so a server or an
app is started once per test, not once per example. Every example is bounded by ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wyoming.event import Event

from jarvis.protocol.service import Connection, ServiceHandler, WyomingServer
from jarvis.protocol.wire import ProtocolError, WireLimits, encode_event, read_event
from jarvis.server.web.app import MAX_BODY_BYTES, WebAppConfig, create_app
from jarvis.server.web.store import WebStore

T = TypeVar("T")

#: Small enough to reach every cap, large enough for a 4,301-digit integer (Python's int conversion
#: limit) in a header line or a data block.
LIMITS = WireLimits(max_header_bytes=32 * 1024, max_data_bytes=16 * 1024, max_payload_bytes=8192)
#: The documented codes of :class:`ProtocolError` that a frame on its own can cause.
FRAME_CODES = {"bad-header", "bad-data", "too-large", "truncated"}
#: Per example: a hang is a failure, not a slow test.
EXAMPLE_TIMEOUT_S = 5.0

FUZZ = settings(
    max_examples=200,
    deadline=None,
    # The runner, server and web app are shared by every example on purpose (started once per test).
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    database=None,
)


# -- strategies -----------------------------------------------------------------------------------
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
#: What a length field might be: right, negative, huge, a float, a bool, a string, a list, null.
lengths = (
    st.integers(min_value=0, max_value=64)
    | st.integers(min_value=-(2**40), max_value=-1)
    | st.integers(min_value=LIMITS.max_payload_bytes, max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.text(max_size=6)
    | st.lists(st.integers(), max_size=2)
    | st.none()
)


def _huge_int(digits: int) -> str:
    return "9" * digits


def _nested(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "0" + "}" * depth


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    """A header line (and what follows) that is mostly well-formed, with any field wrong."""
    header: dict[str, Any] = {}
    if draw(st.booleans()):
        header["type"] = draw(st.sampled_from(["echo", "ping", "audio-chunk", "x" * 50]) | json_values)
    if draw(st.booleans()):
        header["data"] = draw(json_values)
    if draw(st.booleans()):
        header["data_length"] = draw(lengths)
    if draw(st.booleans()):
        header["payload_length"] = draw(lengths)
    if draw(st.booleans()):
        header["version"] = draw(json_values)
    line = json.dumps(header, allow_nan=True).encode()
    # Splice in what json.dumps cannot produce: a huge integer, deep nesting, invalid bytes.
    trick = draw(st.sampled_from(["none", "huge-int", "nested", "bad-bytes", "dup-keys"]))
    if trick == "huge-int":
        key = draw(st.sampled_from(["data_length", "payload_length", "type", "data"]))
        value = _huge_int(draw(st.integers(min_value=4000, max_value=40_000)))
        line = line[:-1] + (b", " if header else b"") + f'"{key}": {value}}}'.encode()
    elif trick == "nested":
        depth = draw(st.integers(min_value=1, max_value=40_000))
        line = (
            line[:-1]
            + (b", " if header else b"")
            + b'"data": {"x": '
            + _nested(depth, "list").encode()
            + b"}}"
        )
    elif trick == "bad-bytes":
        at = draw(st.integers(min_value=0, max_value=len(line)))
        line = line[:at] + draw(st.binary(min_size=1, max_size=8)) + line[at:]
    elif trick == "dup-keys":
        line = line[:-1] + (b", " if header else b"") + b'"type": "echo", "type": 5}'
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):  # a data block that is JSON of some sort
        block = draw(
            st.sampled_from(["{}", '{"k": 1}', "[1]", "null", "nan", "{", "\ufeff{}"])
            | st.builds(_nested, st.integers(1, 40_000), st.sampled_from(["list", "dict"]))
            | st.builds(lambda n: '{"n": ' + _huge_int(n) + "}", st.integers(4000, 20_000))
        ).encode("utf-8", "surrogatepass")
        body = block + body
    return line + b"\n" + body


@st.composite
def valid_events(draw: st.DrawFn) -> Event:
    data = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=4))
    payload = draw(st.binary(max_size=256)) or None
    return Event(type=draw(st.text(min_size=1, max_size=20)), data=data, payload=payload)


frames = (
    headers()
    | st.binary(max_size=600)
    | st.binary(max_size=200).map(lambda b: b + b"\n")
    | st.lists(valid_events(), min_size=1, max_size=3).map(lambda es: b"".join(map(encode_event, es)))
)


# -- helpers --------------------------------------------------------------------------------------
@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as run:
        yield run


async def _bounded(coro: Awaitable[T]) -> T:
    async with asyncio.timeout(EXAMPLE_TIMEOUT_S):
        return await coro


async def _parse_all(
    blob: bytes, eof: bool = True, deadline: float | None = None
) -> list[Event | ProtocolError]:
    """Every outcome of reading ``blob`` until EOF or the first error."""
    reader = asyncio.StreamReader(limit=LIMITS.max_header_bytes)
    reader.feed_data(blob)
    if eof:
        reader.feed_eof()
    out: list[Event | ProtocolError] = []
    while True:
        try:
            event = await read_event(reader, LIMITS, frame_deadline_s=deadline, idle_timeout_s=deadline)
        except ProtocolError as err:
            out.append(err)
            return out
        if event is None:
            return out
        out.append(event)


def _check_outcomes(outcomes: list[Event | ProtocolError], extra_codes: frozenset[str] = frozenset()) -> None:
    for item in outcomes[:-1]:
        assert isinstance(item, Event)
    for item in outcomes:
        if isinstance(item, ProtocolError):
            assert item.code in FRAME_CODES | extra_codes, (item.code, item.message)
            assert item.message
        else:
            assert isinstance(item.type, str) and isinstance(item.data, dict)
            assert item.payload is None or len(item.payload) <= LIMITS.max_payload_bytes


# -- the parser -----------------------------------------------------------------------------------
@FUZZ
@given(blob=frames)
def test_parser_gives_an_event_or_a_typed_error(runner: asyncio.Runner, blob: bytes) -> None:
    _check_outcomes(runner.run(_bounded(_parse_all(blob))))


@FUZZ
@given(blob=frames, cut=st.integers(min_value=0, max_value=700))
def test_parser_on_a_stream_that_stops_never_hangs(runner: asyncio.Runner, blob: bytes, cut: int) -> None:
    """No EOF, just silence after some prefix: the frame deadline ends the wait with ``frame-timeout``
    (or ``idle-timeout`` between frames), never a hang."""
    outcomes = runner.run(_bounded(_parse_all(blob[:cut], eof=False, deadline=0.02)))
    assert outcomes and isinstance(outcomes[-1], ProtocolError)
    _check_outcomes(outcomes, frozenset({"frame-timeout", "idle-timeout"}))


@settings(FUZZ, max_examples=100)
@given(events=st.lists(valid_events(), min_size=1, max_size=4))
def test_parser_reads_back_what_encode_event_writes(runner: asyncio.Runner, events: list[Event]) -> None:
    outcomes = runner.run(_bounded(_parse_all(b"".join(encode_event(e) for e in events))))
    assert [(e.type, e.data, e.payload) for e in outcomes if isinstance(e, Event)] == [
        (e.type, e.data, e.payload) for e in events
    ]
    assert len(outcomes) == len(events)


@settings(FUZZ, max_examples=100)
@given(
    key=st.sampled_from(["data_length", "payload_length"]),
    length=st.integers(min_value=LIMITS.max_data_bytes + 1, max_value=10**30),
    sent=st.integers(min_value=0, max_value=4096),
)
def test_huge_declared_lengths_allocate_nothing(
    runner: asyncio.Runner, key: str, length: int, sent: int
) -> None:
    """A frame that declares up to 10**30 bytes is refused from its header: memory stays bounded by
    what was actually sent, whatever it claims (measured with tracemalloc)."""
    if key == "payload_length" and length <= LIMITS.max_payload_bytes:
        length += LIMITS.max_payload_bytes
    blob = json.dumps({"type": "echo", key: length}).encode() + b"\n" + b"\x00" * sent
    tracemalloc.start()
    try:
        outcomes = runner.run(_bounded(_parse_all(blob)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(outcomes) == 1 and isinstance(outcomes[0], ProtocolError) and outcomes[0].code == "too-large"
    assert peak < 256 * 1024 + 4 * len(blob), peak


@settings(FUZZ, max_examples=60)
@given(
    depth=st.integers(min_value=500, max_value=40_000),
    where=st.sampled_from(["header", "data"]),
    kind=st.sampled_from(["list", "dict"]),
)
def test_deep_nesting_is_bad_header_or_bad_data(
    runner: asyncio.Runner, depth: int, where: str, kind: str
) -> None:
    limits = WireLimits(max_header_bytes=1 << 20, max_data_bytes=1 << 20)
    nested = _nested(depth, kind).encode()
    if where == "header":
        blob = b'{"type": "echo", "data": {"x": ' + nested + b"}}\n"
    else:
        blob = json.dumps({"type": "echo", "data_length": len(nested)}).encode() + b"\n" + nested

    async def parse() -> Event | None:
        reader = asyncio.StreamReader(limit=limits.max_header_bytes)
        reader.feed_data(blob)
        reader.feed_eof()
        return await read_event(reader, limits)

    try:
        event = runner.run(_bounded(parse()))
    except ProtocolError as err:
        assert err.code == ("bad-header" if where == "header" else "bad-data"), err.message
    else:  # shallow enough for the parser: an ordinary event
        assert event is not None and event.type == "echo"


# -- the parser behind a real server --------------------------------------------------------------
class Echo(ServiceHandler):
    async def handle_event(self, event: Event) -> bool:
        if event.type == "echo":
            await self.write_event(Event("echoed", event.data, event.payload))
            return True
        return await self.unsupported(event)


async def _exchange(server: WyomingServer, blob: bytes) -> list[Event]:
    conn = await Connection.open(server.uri)  # default limits: an echo may carry more data inline
    events: list[Event] = []
    try:
        conn.writer.write(blob)
        await conn.writer.drain()
        conn.writer.write_eof()
        while (event := await conn.read_event()) is not None:
            events.append(event)
        return events
    except ConnectionResetError:  # the server closed while we still sent: what it said came first
        return events
    finally:
        await conn.close()


@settings(FUZZ, max_examples=150)
@given(blob=frames)
def test_server_answers_error_and_keeps_serving(runner: asyncio.Runner, blob: bytes) -> None:
    server, bystander = runner.run(_server_and_bystander())
    events = runner.run(_bounded(_exchange(server, blob)))
    for event in events:
        assert event.type in ("echoed", "pong", "error"), event
        if event.type == "error":
            assert event.data.get("code") in FRAME_CODES | {"unsupported-event"}, event.data
    fatal = [i for i, e in enumerate(events) if e.type == "error" and e.data["code"] != "unsupported-event"]
    assert not fatal or fatal == [len(events) - 1], events  # nothing after a malformed frame

    async def still_served() -> None:
        await bystander.write_event(Event("echo", {"alive": True}, b"\x01"))
        echoed = await bystander.read_event()
        assert echoed is not None and echoed.type == "echoed" and echoed.data == {"alive": True}

    runner.run(_bounded(still_served()))


_SERVERS: dict[int, tuple[WyomingServer, Connection]] = {}


async def _server_and_bystander() -> tuple[WyomingServer, Connection]:
    """One server and one well-behaved client per event loop (per test), made on first use."""
    key = id(asyncio.get_running_loop())
    if key not in _SERVERS:
        server = WyomingServer("tcp://127.0.0.1:0", lambda r, w: Echo(r, w, LIMITS), LIMITS)
        await server.start()
        _SERVERS[key] = (server, await Connection.open(server.uri, limits=LIMITS))
    return _SERVERS[key]


@pytest.fixture(autouse=True)
def _stop_servers(runner: asyncio.Runner) -> Iterator[None]:
    yield
    for key, (server, bystander) in list(_SERVERS.items()):
        runner.run(bystander.close())
        runner.run(server.stop())
        del _SERVERS[key]


# -- the web app ----------------------------------------------------------------------------------
TOKEN = "fuzz-token-0123456789abcdef0123"


class WebFuzz:
    """One app (a real store in a temporary data dir) and one logged-in client, on ``runner``'s loop."""

    def __init__(self, runner: asyncio.Runner, data_dir: Path) -> None:
        self.runner = runner
        config = WebAppConfig(
            token=TOKEN, hub_uri="tcp://127.0.0.1:9", data_dir=data_dir, secure_cookie=False
        )

        async def start() -> TestClient[Any, Any]:
            client: TestClient[Any, Any] = TestClient(TestServer(create_app(config, WebStore(data_dir))))
            await client.start_server()
            return client

        self.client = runner.run(start())

        async def login() -> None:
            resp = await self.client.post("/api/login", json={"token": TOKEN})
            assert resp.status == 200, await resp.text()

        runner.run(login())

    def request(self, method: str, path: str, body: bytes, content_type: str = "application/json") -> int:
        async def go() -> int:
            resp = await self.client.request(method, path, data=body, headers={"Content-Type": content_type})
            text = await resp.text()
            assert resp.status < 500, (resp.status, text[:500])
            if resp.status >= 400 and resp.status != 404:
                assert resp.content_type == "application/json", (resp.status, text[:200])
                assert json.loads(text)["error"]
            return resp.status

        return self.runner.run(_bounded(go()))

    def close(self) -> None:
        self.runner.run(self.client.close())


@pytest.fixture
def web(runner: asyncio.Runner, tmp_path: Path) -> Iterator[WebFuzz]:
    fuzz = WebFuzz(runner, tmp_path / "data")
    try:
        yield fuzz
    finally:
        fuzz.close()


BODY_ROUTES = [
    ("PUT", "/api/memory/profile"),
    ("PUT", "/api/memory/dynamic"),
    ("POST", "/api/memory/facts"),
    ("POST", "/api/feedback"),
]
#: The fields each route reads, to put a wrong type in each.
ROUTE_FIELDS = {
    "/api/memory/profile": ["name", "age", "interests", "values", "location", "unknown"],
    "/api/memory/dynamic": ["summary"],
    "/api/memory/facts": ["text"],
    "/api/feedback": ["turn_id", "rating", "question", "answer", "comment"],
    "/api/login": ["token", "user"],
}

any_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=50)
    | st.text(alphabet=st.characters(codec=None, categories=["Cs"]), min_size=1, max_size=3),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def bodies(draw: st.DrawFn, path: str) -> tuple[bytes, str]:
    """A body for ``path``: the right shape with any field wrong, any JSON, deep nesting, junk."""
    kind = draw(st.sampled_from(["fields", "fields", "any", "nested", "huge-int", "bytes", "charset"]))
    content_type = "application/json"
    if kind == "fields":
        fields = ROUTE_FIELDS[path]
        body = {k: draw(any_json | st.text(max_size=3000)) for k in draw(st.lists(st.sampled_from(fields)))}
        if path == "/api/feedback" and draw(st.booleans()):
            body = {"turn_id": "t1", "rating": 1, **body}
        raw = _dumps(body)
    elif kind == "any":
        raw = _dumps(draw(any_json))
    elif kind == "nested":
        depth = draw(st.integers(min_value=1, max_value=30_000))
        raw = ('{"text": ' + _nested(depth, draw(st.sampled_from(["list", "dict"]))) + "}").encode()
    elif kind == "huge-int":
        field = draw(st.sampled_from(ROUTE_FIELDS[path]))
        raw = ('{"' + field + '": ' + _huge_int(draw(st.integers(4000, 20_000))) + "}").encode()
    elif kind == "bytes":
        raw = draw(st.binary(max_size=300))
    else:
        raw = _dumps({ROUTE_FIELDS[path][0]: "x"})
        charset = draw(st.sampled_from(["utf-16", "latin-1", "no-such-charset", "utf-8", "", "ascii"]))
        content_type = f"application/json; charset={charset}"
    return raw, content_type


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_web_bodies_never_give_a_500(web: WebFuzz, data: st.DataObject) -> None:
    method, path = data.draw(st.sampled_from(BODY_ROUTES))
    body, content_type = data.draw(bodies(path))
    status = web.request(method, path, body, content_type)
    assert status in (200, 201, 400, 413, 415, 503), status


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_login_bodies_never_give_a_500(web: WebFuzz, data: st.DataObject) -> None:
    """Unauthenticated: arbitrary bodies on /api/login are 200/400/401/429, never a 500."""
    body, content_type = data.draw(bodies("/api/login"))
    status = web.request("POST", "/api/login", body, content_type)
    assert status in (200, 400, 401, 413, 429), status


@settings(FUZZ, max_examples=100)
@given(fact_id=st.text(max_size=40) | st.integers(min_value=-(2**80), max_value=2**80).map(str))
def test_fact_ids_in_the_path_never_give_a_500(web: WebFuzz, fact_id: str) -> None:
    from urllib.parse import quote

    status = web.request("DELETE", "/api/memory/facts/" + quote(fact_id, safe=""), b"")
    assert status in (200, 400, 404, 405), status


def test_web_body_over_the_cap_is_413(web: WebFuzz) -> None:
    body = _dumps({"text": "x" * (MAX_BODY_BYTES + 10)})
    assert web.request("POST", "/api/memory/facts", body) == 413


def test_surrogates_and_huge_ints_are_400(web: WebFuzz) -> None:
    """The two inputs the fuzzer found giving 500s: a lone surrogate that SQLite cannot store, and an
    integer past Python's 4,300-digit limit (ValueError, not JSONDecodeError)."""
    assert web.request("POST", "/api/memory/facts", b'{"text": "a\\ud800b"}') == 400
    assert web.request("PUT", "/api/memory/profile", b'{"name": "\\udfff"}') == 400
    assert web.request("POST", "/api/memory/facts", b'{"text": ' + b"1" * 5000 + b"}") == 400
    assert (
        web.request("POST", "/api/memory/facts", b'{"text": "ok"}', "application/json; charset=nope") == 400
    )


@pytest.mark.parametrize(
    ("blob", "code"),
    [
        (b'{"type": "echo", "data_length": ' + b"9" * 4301 + b"}\n", "bad-header"),
        (b'{"type": "echo", "data_length": 4399}\n{"n": ' + b"1" * 4392 + b"}", "bad-data"),
    ],
)
def test_integer_over_4300_digits_is_a_malformed_frame(
    runner: asyncio.Runner, blob: bytes, code: str
) -> None:
    """Found by the fuzzer: json.loads raises a plain ValueError (Python's int conversion limit), which
    the server answered as ``internal``."""
    server, _ = runner.run(_server_and_bystander())
    events = runner.run(_bounded(_exchange(server, blob)))
    assert [(e.type, e.data["code"]) for e in events] == [("error", code)]
