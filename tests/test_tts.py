"""The TTS service over real Wyoming TCP on 127.0.0.1 with the bundled piper voice."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from jarvis.protocol.cli import main as jarvis_main
from jarvis.protocol.service import Connection
from jarvis.server.bench.procs import free_port, jarvis_argv, wait_for_describe
from jarvis.server.tts.__main__ import start_tts
from jarvis.server.tts.engine import PiperEngine, VoiceError, VoiceSettings
from jarvis.server.tts.handler import HandlerSettings

pytestmark = pytest.mark.slow

RATE = 22050
TIMEOUT = 60.0


@pytest.fixture(scope="session")
def engine() -> Iterator[PiperEngine]:
    """The bundled voice, loaded once for the whole session. Without the sentence cache: these tests
    measure synthesis itself (the same sentence twice must run the model twice); the cache has its
    own test below."""
    loaded = PiperEngine.load(VoiceSettings(cache=False))
    yield loaded
    loaded.close()


@pytest.fixture
async def tts(engine: PiperEngine) -> AsyncIterator[str]:
    server = await start_tts("tcp://127.0.0.1:0", engine=engine)
    try:
        yield server.uri
    finally:
        await server.stop()


@dataclass
class Reply:
    """Everything a client got for one request."""

    events: list[Event] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        """Event types, with runs of audio-chunk collapsed to one entry."""
        out: list[str] = []
        for event in self.events:
            if not (event.type == "audio-chunk" and out and out[-1] == "audio-chunk"):
                out.append(event.type)
        return out

    @property
    def pcm(self) -> bytes:
        return b"".join(e.payload or b"" for e in self.events if e.type == "audio-chunk")

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE

    def errors(self) -> list[str]:
        return [str(e.data.get("code")) for e in self.events if e.type == "error"]


async def until(condition: Callable[[], bool]) -> None:
    """Bounded wait for a condition that worker threads change (no event to await there)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():  # noqa: ASYNC110 (the engine's counters live in worker threads)
            await asyncio.sleep(0.005)


async def collect(conn: Connection, until: str = "audio-stop") -> Reply:
    reply = Reply()
    async with asyncio.timeout(TIMEOUT):
        while True:
            event = await conn.read_event()
            assert event is not None, f"connection closed early after {reply.types}"
            reply.events.append(event)
            if event.type == until:
                return reply


async def synthesize(uri: str, text: str) -> Reply:
    async with await Connection.open(uri) as conn:
        await conn.write_event(Synthesize(text=text).event())
        return await collect(conn)


def assert_speech(reply: Reply, words: int) -> None:
    """Plausible speech for ``words`` words: duration at a speaking pace, not silent, 16-bit mono."""
    start = next(e for e in reply.events if e.type == "audio-start")
    assert (start.data["rate"], start.data["width"], start.data["channels"]) == (RATE, 2, 1)
    pace = words / reply.seconds
    assert 1.0 <= pace <= 5.0, f"{words} words in {reply.seconds:.2f} s"
    samples = np.frombuffer(reply.pcm, dtype="<i2").astype(np.float32) / 32768
    assert float(np.sqrt(np.mean(samples**2))) > 0.05, "audio is (nearly) silent"
    frames = samples[: len(samples) // 441 * 441].reshape(-1, 441)  # 20 ms frames
    voiced = float((np.sqrt((frames**2).mean(axis=1)) > 0.02).mean())
    assert 0.35 < voiced < 0.97, f"{voiced:.0%} of 20 ms frames voiced: not speech-like"


async def test_describe_answers_cached_info_quickly(tts: str, engine: PiperEngine) -> None:
    async with await Connection.open(tts) as conn:
        await conn.write_event(Describe().event())
        event = await conn.read_event(timeout=1.0)
    assert event is not None and Info.is_type(event.type)
    info = Info.from_event(event)
    assert len(info.tts) == 1
    program = info.tts[0]
    assert program.installed and program.supports_synthesize_streaming
    assert [v.name for v in program.voices] == ["en_US-joe-medium"]
    assert program.voices[0].languages == ["en_US"]
    assert engine.info.sample_rate == RATE


async def test_synthesize_returns_plausible_audio_in_small_chunks(tts: str) -> None:
    short = await synthesize(tts, "Turn on the kitchen lights.")
    text = (
        "The weather in Berlin is sunny today, with a high of twenty two degrees. "
        "Tomorrow it will be cloudy. Don't forget your umbrella!"
    )
    long = await synthesize(tts, text)
    for reply, words in ((short, 5), (long, len(text.split()))):
        assert reply.types == ["audio-start", "audio-chunk", "audio-stop"]
        assert_speech(reply, words)
        sizes = [len(e.payload or b"") for e in reply.events if e.type == "audio-chunk"]
        assert max(sizes) == 1024 * 2 and all(s > 0 and s % 2 == 0 for s in sizes)
    assert long.seconds > 3 * short.seconds


async def test_samples_per_chunk_is_honoured(engine: PiperEngine) -> None:
    server = await start_tts(
        "tcp://127.0.0.1:0", engine=engine, settings=HandlerSettings(samples_per_chunk=256)
    )
    async with server:
        reply = await synthesize(server.uri, "Good morning.")
    sizes = [len(e.payload or b"") for e in reply.events if e.type == "audio-chunk"]
    assert max(sizes) == 512 and len(sizes) > 10


async def test_streaming_first_audio_arrives_before_synthesize_stop(tts: str) -> None:
    async with await Connection.open(tts) as conn:
        await conn.write_event(SynthesizeStart().event())
        await conn.write_event(SynthesizeChunk(text="I found three timers in the kitchen. ").event())
        # Bounded wait for audio of sentence 1 while the rest of the text has not been sent yet.
        first = Reply()
        async with asyncio.timeout(TIMEOUT):
            while not any(e.type == "audio-chunk" for e in first.events):
                event = await conn.read_event()
                assert event is not None
                first.events.append(event)
        assert first.types == ["audio-start", "audio-chunk"]
        for piece in ["The first", " one ends in five minutes.", " Should I cancel", " them all?"]:
            await conn.write_event(SynthesizeChunk(text=piece).event())
        await conn.write_event(SynthesizeStop().event())
        rest = await collect(conn, until="synthesize-stopped")
    assert rest.types[-2:] == ["audio-stop", "synthesize-stopped"]
    assert "audio-start" not in rest.types, "one audio-start for the whole stream"
    whole = Reply(first.events + rest.events)
    assert_speech(whole, 20)


async def test_home_assistant_sequence_speaks_the_text_once(tts: str) -> None:
    text = "Okay, the living room lights are off. Anything else?"
    plain = await synthesize(tts, text)
    async with await Connection.open(tts) as conn:
        await conn.write_event(SynthesizeStart(voice=SynthesizeVoice(name="en_US-joe-medium")).event())
        for i in range(0, len(text), 7):
            await conn.write_event(SynthesizeChunk(text=text[i : i + 7]).event())
        await conn.write_event(Synthesize(text=text).event())  # HA's compatibility copy
        await conn.write_event(SynthesizeStop().event())
        streamed = await collect(conn, until="synthesize-stopped")
    assert streamed.types == ["audio-start", "audio-chunk", "audio-stop", "synthesize-stopped"]
    # Same words once: durations agree (piper's duration noise is a few percent), far from double.
    assert 0.75 * plain.seconds < streamed.seconds < 1.3 * plain.seconds
    assert_speech(streamed, len(text.split()))


async def test_one_connection_serves_requests_in_order(tts: str) -> None:
    async with await Connection.open(tts) as conn:
        await conn.write_event(Synthesize(text="First request.").event())
        await conn.write_event(SynthesizeStart().event())
        await conn.write_event(SynthesizeChunk(text="Second request, streamed.").event())
        await conn.write_event(SynthesizeStop().event())
        await conn.write_event(Synthesize(text="Third request.").event())
        first = await collect(conn)
        second = await collect(conn, until="synthesize-stopped")
        third = await collect(conn)
    assert first.types == ["audio-start", "audio-chunk", "audio-stop"]
    assert second.types == ["audio-start", "audio-chunk", "audio-stop", "synthesize-stopped"]
    assert third.types == ["audio-start", "audio-chunk", "audio-stop"]


async def test_four_concurrent_clients_each_get_complete_audio(tts: str, engine: PiperEngine) -> None:
    texts = [
        "Set a timer for ten minutes. I will remind you when it is done.",
        "The living room is twenty one degrees. The heating is off.",
        "Your next meeting is at three thirty with Anna. It is in room four.",
        "I added milk, eggs and bread to the shopping list. Anything else?",
    ]
    alone = [await synthesize(tts, text) for text in texts]
    engine.peak_in_flight = 0
    together = await asyncio.gather(*(synthesize(tts, text) for text in texts))
    for text, solo, reply in zip(texts, alone, together, strict=True):
        assert reply.types == ["audio-start", "audio-chunk", "audio-stop"]
        assert_speech(reply, len(text.split()))
        assert 0.75 * solo.seconds < reply.seconds < 1.3 * solo.seconds
    if engine.workers > 1:
        assert engine.peak_in_flight > 1, "clients were served one at a time"


@pytest.mark.parametrize("text", ["", "   \n  ", "🎉 👍", "**", "- \n# "])
async def test_nothing_to_say_gives_start_and_stop_without_audio(tts: str, text: str) -> None:
    reply = await synthesize(tts, text)
    assert reply.types == ["audio-start", "audio-stop"]
    async with await Connection.open(tts) as conn:
        await conn.write_event(SynthesizeStart().event())
        await conn.write_event(SynthesizeChunk(text=text).event())
        await conn.write_event(SynthesizeStop().event())
        streamed = await collect(conn, until="synthesize-stopped")
    assert streamed.types == ["audio-start", "audio-stop", "synthesize-stopped"]


async def test_markdown_and_emoji_are_not_spoken(tts: str) -> None:
    clean = await synthesize(tts, "Done. The lights are off.")
    marked = await synthesize(tts, "**Done** ✅. The _lights_ are off 💡!")
    assert 0.75 * clean.seconds < marked.seconds < 1.3 * clean.seconds


@pytest.mark.parametrize(
    ("language", "written", "spoken"),
    [
        ("en_US", "It's 1:05 AM.", "It's 1 oh 5 in the morning."),
        ("fr_FR", "Il est 10 h 04.", "Il est 10 heures 4."),
        ("de_DE", "Es ist 10:04 Uhr.", "Es ist 10:04 Uhr."),
    ],
)
async def test_clock_times_are_said_in_the_voice_language(
    engine: PiperEngine, caplog: pytest.LogCaptureFixture, language: str, written: str, spoken: str
) -> None:
    """The service rewrites clock times for the voice's language (a copy of the bundled voice that
    says it speaks ``language``), and synthesizes the spoken form."""
    voice = copy.copy(engine)
    voice.info = dataclasses.replace(engine.info, languages=[language])
    server = await start_tts("tcp://127.0.0.1:0", engine=voice)
    try:
        with caplog.at_level(logging.DEBUG, logger="jarvis.server.tts.handler"):
            reply = await synthesize(server.uri, written)
    finally:
        await server.stop()
    assert reply.pcm
    synthesized = [r.getMessage() for r in caplog.records if "synthesizing" in r.getMessage()]
    assert any(m.endswith(f"synthesizing {spoken!r}") for m in synthesized), synthesized


async def test_too_long_text_is_capped_with_an_error(engine: PiperEngine) -> None:
    settings = HandlerSettings(max_text_chars=120)
    server = await start_tts("tcp://127.0.0.1:0", engine=engine, settings=settings)
    sentence = "This sentence is repeated. "
    async with server, await Connection.open(server.uri) as conn:
        await conn.write_event(Synthesize(text=sentence * 40).event())
        capped = await collect(conn)
        await conn.write_event(SynthesizeStart().event())
        for _ in range(40):
            await conn.write_event(SynthesizeChunk(text=sentence).event())
        await conn.write_event(SynthesizeStop().event())
        streamed = await collect(conn, until="synthesize-stopped")
    for reply in (capped, streamed):
        assert reply.errors() == ["text-too-long"]
        assert reply.types[-1] != "error" and "audio-stop" in reply.types
        # About 120 characters (4 sentences) spoken, not 40 sentences.
        assert_speech(reply, 16)
        assert reply.seconds < 12


async def test_bad_requests_get_errors_and_the_connection_keeps_working(tts: str) -> None:
    async with await Connection.open(tts) as conn:
        for bad in (
            Event(type="synthesize", data={}),
            Event(type="synthesize", data={"text": 42}),
            SynthesizeChunk(text="orphan chunk").event(),
            SynthesizeStop().event(),
            Event(type="transcribe", data={}),
        ):
            await conn.write_event(bad)
            event = await conn.read_event(timeout=5)
            assert event is not None and event.type == "error", bad
        await conn.write_event(SynthesizeStart().event())
        await conn.write_event(SynthesizeStart().event())
        event = await conn.read_event(timeout=5)
        assert event is not None and event.type == "error"
        await conn.write_event(SynthesizeChunk(text="Still working.").event())
        await conn.write_event(SynthesizeStop().event())
        reply = await collect(conn, until="synthesize-stopped")
    assert_speech(reply, 2)


async def test_unknown_speaker_is_reported_and_default_voice_used(tts: str) -> None:
    async with await Connection.open(tts) as conn:
        voice = SynthesizeVoice(name="en_US-joe-medium", speaker="nobody")
        await conn.write_event(Synthesize(text="Hello there.", voice=voice).event())
        reply = await collect(conn)
    # Single-speaker voice: a speaker choice does not apply and is ignored without an error.
    assert reply.errors() == []
    assert_speech(reply, 2)


async def test_disconnect_stops_synthesis_for_that_client(engine: PiperEngine) -> None:
    sentences = [f"This is sentence number {n} of a very long answer." for n in range(1, 41)]
    server = await start_tts("tcp://127.0.0.1:0", engine=engine)
    async with server:
        before = engine.completed
        conn = await Connection.open(server.uri)
        await conn.write_event(Synthesize(text=" ".join(sentences)).event())
        async with asyncio.timeout(TIMEOUT):
            while (event := await conn.read_event()) is not None and event.type != "audio-chunk":
                pass
        await conn.close()
        # The server notices, cancels the client's speaker task and its running inference.
        await until(lambda: server.connections == 0 and engine.in_flight == 0)
        done = engine.completed - before
        assert done < len(sentences) // 2, (
            f"{done} of {len(sentences)} sentences synthesized after disconnect"
        )
        # Nothing of the abandoned request is still queued: the next request is the only work.
        reply = await synthesize(server.uri, "Are you still there?")
        assert_speech(reply, 4)
        assert engine.completed - before == done + 1


async def test_cancelling_synthesis_terminates_the_inference(engine: PiperEngine) -> None:
    text = ", ".join(["and then the long list goes on and on"] * 30) + "."
    cancelled_before = engine.cancelled
    task = asyncio.create_task(engine.synthesize(text))
    await until(lambda: engine.in_flight > 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: engine.in_flight == 0)
    assert engine.cancelled == cancelled_before + 1


def test_bad_voice_path_is_a_clear_error(tmp_path: pytest.TempPathFactory) -> None:
    with pytest.raises(VoiceError, match="not found"):
        PiperEngine.load(VoiceSettings(model=tmp_path / "missing.onnx"))  # type: ignore[operator]
    lonely = tmp_path / "voice.onnx"  # type: ignore[operator]
    lonely.write_bytes(b"not a model")
    with pytest.raises(VoiceError, match="no voice config"):
        PiperEngine.load(VoiceSettings(model=lonely))


def test_cli_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with contextlib.suppress(SystemExit):
        jarvis_main(["tts", "--help"])
    out = capsys.readouterr().out
    for flag in ("--uri", "--voice", "--length-scale", "--speaker", "--use-cuda", "--workers", "--zeroconf"):
        assert flag in out


async def test_zeroconf_advertises_the_tts_service_on_loopback(engine: PiperEngine) -> None:
    from jarvis.protocol.discovery import WYOMING_TYPE, advertise_wyoming, browse

    server = await start_tts("tcp://127.0.0.1:0", engine=engine)
    async with server, advertise_wyoming(None, server, interfaces=["127.0.0.1"]):
        found = [
            s for s in await browse(WYOMING_TYPE, 1.5, interfaces=["127.0.0.1"]) if s.port == server.port
        ]
        assert len(found) == 1 and found[0].name.startswith("jarvis-tts-")
        async with await Connection.open(found[0].uri) as conn:
            await conn.write_event(Describe().event())
            event = await conn.read_event(timeout=1.0)
        assert event is not None and Info.from_event(event).tts[0].supports_synthesize_streaming


async def test_jarvis_tts_command_serves_and_stops_cleanly_on_sigterm() -> None:
    port = free_port()
    uri = f"tcp://127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        *jarvis_argv("tts", "--uri", uri, "--workers", "1"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await wait_for_describe(uri, timeout=TIMEOUT)
        reply = await synthesize(uri, "Hello from the command line.")
        assert_speech(reply, 5)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(TIMEOUT):
            output, _ = await process.communicate()
        assert process.returncode == 0, output.decode(errors="replace")[-2000:]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_async_with_on_a_started_server_does_not_bind_twice(engine: PiperEngine) -> None:
    server = await start_tts("tcp://127.0.0.1:0", engine=engine)
    port = server.port
    async with server:
        assert server.port == port
        reply = await synthesize(server.uri, "Still one server.")
        assert_speech(reply, 3)
    with pytest.raises(OSError):
        await Connection.open(f"tcp://127.0.0.1:{port}", timeout=5)


async def test_a_short_sentence_said_again_comes_from_the_cache_and_the_cache_is_bounded() -> None:
    from jarvis.server.tts import engine as tts_engine

    cached = await asyncio.to_thread(PiperEngine.load, VoiceSettings(workers=1))
    try:
        first = await cached.synthesize("I need a language model for that.")
        again = await cached.synthesize("I need a language model for that.")
        assert again == first and len(first) > 16000 and cached.cache_hits == 1
        long_text = (
            "This sentence is longer than the cache keeps, so it is synthesized every time it is said."
        )
        assert len(long_text) > tts_engine.CACHE_TEXT_CHARS
        await cached.synthesize(long_text)
        await cached.synthesize(long_text)
        assert cached.cache_hits == 1  # not kept
        for n in range(tts_engine.CACHE_ENTRIES + 5):  # bounded: the oldest go first
            cached._remember((f"sentence {n}", None), b"\0\0" * 10)
        assert len(cached._cache) == tts_engine.CACHE_ENTRIES
        assert ("I need a language model for that.", cached.default_speaker_id) not in cached._cache
    finally:
        cached.close()
