"""`jarvis brain` as a subprocess: argument wiring, describe, a turn through FakeOllama (a test double)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_ollama import FakeOllama
from wyoming.asr import Transcript
from wyoming.info import Describe, Info

from jarvis.protocol.service import Connection
from jarvis.server.bench.procs import free_port, jarvis_argv, run_server


@pytest.fixture
async def fake_ollama() -> AsyncIterator[FakeOllama]:
    fake = FakeOllama()
    await fake.start()
    yield fake
    await fake.stop()


async def test_jarvis_brain_serves_turns_through_ollama(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    fake_ollama.add_chat({"tool_calls": [{"function": {"name": "get_date", "arguments": {}}}]})
    fake_ollama.add_chat("It is a fine day. ", "Enjoy it!")
    uri = f"tcp://127.0.0.1:{free_port()}"
    argv = jarvis_argv(
        "brain",
        "--uri",
        uri,
        "--llm",
        "ollama",
        "--ollama-host",
        fake_ollama.url,
        "--data-dir",
        str(tmp_path / "data"),
        "--no-onboarding",
        "--user-map",
        "sat-1=ann@office",
    )
    async with run_server("brain", argv, uri, tmp_path / "brain.log", timeout=60):
        async with await Connection.open(uri) as conn:
            await conn.write_event(Describe().event())
            info_event = await conn.read_event(timeout=5)
            assert info_event is not None
            assert Info.from_event(info_event).handle[0].models[0].name == "ollama:qwen2.5:3b"
            await conn.write_event(
                Transcript(text="good day for a picnic?", context={"satellite_id": "sat-1"}).event()
            )
            events = []
            async with asyncio.timeout(10):
                while (event := await conn.read_event()) is not None:
                    events.append(event)
                    if event.type == "handled-stop":
                        break
    assert [e.type for e in events] == [
        "handled-start",
        "handled-chunk",
        "handled-chunk",
        "handled",
        "handled-stop",
    ]
    assert events[3].data["text"] == "It is a fine day. Enjoy it!"
    assert events[3].data["context"]["user_id"] == "ann"
    second = fake_ollama.bodies("/api/chat")[1]
    assert "speaking from the office" in second["messages"][0]["content"]
    assert second["messages"][-1]["tool_name"] == "get_date"
    assert (tmp_path / "data" / "memory.sqlite3").exists()


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    from jarvis.protocol.cli import main

    with pytest.raises(SystemExit, match="--user-map"):
        main(["brain", "--user-map", "nonsense", "--data-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="--llm-url"):
        main(["brain", "--llm", "openai", "--data-dir", str(tmp_path)])
