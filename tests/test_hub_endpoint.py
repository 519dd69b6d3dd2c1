# ruff: noqa: F811 - pytest fixtures imported from test_hub are redefined as parameters
"""The semantic early endpoint, with real spoken audio through the real STT, brain and hub.

Audio is streamed at real time (like a microphone), since the STT decodes while the person speaks
only then. ``verdict_wait_s`` is long in these tests so the rule that ends a turn never depends on
how fast this machine decodes; the figures with the default settings are in docs/hub.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from speech import silence, speak
from test_hub import (  # noqa: F401 - pytest fixtures
    LOOPBACK,
    TOKEN,
    piper_engine,
    start_brain,
    stt,
    tts,
    whisper_model,
)
from wyoming.error import Error

from jarvis.protocol.endpoint import COMPLETE, INCOMPLETE, UNKNOWN, IntentProbe, IntentVerdict
from jarvis.protocol.peer_auth import PeerAuth, PeerAuthed
from jarvis.protocol.service import Connection
from jarvis.server.brain.llm.scripted import ScriptedLLM
from jarvis.server.config import HubSettings, Settings
from jarvis.server.hub.client import HubClient, TurnResult
from jarvis.server.hub.hub import Hub
from jarvis.server.hub.vad import Endpointer, EndpointSettings, VadEvent, make_vad
from jarvis.server.metrics import REGISTRY

SECRET = "peer-secret-for-the-endpoint-tests"
TAIL_S = 3.5  # silence after the command: the turn ends inside it, whatever rule ends it


@pytest.fixture
async def brain() -> AsyncIterator[Any]:
    server = await start_brain(
        LOOPBACK, ScriptedLLM(["I do not know."], loop=True), probe=False, peer_secret=SECRET
    )
    yield server
    await server.stop()


def make_hub(stt: Any, tts: Any, brain: Any, **endpoint: Any) -> Hub:
    settings = Settings(hub=HubSettings(port=0, verdict_wait_s=3.0, **endpoint))
    return Hub(settings, TOKEN, stt=[stt.uri], tts=[tts.uri], brain=[brain.uri], peer_secret=SECRET)


async def spoken_turn(hub: Hub, pcm: bytes) -> TurnResult:
    async with await HubClient.connect(hub.uri, TOKEN, "kitchen") as sat:
        return await sat.voice_turn(pcm, realtime=True, end_stage="handle", timeout=60)


@pytest.mark.slow
async def test_a_complete_short_command_ends_after_the_short_silence(stt: Any, tts: Any, brain: Any) -> None:
    series, labels = "jarvis_turn_endpoints_total", {"rule": COMPLETE}
    before = REGISTRY.get_sample_value(series, labels) or 0.0
    async with make_hub(stt, tts, brain) as hub:
        result = await spoken_turn(hub, silence(0.3) + speak("what time is it") + silence(TAIL_S))
    assert result.error is None, result.error
    assert REGISTRY.get_sample_value(series, labels) == before + 1  # /metrics says it too
    assert result.sentences and result.sentences[0].startswith("It's"), result.sentences
    metrics = result.metrics
    assert metrics is not None and metrics.endpoint is not None, result.types()
    assert metrics.endpoint["rule"] == COMPLETE, metrics.endpoint
    assert metrics.endpoint["wait_ms"] == 200.0, metrics.endpoint
    assert metrics.endpoint["silence_ms"] >= 200.0, metrics.endpoint
    assert "verdict" in metrics.stages_ms and "hypothesis" in metrics.stages_ms, metrics.stages_ms


def paused_timer_request(pause_s: float) -> bytes:
    return silence(0.3) + speak("set a timer for") + silence(pause_s) + speak("ten minutes") + silence(TAIL_S)


@pytest.mark.slow
async def test_a_mid_sentence_pause_does_not_cut_the_command(stt: Any, tts: Any, brain: Any) -> None:
    """ "set a timer for … ten minutes" with a 0.35 s pause: the whole command, one 10-minute timer."""
    async with make_hub(stt, tts, brain) as hub:
        result = await spoken_turn(hub, paused_timer_request(0.35))
        assert result.error is None, result.error
        started = result.first("timer-started")
        assert started is not None, (result.transcript, result.types())
        assert started[1].data["total_seconds"] == 600, started[1].data
        assert len(hub.timers.active("kitchen")) == 1
    metrics = result.metrics
    assert metrics is not None and metrics.endpoint is not None
    assert metrics.endpoint["rule"] == COMPLETE, metrics.endpoint  # "… ten minutes" ended it


@pytest.mark.slow
async def test_the_same_pause_cuts_a_fixed_short_silence(stt: Any, tts: Any, brain: Any) -> None:
    """Control for the test above: its pause is long enough to end a turn on a 0.2 s silence."""
    async with make_hub(stt, tts, brain, endpoint="fixed", silence_s=0.2) as hub:
        result = await spoken_turn(hub, paused_timer_request(0.35))
        assert result.first("timer-started") is None, result.transcript
        assert hub.timers.active("kitchen") == []
    assert result.metrics is not None and result.metrics.endpoint is not None
    assert result.metrics.endpoint["rule"] == "fixed", result.metrics.endpoint


async def probe(conn: Connection, text: str, language: str = "en") -> IntentVerdict:
    await conn.write_event(IntentProbe(text, language).event())
    async with asyncio.timeout(10):
        event = await conn.read_event()
    assert event is not None and IntentVerdict.is_type(event.type), event
    return IntentVerdict.from_event(event)


@pytest.mark.slow
async def test_the_intent_probe_judges_without_side_effects(brain: Any) -> None:
    timers = brain.brain.timers
    async with asyncio.timeout(10), await Connection.open(brain.uri) as conn:
        await conn.write_event(PeerAuth(SECRET).event())
        authed = await conn.read_event()
        assert authed is not None and PeerAuthed.is_type(authed.type), authed
        verdict = await probe(conn, "Hey Jarvis, set a timer for ten minutes.")
        assert (verdict.verdict, verdict.intent) == (COMPLETE, "JarvisStartTimer")
        assert (await probe(conn, "Hey Jarvis, what time is it?")).verdict == COMPLETE
        assert (await probe(conn, "Hey Jarvis, set a timer for")).verdict == INCOMPLETE
        assert (await probe(conn, "set a timer")).verdict == INCOMPLETE
        assert (await probe(conn, "what is twenty")).verdict == INCOMPLETE  # "… three times four" may follow
        assert (await probe(conn, "what is the capital of France")).verdict == UNKNOWN
        assert (await probe(conn, "mets un minuteur de", "fr")).verdict == INCOMPLETE
        assert (await probe(conn, "remember that my sister is called Ann")).verdict == UNKNOWN
    assert timers.list() == [], "a probe started a timer"
    assert await brain.brain.memory.count_turns("default") == 0, "a probe wrote a turn"


@pytest.mark.slow
async def test_the_intent_probe_needs_the_peer_secret(brain: Any) -> None:
    async with asyncio.timeout(10), await Connection.open(brain.uri) as conn:
        await conn.write_event(IntentProbe("set a timer for ten minutes").event())
        event = await conn.read_event()
        assert event is not None and Error.is_type(event.type), event
        assert Error.from_event(event).code == "unauthorized"


def feed(endpointer: Endpointer, pcm: bytes) -> list[VadEvent]:
    events: list[VadEvent] = []
    for offset in range(0, len(pcm), 640):
        events += endpointer.process(pcm[offset : offset + 640])
    return events


def test_a_verdict_applies_only_while_it_covers_all_the_speech() -> None:
    """Real silero on real speech: a 'complete' verdict on "what time is it" ends the turn after a
    short silence, but once the person speaks again ("… in Paris") it is stale: the usual silence."""
    first = silence(0.3) + speak("what time is it") + silence(0.15)

    covered = Endpointer(make_vad("silero"), EndpointSettings(silence_s=0.6))
    assert feed(covered, first) == [VadEvent.SPEECH_START]
    covered.cover(covered.samples, 0.2)
    assert feed(covered, silence(0.6)) == [VadEvent.ENDPOINT]
    assert covered.end_covered and covered.end_silence_samples < 0.6 * 16000

    stale = Endpointer(make_vad("silero"), EndpointSettings(silence_s=0.6))
    assert feed(stale, first) == [VadEvent.SPEECH_START]
    stale.cover(stale.samples, 0.5)  # longer than the pause between the two parts, shorter than 0.6
    events = feed(stale, speak("in Paris") + silence(1.0))
    assert events == [VadEvent.ENDPOINT]
    assert not stale.end_covered
    assert stale.end_silence_samples >= 0.6 * 16000
