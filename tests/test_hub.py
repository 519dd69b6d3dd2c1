"""The hub with the real STT (faster-whisper tiny.en), TTS (piper) and brain over TCP on 127.0.0.1.

The brain's LLM is ``ScriptedLLM`` (the brain's test double) so answers are known; everything else
is real: models, sockets, VAD. Speech comes from the bundled piper voice (tests/speech.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from speech import silence, speak
from wyoming.asr import Transcript
from wyoming.pipeline import PipelineStage, RunPipeline

from jarvis.protocol.service import Connection
from jarvis.server.bench.procs import free_port
from jarvis.server.brain.handler import BrainSettings as BrainServiceSettings
from jarvis.server.brain.handler import start_brain as _start_brain
from jarvis.server.brain.llm.scripted import ScriptedLLM, ScriptedTurn
from jarvis.server.config import HubSettings, Settings
from jarvis.server.hub.client import HubClient, HubRefused, TurnResult
from jarvis.server.hub.hub import Hub
from jarvis.server.hub.vad import Endpointer, EndpointSettings, VadEvent, make_vad
from jarvis.server.stt.__main__ import start_stt
from jarvis.server.stt.engine import ModelLoader, SttEngine
from jarvis.server.stt.engine import SttSettings as EngineSttSettings
from jarvis.server.tts.__main__ import start_tts
from jarvis.server.tts.engine import PiperEngine, VoiceSettings

TOKEN = "test-token-0123456789abcdef"
LOOPBACK = "tcp://127.0.0.1:0"
STT_SETTINGS = EngineSttSettings(workers=1)


# -- shared models (loaded once per session) ----------------------------------------------------


@pytest.fixture(scope="session")
def whisper_model() -> Any:
    return ModelLoader.load_sync(STT_SETTINGS)


@pytest.fixture(scope="session")
def piper_engine() -> Iterator[PiperEngine]:
    engine = PiperEngine.load(VoiceSettings(workers=1, threads=1))
    yield engine
    engine.close()


@contextlib.asynccontextmanager
async def stt_server(whisper_model: Any, uri: str = LOOPBACK) -> AsyncIterator[Any]:
    engine = SttEngine(STT_SETTINGS, loader=ModelLoader.preloaded(STT_SETTINGS, whisper_model))
    server = await start_stt(uri, engine=engine)
    try:
        yield server
    finally:
        await server.stop()
        await engine.close()


@pytest.fixture
async def stt(whisper_model: Any) -> AsyncIterator[Any]:
    async with stt_server(whisper_model) as server:
        yield server


@pytest.fixture
async def tts(piper_engine: PiperEngine) -> AsyncIterator[Any]:
    server = await start_tts(LOOPBACK, engine=piper_engine)
    yield server
    await server.stop()


@pytest.fixture
def llm() -> ScriptedLLM:
    return ScriptedLLM(["Sure. The kitchen light is on now."], loop=True)


@pytest.fixture
async def brain(llm: ScriptedLLM) -> AsyncIterator[Any]:
    server = await start_brain(LOOPBACK, llm, probe=False)
    yield server
    await server.stop()


async def start_brain(uri: str, llm: ScriptedLLM, **kw: Any) -> Any:
    """The real brain service (no onboarding question, to keep answers short)."""
    return await _start_brain(uri, llm, settings=BrainServiceSettings(onboarding=False), **kw)


def hub_settings(**hub: Any) -> Settings:
    return Settings(hub=HubSettings(port=0, **hub))


@pytest.fixture
async def hub(stt: Any, tts: Any, brain: Any) -> AsyncIterator[Hub]:
    async with Hub(hub_settings(), TOKEN, stt=[stt.uri], tts=[tts.uri], brain=[brain.uri]) as hub:
        yield hub


def utterance(text: str, tail_s: float = 1.2) -> bytes:
    return silence(0.3) + speak(text) + silence(tail_s)


# -- handshake ----------------------------------------------------------------------------------


@pytest.mark.slow
async def test_session_authenticates_and_is_bound(hub: Hub) -> None:
    async with asyncio.timeout(10):
        sat = await HubClient.connect(hub.uri, TOKEN, "kitchen-pi", area="kitchen", user_id="alice")
        async with sat:
            assert sat.auth_ok.user_id == "alice"
            assert sat.auth_ok.area == "kitchen"
            assert sat.auth_ok.session_id
            assert "kitchen-pi" in hub.sessions


@pytest.mark.slow
@pytest.mark.parametrize("token", ["wrong-token-wrong-token", ""])
async def test_wrong_or_missing_token_is_refused(hub: Hub, token: str) -> None:
    async with asyncio.timeout(10):
        with pytest.raises(HubRefused) as refused:
            await HubClient.connect(hub.uri, token, "intruder")
        assert refused.value.code == "unauthorized"
        assert "intruder" not in hub.sessions


@pytest.mark.slow
async def test_event_before_auth_is_refused_and_describe_answered(hub: Hub) -> None:
    async with asyncio.timeout(10), await Connection.open(hub.uri) as conn:
        await conn.write_event(RunPipeline(PipelineStage.ASR, PipelineStage.TTS).event())
        event = await conn.read_event()
        assert event is not None and event.type == "error"
        assert event.data["code"] == "unauthorized"
        assert await conn.read_event() is None  # closed
    async with asyncio.timeout(10), await Connection.open(hub.uri) as conn:
        from wyoming.info import Describe

        await conn.write_event(Describe().event())
        event = await conn.read_event()
        assert event is not None and event.type == "info"


# -- voice turns ----------------------------------------------------------------------------------


def assert_turn_order(result: TurnResult) -> None:
    types = result.types()
    order = ["voice-started", "voice-stopped", "transcript", "synthesize", "audio-start", "audio-chunk"]
    positions = [types.index(t) for t in order]
    assert positions == sorted(positions), types
    assert types.index("audio-stop") > types.index("audio-chunk")
    assert types[-1] == "jarvis-turn-metrics"


@pytest.mark.slow
async def test_voice_turn_produces_transcript_and_audio(hub: Hub, llm: ScriptedLLM) -> None:
    async with await HubClient.connect(hub.uri, TOKEN, "kitchen-pi", area="kitchen") as sat:
        result = await sat.voice_turn(utterance("turn on the kitchen light"), timeout=60)
    assert result.error is None, result.error
    assert "kitchen" in (result.transcript or "").lower()
    assert_turn_order(result)
    assert result.sentences[:2] == ["Sure.", "The kitchen light is on now."]
    assert result.audio_rate > 0
    assert len(result.audio) > result.audio_rate * 2 * 1.0  # over a second of speech
    # the brain got the session's context
    assert llm.calls, "the LLM was never asked"
    metrics = result.metrics
    assert metrics is not None
    for stage in (
        "speech_start",
        "speech_end",
        "endpoint",
        "transcript",
        "first_handled_chunk",
        "first_audio",
    ):
        assert stage in metrics.stages_ms, metrics.stages_ms
    stages = metrics.stages_ms
    assert stages["speech_end"] <= stages["endpoint"] <= stages["transcript"] <= stages["first_audio"]


@pytest.mark.slow
async def test_answer_streams_sentence_by_sentence(stt: Any, tts: Any) -> None:
    """The first sentence is spoken while the brain is still producing the second."""
    gate = asyncio.Event()
    llm = ScriptedLLM(
        [
            ScriptedTurn(
                chunks=["The first sentence is short. ", "The", " second one comes later."],
                gate=gate,
                gate_before=2,
            )
        ]
    )
    brain = await start_brain(LOOPBACK, llm, probe=False)
    try:
        async with (
            Hub(hub_settings(), TOKEN, stt=[stt.uri], tts=[tts.uri], brain=[brain.uri]) as hub,
            await HubClient.connect(hub.uri, TOKEN, "sat") as sat,
        ):
            result = TurnResult()
            await sat.start_turn("handle")
            await sat.send(Transcript(text="tell me two things").event())
            await sat.read_turn(result, timeout=30, until="audio-chunk")
            # audio of sentence one reached the satellite; sentence two does not exist yet
            assert result.sentences == ["The first sentence is short."]
            gate.set()
            await sat.read_turn(result, timeout=30)
            assert result.sentences[:2] == ["The first sentence is short.", "The second one comes later."]
            types = result.types()
            assert types.count("audio-start") == 1 and types.count("audio-stop") == 1
    finally:
        await brain.stop()


@pytest.mark.slow
async def test_barge_in_cancels_the_answer(stt: Any, tts: Any) -> None:
    gate = asyncio.Event()  # never set: the first answer would never finish
    llm = ScriptedLLM(
        [
            ScriptedTurn(
                chunks=["Let me tell you a very long story. ", "Once", " upon a time."],
                gate=gate,
                gate_before=2,
            ),
            ScriptedTurn(text="Okay, stopping."),
        ]
    )
    brain = await start_brain(LOOPBACK, llm, probe=False)
    try:
        async with (
            Hub(hub_settings(), TOKEN, stt=[stt.uri], tts=[tts.uri], brain=[brain.uri]) as hub,
            await HubClient.connect(hub.uri, TOKEN, "sat") as sat,
        ):
            first = TurnResult()
            await sat.start_turn("handle")
            await sat.send(Transcript(text="tell me a story").event())
            await sat.read_turn(first, timeout=30, until="audio-chunk")
            # barge-in: a new turn while the answer plays
            await sat.start_turn("handle")
            await sat.send(Transcript(text="tell me a joke instead").event())
            await sat.read_turn(first, timeout=30, until="jarvis-turn-metrics")
            assert "audio-stop" in first.types()  # the cancelled answer was closed
            metrics = first.metrics
            assert metrics is not None and "first_audio" in metrics.stages_ms
            second = TurnResult()
            await sat.read_turn(second, timeout=30)
            assert second.sentences[:1] == ["Okay, stopping."]
            assert "audio-chunk" in second.types()
            assert "Once upon a time." not in first.sentences + second.sentences
    finally:
        await brain.stop()


@pytest.mark.slow
async def test_no_speech_ends_the_turn(hub: Hub) -> None:
    settings = hub.services.endpoint
    async with await HubClient.connect(hub.uri, TOKEN, "sat") as sat:
        result = await sat.voice_turn(silence(settings.no_speech_timeout_s + 0.5), timeout=30)
    assert result.error is not None and result.error.code == "no-speech"
    assert "transcript" not in result.types()


@pytest.mark.slow
async def hub_side_wake_turn(hub: Hub, audio: bytes) -> TurnResult:
    """One turn of a satellite without a wake word: everything streams, the hub listens for it."""
    async with await HubClient.connect(hub.uri, TOKEN, "dumb", local_wake=False) as sat:
        result = TurnResult()
        await sat.start_turn("wake")
        reader = asyncio.create_task(sat.read_turn(result, timeout=60))
        await sat.stream(audio)
        await reader
    return result


async def test_hub_side_wake_word(hub: Hub) -> None:
    audio = silence(0.5) + speak("Hey Jarvis.") + silence(0.3) + utterance("turn on the kitchen light")
    result = await hub_side_wake_turn(hub, audio)
    types = result.types()
    assert types[0] == "detection", types
    assert "kitchen" in (result.transcript or "").lower()
    assert "audio-chunk" in types


# -- failures and recovery --------------------------------------------------------------------------


@pytest.mark.slow
async def test_dead_brain_gives_error_and_apology_then_recovers(stt: Any, tts: Any, llm: ScriptedLLM) -> None:
    port = free_port()
    brain_uri = f"tcp://127.0.0.1:{port}"
    async with (
        Hub(hub_settings(), TOKEN, stt=[stt.uri], tts=[tts.uri], brain=[brain_uri]) as hub,
        await HubClient.connect(hub.uri, TOKEN, "sat") as sat,
    ):
        failed = await sat.text_turn("turn on the kitchen light", timeout=30)
        assert failed.error is not None and failed.error.code == "brain-unavailable"
        assert "audio-chunk" in failed.types()  # the spoken apology
        assert failed.sentences and "Sorry" in failed.sentences[0]
        assert not hub.services.brain.any_up

        brain = await start_brain(brain_uri, llm, probe=False)
        try:
            ok = await sat.text_turn("turn on the kitchen light", timeout=30)
        finally:
            await brain.stop()
        assert ok.error is None
        assert ok.sentences[:2] == ["Sure.", "The kitchen light is on now."]
        assert hub.services.brain.any_up


@pytest.mark.slow
async def test_dead_stt_is_reported(tts: Any, brain: Any) -> None:
    stt_uri = f"tcp://127.0.0.1:{free_port()}"
    async with (
        Hub(hub_settings(), TOKEN, stt=[stt_uri], tts=[tts.uri], brain=[brain.uri]) as hub,
        await HubClient.connect(hub.uri, TOKEN, "sat") as sat,
    ):
        result = await sat.voice_turn(utterance("hello"), timeout=30)
        assert result.error is not None and result.error.code == "stt-unavailable"
        assert "audio-chunk" in result.types()  # apology
        # the session is still usable
        ok = await sat.text_turn("turn on the kitchen light", timeout=30)
        assert ok.error is None


@pytest.mark.slow
async def test_balancing_between_two_stt_workers(whisper_model: Any, tts: Any, brain: Any) -> None:
    port_b = free_port()
    async with stt_server(whisper_model) as stt_a:
        async with stt_server(whisper_model, f"tcp://127.0.0.1:{port_b}") as stt_b:
            async with Hub(
                hub_settings(), TOKEN, stt=[stt_a.uri, stt_b.uri], tts=[tts.uri], brain=[brain.uri]
            ) as hub:
                pool = hub.services.stt
                sats = [await HubClient.connect(hub.uri, TOKEN, f"sat{i}") for i in range(2)]
                try:
                    results = await asyncio.gather(
                        *(
                            s.voice_turn(utterance("turn on the kitchen light"), end_stage="handle")
                            for s in sats
                        )
                    )
                    for result in results:
                        assert "kitchen" in (result.transcript or "").lower()
                    # two turns at once: one each
                    assert [s.requests for s in pool.services] == [1, 1]

                    # B dies: two turns at once both end up on A, and B is marked down
                    await stt_b.stop()
                    results = await asyncio.gather(
                        *(
                            s.voice_turn(utterance("turn on the kitchen light"), end_stage="handle")
                            for s in sats
                        )
                    )
                    assert all("kitchen" in (r.transcript or "").lower() for r in results)
                    assert [s.requests for s in pool.services] == [3, 1]
                    assert not pool.services[1].up

                    # B comes back on its port; once its backoff is over it is used again
                    async with stt_server(whisper_model, f"tcp://127.0.0.1:{port_b}"):
                        pool.services[1].retry_at = 0.0  # skip waiting for the backoff in the test
                        results = await asyncio.gather(
                            *(
                                s.voice_turn(utterance("turn on the kitchen light"), end_stage="handle")
                                for s in sats
                            )
                        )
                        assert all(r.error is None for r in results)
                        assert [s.requests for s in pool.services] == [4, 2]
                        assert pool.services[1].up
                finally:
                    for s in sats:
                        await s.close()


# -- metrics ----------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_metrics_endpoint(stt: Any, tts: Any, brain: Any) -> None:
    """A scrape after one turn, parsed as Prometheus does: the turn, its stages, the session, the pools."""
    from prometheus_client.parser import text_string_to_metric_families

    from jarvis.server.metrics import REGISTRY

    def read(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0  # the process's registry: other tests add to it

    ok_before = read("jarvis_turns_total", result="ok")
    tts_before = read("jarvis_turn_stage_seconds_count", stage="tts_first_audio")
    settings = hub_settings(metrics_port=0)
    async with (
        Hub(settings, TOKEN, stt=[stt.uri], tts=[tts.uri], brain=[brain.uri]) as hub,
        await HubClient.connect(hub.uri, TOKEN, "sat") as sat,
    ):
        await sat.text_turn("turn on the kitchen light")
        assert hub.metrics is not None
        async with aiohttp.ClientSession() as http, http.get(hub.metrics.url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            body = await response.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    assert samples[("jarvis_turns_total", (("result", "ok"),))] == ok_before + 1
    tts_stage = (("stage", "tts_first_audio"),)
    assert samples[("jarvis_turn_stage_seconds_count", tts_stage)] == tts_before + 1
    assert samples[("jarvis_turn_stage_seconds_bucket", (("le", "+Inf"), *tts_stage))] == tts_before + 1
    assert samples[("jarvis_hub_sessions", ())] >= 1  # "sat" was connected during the scrape
    for kind, uri in (("stt", stt.uri), ("tts", tts.uri), ("brain", brain.uri)):
        assert samples[("jarvis_service_up", (("kind", kind), ("uri", uri)))] == 1
    for kind, uri in (("tts", tts.uri), ("brain", brain.uri)):  # a text turn asks no STT
        assert samples[("jarvis_service_requests_total", (("kind", kind), ("uri", uri)))] >= 1
        assert samples[("jarvis_service_in_flight", (("kind", kind), ("uri", uri)))] == 0


# -- VAD endpointing (real silero / micro VAD on real speech) ---------------------------------------


@pytest.mark.parametrize(("vad_name", "lag_s"), [("silero", 0.35), ("micro", 0.7)])
def test_endpointer_finds_speech_and_its_end(vad_name: str, lag_s: float) -> None:
    """Speech start and the acoustic end are found (micro VAD smooths, so its end lags ~0.5 s)."""
    settings = EndpointSettings(silence_s=0.6)
    endpointer = Endpointer(make_vad(vad_name), settings)
    speech = speak("turn on the kitchen light")
    audio = silence(0.5) + speech + silence(1.5)
    events: list[tuple[VadEvent, int]] = []
    for offset in range(0, len(audio), 640):
        for event in endpointer.process(audio[offset : offset + 640]):
            events.append((event, endpointer.samples))
    kinds = [e for e, _ in events]
    assert kinds == [VadEvent.SPEECH_START, VadEvent.ENDPOINT]
    speech_end_s = (0.5 * 16000 + len(speech) // 2) / 16000
    assert endpointer.speech_end_sample is not None
    assert abs(endpointer.speech_end_sample / 16000 - speech_end_s) < lag_s
    endpoint_s = events[1][1] / 16000
    assert 0.55 <= endpoint_s - endpointer.speech_end_sample / 16000 <= 0.7


def test_endpointer_no_speech_and_max_length() -> None:
    endpointer = Endpointer(make_vad("silero"), EndpointSettings(no_speech_timeout_s=1.0))
    assert endpointer.process(silence(0.9)) == []
    assert endpointer.process(silence(0.2)) == [VadEvent.NO_SPEECH]
    speech = speak("this is a rather long sentence that goes on and on without a pause")
    capped = Endpointer(make_vad("silero"), EndpointSettings(max_utterance_s=1.0))
    assert capped.process(speech) == [VadEvent.SPEECH_START, VadEvent.ENDPOINT]
    with pytest.raises(ValueError, match="unknown VAD"):
        make_vad("nope")


# -- timers ----------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_timer_rings_on_the_satellite_that_set_it(hub: Hub) -> None:
    async with (
        await HubClient.connect(hub.uri, TOKEN, "kitchen") as kitchen,
        await HubClient.connect(hub.uri, TOKEN, "office") as office,
    ):
        result = await kitchen.text_turn("set a timer for 2 seconds", end_stage="handle")
        started = result.first("timer-started")
        assert started is not None, result.types()
        timer_id = started[1].data["id"]
        assert result.sentences[0] == "Timer set for 2 seconds."
        assert "audio-start" not in result.types()  # end_stage=handle: text only
        ring = TurnResult()
        await kitchen.read_turn(ring, timeout=10, until="timer-finished")
        assert ring.events[-1][1].data["id"] == timer_id
        assert hub.timers.active() == []
        # the other satellite heard nothing
        other = await office.text_turn("what time is it", end_stage="handle")
        assert "timer-finished" not in other.types()


@pytest.mark.slow
async def test_language_asked_in_run_pipeline_reaches_the_brain(hub: Hub) -> None:
    """The web page's language setting: run-pipeline {language} is the turn's language."""
    from wyoming.asr import Transcript
    from wyoming.pipeline import PipelineStage, RunPipeline

    async with await HubClient.connect(hub.uri, TOKEN, "kitchen") as sat:
        french = RunPipeline(PipelineStage.HANDLE, PipelineStage.HANDLE).event()
        french.data["language"] = "fr"
        await sat.send(french)
        await sat.send(Transcript(text="quelle heure est-il").event())
        result = TurnResult()
        await sat.read_turn(result, timeout=30)
        assert result.sentences and result.sentences[0].startswith("Il est"), result.sentences

        bad = RunPipeline(PipelineStage.HANDLE, PipelineStage.HANDLE).event()
        bad.data["language"] = "../../etc"
        await sat.send(bad)
        refused = TurnResult()
        await sat.read_turn(refused, timeout=10, until="error")
        assert refused.events[-1][1].data["code"] == "bad-event"
        # the session stays usable and keeps the language it was given
        again = await sat.text_turn("quelle heure est-il", end_stage="handle")
        assert again.sentences and again.sentences[0].startswith("Il est"), again.sentences


@pytest.mark.slow
async def test_cancelled_timer_does_not_ring(hub: Hub) -> None:
    async with await HubClient.connect(hub.uri, TOKEN, "kitchen") as sat:
        await sat.text_turn("set a pasta timer for 30 seconds", end_stage="handle")
        assert len(hub.timers.active("kitchen")) == 1
        result = await sat.text_turn("cancel the pasta timer", end_stage="handle")
        assert "timer-cancelled" in result.types()
        assert hub.timers.active() == []


@pytest.mark.slow
async def test_timer_finished_while_away_is_delivered_on_reconnect(hub: Hub) -> None:
    sat = await HubClient.connect(hub.uri, TOKEN, "kitchen")
    async with sat:
        result = await sat.text_turn("set a timer for 2 seconds", end_stage="handle")
        timer_id = result.first("timer-started")[1].data["id"]  # type: ignore[index]
    async with asyncio.timeout(10):
        await hub.timers.pending_added.wait()
    async with await HubClient.connect(hub.uri, TOKEN, "kitchen") as again:
        ring = TurnResult()
        await again.read_turn(ring, timeout=10, until="timer-finished")
        assert ring.events[-1][1].data["id"] == timer_id


# -- isolation and hub-side barge-in ------------------------------------------------------------


@pytest.mark.slow
async def test_a_slow_turn_on_one_satellite_does_not_delay_another(stt: Any, tts: Any) -> None:
    gate = asyncio.Event()  # the slow satellite's answer waits until the fast one is done
    llm = ScriptedLLM(
        [ScriptedTurn(chunks=["Slow answer. "], gate=gate, gate_before=0), ScriptedTurn(text="Fast answer.")]
    )
    brain = await start_brain(LOOPBACK, llm, probe=False)
    try:
        async with (
            Hub(hub_settings(), TOKEN, stt=[stt.uri], tts=[tts.uri], brain=[brain.uri]) as hub,
            await HubClient.connect(hub.uri, TOKEN, "slow") as slow,
            await HubClient.connect(hub.uri, TOKEN, "fast") as fast,
        ):
            slow_result = TurnResult()
            await slow.start_turn("handle")
            await slow.send(Transcript(text="tell me something slowly").event())
            for _ in range(500):  # until the slow question reached the LLM (bounded: 5 s)
                if llm.calls:
                    break
                await asyncio.sleep(0.01)
            assert llm.calls, "the slow turn never reached the LLM"
            fast_result = await fast.text_turn("tell me something quickly", timeout=30)
            assert fast_result.sentences[:1] == ["Fast answer."]
            assert "audio-chunk" in fast_result.types()
            gate.set()
            await slow.read_turn(slow_result, timeout=30)
            assert slow_result.sentences[:1] == ["Slow answer."]
    finally:
        await brain.stop()


@pytest.mark.slow
async def test_hub_wake_word_during_the_answer_barges_in(stt: Any, tts: Any) -> None:
    gate = asyncio.Event()  # never set: the first answer would never finish on its own
    llm = ScriptedLLM(
        [
            ScriptedTurn(chunks=["Here is a long answer. ", "It", " goes on."], gate=gate, gate_before=2),
            ScriptedTurn(text="Second answer."),
        ]
    )
    brain = await start_brain(LOOPBACK, llm, probe=False)
    first_ask = silence(0.5) + speak("Hey Jarvis.") + silence(0.3) + utterance("turn on the kitchen light")
    second_ask = speak("Hey Jarvis.") + silence(0.3) + utterance("turn off the kitchen light")
    try:
        async with (
            Hub(hub_settings(), TOKEN, stt=[stt.uri], tts=[tts.uri], brain=[brain.uri]) as hub,
            await HubClient.connect(hub.uri, TOKEN, "dumb", local_wake=False) as sat,
        ):
            first = TurnResult()
            await sat.start_turn("wake")
            await sat.stream(first_ask)
            await sat.read_turn(first, timeout=60, until="audio-chunk")  # the answer is playing
            # the satellite keeps streaming its microphone: "hey jarvis" again cuts the answer
            second = TurnResult()
            streaming = asyncio.create_task(sat.stream(second_ask))
            await sat.read_turn(first, timeout=60, until="jarvis-turn-metrics")
            await sat.read_turn(second, timeout=60)
            await streaming
            types = first.types()
            # detection, then the cancelled answer is closed, then its metrics; then the new turn
            assert types.index("detection") < types.index("audio-stop") < types.index("jarvis-turn-metrics")
            assert first.sentences == ["Here is a long answer."]
            assert second.types()[0] == "voice-started", second.types()
            assert "kitchen" in (second.transcript or "").lower()
            assert second.sentences[:1] == ["Second answer."]
    finally:
        await brain.stop()


# -- bad input (no models needed: services are never reached) ----------------------------------------


async def test_bad_events_get_errors_and_the_session_survives() -> None:
    dead = f"tcp://127.0.0.1:{free_port()}"
    async with Hub(hub_settings(), TOKEN, stt=[dead], tts=[dead], brain=[dead]) as hub:
        async with asyncio.timeout(10):
            sat = await HubClient.connect(hub.uri, TOKEN, "sat")
            async with sat:
                from wyoming.event import Event

                for bad in (
                    Event("audio-chunk", {"width": 2}, payload=b"\x00\x00"),  # no rate
                    Event("audio-start", {"rate": 16000, "width": 3, "channels": 1}),  # bad width
                    Event("run-pipeline", {"start_stage": "nonsense", "end_stage": "tts"}),
                    Event("transcript", {"text": "no text turn is running"}),
                    Event("jarvis-feedback", {"turn_id": "x", "rating": "good"}),
                    Event("mystery-event", {}),
                ):
                    await sat.send(bad)
                    reply = await sat.conn.read_event()
                    assert reply is not None and reply.type == "error", (bad.type, reply)
                    assert reply.data["code"] in ("bad-event", "bad-audio", "unsupported-event"), reply.data
                # still authenticated and usable: a text turn reaches the (dead) brain
                result = await sat.text_turn("hello", end_stage="handle", timeout=10)
                assert result.error is not None and result.error.code == "brain-unavailable"


@pytest.mark.slow
async def test_silent_answer_sends_no_audio(hub: Hub) -> None:
    """A "never mind" ends the turn silently: no audio stream is opened on the satellite."""
    async with await HubClient.connect(hub.uri, TOKEN, "sat") as sat:
        result = await sat.text_turn("never mind", timeout=30)
    assert result.error is None, result.error
    assert result.sentences == []
    assert "audio-start" not in result.types() and "audio-stop" not in result.types()
    assert result.types()[-1] == "jarvis-turn-metrics"


@pytest.mark.slow
async def test_tts_without_streaming_gets_one_synthesize_per_sentence(hub: Hub) -> None:
    hub.services._tts_streaming = False  # as if the TTS's describe said supports_synthesize_streaming=False
    async with await HubClient.connect(hub.uri, TOKEN, "sat") as sat:
        result = await sat.text_turn("turn on the kitchen light", timeout=30)
    assert result.error is None, result.error
    assert result.sentences[:2] == ["Sure.", "The kitchen light is on now."]
    types = result.types()
    assert types.count("audio-start") == 1 and types.count("audio-stop") == 1
    assert result.audio_rate > 0 and len(result.audio) > result.audio_rate  # > 0.5 s of speech
