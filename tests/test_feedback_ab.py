"""A/B: ``--llm-b MODEL --ab-share S`` sends that share of LLM turns to a second model, recorded per turn.

The real brain over Wyoming, the real ``ollama`` client against :class:`TwoModels`, a test double
of Ollama's HTTP API (``tests/fake_ollama.py``) where each model name answers its own sentence,
real SQLite, and the real ``jarvis feedback`` CLI in another process.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from fake_ollama import FakeOllama
from test_feedback_voice import say

from jarvis.server.brain.feedback_log import ab_share, attach
from jarvis.server.brain.handler import BrainSettings, start_brain
from jarvis.server.brain.llm.ollama import OllamaBackend
from jarvis.server.brain.memory import DB_NAME, MemoryStore

SECRET = "peer-secret-for-the-tests-0123456789abcdef"
A, B = "qwen2.5:3b", "llama3.2:3b"


@dataclass
class TwoModels(FakeOllama):
    """FakeOllama where every ``/api/chat`` is answered by the sentence of the model it names."""

    answers: dict[str, str] = field(default_factory=lambda: {A: "Answer from A.", B: "Answer from B."})

    async def _body(self, request: web.Request) -> dict[str, Any]:
        body = await super()._body(request)
        if request.path == "/api/chat":
            self.chat_script.insert(0, [{"content": self.answers.get(str(body.get("model")), "?")}])
        return body


@pytest.fixture
async def ollama() -> AsyncIterator[TwoModels]:
    fake = TwoModels(models={A, B})
    await fake.start()
    yield fake
    await fake.stop()


def test_ab_share_is_a_fraction() -> None:
    assert ab_share("0.2") == 0.2 and ab_share("0") == 0.0 and ab_share("1") == 1.0
    for bad in ("1.5", "-0.1", "half"):
        with pytest.raises(ValueError):
            ab_share(bad)


async def test_a_share_of_the_turns_goes_to_model_b_and_the_report_says_so(
    tmp_path: Path, ollama: TwoModels
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    memory = await MemoryStore.open(data / DB_NAME)
    llm_b = OllamaBackend(host=ollama.url, model=B)
    try:
        server = await start_brain(
            "tcp://127.0.0.1:0",
            OllamaBackend(host=ollama.url, model=A),
            memory=memory,
            probe=False,
            peer_secret=SECRET,
            settings=BrainSettings(onboarding=False),
        )
        traces = attach(server.brain.agent, data, llm_b, 0.3)
        server.brain.agent.rng = random.Random(7)
        expected = random.Random(7)
        arms = ["b" if expected.random() < 0.3 else "a" for _ in range(12)]
        try:
            answers = [
                await say(server.uri, f"compose a haiku about the number {i}", user_id="ann")
                for i in range(12)
            ]
        finally:
            await server.stop()
            traces.close()
        turns = [t for t in await memory.recent_turns("ann", None, limit=20)]
        assert [t.source for t in turns] == ["agent"] * 12
        first_b = next(t for t in turns if t.assistant_text == "Answer from B.")
        first_a = next(t for t in turns if t.assistant_text == "Answer from A.")
        await memory.record_feedback("ann", first_b.id, 1)
        await memory.record_feedback("ann", first_a.id, -1)
    finally:
        await llm_b.close()
        await memory.close()
    assert answers == ["Answer from B." if arm == "b" else "Answer from A." for arm in arms]
    assert 0 < arms.count("b") < 12
    asked = [body["model"] for body in ollama.bodies("/api/chat") if body.get("stream") is not False]
    assert asked.count(B) == arms.count("b")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "jarvis.protocol.cli", "feedback", "--data-dir", str(data), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    exported, reported = await asyncio.gather(
        asyncio.to_thread(cli, "export"), asyncio.to_thread(cli, "report")
    )
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["arm"] for r in lines] == arms
    assert [r["model"] for r in lines] == [f"ollama:{B}" if a == "b" else f"ollama:{A}" for a in arms]
    rated = {r["turn_id"]: r for r in lines}
    assert rated[first_b.id]["rating"] == 1 and rated[first_a.id]["rating"] == -1
    assert all(r["latency_ms"] is not None and r["latency_ms"] >= 0 for r in lines)
    assert all("Jarvis" in r["memory"] and r["tools"] == [] for r in lines)

    assert reported.returncode == 0, reported.stderr
    rows = {line.split()[0]: line.split() for line in reported.stdout.splitlines()[1:]}
    assert rows[f"ollama:{B}"][1:6] == ["agent", str(arms.count("b")), "1", "0", "100%"]
    assert rows[f"ollama:{A}"][1:6] == ["agent", str(arms.count("a")), "0", "1", "0%"]
