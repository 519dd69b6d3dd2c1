# ruff: noqa: F811 - pytest fixtures imported from test_hub are redefined as parameters
"""``jarvis hub`` as its own process in front of STT, TTS and brain services."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from test_hub import brain, llm, piper_engine, stt, tts, whisper_model  # noqa: F401 - fixtures

from jarvis.server.bench.procs import free_port
from jarvis.server.hub.client import HubClient
from jarvis.server.tokens import token_path

HUB = [sys.executable, "-m", "jarvis.protocol.cli", "hub", "--no-zeroconf"]


@pytest.mark.slow
async def test_jarvis_hub_process_serves_turns_and_stops_on_sigterm(
    stt: Any, tts: Any, brain: Any, _isolated_data_dir: Path
) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *HUB, "--hub-port", str(port), "--stt", stt.uri, "--tts", tts.uri, "--brain", brain.uri,
        "--metrics-port", "0", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(60):
            line = (await process.stdout.readline()).decode()
        assert f"tcp://127.0.0.1:{port}" in line, line
        token = token_path().read_text().strip()
        async with await HubClient.connect(f"tcp://127.0.0.1:{port}", token, "sat") as sat:
            result = await sat.text_turn("turn on the kitchen light", timeout=60)
        assert result.error is None
        assert result.sentences[0] == "Sure."
        assert "audio-chunk" in result.types()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            await process.wait()
    assert process.returncode == 0


async def test_jarvis_hub_without_services_is_a_clear_error() -> None:
    process = await asyncio.create_subprocess_exec(
        *HUB, "--hub-port", "0", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        _, err = await process.communicate()
    assert process.returncode == 2
    assert "--stt" in err.decode() and "--brain" in err.decode()
