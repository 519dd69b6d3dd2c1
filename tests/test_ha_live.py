"""Jarvis against a REAL Home Assistant (homeassistant==2024.3.3 in .ha-venv, made by script/ha-venv).

One Home Assistant process for the module, on 127.0.0.1 and a free port, with a throw-away config
dir: tests/homeassistant/configuration.yaml and a seeded demo config entry (its light, switch,
cover, lock... platforms). The fixture onboards it through the REST onboarding API (first user ->
auth code -> tokens), then creates a long-lived access token over the WebSocket API with Jarvis's own
client, and puts two demo lights in the area "Kitchen" (alias "cuisine").

Skipped, with the reason, when .ha-venv is missing (script/ha-venv failed or was not run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from wyoming.asr import Transcript
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info

from jarvis.protocol.service import Connection
from jarvis.server.brain.context import TurnContext
from jarvis.server.brain.ha_intents import HAIntentRecognizer
from jarvis.server.brain.tools.homeassistant import HACallServiceTool, HAGetStateTool, HAListTool
from jarvis.server.homeassistant import HASettings, HomeAssistantClient

ROOT = Path(__file__).resolve().parent.parent
HA_PYTHON = ROOT / ".ha-venv" / "bin" / "python"
HA_FILES = Path(__file__).resolve().parent / "homeassistant"
START_TIMEOUT_S = 120.0
"""Home Assistant's first start (database, frontend, demo platforms) on 2 busy cores."""

pytestmark = [
    pytest.mark.homeassistant,
    pytest.mark.slow,
    pytest.mark.skipif(
        not list(HA_PYTHON.parent.parent.glob(".ha-installed-*")),
        reason="no Home Assistant: .ha-venv is missing or incomplete (run script/ha-venv; needs PyPI access)",
    ),
]


@dataclass
class HAInstance:
    url: str
    token: str
    """A long-lived access token created for the test."""
    config_dir: Path
    log: Path

    def settings(self) -> HASettings:
        return HASettings(url=self.url, token=self.token, cache_s=0.0)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(method: str, url: str, body: Any = None, token: str | None = None, form: bool = False) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def _wait_for(what: str, check: Any, deadline: float, proc: subprocess.Popen[bytes], log: Path) -> Any:
    """Poll ``check`` (returns a value or None) until ``deadline``; fail with HA's log if it dies."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"Home Assistant exited ({proc.returncode}) while waiting for {what}:\n"
                + log.read_text(errors="replace")[-3000:]
            )
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError, KeyError):
            value = check()
            if value is not None:
                return value
        time.sleep(0.25)
    raise TimeoutError(
        f"Home Assistant: no {what} within {START_TIMEOUT_S:.0f} s:\n"
        + log.read_text(errors="replace")[-3000:]
    )


def _onboard(base: str) -> str:
    """Create the owner through the onboarding API; returns a (short-lived) access token."""
    client_id = f"{base}/"
    auth = _http(
        "POST",
        f"{base}/api/onboarding/users",
        {
            "client_id": client_id,
            "name": "Jarvis Test",
            "username": "jarvis",
            "password": "jarvis-test-password",
            "language": "en",
        },
    )
    tokens = _http(
        "POST",
        f"{base}/auth/token",
        {"grant_type": "authorization_code", "code": auth["auth_code"], "client_id": client_id},
        form=True,
    )
    return str(tokens["access_token"])


async def _prepare(base: str, access_token: str) -> str:
    """Long-lived token, and the kitchen: light.kitchen_lights + light.ceiling_lights, alias cuisine."""
    async with HomeAssistantClient(HASettings(url=base, token=access_token)) as client:
        (long_lived,) = await client.ws_commands(
            {"type": "auth/long_lived_access_token", "client_name": "jarvis-tests", "lifespan": 1}
        )
        await client.ws_commands(
            {"type": "config/area_registry/update", "area_id": "kitchen", "aliases": ["cuisine"]},
            {
                "type": "config/entity_registry/update",
                "entity_id": "light.kitchen_lights",
                "area_id": "kitchen",
                "aliases": ["kitchen light"],  # HA's own agent matches names exactly; tiny.en may say either
            },
            {
                "type": "config/entity_registry/update",
                "entity_id": "light.ceiling_lights",
                "area_id": "kitchen",
            },
        )
    return str(long_lived)


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HAInstance]:
    config = tmp_path_factory.mktemp("ha-config")
    port = _free_port()
    text = (HA_FILES / "configuration.yaml").read_text().replace("@PORT@", str(port))
    (config / "configuration.yaml").write_text(text)
    (config / ".storage").mkdir()
    shutil.copy(HA_FILES / "core.config_entries.json", config / ".storage" / "core.config_entries")
    log = config / "hass.log"
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [str(HA_PYTHON), "-m", "homeassistant", "-c", str(config), "--skip-pip", "--log-no-color"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    try:
        deadline = started + START_TIMEOUT_S
        _wait_for("onboarding API", lambda: _http("GET", f"{base}/api/onboarding"), deadline, proc, log)
        access = _onboard(base)

        def running() -> bool | None:
            return True if _http("GET", f"{base}/api/config", token=access)["state"] == "RUNNING" else None

        _wait_for("RUNNING state", running, deadline, proc, log)
        token = asyncio.run(_prepare(base, access))
        print(f"Home Assistant ready in {time.monotonic() - started:.1f} s on {base}")
        yield HAInstance(url=base, token=token, config_dir=config, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


async def _state(client: HomeAssistantClient, entity_id: str) -> dict[str, Any]:
    state = await client.get_state(entity_id)
    assert state is not None, f"{entity_id} missing"
    return state


# ----- the client and the registry ------------------------------------------------------------------
async def test_registry_reads_areas_devices_entities(ha: HAInstance) -> None:
    async with HomeAssistantClient(ha.settings()) as client:
        registry = await client.registry()
    assert "kitchen" in registry.areas and "cuisine" in registry.areas["kitchen"].aliases
    kitchen = registry.entities["light.kitchen_lights"]
    assert kitchen.name == "Kitchen Lights" and kitchen.area_id == "kitchen"
    assert registry.entities["cover.garage_door"].device_class == "garage"
    assert [e.entity_id for e in registry.resolve("kitchen lights")] == ["light.kitchen_lights"]
    assert [e.entity_id for e in registry.resolve("lights", area="cuisine")] == [
        "light.ceiling_lights",
        "light.kitchen_lights",
    ]


async def test_bad_token_is_a_clear_error(ha: HAInstance) -> None:
    from jarvis.server.homeassistant import HomeAssistantError

    async with HomeAssistantClient(HASettings(url=ha.url, token="not-a-token")) as client:
        with pytest.raises(HomeAssistantError, match="refused the access token"):
            await client.get_states()
        with pytest.raises(HomeAssistantError, match="refused the access token"):
            await client.registry()


# ----- "turn on the kitchen lights": local intent and tool ------------------------------------------
async def test_local_intent_turns_on_the_kitchen_lights(ha: HAInstance) -> None:
    async with HomeAssistantClient(ha.settings()) as client:
        await client.call_service("light", "turn_off", {"entity_id": "light.kitchen_lights"})
        assert (await _state(client, "light.kitchen_lights"))["state"] == "off"

        recognizer = HAIntentRecognizer(client)
        reply = await recognizer.handle(TurnContext(text="Turn on the kitchen lights."))
        assert reply is not None and "Kitchen Lights" in reply.speech
        assert (await _state(client, "light.kitchen_lights"))["state"] == "on"


async def test_french_intent_sets_the_kitchen_brightness(ha: HAInstance) -> None:
    async with HomeAssistantClient(ha.settings()) as client:
        recognizer = HAIntentRecognizer(client)
        reply = await recognizer.handle(
            TurnContext(text="Mets les lumières de la cuisine à quarante pour cent", language="fr")
        )
        assert reply is not None and reply.speech.startswith("J'ai réglé")
        for entity_id in ("light.kitchen_lights", "light.ceiling_lights"):
            state = await _state(client, entity_id)
            assert state["state"] == "on"
            assert round(state["attributes"]["brightness"] / 255 * 100) == 40


async def test_tool_turns_off_the_kitchen_lights_by_area(ha: HAInstance) -> None:
    async with HomeAssistantClient(ha.settings()) as client:
        await client.call_service(
            "light", "turn_on", {"entity_id": ["light.kitchen_lights", "light.ceiling_lights"]}
        )
        tool = HACallServiceTool(client)
        args = {"action": "turn_off", "name": "the kitchen lights", "area": "kitchen"}
        assert not tool.is_sensitive(args)
        result = await tool.call(
            {"action": "turn_off", "name": "lights", "area": "kitchen"}, TurnContext("x")
        )
        assert "light.turn_off" in result.text
        for entity_id in ("light.kitchen_lights", "light.ceiling_lights"):
            assert (await _state(client, entity_id))["state"] == "off"
        areas = await HAListTool(client).call({"what": "areas"}, TurnContext("x"))
        assert areas.text == "Areas: Bedroom, Kitchen, Living Room, cuisine"
        listing = await HAListTool(client).call({"what": "entities", "area": "kitchen"}, TurnContext("x"))
        assert "Kitchen Lights (light.kitchen_lights): off" in listing.text
        state = await HAGetStateTool(client).call({"name": "bed light"}, TurnContext("x"))
        assert state.text.startswith("Bed Light (light.bed_light): ")


async def test_sensitive_devices_need_confirmation(ha: HAInstance) -> None:
    async with HomeAssistantClient(ha.settings()) as client:
        await client.registry()
        tool = HACallServiceTool(client)
        assert tool.is_sensitive({"action": "open", "name": "garage door"})
        assert tool.is_sensitive({"action": "unlock", "name": "front door"})
        assert tool.is_sensitive({"action": "alarm_disarm", "name": "security"})
        assert not tool.is_sensitive({"action": "close", "name": "living room window"})
        # the local fast path never opens the garage: it leaves it to the agent (and its confirmation)
        before = (await _state(client, "cover.garage_door"))["state"]
        assert await HAIntentRecognizer(client).handle(TurnContext(text="open the garage door")) is None
        assert (await _state(client, "cover.garage_door"))["state"] == before


async def test_through_the_brain_intent_tool_and_confirmation(ha: HAInstance) -> None:
    """The whole brain over Wyoming TCP: local intent, then the agent's tool with a spoken yes."""
    from jarvis.server.brain.handler import BrainSettings, start_brain
    from jarvis.server.brain.llm.base import ToolCall
    from jarvis.server.brain.llm.scripted import ScriptedLLM, ScriptedTurn
    from jarvis.server.brain.tools.homeassistant import homeassistant_tools

    async with HomeAssistantClient(ha.settings()) as client:
        await client.call_service("light", "turn_off", {"entity_id": "light.kitchen_lights"})
        await client.call_service("cover", "close_cover", {"entity_id": "cover.garage_door"})
        llm = ScriptedLLM(
            [
                ScriptedTurn(
                    tool_calls=[ToolCall("ha_call_service", {"action": "open_cover", "name": "garage door"})]
                ),
            ]
        )
        server = await start_brain(
            "tcp://127.0.0.1:0",
            llm,
            fast_paths=[HAIntentRecognizer(client)],
            extra_tools=homeassistant_tools(client),
            settings=BrainSettings(onboarding=False),
            probe=False,
        )
        try:

            async def say(text: str) -> str:
                async with asyncio.timeout(30):
                    conn = await Connection.open(server.uri)
                    try:
                        context = {"conversation_id": "ha-live-1"}
                        await conn.write_event(Transcript(text=text, language="en", context=context).event())
                        while True:
                            event = await conn.read_event()
                            assert event is not None, "brain closed the connection"
                            if Handled.is_type(event.type):
                                return Handled.from_event(event).text or ""
                            assert not NotHandled.is_type(event.type), f"not handled: {text!r}"
                    finally:
                        await conn.close()

            async with await Connection.open(server.uri) as conn:  # HA 2025.x: "can control the home"
                await conn.write_event(Describe().event())
                info = Info.from_event(await conn.read_event(timeout=5) or Event("none"))
                assert info.handle[0].supports_home_control

            answer = await say("turn on the kitchen lights")
            assert "Kitchen Lights" in answer and llm.calls == []
            assert (await _state(client, "light.kitchen_lights"))["state"] == "on"

            question = await say("open the garage door")
            assert "?" in question
            assert (await _state(client, "cover.garage_door"))["state"] == "closed"
            await say("yes")
            assert (await _state(client, "cover.garage_door"))["state"] in ("open", "opening")
        finally:
            await server.stop()


# ----- Jarvis inside Home Assistant: HA's own Wyoming integration (2024.3.3) uses Jarvis STT and TTS ----
async def _ha_json(session: Any, method: str, url: str, token: str, body: Any = None) -> Any:
    async with session.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        text = await resp.text()
        assert resp.status < 400, f"{method} {url} -> {resp.status}: {text[:500]}"
        return json.loads(text) if text else None


async def _add_wyoming(session: Any, ha: HAInstance, port: int) -> list[str]:
    """Settings -> Add integration -> Wyoming Protocol -> host/port, through the config-flow API."""
    flow = await _ha_json(
        session, "POST", f"{ha.url}/api/config/config_entries/flow", ha.token, {"handler": "wyoming"}
    )
    assert flow["type"] == "form" and flow["step_id"] == "user", flow
    done = await _ha_json(
        session,
        "POST",
        f"{ha.url}/api/config/config_entries/flow/{flow['flow_id']}",
        ha.token,
        {"host": "127.0.0.1", "port": port},
    )
    assert done["type"] == "create_entry", done
    entry_id = done["result"]["entry_id"]
    async with HomeAssistantClient(ha.settings()) as client:
        for _ in range(100):  # the entry's platforms are set up right after the flow; bounded poll
            (entities,) = await client.ws_commands({"type": "config/entity_registry/list"})
            mine = [e["entity_id"] for e in entities if e.get("config_entry_id") == entry_id]
            if mine:
                return mine
            await asyncio.sleep(0.1)
    raise AssertionError(f"no entity for the Wyoming entry {entry_id}:\n{ha.log_tail()}")


@pytest.fixture
async def jarvis_stt_tts() -> AsyncIterator[tuple[Any, Any]]:
    from jarvis.server.stt.__main__ import start_stt
    from jarvis.server.stt.engine import SttSettings
    from jarvis.server.tts.__main__ import start_tts

    # Beam search, as Home Assistant users of faster-whisper usually run it (wyoming-faster-whisper's
    # default): HA's pipeline ends the audio where its own VAD says, and greedy tiny.en once heard the
    # first word of a clipped "Turn on the kitchen lights." as "Caron" on a loaded machine.
    stt = await start_stt("tcp://127.0.0.1:0", SttSettings(beam_size=5))
    tts = await start_tts("tcp://127.0.0.1:0")
    try:
        async with asyncio.timeout(60):
            await stt.engine.model()
        yield stt, tts
    finally:
        await tts.stop()
        await stt.stop()


async def test_home_assistant_wyoming_integration_uses_jarvis_tts(
    ha: HAInstance, jarvis_stt_tts: tuple[Any, Any]
) -> None:
    """HA's TTS API -> HA's wyoming tts.py -> Jarvis TTS: a WAV with the whole text."""
    import io
    import wave

    import aiohttp

    _, tts = jarvis_stt_tts
    async with asyncio.timeout(120), aiohttp.ClientSession() as session:
        (tts_entity,) = await _add_wyoming(session, ha, tts.port)
        assert tts_entity.startswith("tts.")
        text = "The kitchen lights are on. The garage door is closed."
        # wav as produced (HA would transcode to its default mp3 with ffmpeg, not installed here)
        url = await _ha_json(
            session,
            "POST",
            f"{ha.url}/api/tts_get_url",
            ha.token,
            {"engine_id": tts_entity, "message": text, "options": {"preferred_format": "wav"}},
        )
        async with session.get(f"{ha.url}{url['path']}") as resp:
            assert resp.status == 200
            wav = await resp.read()
    with wave.open(io.BytesIO(wav)) as reader:
        seconds = reader.getnframes() / reader.getframerate()
        assert reader.getsampwidth() == 2 and reader.getnchannels() == 1
    assert seconds > 2.0, seconds


async def test_home_assistant_wyoming_integration_uses_jarvis_stt(
    ha: HAInstance, jarvis_stt_tts: tuple[Any, Any]
) -> None:
    """HA's STT API -> HA's wyoming stt.py -> Jarvis STT."""
    import aiohttp
    from speech import silence, speak, wer

    stt, _ = jarvis_stt_tts
    async with asyncio.timeout(120), aiohttp.ClientSession() as session:
        (stt_entity,) = await _add_wyoming(session, ha, stt.port)
        assert stt_entity.startswith("stt.")
        sentence = "Turn on the kitchen lights."
        headers = {
            "Authorization": f"Bearer {ha.token}",
            "X-Speech-Content": "format=wav; codec=pcm; sample_rate=16000; bit_rate=16; channel=1; "
            "language=en",
        }
        audio = silence(0.3) + speak(sentence) + silence(0.5)
        async with session.post(f"{ha.url}/api/stt/{stt_entity}", data=audio, headers=headers) as resp:
            result = await resp.json()
    assert result["result"] == "success", result
    assert wer(sentence, result["text"]) <= 0.2, result


async def test_jarvis_brain_command_with_ha_flags(ha: HAInstance, tmp_path: Path) -> None:
    """`jarvis brain --ha-url ... --ha-token-file ...` (no LLM): HA's kitchen light through the fast path."""
    import sys

    token_file = tmp_path / "ha-token"
    token_file.write_text(ha.token + "\n")
    port = _free_port()
    jarvis = Path(sys.executable).parent / "jarvis"
    proc = await asyncio.create_subprocess_exec(
        str(jarvis), "brain", "--uri", f"tcp://127.0.0.1:{port}", "--llm", "none", "--no-onboarding",
        "--data-dir", str(tmp_path / "data"), "--ha-url", ha.url, "--ha-token-file", str(token_file),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        import ha_client

        async with asyncio.timeout(60):
            while True:  # bounded by the timeout: the brain loads its intents, then listens
                info, _ = await ha_client.load_info("127.0.0.1", port, retries=0)
                if info is not None:
                    break
                assert proc.returncode is None, "jarvis brain exited"
                await asyncio.sleep(0.2)
            async with HomeAssistantClient(ha.settings()) as client:
                await client.call_service("light", "turn_on", {"entity_id": "light.bed_light"})
                result = await ha_client.converse("127.0.0.1", port, "turn off the bed light")
                assert result.kind == "handled" and "Bed Light" in result.text, result
                assert (await _state(client, "light.bed_light"))["state"] == "off"
    finally:
        if proc.returncode is None:
            proc.terminate()
        async with asyncio.timeout(20):
            _, err = await proc.communicate()
        assert b"Traceback" not in err, err.decode(errors="replace")[-2000:]


async def test_home_assistant_2024_3_has_no_wyoming_conversation_agents(ha: HAInstance) -> None:
    """Documented in docs/home-assistant.md: 2024.3.3 answers "no services" for the brain (a `handle`
    program); conversation agents need a newer HA (tested with tests/ha_client.py instead)."""
    import aiohttp

    from jarvis.server.brain.handler import BrainSettings, start_brain
    from jarvis.server.brain.llm.scripted import ScriptedLLM

    brain = await start_brain(
        "tcp://127.0.0.1:0", ScriptedLLM(), settings=BrainSettings(onboarding=False), probe=False
    )
    try:
        async with asyncio.timeout(60), aiohttp.ClientSession() as session:
            flow = await _ha_json(
                session, "POST", f"{ha.url}/api/config/config_entries/flow", ha.token, {"handler": "wyoming"}
            )
            result = await _ha_json(
                session,
                "POST",
                f"{ha.url}/api/config/config_entries/flow/{flow['flow_id']}",
                ha.token,
                {"host": "127.0.0.1", "port": brain.port},
            )
        assert result["type"] == "abort" and result["reason"] == "no_services", result
    finally:
        await brain.stop()


async def _run_assist_pipeline(
    session: Any,
    ha: HAInstance,
    stt_entity: str,
    tts_entity: str,
    tts_language: str,
    audio: bytes,
    end_stage: str,
) -> dict[str, Any]:
    """Create a pipeline on the given engines and run it from audio, as the HA frontend does
    (``assist_pipeline/run`` over the WebSocket API, audio as binary frames); returns its events."""
    async with session.ws_connect(f"{ha.url}/api/websocket") as ws:
        assert (await ws.receive_json())["type"] == "auth_required"
        await ws.send_json({"type": "auth", "access_token": ha.token})
        assert (await ws.receive_json())["type"] == "auth_ok"
        pipeline = {
            "name": f"Jarvis {stt_entity}", "language": "en", "conversation_engine": "homeassistant",
            "conversation_language": "en", "stt_engine": stt_entity, "stt_language": "en",
            "tts_engine": tts_entity, "tts_language": tts_language, "tts_voice": None,
            "wake_word_entity": None, "wake_word_id": None,
        }  # fmt: skip
        await ws.send_json({"id": 1, "type": "assist_pipeline/pipeline/create", **pipeline})
        created = await ws.receive_json()
        assert created["success"], created
        await ws.send_json(
            {
                "id": 2,
                "type": "assist_pipeline/run",
                "start_stage": "stt",
                "end_stage": end_stage,
                "input": {"sample_rate": 16000},
                "pipeline": created["result"]["id"],
            }
        )
        events: dict[str, Any] = {}
        while "run-end" not in events:
            msg = await ws.receive_json()
            if msg.get("type") == "result":
                assert msg["success"], msg
                continue
            event = msg["event"]
            events[event["type"]] = event.get("data") or {}
            assert event["type"] != "error", event
            if event["type"] == "run-start":
                handler = bytes([event["data"]["runner_data"]["stt_binary_handler_id"]])
                for start in range(0, len(audio), 1024):  # 32 ms frames, like a microphone
                    await ws.send_bytes(handler + audio[start : start + 1024])
                await ws.send_bytes(handler)  # end of audio
    return events


async def test_assist_pipeline_runs_on_jarvis_stt_and_tts(
    ha: HAInstance, jarvis_stt_tts: tuple[Any, Any]
) -> None:
    """A voice command through HA's own Assist pipeline: audio -> Jarvis STT -> HA's conversation
    agent -> Jarvis TTS. The TTS stage needs the ffmpeg binary (HA transcodes pipeline audio to mp3);
    without it the run ends after the intent stage.
    """
    import aiohttp
    from speech import silence, speak

    stt, tts = jarvis_stt_tts
    tts_language = tts.info.tts[0].voices[0].languages[0]
    end_stage = "tts" if shutil.which("ffmpeg") else "intent"
    async with HomeAssistantClient(ha.settings()) as client:
        await client.call_service("light", "turn_off", {"entity_id": "light.kitchen_lights"})
    audio = silence(0.5) + speak("Turn on the kitchen lights.") + silence(1.5)
    async with asyncio.timeout(120), aiohttp.ClientSession() as session:
        (stt_entity,) = await _add_wyoming(session, ha, stt.port)
        (tts_entity,) = await _add_wyoming(session, ha, tts.port)
        events = await _run_assist_pipeline(
            session, ha, stt_entity, tts_entity, tts_language, audio, end_stage
        )
    text = events["stt-end"]["stt_output"]["text"]
    assert "kitchen light" in text.lower(), text
    response = events["intent-end"]["intent_output"]["response"]
    assert response["response_type"] == "action_done", (text, response)
    async with HomeAssistantClient(ha.settings()) as client:
        assert (await _state(client, "light.kitchen_lights"))["state"] == "on"
    if end_stage == "tts":
        assert events["tts-end"]["tts_output"]["url"]


class RecordingProxy:
    """A TCP proxy in front of a Jarvis service that keeps every byte the client (HA) sent, per connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.sent: list[bytearray] = []
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        record = bytearray()
        self.sent.append(record)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, keep: bytearray | None) -> None:
            try:
                while data := await src.read(65536):
                    if keep is not None:
                        keep.extend(data)
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        try:
            await asyncio.gather(pump(reader, up_writer, record), pump(up_reader, writer, None))
        finally:
            self._tasks.discard(task)


def _frames(raw: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """Split recorded bytes into Wyoming frames: (header line, data block, payload)."""
    frames = []
    while raw:
        line, _, raw = raw.partition(b"\n")
        header = json.loads(line)
        data, raw = raw[: header.get("data_length", 0)], raw[header.get("data_length", 0) :]
        payload, raw = raw[: header.get("payload_length", 0)], raw[header.get("payload_length", 0) :]
        frames.append((line + b"\n", data, payload))
    return frames


async def test_home_assistant_sends_exactly_what_the_mirror_client_sends(
    ha: HAInstance, jarvis_stt_tts: tuple[Any, Any]
) -> None:
    """Record the bytes HA 2024.3.3's Wyoming integration sends to Jarvis and compare them with
    tests/ha_client.py's encoding of the same events (describe, synthesize, transcribe + audio)."""
    import aiohttp
    import ha_client
    from speech import silence, speak
    from wyoming.asr import Transcribe
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.info import Describe
    from wyoming.tts import Synthesize

    def mirror(event: Any) -> bytes:
        return ha_client.encode_event(event, ha_client.WYOMING_2024_3)

    stt, tts = jarvis_stt_tts
    tts_language = tts.info.tts[0].voices[0].languages[0]
    async with (
        asyncio.timeout(120),
        RecordingProxy(stt.port) as stt_proxy,
        RecordingProxy(tts.port) as tts_proxy,
        aiohttp.ClientSession() as session,
    ):
        (stt_entity,) = await _add_wyoming(session, ha, stt_proxy.port)
        (tts_entity,) = await _add_wyoming(session, ha, tts_proxy.port)
        # config flow and entry setup: describe on each new connection
        for proxy in (stt_proxy, tts_proxy):
            assert proxy.sent and all(bytes(c) == mirror(Describe().event()) for c in proxy.sent), proxy.sent
        n_stt, n_tts = len(stt_proxy.sent), len(tts_proxy.sent)

        text = "The garage door is closed."
        url = await _ha_json(
            session,
            "POST",
            f"{ha.url}/api/tts_get_url",
            ha.token,
            {"engine_id": tts_entity, "message": text, "options": {"preferred_format": "wav"}},
        )
        async with session.get(f"{ha.url}{url['path']}") as resp:  # waits for the synthesis
            assert resp.status == 200
        (synth,) = tts_proxy.sent[n_tts:]
        assert bytes(synth) == mirror(Synthesize(text=text).event())

        audio = silence(0.5) + speak("Turn on the kitchen lights.") + silence(1.5)
        await _run_assist_pipeline(session, ha, stt_entity, tts_entity, tts_language, audio, "stt")
    (conversation,) = stt_proxy.sent[n_stt:]
    frames = _frames(bytes(conversation))
    assert b"".join(frames[0]) == mirror(Transcribe(language="en").event())
    assert b"".join(frames[1]) == mirror(AudioStart(rate=16000, width=2, channels=1).event())
    assert b"".join(frames[-1]) == mirror(AudioStop().event())
    for header, data, payload in frames[2:-1]:
        assert header + data + payload == mirror(
            AudioChunk(rate=16000, width=2, channels=1, audio=payload).event()
        )
