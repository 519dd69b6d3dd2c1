"""Per-device credentials (issue 15 §1, "one shared token is every identity"), over real sockets.

- ``jarvis devices pair`` issues a credential bound to a user and an area; the hub takes a device's
  satellite id, user and area from the registry, whatever the satellite claims.
- A device cannot claim another device's id, nor can the master token take a paired device's id.
- A revoked credential is refused at once, and an open session of a revoked device is closed.
- ``devices.json`` is 0600 and holds hashes only; ``jarvis devices list|revoke`` work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from jarvis.protocol.events import Auth
from jarvis.protocol.service import Connection
from jarvis.satellite.audio_io import WavFileSink, WavSource
from jarvis.satellite.satellite import ExitCode, Satellite, State
from jarvis.satellite.settings import (
    IdentitySettings,
    LinkSettings,
    MicSettings,
    RunSettings,
    ServerSettings,
    SndSettings,
)
from jarvis.satellite.settings import SatelliteSettings as SatSettings
from jarvis.server.brain.handler import BrainSettings, start_brain
from jarvis.server.brain.llm.scripted import ScriptedLLM
from jarvis.server.brain.memory import MemoryStore
from jarvis.server.config import HubSettings, SatelliteSettings, Settings
from jarvis.server.devices import DeviceError, DeviceRegistry, devices_path, hash_credential
from jarvis.server.hub.client import HubClient, HubRefused
from jarvis.server.hub.hub import Hub
from jarvis.server.web.__main__ import start_web

SECRET = "peer-secret-for-the-tests-0123456789abcdef"
TOKEN = "master-token-for-the-tests-0123456789"
DEAD = "tcp://127.0.0.1:1"  # nothing listens: these tests never run a turn that needs STT or TTS


@pytest.fixture
def registry(tmp_path: Path) -> DeviceRegistry:
    return DeviceRegistry(tmp_path / "data" / "devices.json")


def make_hub(registry: DeviceRegistry, brain: str = DEAD, **settings: Any) -> Hub:
    return Hub(
        Settings(hub=HubSettings(port=0), **settings),
        TOKEN,
        stt=[DEAD],
        tts=[DEAD],
        brain=[brain],
        peer_secret=SECRET,
        devices=registry,
        device_poll_s=0.05,
    )


def jarvis(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jarvis.protocol.cli", "devices", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- the registry -----------------------------------------------------------------------------------


def test_pairing_stores_only_a_hash_in_a_private_file(registry: DeviceRegistry) -> None:
    old = os.umask(0)
    try:
        device, credential = registry.pair("kitchen-pi", "alice", "kitchen", "Kitchen Pi")
    finally:
        os.umask(old)
    assert len(credential) >= 43  # 32 random bytes
    assert stat.S_IMODE(registry.path.stat().st_mode) == 0o600
    text = registry.path.read_text()
    assert credential not in text and hash_credential(credential) in text
    assert not [p for p in registry.path.parent.iterdir() if p.name.endswith(".tmp")]
    assert registry.authenticate(credential) == device
    assert registry.authenticate("x" + credential) is None and registry.authenticate("") is None
    # another reader (a running hub) sees the same device
    assert DeviceRegistry(registry.path).authenticate(credential) == device


def test_pairing_validates_and_refuses_a_second_pairing(registry: DeviceRegistry) -> None:
    _, first = registry.pair("kitchen-pi", "alice", "kitchen")
    with pytest.raises(DeviceError, match="already paired"):
        registry.pair("kitchen-pi", "bob", "garage")
    _, second = registry.pair("kitchen-pi", "alice", "kitchen", replace=True)
    assert registry.authenticate(first) is None
    assert registry.authenticate(second) is not None
    for bad_id in ("", "a b", "../etc", "unverified:kitchen", "x" * 65):
        with pytest.raises(DeviceError):
            registry.pair(bad_id, "alice")
    for bad_user in ("", "alice\x00bob", "../../etc/passwd", "a" * 65):
        with pytest.raises(DeviceError):
            registry.pair("office", bad_user)
    with pytest.raises(DeviceError):
        registry.pair("office", "bob", area="a\nb")


def test_revoking_keeps_the_record_and_refuses_the_credential(registry: DeviceRegistry) -> None:
    _, credential = registry.pair("kitchen-pi", "alice", "kitchen")
    revoked = registry.revoke("kitchen-pi")
    assert not revoked.active
    found = registry.authenticate(credential)
    assert found is not None and not found.active
    assert [d.device_id for d in registry.devices()] == ["kitchen-pi"]
    with pytest.raises(DeviceError, match="no device"):
        registry.revoke("nope")
    # a revoked id may be paired again, with a new credential
    _, fresh = registry.pair("kitchen-pi", "alice", "kitchen")
    assert registry.authenticate(fresh) is not None and registry.authenticate(fresh).active  # type: ignore[union-attr]


def test_a_corrupt_registry_accepts_no_credential(registry: DeviceRegistry) -> None:
    _, credential = registry.pair("kitchen-pi", "alice", "kitchen")
    registry.path.write_text("{not json")
    assert registry.authenticate(credential) is None
    # a record that could not have been written (an edited file) makes it unusable too
    for record in (
        {"user_id": "../etc", "created": 1, "credential_hash": hash_credential(credential)},
        {"user_id": "alice", "area": 3, "created": 1, "credential_hash": hash_credential(credential)},
    ):
        registry.path.write_text(json.dumps({"version": 1, "devices": {"kitchen-pi": record}}))
        assert registry.authenticate(credential) is None
    with pytest.raises(DeviceError):
        registry.pair("office", "bob")


# -- the hub ----------------------------------------------------------------------------------------


async def test_a_device_gets_its_identity_from_the_registry(registry: DeviceRegistry) -> None:
    _, credential = registry.pair("kitchen-pi", "alice", "kitchen", "Kitchen Pi")
    # the configuration's [satellites.kitchen-pi] does not override the pairing either
    configured = {"kitchen-pi": SatelliteSettings(user_id="carol", area="attic")}
    async with (
        make_hub(registry, satellites=configured) as hub,
        await HubClient.connect(hub.uri, credential, "kitchen-pi", user_id="bob", area="garage") as sat,
    ):
        assert (sat.auth_ok.user_id, sat.auth_ok.area) == ("alice", "kitchen")
        session = hub.sessions["kitchen-pi"]
        assert (session.user_id, session.area, session.name) == ("alice", "kitchen", "Kitchen Pi")
        assert session.device_id == "kitchen-pi"
    last_seen = registry.devices()[0].last_seen
    assert last_seen is not None


async def test_the_brain_hears_the_registrys_user(registry: DeviceRegistry, tmp_path: Path) -> None:
    memory = await MemoryStore.open(tmp_path / "memory.sqlite3")
    await memory.update_profile("alice", name="Alice Liddell")
    await memory.update_profile("bob", name="Bob")
    server = await start_brain(
        "tcp://127.0.0.1:0",
        ScriptedLLM([]),
        memory=memory,
        probe=False,
        settings=BrainSettings(onboarding=False),
        peer_secret=SECRET,
    )
    try:
        _, credential = registry.pair("kitchen-pi", "alice", "kitchen")
        async with (
            make_hub(registry, brain=server.uri) as hub,
            await HubClient.connect(hub.uri, credential, "kitchen-pi", user_id="bob") as sat,
        ):
            result = await sat.text_turn("what's my name", timeout=20, end_stage="handle")
        assert result.error is None, result.error
        assert result.sentences == ["Your name is Alice Liddell."]
    finally:
        await server.stop()
        await memory.close()


async def test_a_device_cannot_claim_another_devices_id(registry: DeviceRegistry) -> None:
    _, kitchen = registry.pair("kitchen-pi", "alice", "kitchen")
    registry.pair("office-pi", "bob", "office")
    async with make_hub(registry) as hub:
        for claimed in ("office-pi", "somewhere-else"):
            with pytest.raises(HubRefused) as refused:
                await HubClient.connect(hub.uri, kitchen, claimed)
            assert refused.value.code == "unauthorized"
            assert "kitchen-pi" in str(refused.value)
        assert hub.sessions == {}


async def test_the_master_token_cannot_take_a_paired_devices_id(
    registry: DeviceRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    registry.pair("kitchen-pi", "alice", "kitchen")
    caplog.set_level(logging.WARNING, logger="jarvis.server.hub.hub")
    async with make_hub(registry) as hub:
        with pytest.raises(HubRefused) as refused:
            await HubClient.connect(hub.uri, TOKEN, "kitchen-pi", user_id="alice")
        assert refused.value.code == "unauthorized"
        # an unpaired satellite still logs in with the master token, with a warning said once
        for _ in range(2):
            async with await HubClient.connect(hub.uri, TOKEN, "legacy", user_id="bob", area="den") as sat:
                assert (sat.auth_ok.user_id, sat.auth_ok.area) == ("bob", "den")
    warnings = [r for r in caplog.records if "per-device credentials are preferred" in r.getMessage()]
    assert len(warnings) == 1


async def test_a_revoked_credential_is_refused_and_its_session_closed(registry: DeviceRegistry) -> None:
    _, credential = registry.pair("kitchen-pi", "alice", "kitchen")
    async with make_hub(registry) as hub:
        async with await HubClient.connect(hub.uri, credential, "kitchen-pi") as sat:
            DeviceRegistry(registry.path).revoke("kitchen-pi")  # another process: the CLI
            async with asyncio.timeout(5):
                error = await sat.conn.read_event()
                assert error is not None and error.type == "error", error
                assert error.data["code"] == "unauthorized" and "revoked" in error.data["text"]
                assert await sat.conn.read_event() is None
        assert "kitchen-pi" not in hub.sessions
        with pytest.raises(HubRefused) as refused:
            await HubClient.connect(hub.uri, credential, "kitchen-pi")
        assert refused.value.code == "unauthorized" and "revoked" in str(refused.value)


async def test_re_pairing_closes_the_old_credentials_session(registry: DeviceRegistry) -> None:
    _, old = registry.pair("kitchen-pi", "alice", "kitchen")
    async with make_hub(registry) as hub, await HubClient.connect(hub.uri, old, "kitchen-pi") as sat:
        _, new = DeviceRegistry(registry.path).pair("kitchen-pi", "alice", "kitchen", replace=True)
        async with asyncio.timeout(5):
            error = await sat.conn.read_event()
            assert error is not None and error.data["code"] == "unauthorized"
        async with await HubClient.connect(hub.uri, new, "kitchen-pi") as fresh:
            assert fresh.auth_ok.user_id == "alice"


async def test_a_wrong_credential_counts_toward_the_backoff(registry: DeviceRegistry) -> None:
    registry.pair("kitchen-pi", "alice", "kitchen")
    async with make_hub(registry) as hub:
        async with await Connection.open(hub.uri) as conn:
            await conn.write_event(Auth("not-a-credential-not-a-credential", "kitchen-pi").event())
            answer = await conn.read_event(timeout=5)
            assert answer is not None and answer.data["code"] == "unauthorized"
        assert hub.auth_backoff.failure("127.0.0.1") > 0  # a second failure: the delay grew


# -- the CLI ----------------------------------------------------------------------------------------


async def test_the_cli_pairs_lists_and_revokes(tmp_path: Path) -> None:
    data = tmp_path / "cli-data"
    paired = jarvis(data, "pair", "--id", "kitchen-pi", "--user", "alice", "--area", "kitchen")
    assert paired.returncode == 0, paired.stderr
    line = next(x for x in paired.stdout.splitlines() if x.startswith("On the device:"))
    argv = line.split()
    credential = argv[argv.index("--token") + 1]
    assert argv[argv.index("--satellite-id") + 1] == "kitchen-pi"
    assert f":8443/?token={credential}" in paired.stdout  # the browser pairing link
    path = data / "devices.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credential not in path.read_text()

    again = jarvis(data, "pair", "--id", "kitchen-pi", "--user", "bob")
    assert again.returncode == 1 and "already paired" in again.stderr
    bad = jarvis(data, "pair", "--id", "kitchen pi", "--user", "alice")
    assert bad.returncode == 1 and "device id" in bad.stderr

    listed = jarvis(data, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["user_id"], row["area"], row["active"]) == ("kitchen-pi", "alice", "kitchen", True)
    table = jarvis(data, "list")
    assert "kitchen-pi" in table.stdout and "active" in table.stdout and credential not in table.stdout

    registry = DeviceRegistry(path)
    async with make_hub(registry) as hub:
        async with await HubClient.connect(hub.uri, credential, "kitchen-pi") as sat:
            assert sat.auth_ok.user_id == "alice"
        revoked = await asyncio.to_thread(jarvis, data, "revoke", "kitchen-pi")
        assert revoked.returncode == 0, revoked.stderr
        with pytest.raises(HubRefused):
            await HubClient.connect(hub.uri, credential, "kitchen-pi")
    [row] = json.loads(jarvis(data, "list", "--json").stdout)
    assert row["active"] is False and row["revoked"] and row["last_seen"]
    missing = jarvis(data, "revoke", "nope")
    assert missing.returncode == 1 and "no device" in missing.stderr


# -- the web page -----------------------------------------------------------------------------------


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        connector=aiohttp.TCPConnector(ssl=False),
        timeout=aiohttp.ClientTimeout(total=10),
    )


async def test_a_paired_browser_is_its_device(_isolated_data_dir: Path) -> None:
    registry = DeviceRegistry(devices_path(_isolated_data_dir))
    _, credential = registry.pair("phone-alice", "alice", "kitchen")
    async with make_hub(registry) as hub:
        web = await start_web(token=TOKEN, hub_uri=hub.uri, port=0, data_dir=_isolated_data_dir)
        try:
            async with browser() as page:
                body = {"token": credential, "user": "bob"}  # the device's user wins
                async with page.post(web.url + "api/login", json=body) as resp:
                    assert resp.status == 200, await resp.text()
                    assert await resp.json() == {"user_id": "alice", "device_id": "phone-alice"}
                async with page.get(web.url + "api/session") as resp:
                    info = await resp.json()
                assert (info["user_id"], info["device_id"]) == ("alice", "phone-alice")
                assert "token=" not in info["pairing_url"] and TOKEN not in json.dumps(info)
                # ?satellite_id= cannot make it another satellite: the hub sees the device
                async with page.ws_connect(web.url + "api/ws?satellite_id=kitchen2&name=x") as ws:
                    async with asyncio.timeout(10):
                        while (msg := await ws.receive_json())["data"].get("state") != "ready":
                            pass
                    assert msg["data"]["user_id"] == "alice"
                    assert set(hub.sessions) == {"phone-alice"}
                    assert hub.sessions["phone-alice"].area == "kitchen"
                    registry.revoke("phone-alice")
                    async with asyncio.timeout(10):  # the page is told, then the socket closes
                        while (closing := await ws.receive()).type == aiohttp.WSMsgType.TEXT:
                            pass
                    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                async with page.get(web.url + "api/session") as resp:
                    assert resp.status == 401
                async with page.post(web.url + "api/login", json={"token": credential}) as resp:
                    assert resp.status == 401
            # a pairing link with a device credential logs in as the device, and leaves the address bar
            _, fresh = registry.pair("phone-alice", "alice", "kitchen")
            async with browser() as page:
                async with page.get(web.url + f"?token={fresh}&user=bob", allow_redirects=False) as resp:
                    assert resp.status == 302 and "token" not in resp.headers["Location"]
                async with page.get(web.url + "api/session") as resp:
                    assert (await resp.json())["user_id"] == "alice"
        finally:
            await web.stop()


# -- the real satellite program -----------------------------------------------------------------------


def satellite(uri: str, credential: str, satellite_id: str, tmp_path: Path, once: bool) -> Satellite:
    wav = tmp_path / f"{satellite_id}.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 3200)
    settings = SatSettings(
        server=ServerSettings(uri=uri, token=credential),
        identity=IdentitySettings(satellite_id=satellite_id, area="garage", user_id="bob"),
        mic=MicSettings(input_wav=wav, fast=True),
        snd=SndSettings(output_wav=tmp_path / "answer.wav"),
        link=LinkSettings(reconnect_min_s=0.05, reconnect_max_s=0.2),
        run=RunSettings(once=once, turn_timeout_s=5),
    )
    return Satellite(settings, WavSource(wav, fast=True), WavFileSink(tmp_path / "answer.wav"))


async def test_jarvis_satellite_with_a_device_credential(registry: DeviceRegistry, tmp_path: Path) -> None:
    _, credential = registry.pair("kitchen-pi", "alice", "kitchen")
    async with make_hub(registry) as hub:
        # claiming another id: refused, and a --once satellite exits with its unauthorized code
        wrong = satellite(hub.uri, credential, "office-pi", tmp_path, once=True)
        async with asyncio.timeout(10):
            assert await wrong.run() is ExitCode.UNAUTHORIZED
        assert "kitchen-pi" in (wrong.exit_message or "")
        # its own id: the registry's user and area, whatever it says
        sat = satellite(hub.uri, credential, "kitchen-pi", tmp_path, once=False)
        task = asyncio.create_task(sat.run())
        try:
            async with asyncio.timeout(10):
                await sat.wait_until(lambda s: s.state is State.IDLE)
                assert sat.session is not None and sat.session.user_id == "alice"
                assert hub.sessions["kitchen-pi"].area == "kitchen"
                registry.revoke("kitchen-pi")
                await sat.wait_until(lambda s: s.state is State.CONNECTING)
            assert sat.connections == 1
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_pairing_an_id_closes_its_master_token_session(registry: DeviceRegistry) -> None:
    async with make_hub(registry) as hub, await HubClient.connect(hub.uri, TOKEN, "kitchen-pi") as legacy:
        _, credential = DeviceRegistry(registry.path).pair("kitchen-pi", "alice", "kitchen")
        async with asyncio.timeout(5):
            error = await legacy.conn.read_event()
            assert error is not None and error.data["code"] == "unauthorized"
            assert "paired device" in error.data["text"]
            assert await legacy.conn.read_event() is None
        async with await HubClient.connect(hub.uri, credential, "kitchen-pi") as sat:
            assert sat.auth_ok.user_id == "alice"
