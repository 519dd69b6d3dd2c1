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
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port, local_addr=(source, 0))
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


async def test_unix_socket_server_is_capped_too(tmp_path: Path) -> None:
    from jarvis.protocol.service import Connection

    path = tmp_path / "wyoming.sock"
    for _ in range(2):  # the second start finds the first one's stale socket file
        server = WyomingServer(
            f"unix://{path}", Describable, connection_limits=ConnectionLimits(max_per_address=1)
        )
        await server.start()
        try:
            async with await Connection.open(server.uri) as first, await Connection.open(server.uri) as extra:
                await first.write_event(Describe().event())
                answer = await first.read_event(timeout=5)
                assert answer is not None and Info.is_type(answer.type)
                refused = await extra.read_event(timeout=5)
                assert refused is not None and refused.data["code"] == "too-many-connections"
        finally:
            await server.stop()


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


# -- the TTS request queue ---------------------------------------------------------------------------


async def test_tts_request_flood_gets_errors_not_unbounded_memory() -> None:
    from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

    from jarvis.protocol.service import Connection
    from jarvis.protocol.wire import encode_event
    from jarvis.server.tts.__main__ import start_tts
    from jarvis.server.tts.engine import PiperEngine, VoiceSettings
    from jarvis.server.tts.handler import HandlerSettings

    engine = await asyncio.to_thread(PiperEngine.load, VoiceSettings(workers=1, threads=1))
    settings = HandlerSettings(max_queued_requests=3)
    server = await start_tts("tcp://127.0.0.1:0", settings=settings, engine=engine)
    try:
        async with await Connection.open(server.uri) as conn:
            # 2,000 requests in one write, far faster than anything is spoken; then a stream.
            flood = encode_event(Synthesize(text="Hi.").event()) * 2000
            stream = b"".join(
                encode_event(e.event())
                for e in (SynthesizeStart(), SynthesizeChunk(text="Refused stream."), SynthesizeStop())
            )
            conn.writer.write(flood + stream)
            await conn.writer.drain()
            await conn.write_event(Describe().event())
            codes: list[str] = []
            stops = 0
            async with asyncio.timeout(60):
                while True:
                    event = await conn.read_event()
                    assert event is not None
                    if event.type == "error":
                        codes.append(event.data["code"])
                    elif event.type == "audio-stop":
                        stops += 1
                    elif event.type == "synthesize-stopped":
                        raise AssertionError("the refused stream was spoken")
                    elif Info.is_type(event.type):
                        break  # describe is answered in order, after the flood was read
            assert set(codes) == {"queue-full"}
            assert len(codes) >= 2000 - 3 - 1, len(codes)  # only the first few were queued
            # The accepted requests are still spoken, and the connection keeps working.
            async with asyncio.timeout(60):
                while stops < 2001 - len(codes):
                    event = await conn.read_event()
                    assert event is not None
                    stops += event.type == "audio-stop"
            await conn.write_event(Synthesize(text="Still here.").event())
            async with asyncio.timeout(60):
                while (event := await conn.read_event()) is not None and event.type != "audio-stop":
                    assert event.type != "error", event
    finally:
        await server.stop()
        engine.close()


# -- STT audio buffers ---------------------------------------------------------------------------------


async def test_stt_upload_over_the_budget_is_refused_and_others_keep_being_served() -> None:
    from speech import silence, speak
    from wyoming.audio import AudioChunk, AudioStart, AudioStop

    from jarvis.protocol.service import Connection
    from jarvis.server.stt.__main__ import start_stt
    from jarvis.server.stt.client import transcribe
    from jarvis.server.stt.engine import ModelLoader, SttEngine, SttSettings
    from jarvis.server.stt.handler import AudioBudget, StreamingSettings

    second = 32000
    budget = AudioBudget(max_bytes=20 * second, reserved_bytes=8 * second, long_bytes=6 * second)
    settings = SttSettings()
    model = await asyncio.to_thread(ModelLoader.load_sync, settings)
    engine = SttEngine(settings, loader=ModelLoader.preloaded(settings, model))
    server = await start_stt("tcp://127.0.0.1:0", streaming=StreamingSettings(budget=budget), engine=engine)

    async def upload(conn: Connection, seconds: float) -> None:
        await conn.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        chunk = silence(0.5)
        for _ in range(int(seconds * 2)):
            await conn.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=chunk).event())

    try:
        async with asyncio.timeout(60):
            await engine.model()
        async with (
            await Connection.open(server.uri) as long_one,
            await Connection.open(server.uri) as hostile,
        ):
            # One long upload takes 10 s of the 12 s that long uploads may use, and holds it.
            await upload(long_one, 10)
            await long_one.write_event(Describe().event())
            seen: list[str] = []
            async with asyncio.timeout(30):
                while (event := await long_one.read_event()) is not None and not Info.is_type(event.type):
                    seen.append(event.type)
            assert "error" not in seen and seen[0] == "transcript-start", seen
            await _until(lambda: budget.used == 10 * second, timeout=30)
            # A second one runs over: a clear error, its audio dropped.
            await upload(hostile, 30)
            errors: list[str] = []
            async with asyncio.timeout(30):
                while not errors:
                    event = await hostile.read_event()
                    assert event is not None
                    if event.type == "error":
                        errors.append(event.data["code"])
            assert errors == ["audio-budget"]
            await hostile.write_event(AudioStop().event())
            await _until(lambda: budget.used == 10 * second, timeout=30)
            # A voice turn still fits (the reserve), and gets its transcript.
            sentence = "Turn off the kitchen lights."
            result = await transcribe(server.uri, speak(sentence) + silence(0.5), timeout=60)
            assert "kitchen" in result.text.lower(), result.text
            assert budget.refused == 1
            # The hostile connection itself keeps working: describe is answered.
            await hostile.write_event(Describe().event())
            async with asyncio.timeout(30):
                while (event := await hostile.read_event()) is not None and not Info.is_type(event.type):
                    assert event.type != "error", event
        await _until(lambda: budget.used == 0, timeout=30)  # every byte released
    finally:
        await server.stop()
        await engine.close()


def test_audio_budget_keeps_a_reserve_for_short_utterances() -> None:
    from jarvis.server.stt.handler import AudioBudget

    budget = AudioBudget(max_bytes=100, reserved_bytes=30, long_bytes=20)
    assert budget.take(0, 20)  # short so far: may use everything
    assert budget.take(20, 50)  # long: up to 70 in all
    assert not budget.take(70, 1)  # long uploads never take the reserve
    assert budget.take(0, 20) and budget.take(0, 10)  # short utterances do
    assert not budget.take(0, 1)  # full
    budget.release(100)
    assert budget.used == 0 and budget.refused == 2


# -- the hub's pipeline audio queue ------------------------------------------------------------------------


async def test_hub_audio_queue_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    from jarvis.server.hub.pipeline import PipelineRun, PipelineServices, TurnInfo
    from jarvis.server.hub.services import ServicePool

    async def emit(event: object) -> None:
        pass

    pools = {kind: ServicePool(kind, ["tcp://127.0.0.1:9"]) for kind in ("stt", "tts", "brain")}
    services = PipelineServices(**pools, max_audio_backlog_s=1.0)
    run = PipelineRun(services, TurnInfo("u", "s", "c"), emit, vad=object())  # type: ignore[arg-type]
    chunk = bytes(640)  # 20 ms
    with caplog.at_level(logging.WARNING, logger="jarvis.server.hub.pipeline"):
        for _ in range(150):  # 3 s, while nothing takes it
            run.feed_audio(chunk)
    assert run.audio_backlog == 32000 and run.audio_dropped == 100 * 640
    assert sum("dropping audio" in r.getMessage() for r in caplog.records) == 1
    run.end_audio()  # the end always has a slot
    chunks, ended = await run._next_audio()
    assert ended and len(chunks) == 50 and run.audio_backlog == 0
    # Tiny chunks are bounded by count too (one per 10 ms of the backlog).
    run2 = PipelineRun(services, TurnInfo("u", "s", "c"), emit, vad=object())  # type: ignore[arg-type]
    for _ in range(1000):
        run2.feed_audio(b"\x00\x00")
    assert run2.audio.qsize() == 100
    run2.end_audio()
    run2.end_audio()  # twice is harmless
    assert run2.audio.qsize() == 101


# -- web login brute force -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_web_login_backs_off_per_address(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from jarvis.server.web.app import SESSIONS_KEY, WebAppConfig, create_app
    from jarvis.server.web.auth import LoginBackoff

    token = "right-token-" + "x" * 20
    app = create_app(WebAppConfig(token=token, data_dir=tmp_path, secure_cookie=False))
    clock = FakeClock()
    app[SESSIONS_KEY].login_backoff = LoginBackoff(free_failures=3, initial_s=1, max_s=8, clock=clock)
    async with TestClient(TestServer(app)) as client:

        async def attempt(guess: str) -> tuple[int, str | None]:
            async with client.post("/api/login", json={"token": guess}) as resp:
                return resp.status, resp.headers.get("Retry-After")

        assert [await attempt("wrong") for _ in range(3)] == [(401, None)] * 3  # typos are free
        assert await attempt("wrong") == (401, None)  # the 4th locks the address out for 1 s
        assert await attempt(token) == (429, "1")  # not even checked while locked out
        clock.now += 1
        assert await attempt("wrong") == (401, None)
        assert await attempt("wrong") == (429, "2")  # doubling
        for _ in range(10):  # capped
            clock.now += 10
            await attempt("wrong")
        assert await attempt(token) == (429, "8")
        clock.now += 8
        assert await attempt(token) == (200, None)  # a success resets the address
        assert [await attempt("wrong") for _ in range(3)] == [(401, None)] * 3
        assert (await attempt(token))[0] == 200
        # The pairing link counts the same way.
        for _ in range(4):
            async with client.get("/?token=wrong", allow_redirects=False) as resp:
                assert resp.status == 302
        async with client.get(f"/?token={token}", allow_redirects=False) as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "1"


def test_login_backoff_is_per_address_and_bounded() -> None:
    from jarvis.server.web.auth import LoginBackoff

    clock = FakeClock()
    backoff = LoginBackoff(free_failures=0, initial_s=1, max_s=4, forget_s=100, max_addresses=3, clock=clock)
    assert backoff.failed("a") == 1 and backoff.retry_after("a") == 1
    assert backoff.retry_after("b") == 0  # another address is not slowed down
    for address in "bcde":
        backoff.failed(address)
    assert len(backoff) == 3 and backoff.retry_after("a") == 0  # oldest forgotten first
    clock.now += 101
    assert backoff.retry_after("e") == 0  # forgotten after forget_s
    assert backoff.failed("e") == 1  # and counted afresh


def test_a_flood_of_malformed_frames_is_logged_in_bursts_then_counted() -> None:
    """One line per bad connection flooded the log (~1,000 a minute under the soak bench's attack):
    at most ``burst`` lines per interval, then one that says how many were held back."""
    from jarvis.protocol.service import RateLimitedLog

    seen: list[str] = []
    logger = logging.getLogger("test.burst")

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    try:
        log = RateLimitedLog(logger, interval_s=0.2, burst=3)
        for n in range(50):
            log(logging.WARNING, "bad frame %d", n)
        time.sleep(0.25)
        log(logging.WARNING, "bad frame %d", 50)
    finally:
        logger.removeHandler(handler)
    assert seen[:3] == ["bad frame 0", "bad frame 1", "bad frame 2"]
    assert len(seen) == 4 and seen[3] == "bad frame 50 (and 47 more like it in the last 0 s)"
