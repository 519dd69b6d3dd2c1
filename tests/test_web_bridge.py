"""The browser's WebSocket bridge to the real hub, over real sockets on 127.0.0.1.

The hub is the real one (``jarvis.server.hub``). Auth, refusal, hub-down/retry and bad messages
need no models; the text turn uses the real piper TTS and the real brain, whose LLM is the brain's
``ScriptedLLM`` test double (so the answer is known).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from jarvis.server.bench.procs import free_port
from jarvis.server.brain.handler import start_brain
from jarvis.server.brain.llm.scripted import ScriptedLLM
from jarvis.server.config import HubSettings, Settings
from jarvis.server.hub.hub import Hub
from jarvis.server.web.__main__ import WebServer, start_web

TOKEN = "web-bridge-token-0123456789abcdef"
NOWHERE = "tcp://127.0.0.1:9"


def hub_at(port: int = 0, token: str = TOKEN, **services: list[str]) -> Hub:
    uris = {"stt": [NOWHERE], "tts": [NOWHERE], "brain": [NOWHERE], **services}
    return Hub(Settings(hub=HubSettings(port=port)), token, **uris)


async def web_for(hub_uri: str, data_dir: Path) -> WebServer:
    return await start_web(token=TOKEN, hub_uri=hub_uri, port=0, data_dir=data_dir)


class Page:
    """A test client doing what the page's JavaScript does over the WebSocket."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.session = session
        self.ws = ws

    @classmethod
    async def open(cls, web: WebServer, user: str = "ann", satellite_id: str = "web-test") -> Page:
        session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(ssl=False),
        )
        async with session.post(web.url + "api/login", json={"token": TOKEN, "user": user}) as resp:
            assert resp.status == 200
        ws = await session.ws_connect(web.url + f"api/ws?satellite_id={satellite_id}&name=Test")
        return cls(session, ws)

    async def send(self, kind: str, **data: Any) -> None:
        await self.ws.send_str(json.dumps({"type": kind, "data": data}))

    async def next(self) -> tuple[str, Any]:
        msg = await self.ws.receive()
        if msg.type == aiohttp.WSMsgType.BINARY:
            return "binary", msg.data
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        parsed = json.loads(msg.data)
        return parsed["type"], parsed["data"]

    async def wait_for(self, kind: str, state: str | None = None, timeout: float = 15) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                got, data = await self.next()
                if got == kind and (state is None or data.get("state") == state):
                    return data

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    async with hub_at() as hub:
        yield hub


async def test_bridge_authenticates_as_the_logged_in_user(hub: Hub, _isolated_data_dir: Path) -> None:
    web = await web_for(hub.uri, _isolated_data_dir)
    page = await Page.open(web, user="ann", satellite_id="web-kitchen")
    try:
        assert (await page.next()) == ("state", {"state": "connecting", "hub": hub.uri})
        ready = await page.wait_for("state", "ready")
        assert ready["user_id"] == "ann" and ready["session_id"]
        session = hub.sessions["web-kitchen"]
        assert session.user_id == "ann"
        assert session.local_wake is False  # the page uses the hub's wake word
        assert session.name == "Test"
    finally:
        await page.close()
        await web.stop()
    async with asyncio.timeout(5):
        # Closing the page closes its hub session (the hub exposes no event for it: poll, bounded).
        while "web-kitchen" in hub.sessions:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_bridge_reaches_a_tls_hub_with_its_pin(_isolated_data_dir: Path) -> None:
    """``hub.tls``: the page's bridge links to the hub over TLS, pinning the hub's certificate."""
    settings = Settings(data_dir=str(_isolated_data_dir), hub=HubSettings(port=0, tls=True))
    async with Hub(settings, TOKEN, stt=[NOWHERE], tts=[NOWHERE], brain=[NOWHERE]) as hub:
        assert hub.uri.startswith("tls://")
        web = await start_web(
            token=TOKEN, hub_uri=hub.uri, hub_fingerprint=hub.fingerprint, port=0, data_dir=_isolated_data_dir
        )
        page = await Page.open(web, satellite_id="web-tls")
        try:
            ready = await page.wait_for("state", "ready")
            assert ready["session_id"] and hub.sessions["web-tls"].user_id == "ann"
        finally:
            await page.close()
            await web.stop()


async def test_hub_refusing_the_token_is_shown(_isolated_data_dir: Path) -> None:
    async with hub_at(token="another-token-entirely-0123456") as hub:
        web = await web_for(hub.uri, _isolated_data_dir)
        page = await Page.open(web)
        try:
            data = await page.wait_for("state", "unauthorized")
            assert "token" in data["message"]
        finally:
            await page.close()
            await web.stop()


async def test_hub_down_is_shown_and_retried_until_it_is_back(_isolated_data_dir: Path) -> None:
    port = free_port()
    web = await web_for(f"tcp://127.0.0.1:{port}", _isolated_data_dir)
    page = await Page.open(web)
    try:
        down = await page.wait_for("state", "server-down")
        assert down["retry_in_s"] > 0
        await page.send("run-pipeline", start_stage="handle", end_stage="tts")
        error = await page.wait_for("error")
        assert error["code"] == "server-down"
        async with hub_at(port) as hub:
            await page.wait_for("state", "ready", timeout=20)
            assert "web-test" in hub.sessions
        # The hub stops: the page hears about it and the bridge keeps retrying.
        await page.wait_for("state", "server-down", timeout=20)
        async with hub_at(port):
            await page.wait_for("state", "ready", timeout=20)
    finally:
        await page.close()
        await web.stop()


async def test_bad_messages_get_clear_errors(hub: Hub, _isolated_data_dir: Path) -> None:
    web = await web_for(hub.uri, _isolated_data_dir)
    page = await Page.open(web)
    try:
        await page.wait_for("state", "ready")
        await page.ws.send_str("not json")
        assert (await page.wait_for("error"))["code"] == "bad-event"
        await page.send("jarvis-auth", token="x")  # never relayed: the bridge authenticates itself
        assert (await page.wait_for("error"))["code"] == "bad-event"
        await page.send("run-pipeline", start_stage="nonsense")
        assert (await page.wait_for("error"))["code"] == "bad-event"
        await page.send("transcript", text="   ")
        assert (await page.wait_for("error"))["code"] == "bad-event"
        await page.send("audio-start")
        await page.ws.send_bytes(b"\x00\x01\x02")  # not whole 16-bit samples
        assert (await page.wait_for("error"))["code"] == "bad-audio"
        await page.ws.send_bytes(b"\x00" * 64000)  # over a second in one frame
        assert (await page.wait_for("error"))["code"] == "bad-audio"
        # The connection is still usable after all of that.
        await page.send("audio-stop")
        await page.ws.send_str(json.dumps({"type": "played"}))
        assert not page.ws.closed
        assert "web-test" in hub.sessions
    finally:
        await page.close()
        await web.stop()


# -- a text turn through the real brain and TTS -------------------------------------------------


@pytest.fixture(scope="module")
def piper_engine() -> Iterator[Any]:
    from jarvis.server.tts.engine import PiperEngine, VoiceSettings

    engine = PiperEngine.load(VoiceSettings(workers=1, threads=1))
    yield engine
    engine.close()


@pytest.mark.slow
async def test_text_turn_streams_sentences_and_audio(piper_engine: Any, _isolated_data_dir: Path) -> None:
    from jarvis.server.tts.__main__ import start_tts

    llm = ScriptedLLM(["Here is one. And here is another."], loop=True)
    tts = await start_tts("tcp://127.0.0.1:0", engine=piper_engine)
    brain = await start_brain("tcp://127.0.0.1:0", llm, probe=False)
    try:
        async with hub_at(tts=[tts.uri], brain=[brain.uri]) as hub:
            web = await web_for(hub.uri, _isolated_data_dir)
            page = await Page.open(web)
            try:
                await page.wait_for("state", "ready")
                await page.send("run-pipeline", start_stage="handle", end_stage="tts", language="en")
                await page.send("transcript", text="tell me two things")
                seen: list[str] = []
                sentences: list[str] = []
                audio = bytearray()
                fmt: dict[str, Any] = {}
                async with asyncio.timeout(60):
                    while True:
                        kind, data = await page.next()
                        seen.append(kind)
                        if kind == "synthesize":
                            sentences.append(data["text"])
                        elif kind == "audio-start":
                            fmt = data
                        elif kind == "binary":
                            audio.extend(data)
                        elif kind == "error":
                            pytest.fail(f"turn failed: {data}")
                        elif kind == "jarvis-turn-metrics":
                            break
                await page.send("played")
            finally:
                await page.close()
                await web.stop()
    finally:
        await brain.stop()
        await tts.stop()
    # (the brain may append its first-run onboarding question to a new user's first answer)
    assert sentences[:2] == ["Here is one.", "And here is another."]
    assert fmt["rate"] > 0 and fmt["width"] == 2 and fmt["channels"] == 1
    assert seen.index("audio-start") < seen.index("binary") < seen.index("audio-stop")
    assert len(audio) > fmt["rate"] * 2  # more than a second of speech
    assert llm.calls and "tell me two things" in json.dumps(llm.calls[-1].messages)


def test_the_pages_follow_up_flag_reaches_the_hub_and_nothing_else_does() -> None:
    """The page's reply turn (``follow_up: true``) keeps its flag; anything but ``true`` is dropped."""
    from jarvis.server.web.bridge import client_event

    reply = client_event({"type": "run-pipeline", "data": {"start_stage": "asr", "follow_up": True}})
    assert reply.data["follow_up"] is True and reply.data["start_stage"] == "asr"
    for junk in ("yes", 1, {"x": 1}, None):
        event = client_event({"type": "run-pipeline", "data": {"start_stage": "asr", "follow_up": junk}})
        assert "follow_up" not in event.data
