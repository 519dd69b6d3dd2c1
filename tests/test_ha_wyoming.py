"""Jarvis's STT, TTS and brain services, used exactly as Home Assistant's Wyoming integration uses them.

The client (tests/ha_client.py) reproduces HA's sequences event for event (HA 2024.3.3 for discovery,
describe, STT and plain TTS; the 2025.x integration for streaming TTS and the conversation agent).
Everything runs for real on 127.0.0.1: tiny.en, the bundled piper voice, the brain with its prefilter
and local intents; the LLM is the ScriptedLLM test double (no model can run here).
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import ha_client
import pytest
from speech import silence, speak, wer
from wyoming.event import Event, async_write_event
from wyoming.version import __version__ as wyoming_version

from jarvis.protocol.discovery import Advertiser, instance_name
from jarvis.server.brain.handler import BrainServer, BrainSettings, start_brain
from jarvis.server.brain.llm.scripted import ScriptedLLM
from jarvis.server.stt.__main__ import SttServer, start_stt
from jarvis.server.stt.engine import ModelLoader, SttEngine, SttSettings
from jarvis.server.tts.__main__ import TtsServer, start_tts
from jarvis.server.tts.engine import PiperEngine, VoiceSettings

LOOPBACK = ["127.0.0.1"]
TIMEOUT = 60.0


def _hp(server: Any) -> tuple[str, int]:
    return "127.0.0.1", int(server.port)


@pytest.fixture(scope="module")
def stt_model() -> Any:
    return ModelLoader.load_sync(SttSettings())


@pytest.fixture(scope="module")
def piper() -> Iterator[PiperEngine]:
    engine = PiperEngine.load(VoiceSettings())
    yield engine
    engine.close()


@pytest.fixture
async def stt(stt_model: Any) -> AsyncIterator[SttServer]:
    settings = SttSettings()
    engine = SttEngine(settings, loader=ModelLoader.preloaded(settings, stt_model))
    server = await start_stt("tcp://127.0.0.1:0", engine=engine)
    try:
        async with asyncio.timeout(TIMEOUT):
            await engine.model()
        yield server
    finally:
        await server.stop()
        await engine.close()


@pytest.fixture
async def tts(piper: PiperEngine) -> AsyncIterator[TtsServer]:
    server = await start_tts("tcp://127.0.0.1:0", engine=piper)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def llm() -> ScriptedLLM:
    return ScriptedLLM()


@pytest.fixture
async def brain(llm: ScriptedLLM) -> AsyncIterator[BrainServer]:
    settings = BrainSettings(
        onboarding=False,
        user_map={"ha-device-kitchen": "alice@kitchen", "ha-satellite-bedroom": "bob@bedroom"},
    )
    server = await start_brain("tcp://127.0.0.1:0", llm, settings=settings, probe=False)
    try:
        yield server
    finally:
        await server.stop()


# ----- framing and discovery ---------------------------------------------------------------------------
async def test_client_frames_events_like_the_wyoming_library() -> None:
    """The mirror's encoder is byte-identical to wyoming's writer (the version string aside)."""
    left, right = socket.socketpair()
    try:
        _, writer = await asyncio.open_connection(sock=left)
        reader, _ = await asyncio.open_connection(sock=right)
        events = [
            Event("transcript", {"text": "allume la lumière", "context": {"conversation_id": "c1"}}),
            Event("audio-chunk", {"rate": 16000, "width": 2, "channels": 1}, payload=b"\x01\x02" * 50),
            Event("audio-stop"),
        ]
        for event in events:
            await async_write_event(event, writer)
            expected = ha_client.encode_event(event, wyoming_version)
            async with asyncio.timeout(5):
                assert await reader.readexactly(len(expected)) == expected
        writer.close()
    finally:
        left.close()
        right.close()


@pytest.mark.slow
async def test_discovery_reachable_address_and_stable_unique_names(
    stt: SttServer, tts: TtsServer, brain: BrainServer
) -> None:
    """HA's zeroconf discovery -> config flow: reachable address, describe, unique id.

    A restart keeps the name (so HA keeps its config entry)."""
    suffix = uuid.uuid4().hex[:6]
    names = {
        f"jarvis-{kind}-test{suffix}": server
        for kind, server in (("stt", stt), ("tts", tts), ("brain", brain))
    }
    async with Advertiser(LOOPBACK) as advertiser:
        for name, server in names.items():
            await advertiser.advertise(name, "_wyoming._tcp.local.", server.port, host="127.0.0.1")
        found = {
            s.name.split(".")[0]: s
            for s in await ha_client.discover(15.0, LOOPBACK, expect=names)
            if s.name.split(".")[0] in names
        }
        assert set(found) == set(names)
        unique_ids = set()
        for name, service in found.items():
            # HA takes the first address; the mDNS host name may carry other addresses of this machine
            # (other services advertised on it), but the one the service is bound to is always there.
            assert "127.0.0.1" in service.addresses and service.port == names[name].port
            info, tries = await ha_client.load_info("127.0.0.1", service.port or 0, retries=0)
            assert info is not None and tries == 1
            view = ha_client.ServiceView("127.0.0.1", service.port or 0, info)
            assert view.get_name() and view.has_services()
            unique_ids.add(f"{service.name}_{view.get_name()}")  # config_flow.py async_step_zeroconf
        assert len(unique_ids) == 3

        # A restart (withdraw, advertise again) keeps the same name, so HA keeps the same entry.
        stt_name = next(n for n in names if n.startswith("jarvis-stt"))
        ad = next(a for a in advertiser.advertisements if a.name == stt_name)
        await advertiser.withdraw(ad)
        again = await advertiser.advertise(stt_name, "_wyoming._tcp.local.", stt.port, host="127.0.0.1")
        assert again.name == stt_name

        # A wildcard bind is advertised with a reachable address, never 0.0.0.0 (HA drops those).
        wildcard = await advertiser.advertise(
            f"jarvis-wild-test{suffix}", "_wyoming._tcp.local.", stt.port, host="0.0.0.0"
        )
        assert wildcard.address != "0.0.0.0"
    assert instance_name("stt") == instance_name("stt") != instance_name("tts")


async def _describe_like_ha(server: Any, platform: str) -> Any:
    """HA's describe: one try, 1 s timeout, with both wyoming framings; no satellite in the info."""
    host, port = _hp(server)
    info = None
    for version in (ha_client.WYOMING_2024_3, ha_client.WYOMING_2025):
        info, tries = await ha_client.load_info(host, port, retries=0, version=version)
        assert info is not None and tries == 1
        assert info.satellite is None
        assert ha_client.ServiceView(host, port, info).platforms == [platform]
    return info


@pytest.mark.slow
async def test_stt_describe_answered_on_first_try(stt: SttServer) -> None:
    info = await _describe_like_ha(stt, "stt")
    assert any(m.installed and "en" in m.languages for m in info.asr[0].models)


@pytest.mark.slow
async def test_tts_describe_answered_on_first_try(tts: TtsServer) -> None:
    info = await _describe_like_ha(tts, "tts")
    assert info.tts[0].supports_synthesize_streaming  # HA 2025.x then uses the streaming path
    assert any(v.installed and v.languages for v in info.tts[0].voices)


@pytest.mark.slow
async def test_brain_describe_answered_on_first_try(brain: BrainServer) -> None:
    info = await _describe_like_ha(brain, "conversation")
    assert info.handle[0].supports_handled_streaming
    assert not info.handle[0].supports_home_control  # no Home Assistant tools in this brain


# ----- STT ---------------------------------------------------------------------------------------------
@pytest.mark.slow
async def test_stt_the_ha_way(stt: SttServer) -> None:
    sentence = "Turn on the kitchen lights and close the garage door."
    audio = silence(0.3) + speak(sentence) + silence(0.5)
    host, port = _hp(stt)
    async with asyncio.timeout(TIMEOUT):
        text = await ha_client.transcribe(host, port, audio, language="en")
        assert text is not None and wer(sentence, text) <= 0.15, text
        # HA closes right after `transcript`; the next utterance (mic pace, small chunks) still works.
        text2 = await ha_client.transcribe(host, port, audio, chunk_bytes=1024, realtime=4.0)
        assert text2 is not None and wer(sentence, text2) <= 0.15, text2


@pytest.mark.slow
async def test_stt_chunks_as_ha_rest_api_cuts_them(stt: SttServer) -> None:
    sentence = "Turn on the kitchen lights."
    audio = silence(0.3) + speak(sentence) + silence(0.5)
    chunks = ha_client.http_body_chunks(audio)
    assert any(len(c) % 2 for c in chunks)  # odd lengths: frames split across chunks
    host, port = _hp(stt)
    received: list[Event] = []
    async with asyncio.timeout(TIMEOUT):
        text = await ha_client.transcribe(host, port, audio, chunks=chunks, received=received)
    # every chunk accepted (an `error` means audio was dropped, whatever the transcript looks like)
    assert [e.data.get("text") for e in received if e.type == "error"] == []
    assert text is not None and wer(sentence, text) <= 0.2, text


# ----- TTS ---------------------------------------------------------------------------------------------
@pytest.mark.slow
async def test_tts_plain_and_streaming_paths_speak_the_text_once(tts: TtsServer) -> None:
    parts = ["The kitchen lights ", "are on. ", "The garage door is closed, ", "and the alarm is armed."]
    text = "".join(parts)
    host, port = _hp(tts)
    async with asyncio.timeout(TIMEOUT):
        plain = await ha_client.synthesize(host, port, text, version=ha_client.WYOMING_2024_3)
        streamed = await ha_client.synthesize_stream(host, port, parts, chunk_delay_s=0.05)
    assert plain is not None and plain.rate and plain.width == 2 and plain.channels == 1
    # HA 2024.3.3 stops at the first audio-stop: the whole text must be in one audio-start..audio-stop.
    assert plain.types.count("audio-start") == 1 and plain.types[-1] == "audio-stop"
    assert plain.duration_s > 2.0
    assert streamed.types[-1] == "synthesize-stopped" and streamed.rate == plain.rate
    # The compatibility `synthesize` inside the stream must not be spoken again: same length, not double.
    ratio = streamed.duration_s / plain.duration_s
    assert 0.8 < ratio < 1.25, (plain.duration_s, streamed.duration_s)


# ----- conversation agent -------------------------------------------------------------------------------
@pytest.mark.slow
async def test_conversation_memory_follows_ha_conversation_id(brain: BrainServer, llm: ScriptedLLM) -> None:
    llm.add("Noted: green.", "Your favourite colour is green. It suits you.", "I don't know yet.")
    host, port = _hp(brain)
    first = await ha_client.converse(host, port, "My favourite colour is green.", conversation_id="01HACONV1")
    assert first.kind == "handled" and first.text == "Noted: green."
    second = await ha_client.converse(host, port, "What is my favourite colour?", conversation_id="01HACONV1")
    assert second.kind == "handled" and second.text == "Your favourite colour is green. It suits you."
    # The brain streamed sentences (HA ignores them) and always sent the full compatibility `handled`.
    assert second.types[-1] == "handled" and second.types.count("handled-chunk") == 2
    history = [m.get("content") for m in llm.calls[1].messages if m["role"] == "user"]
    assert "My favourite colour is green." in history
    other = await ha_client.converse(host, port, "What is my favourite colour?", conversation_id="01HACONV2")
    assert other.kind == "handled"
    assert "My favourite colour is green." not in [m.get("content") for m in llm.calls[2].messages]


@pytest.mark.slow
async def test_ha_device_and_satellite_map_to_user_and_area(brain: BrainServer, llm: ScriptedLLM) -> None:
    llm.add("Hello Alice.", "Hello Bob.")
    host, port = _hp(brain)
    alice = await ha_client.converse(host, port, "Hello there.", device_id="ha-device-kitchen")
    assert alice.kind == "handled" and alice.context.get("user_id") == "alice"
    assert "kitchen" in llm.calls[0].system
    bob = await ha_client.converse(host, port, "Hello there.", satellite_id="ha-satellite-bedroom")
    assert bob.kind == "handled" and bob.context.get("user_id") == "bob"
    assert "bedroom" in llm.calls[1].system
    snapshot = await brain.brain.memory.snapshot("alice", alice.conversation_id)
    assert [t.user_text for t in snapshot.history] == ["Hello there."]


@pytest.mark.slow
async def test_not_handled_and_local_answers_reach_ha(brain: BrainServer, llm: ScriptedLLM) -> None:
    host, port = _hp(brain)
    ghost = await ha_client.converse(host, port, "Thank you.")
    assert ghost.kind == "not-handled"
    fr = await ha_client.converse(host, port, "Sous-titres réalisés par la communauté d'Amara.org", "fr")
    assert fr.kind == "not-handled"
    local = await ha_client.converse(host, port, "What is two plus three?")
    assert local.kind == "handled" and ("5" in local.text or "five" in local.text.lower()), local.text
    assert llm.calls == []
