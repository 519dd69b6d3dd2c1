"""TLS on the hub's satellite port, with the certificate pinned (issue 15 §1), over real sockets.

- A satellite with the right pin authenticates and gets a session; a real ``jarvis.satellite`` too.
- With a wrong pin the client closes the link before writing a byte: the server never sees the token.
- A plain-TCP client on the TLS port fails cleanly (no hang, no session) and the hub keeps serving.
- ``tls://`` needs a pin and a pin needs ``tls://``, in the client and in the satellite's settings.
- ``jarvis devices pair`` and ``jarvis token show`` print the fingerprint and the ``tls://`` command
  when ``hub.tls`` is on; the web page's bridge pins it too (tests/test_web_bridge.py).
- Zeroconf's TXT ``tls=1`` gives a ``tls://`` URI; a pinned satellite never falls back to plain TCP.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from wyoming.event import Event

from jarvis.protocol.discovery import ServiceEndpoint
from jarvis.protocol.service import Connection, ServiceHandler, WyomingServer
from jarvis.protocol.tls import PinMismatch, fingerprint_of_file, normalize_fingerprint
from jarvis.satellite.audio_io import WavFileSink, WavSource
from jarvis.satellite.satellite import Satellite
from jarvis.satellite.settings import (
    IdentitySettings,
    RunSettings,
    SatelliteSettings,
    ServerSettings,
    SettingsError,
    WakeSettings,
)
from jarvis.server.config import HubSettings, Settings
from jarvis.server.hub.client import HubClient, HubRefused
from jarvis.server.hub.hub import Hub
from jarvis.server.web.tls import ensure_certificate, server_ssl_context

TOKEN = "master-token-for-the-tls-tests-0123456789"
SECRET = "peer-secret-for-the-tls-tests-0123456789"
DEAD = "tcp://127.0.0.1:1"
WRONG_PIN = "sha256:" + "00" * 32


def tls_hub(tmp_path: Path) -> Hub:
    settings = Settings(data_dir=str(tmp_path / "data"), hub=HubSettings(port=0, tls=True))
    return Hub(settings, TOKEN, stt=[DEAD], tts=[DEAD], brain=[DEAD], peer_secret=SECRET)


async def test_a_pinned_client_authenticates_over_tls(tmp_path: Path) -> None:
    async with tls_hub(tmp_path) as hub:
        assert hub.uri.startswith("tls://127.0.0.1:") and hub.fingerprint is not None
        assert hub.fingerprint == fingerprint_of_file(tmp_path / "data" / "tls" / "cert.pem")
        async with await HubClient.connect(hub.uri, TOKEN, "kitchen", fingerprint=hub.fingerprint) as sat:
            assert sat.auth_ok.session_id
            assert "kitchen" in hub.sessions


class Recorder(ServiceHandler):
    """A server handler that keeps every event it reads (to prove what a client sent)."""

    seen: list[Event]

    async def handle_event(self, event: Event) -> bool:
        self.seen.append(event)
        return True


async def test_a_wrong_pin_sends_nothing_to_the_server(tmp_path: Path) -> None:
    """The impostor (any TLS server with another certificate) never receives the token."""
    cert, key = ensure_certificate(tmp_path / "impostor")
    seen: list[Event] = []

    def factory(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Recorder:
        handler = Recorder(reader, writer)
        handler.seen = seen
        return handler

    server = WyomingServer("tls://127.0.0.1:0", factory, ssl_context=server_ssl_context(cert, key))
    async with server:
        with pytest.raises(PinMismatch, match="not the pinned"):
            await HubClient.connect(server.uri, TOKEN, "kitchen", fingerprint=WRONG_PIN)
        # The right pin, for contrast: the same client does reach the handler.
        conn = await Connection.open(server.uri, fingerprint=fingerprint_of_file(cert))
        await conn.write_event(Event("ping-me", {}))
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
        await conn.close()
    assert [e.type for e in seen] == ["ping-me"]  # only the pinned connection's event, no jarvis-auth


async def test_plain_tcp_on_the_tls_port_fails_cleanly_and_the_hub_keeps_serving(tmp_path: Path) -> None:
    async with tls_hub(tmp_path) as hub:
        plain = "tcp://" + hub.uri.removeprefix("tls://")
        with pytest.raises((HubRefused, ConnectionError, TimeoutError, OSError)):
            await HubClient.connect(plain, TOKEN, "kitchen", timeout=5)
        assert hub.sessions == {}
        async with await HubClient.connect(hub.uri, TOKEN, "kitchen", fingerprint=hub.fingerprint) as sat:
            assert sat.auth_ok.session_id


async def test_a_tls_client_on_a_plain_port_gets_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"), hub=HubSettings(port=0))
    async with Hub(settings, TOKEN, stt=[DEAD], tts=[DEAD], brain=[DEAD], peer_secret=SECRET) as hub:
        assert hub.uri.startswith("tcp://") and hub.fingerprint is None
        tls_uri = "tls://" + hub.uri.removeprefix("tcp://")
        with pytest.raises((ssl.SSLError, ConnectionError, TimeoutError)):
            await Connection.open(tls_uri, timeout=3, fingerprint=WRONG_PIN)
        assert hub.sessions == {}


async def test_tls_needs_a_pin_and_a_pin_needs_tls() -> None:
    with pytest.raises(ValueError, match="no certificate fingerprint is pinned"):
        await Connection.open("tls://127.0.0.1:1")
    with pytest.raises(ValueError, match="refusing plain TCP"):
        await Connection.open("tcp://127.0.0.1:1", fingerprint=WRONG_PIN)
    with pytest.raises(ValueError, match="needs a certificate"):
        WyomingServer("tls://127.0.0.1:0", lambda r, w: None)  # type: ignore[arg-type,return-value]


def test_fingerprints_are_accepted_as_people_paste_them() -> None:
    digest = "AB" * 32
    colons = ":".join(["AB"] * 32)
    for text in (f"sha256:{digest}", digest, colons, f" SHA256:{colons.lower()} "):
        assert normalize_fingerprint(text) == "sha256:" + "ab" * 32
    for bad in ("", "sha256:", "ab" * 31, "sha1:" + "ab" * 20, "zz" * 32):
        with pytest.raises(ValueError, match="not a SHA-256"):
            normalize_fingerprint(bad)


def satellite_settings(uri: str | None, fingerprint: str | None) -> SatelliteSettings:
    return SatelliteSettings(
        server=ServerSettings(uri=uri, token=TOKEN, fingerprint=fingerprint, connect_timeout_s=3),
        identity=IdentitySettings(satellite_id="kitchen"),
        wake=WakeSettings(local=True),
        run=RunSettings(),
    )


@pytest.mark.parametrize(
    ("uri", "fingerprint", "message"),
    [
        ("tls://127.0.0.1:10600", None, "--hub-fingerprint is not given"),
        ("tcp://127.0.0.1:10600", WRONG_PIN, "is not tls://"),
        ("tls://127.0.0.1:10600", "sha256:1234", "not a SHA-256"),
    ],
)
def test_satellite_settings_refuse_tls_without_a_pin_and_a_pin_without_tls(
    uri: str, fingerprint: str | None, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        satellite_settings(uri, fingerprint).validate()


def test_zeroconf_tls_flag_and_a_pinned_satellite_never_downgrades() -> None:
    found = ServiceEndpoint(
        "jarvis-hub-x", "_jarvis._tcp.local.", "192.168.1.5", 10600, properties={"tls": "1"}
    )
    assert found.uri == "tls://192.168.1.5:10600"
    plain = ServiceEndpoint("jarvis-hub-x", "_jarvis._tcp.local.", "192.168.1.5", 10600)
    assert plain.uri == "tcp://192.168.1.5:10600"
    pinned = Satellite(satellite_settings(None, WRONG_PIN), None, None)  # type: ignore[arg-type]
    assert pinned._pinned(plain.uri) == "tls://192.168.1.5:10600"  # a TXT record cannot ask for plain TCP
    unpinned = Satellite(satellite_settings(None, None), None, None)  # type: ignore[arg-type]
    assert unpinned._pinned(plain.uri) == plain.uri


async def test_a_real_satellite_connects_over_tls_with_its_pin(tmp_path: Path) -> None:
    async with tls_hub(tmp_path) as hub:
        assert hub.fingerprint is not None
        wav = tmp_path / "silence.wav"
        with wave.open(str(wav), "wb") as out:
            out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
            out.writeframes(b"\0\0" * 1600)
        satellite = Satellite(
            satellite_settings(hub.uri, hub.fingerprint).validate(),
            WavSource(wav),
            WavFileSink(tmp_path / "o.wav"),
        )
        task = asyncio.create_task(satellite.run())
        try:
            for _ in range(250):
                if "kitchen" in hub.sessions:
                    break
                await asyncio.sleep(0.02)
            assert "kitchen" in hub.sessions and satellite.connections == 1
        finally:
            satellite.stop()
            await asyncio.wait_for(task, 10)


def jarvis(data_dir: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--config", str(config)] if config else []
    return subprocess.run(
        [sys.executable, "-m", "jarvis.protocol.cli", "devices", *extra, "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_pairing_prints_the_pin_and_a_tls_command(tmp_path: Path) -> None:
    config = tmp_path / "jarvis.toml"
    config.write_text("[hub]\ntls = true\n")
    data = tmp_path / "data"
    out = jarvis(data, "pair", "--id", "kitchen-pi", "--user", "alice", config=config)
    assert out.returncode == 0, out.stderr
    pin = fingerprint_of_file(data / "tls" / "cert.pem")
    assert f"Hub certificate (the device pins it): {pin}" in out.stdout
    assert "--server tls://" in out.stdout and f"--hub-fingerprint {pin}" in out.stdout
    plain = jarvis(tmp_path / "plain", "pair", "--id", "kitchen-pi", "--user", "alice")
    assert plain.returncode == 0 and "--server tcp://" in plain.stdout and "fingerprint" not in plain.stdout


def test_token_show_prints_the_pinned_tls_command(tmp_path: Path) -> None:
    config = tmp_path / "jarvis.toml"
    config.write_text("[hub]\ntls = true\n")
    data = tmp_path / "data"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "jarvis.protocol.cli",
            "token",
            "--config",
            str(config),
            "--data-dir",
            str(data),
            "show",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    pin = fingerprint_of_file(data / "tls" / "cert.pem")
    assert "--server tls://" in out.stdout and f"--hub-fingerprint {pin} --token " in out.stdout
