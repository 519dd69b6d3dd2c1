"""``jarvis serve`` runs the web app too: the page's API and a spoken answer through the embedded hub.

A real ``jarvis serve`` subprocess (bundled models, local intents, no LLM) on 127.0.0.1 with free
ports; the test talks to it the way the page does (login, then the WebSocket).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

pytestmark = pytest.mark.slow


async def test_jarvis_serve_serves_the_page_and_answers_through_it(_isolated_data_dir: Path) -> None:
    argv = [
        sys.executable, "-m", "jarvis.protocol.cli", "serve", "--llm", "none", "--no-zeroconf",
        "--stt-port", "0", "--tts-port", "0", "--brain-port", "0", "--hub-port", "0", "--web-port", "0",
    ]  # fmt: skip
    env = {**os.environ, "JARVIS_DATA_DIR": str(_isolated_data_dir), "HF_HUB_OFFLINE": "1"}
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(120):
            while not lines or not lines[-1].startswith("Ready."):
                raw = await proc.stdout.readline()
                assert raw, "jarvis serve exited:\n" + "\n".join(lines[-30:])
                lines.append(raw.decode(errors="replace").rstrip())
        url = next(line.split()[-1] for line in lines if line.startswith("Web app:"))
        token = next(m[1] for line in lines if (m := re.match(r"Token(?: \(new\))?: (\S+)", line)))
        assert url.startswith("https://127.0.0.1:")
        assert any(line.startswith("Pairing link:") and line.endswith(f"?token={token}") for line in lines)

        async def drain() -> None:  # keep reading the server's log so its pipe never fills
            assert proc.stdout is not None
            while raw := await proc.stdout.readline():
                lines.append(raw.decode(errors="replace").rstrip())

        pump = asyncio.create_task(drain())
        session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(ssl=False)
        )
        try:
            async with session.post(url + "api/login", json={"token": token}) as resp:
                assert resp.status == 200
            async with asyncio.timeout(60), session.ws_connect(url + "api/ws?satellite_id=web-serve") as ws:
                kinds: list[str] = []
                audio = 0
                while True:
                    msg = await ws.receive()
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        audio += len(msg.data)
                        continue
                    event = json.loads(msg.data)
                    kinds.append(event["type"])
                    if event["type"] == "state" and event["data"]["state"] == "ready":
                        await ws.send_str(
                            json.dumps({"type": "run-pipeline", "data": {"start_stage": "handle"}})
                        )
                        await ws.send_str(
                            json.dumps({"type": "transcript", "data": {"text": "What time is it?"}})
                        )
                    elif event["type"] == "synthesize":
                        assert re.search(r"\d", event["data"]["text"]) or "clock" in event["data"]["text"]
                        break
                    assert event["type"] != "error", event
                while True:
                    msg = await ws.receive()
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        audio += len(msg.data)
                    elif json.loads(msg.data)["type"] == "jarvis-turn-metrics":
                        break
            assert audio > 16000, (audio, kinds)
        finally:
            await session.close()
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
        await pump
        assert any("Stopping" in line for line in lines)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
