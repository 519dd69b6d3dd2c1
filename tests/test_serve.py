"""``jarvis serve`` as a process: --help, config file + env + flags, zeroconf, clean shutdown."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_e2e import jarvis_serve

from jarvis.protocol.discovery import HUB_TYPE, WYOMING_TYPE, browse
from jarvis.server.bench.procs import free_port
from jarvis.server.hub.client import HubClient

LOOPBACK = ["127.0.0.1"]


def test_help_documents_every_setting() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jarvis.protocol.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for flag in (
        "--config", "--data-dir", "--host", "--no-zeroconf", "--stt-port", "--tts-port", "--brain-port",
        "--hub-port", "--web-port", "--no-web", "--stt-model", "--voice", "--llm", "--model", "--silence",
        "--vad", "--wake-word", "--metrics-port", "JARVIS_",
    ):  # fmt: skip
        assert flag in out, flag


@pytest.mark.slow
async def test_config_file_env_and_zeroconf_then_clean_stop(tmp_path: Path) -> None:
    hub_port, env_port = free_port(), free_port()
    config = tmp_path / "jarvis.toml"
    config.write_text(
        f'default_user = "alice"\n[hub]\nport = {env_port}\nname = "test-hub"\n'
        '[zeroconf]\ninterfaces = ["127.0.0.1"]\n[satellites.kitchen]\narea = "kitchen"\n'
    )
    data = tmp_path / "data"
    # the file says env_port, the flag says hub_port: the flag wins
    async with jarvis_serve(
        data, {"hub": hub_port}, extra=["--config", str(config)], zeroconf=True
    ) as served:
        assert served.uris["hub"] == f"tcp://127.0.0.1:{hub_port}"
        async with await HubClient.connect(served.uris["hub"], served.token, "kitchen") as sat:
            assert sat.auth_ok.user_id == "alice"
            assert sat.auth_ok.area == "kitchen"
            assert sat.auth_ok.server_name == "test-hub"
        hubs = await browse(HUB_TYPE, 2.0, interfaces=LOOPBACK)
        assert hub_port in {h.port for h in hubs}, hubs
        wyoming = {s.port for s in await browse(WYOMING_TYPE, 2.0, interfaces=LOOPBACK)}
        for kind in ("stt", "tts", "brain"):
            assert int(served.uris[kind].rsplit(":", 1)[1]) in wyoming, kind
        process = served.process
    assert process.returncode == 0
    assert any("Stopping" in line for line in served.log)
    # the token file was created once, 0600, and is reused
    token_file = data / "token"
    assert token_file.read_text().strip() == served.token
    assert os.stat(token_file).st_mode & 0o077 == 0


@pytest.mark.slow
async def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[hub]\nport = 'many'\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jarvis.protocol.cli", "serve", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "JARVIS_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    async with asyncio.timeout(60):
        _, err = await process.communicate()
    assert process.returncode == 2
    assert "port" in err.decode() and "many" in err.decode()
