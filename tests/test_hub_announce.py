"""Announcements (issue 14): the master token speaks a text on satellites, through the real hub and
the real piper TTS on 127.0.0.1; ``jarvis announce`` as a subprocess, as a user runs it.

- An area's satellites (and only them) get ``synthesize`` and the spoken audio; the announcer is told
  where it played.
- A satellite in the middle of a turn has that turn cut (as a barge-in) and hears the announcement.
- A device credential, a malformed request or an unknown target get a clear ``error``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_hub import piper_engine, tts  # noqa: F401 - fixtures
from wyoming.event import Event

from jarvis.protocol.events import Announce, Announced
from jarvis.server.brain.handler import BrainSettings, start_brain
from jarvis.server.brain.llm.scripted import ScriptedLLM, ScriptedTurn
from jarvis.server.config import HubSettings, Settings
from jarvis.server.devices import DeviceRegistry, devices_path
from jarvis.server.hub.client import HubClient
from jarvis.server.hub.hub import Hub
from jarvis.server.tokens import load_or_create_token

pytestmark = pytest.mark.slow
DEAD = "tcp://127.0.0.1:1"


@pytest.fixture
def gate() -> asyncio.Event:
    return asyncio.Event()


@pytest.fixture
async def hub(tts: Any, gate: asyncio.Event, _isolated_data_dir: Path) -> AsyncIterator[Hub]:  # noqa: F811
    llm = ScriptedLLM([ScriptedTurn(chunks=["A long story."], gate=gate, gate_before=0)], loop=True)
    brain = await start_brain("tcp://127.0.0.1:0", llm, settings=BrainSettings(onboarding=False), probe=False)
    token, _ = load_or_create_token(_isolated_data_dir)
    settings = Settings(hub=HubSettings(port=0))
    try:
        async with Hub(settings, token, stt=[DEAD], tts=[tts.uri], brain=[brain.uri]) as hub:
            yield hub
    finally:
        gate.set()
        await brain.stop()


async def heard(sat: HubClient, timeout: float = 30) -> list[Event]:
    """What a satellite receives up to the end of the announcement's audio."""
    events: list[Event] = []
    async with asyncio.timeout(timeout):
        while (event := await sat.conn.read_event()) is not None:
            events.append(event)
            if event.type == "audio-stop" and any(e.type == "audio-chunk" for e in events):
                return events
    raise ConnectionError("closed")


async def test_an_area_hears_the_announcement_and_others_do_not(hub: Hub) -> None:
    async with (
        await HubClient.connect(hub.uri, hub.token, "kitchen-pi", area="kitchen") as kitchen,
        await HubClient.connect(hub.uri, hub.token, "office-pi", area="office") as office,
        await HubClient.connect(hub.uri, hub.token, "admin") as admin,
    ):
        await admin.send(Announce("Dinner is ready", area="Kitchen").event())
        events = await heard(kitchen)
        assert [e.data["text"] for e in events if e.type == "synthesize"] == ["Dinner is ready"]
        assert sum(len(e.payload or b"") for e in events if e.type == "audio-chunk") > 16000
        reply = await admin.conn.read_event(timeout=30)
        assert reply is not None and Announced.is_type(reply.type), reply
        assert Announced.from_event(reply) == Announced(["kitchen-pi"], [])
        with pytest.raises(TimeoutError):
            await office.conn.read_event(timeout=1.0)  # nothing for the office


async def test_an_announcement_cuts_a_running_turn(hub: Hub, gate: asyncio.Event) -> None:
    async with (
        await HubClient.connect(hub.uri, hub.token, "kitchen-pi", area="kitchen") as kitchen,
        await HubClient.connect(hub.uri, hub.token, "admin") as admin,
    ):
        await kitchen.start_turn("handle", "tts")
        await kitchen.send(Event("transcript", {"text": "tell me a long story"}))
        await asyncio.sleep(0.5)  # the brain is on it (its model waits on the gate)
        assert hub.sessions["kitchen-pi"].turn is not None
        await admin.send(Announce("Dinner is ready", satellite_id="kitchen-pi").event())
        events = await heard(kitchen)
        metrics = [e for e in events if e.type == "jarvis-turn-metrics"]
        assert metrics and metrics[0].data["outcome"] == "cancelled", [e.type for e in events]
        assert [e.data["text"] for e in events if e.type == "synthesize"] == ["Dinner is ready"]
        reply = await admin.conn.read_event(timeout=30)
        assert reply is not None and Announced.from_event(reply).played == ["kitchen-pi"]


async def test_only_the_master_token_announces_and_bad_requests_are_refused(hub: Hub) -> None:
    registry = DeviceRegistry(devices_path(hub.settings.data_dir))
    _, credential = registry.pair("hall-pi", "ann", "hall")
    async with (
        await HubClient.connect(hub.uri, credential, "hall-pi") as device,
        await HubClient.connect(hub.uri, hub.token, "admin") as admin,
    ):
        await device.send(Announce("I am the boss now", everywhere=True).event())
        refused = await device.conn.read_event(timeout=10)
        assert refused is not None and refused.data["code"] == "unauthorized", refused
        for data, code in (
            ({"text": ""}, "bad-event"),
            ({"text": "hi", "area": "kitchen", "all": True}, "bad-event"),
            ({"text": "x" * 2000, "all": True}, "bad-event"),
            ({"text": "hi", "satellite_id": "nobody"}, "not-found"),
        ):
            await admin.send(Event("jarvis-announce", data))
            answer = await admin.conn.read_event(timeout=10)
            assert answer is not None and answer.data["code"] == code, (data, answer)


async def test_jarvis_announce_speaks_on_a_satellite(hub: Hub, _isolated_data_dir: Path) -> None:
    async with await HubClient.connect(hub.uri, hub.token, "kitchen-pi", area="kitchen") as kitchen:
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "jarvis.protocol.cli", "announce", "The laundry is done", "--all",
            "--server", hub.uri, "--data-dir", str(_isolated_data_dir),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        events = await heard(kitchen, timeout=60)
        out, err = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, err.decode()
    assert out.decode().strip() == "Announced on kitchen-pi."
    assert [e.data["text"] for e in events if e.type == "synthesize"] == ["The laundry is done"]


async def test_post_api_announce_with_the_master_token(hub: Hub, _isolated_data_dir: Path) -> None:
    """``POST /api/announce``: the master token as a Bearer speaks; a wrong one, a device's login or a
    bad body do not."""
    import aiohttp

    from jarvis.server.web.__main__ import start_web

    web = await start_web(token=hub.token, hub_uri=hub.uri, port=0, data_dir=_isolated_data_dir)
    registry = DeviceRegistry(devices_path(hub.settings.data_dir))
    _, credential = registry.pair("phone", "ann", "hall")
    url = web.url + "api/announce"
    try:
        async with (
            await HubClient.connect(hub.uri, hub.token, "kitchen-pi", area="kitchen") as kitchen,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http,
        ):
            admin = {"Authorization": f"Bearer {hub.token}"}
            async with http.post(
                url, json={"text": "Dinner is ready", "area": "kitchen"}, headers=admin
            ) as resp:
                assert resp.status == 200, await resp.text()
                assert await resp.json() == {"played": ["kitchen-pi"], "failed": []}
            events = await heard(kitchen)
            assert [e.data["text"] for e in events if e.type == "synthesize"] == ["Dinner is ready"]
            async with http.post(
                url, json={"text": "hi", "all": True}, headers={"Authorization": "Bearer nope"}
            ) as resp:
                assert resp.status == 401
            async with http.post(url, json={"text": "hi"}, headers=admin) as resp:
                assert resp.status == 400 and (await resp.json())["error"] == "bad-request"
            async with http.post(url, json={"text": "hi", "satellite_id": "nobody"}, headers=admin) as resp:
                assert resp.status == 404
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(
                cookie_jar=jar, connector=aiohttp.TCPConnector(ssl=False)
            ) as phone:
                async with phone.post(web.url + "api/login", json={"token": credential}) as resp:
                    assert resp.status == 200
                async with phone.post(url, json={"text": "hi", "all": True}) as resp:
                    assert resp.status == 403
    finally:
        await web.stop()


async def test_the_brains_announce_tool_speaks_in_the_area_after_a_yes(
    tts: Any,  # noqa: F811
    _isolated_data_dir: Path,
) -> None:
    """ "Tell the kitchen dinner is ready": the model calls ``announce``; it reaches another room, so
    the brain asks first; after "yes" the hub speaks it in the kitchen, not where it was asked."""
    from test_brain_agent import call

    llm = ScriptedLLM([call("announce", text="Dinner is ready", area="kitchen")])
    brain = await start_brain("tcp://127.0.0.1:0", llm, settings=BrainSettings(onboarding=False), probe=False)
    token, _ = load_or_create_token(_isolated_data_dir)
    try:
        async with (
            Hub(
                Settings(hub=HubSettings(port=0)), token, stt=[DEAD], tts=[tts.uri], brain=[brain.uri]
            ) as hub,
            await HubClient.connect(hub.uri, token, "kitchen-pi", area="kitchen") as kitchen,
            await HubClient.connect(hub.uri, token, "hall-pi", area="hall") as hall,
        ):
            asked = await hall.text_turn("tell the kitchen dinner is ready", end_stage="handle")
            assert asked.sentences == [
                "Are you sure you want me to announce “Dinner is ready” in the kitchen?"
            ]
            with pytest.raises(TimeoutError):
                await kitchen.conn.read_event(timeout=1.0)  # nothing before the yes
            done = await hall.text_turn("yes", end_stage="handle")
            assert done.sentences == ["Done."] and done.first("jarvis-announce") is None  # not relayed
            events = await heard(kitchen)
            assert [e.data["text"] for e in events if e.type == "synthesize"] == ["Dinner is ready"]
    finally:
        await brain.stop()
