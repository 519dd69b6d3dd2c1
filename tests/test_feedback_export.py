"""``jarvis feedback export|report``: turns rated on the web page and by voice, as JSONL and figures.

A real memory store in a temporary data dir, the real web store's 👍 path, the brain's voice 👎 over
Wyoming, and the real CLI in another process.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from test_feedback_voice import brain, say

from jarvis.server.brain.memory import DB_NAME, MemoryStore
from jarvis.server.web.store import WebStore


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "jarvis.protocol.cli", "feedback", "--data-dir", str(data), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(os.environ))


async def test_export_and_report_carry_the_ratings(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    memory = await MemoryStore.open(data / DB_NAME)
    try:
        server = await brain(memory)
        try:
            liked = await say(server.uri, "what's my name", user_id="ann")
            await say(server.uri, "what time is it", user_id="ann")
            await say(server.uri, "that was wrong", user_id="ann")
            await say(server.uri, "what's my name", user_id="bob")
        finally:
            await server.stop()
        web = WebStore(data, memory=memory)
        stored = await web.record_feedback("ann", "hub-1", 1, question="what's my name", answer=liked)
        assert stored["stored_in"] == "memory"
        await web.close()
    finally:
        await memory.close()

    out = tmp_path / "turns.jsonl"
    exported, reported, missing = await asyncio.gather(
        asyncio.to_thread(cli, data, "export", "--out", str(out)),
        asyncio.to_thread(cli, data, "report"),
        asyncio.to_thread(cli, tmp_path / "nowhere", "report"),
    )
    assert exported.returncode == 0, exported.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_prompt = {(r["user_id"], r["prompt"]): r for r in lines}
    assert len(lines) == 4
    assert by_prompt[("ann", "what's my name")]["rating"] == 1
    assert by_prompt[("ann", "what's my name")]["answer"] == liked
    assert by_prompt[("ann", "what time is it")]["rating"] == -1
    assert by_prompt[("ann", "what time is it")]["ratings"][0]["comment"] == "voice"
    assert by_prompt[("bob", "what's my name")]["rating"] is None
    assert {"model", "memory", "tools", "created_at", "source", "language"} <= set(lines[0])

    assert reported.returncode == 0, reported.stderr
    intent = next(line for line in reported.stdout.splitlines() if " intent " in line)
    # 4 intent turns (the acknowledgement is one too), 1 up, 1 down: 50 %
    assert intent.split()[:6] == ["-", "intent", "4", "1", "1", "50%"]
    assert "what's my name" not in reported.stdout + reported.stderr + exported.stderr

    assert missing.returncode == 1 and "nothing recorded yet" in missing.stderr


async def test_rated_only(tmp_path: Path) -> None:
    memory = await MemoryStore.open(tmp_path / DB_NAME)
    try:
        first = await memory.add_turn("ann", "c", "one", "un", "en", "agent")
        await memory.add_turn("ann", "c", "two", "deux", "en", "agent")
        await memory.record_feedback("ann", first, -1)
    finally:
        await memory.close()
    done = await asyncio.to_thread(cli, tmp_path, "export", "--rated-only")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["prompt"] for line in done.stdout.splitlines()] == ["one"]
