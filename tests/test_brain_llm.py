"""LLM backends over real HTTP on 127.0.0.1: the real ``ollama`` client against FakeOllama (a test
double of Ollama's API), the OpenAI-compatible backend against a small SSE double, and AutoLLM."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from fake_ollama import FakeOllama

from jarvis.server.brain.context import TurnContext
from jarvis.server.brain.handler import Brain, BrainSettings, TurnEnd, default_tools
from jarvis.server.brain.llm import ChatDelta, LLMError, ToolCall
from jarvis.server.brain.llm.none import AutoLLM
from jarvis.server.brain.llm.ollama import OllamaBackend
from jarvis.server.brain.llm.openai import OpenAIBackend
from jarvis.server.brain.llm.select import make_llm
from jarvis.server.brain.memory import MemoryStore
from jarvis.server.brain.tools.registry import ToolRegistry

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "time",
            "parameters": {"type": "object", "properties": {}, "required": []},
        },
    }
]


@pytest.fixture
async def fake_ollama() -> AsyncIterator[FakeOllama]:
    fake = FakeOllama()
    await fake.start()
    yield fake
    await fake.stop()


async def collect(stream: AsyncIterator[ChatDelta]) -> tuple[str, list[ToolCall]]:
    text, calls = "", []
    async with asyncio.timeout(10):
        async for delta in stream:
            text += delta.text
            calls.extend(delta.tool_calls)
    return text, calls


async def test_ollama_streams_text_and_tool_calls(
    fake_ollama: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    fake_ollama.add_chat({"tool_calls": [{"function": {"name": "get_time", "arguments": {"tz": "UTC"}}}]})
    fake_ollama.add_chat("It is ", "noon. ", "Enjoy!")
    backend = OllamaBackend(fake_ollama.url, "qwen2.5:3b")
    try:
        with caplog.at_level("WARNING"):
            assert await backend.available()
        assert not [r for r in caplog.records if "tool calling" in r.getMessage()]
        text, calls = await collect(backend.chat([{"role": "user", "content": "time?"}], TOOLS))
        assert text == "" and calls == [ToolCall("get_time", {"tz": "UTC"}, "call_1")]
        messages = [
            {"role": "user", "content": "time?"},
            {"role": "assistant", "content": "", "tool_calls": [calls[0].as_message_call()]},
            {"role": "tool", "tool_call_id": "call_1", "name": "get_time", "content": "12:00"},
        ]
        text, calls = await collect(backend.chat(messages, TOOLS))
        assert text == "It is noon. Enjoy!" and calls == []
    finally:
        await backend.close()
    first, second = fake_ollama.bodies("/api/chat")
    assert first["model"] == "qwen2.5:3b" and first["stream"] is True and first["keep_alive"] == "30m"
    assert first["tools"][0]["function"]["name"] == "get_time"
    assert second["messages"][1]["tool_calls"] == [
        {"function": {"name": "get_time", "arguments": {"tz": "UTC"}}}
    ]
    assert second["messages"][2] == {"role": "tool", "content": "12:00", "tool_name": "get_time"}


async def test_ollama_missing_model_says_how_to_pull(
    fake_ollama: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    backend = OllamaBackend(fake_ollama.url, "llama3.2:3b")
    try:
        with caplog.at_level("WARNING"):
            assert not await backend.available()
            assert not await backend.available()
        lines = [r.getMessage() for r in caplog.records if "ollama pull llama3.2:3b" in r.getMessage()]
        assert len(lines) == 1 and "--pull" in lines[0]
        with pytest.raises(LLMError, match="ollama pull llama3.2:3b"):
            await collect(backend.chat([{"role": "user", "content": "hi"}], []))
    finally:
        await backend.close()
    assert fake_ollama.bodies("/api/pull") == []  # never pulled without --pull


async def test_ollama_pulls_when_asked_with_progress(
    fake_ollama: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    backend = OllamaBackend(fake_ollama.url, "llama3.2:3b", pull=True)
    try:
        with caplog.at_level("INFO"):
            async with asyncio.timeout(10):
                assert await backend.available()
    finally:
        await backend.close()
    assert fake_ollama.bodies("/api/pull")[0]["model"] == "llama3.2:3b"
    messages = [r.getMessage() for r in caplog.records]
    assert any("[##########] 100%" in m for m in messages)
    assert any("[#####.....]  50%" in m for m in messages)
    assert any("Model llama3.2:3b is ready" in m for m in messages)


async def test_ollama_model_without_tools_is_flagged(
    fake_ollama: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    fake_ollama.capabilities = ["completion"]
    backend = OllamaBackend(fake_ollama.url, "qwen2.5:3b")
    try:
        with caplog.at_level("WARNING"):
            assert await backend.available()
            assert await backend.available()
    finally:
        await backend.close()
    warnings = [r.getMessage() for r in caplog.records if "does not support tool calling" in r.getMessage()]
    assert len(warnings) == 1 and len(fake_ollama.bodies("/api/show")) == 1


async def test_ollama_unreachable_is_not_available() -> None:
    backend = OllamaBackend("http://127.0.0.1:9", "qwen2.5:3b")
    try:
        assert not await backend.available()
        with pytest.raises(LLMError):
            await collect(backend.chat([{"role": "user", "content": "hi"}], []))
    finally:
        await backend.close()


async def test_brain_answers_a_multi_tool_question_through_ollama(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    fake_ollama.add_chat(
        {
            "tool_calls": [
                {"function": {"name": "get_time", "arguments": {}}},
                {"function": {"name": "calculate", "arguments": {"expression": "23*4"}}},
            ]
        }
    )
    fake_ollama.add_chat("Twenty-three times four is 92. ", "Have a good day!")
    llm = make_llm("ollama", ollama_host=fake_ollama.url)
    memory = await MemoryStore.open(tmp_path / "m.sqlite3")
    brain = Brain(llm, memory, ToolRegistry(default_tools(memory)), [], None, BrainSettings(onboarding=False))
    try:
        ctx = TurnContext(text="what time is it and what is 23 times 4?", user_id="ann", conversation_id="c")
        async with asyncio.timeout(10):
            items = [i async for i in brain.turn(ctx)]
    finally:
        await brain.close()
        await memory.close()
    assert [i.text for i in items[:-1]] == ["Twenty-three times four is 92.", "Have a good day!"]
    end = items[-1]
    assert isinstance(end, TurnEnd) and end.handled
    second = fake_ollama.bodies("/api/chat")[1]
    tool_msgs = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["tool_name"] for m in tool_msgs] == ["get_time", "calculate"]
    assert tool_msgs[1]["content"] == "23*4 = 92"
    assert second["messages"][0]["role"] == "system" and "Jarvis" in second["messages"][0]["content"]


# -- OpenAI-compatible ------------------------------------------------------------------------------


class FakeOpenAI:
    """TEST DOUBLE of an OpenAI-compatible server: /v1/models and streaming /v1/chat/completions (SSE)."""

    def __init__(self) -> None:
        self.script: list[list[dict[str, Any]]] = []
        self.bodies: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self.url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "qwen2.5-3b-instruct", "object": "model"}]}
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.json())
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b": keep-alive comment\n\n")
        for delta, finish in self.script.pop(0):
            chunk = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


async def test_openai_streams_text_and_assembles_tool_call_fragments(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.append(
        [
            ({"role": "assistant", "content": "Let me check. "}, None),
            (
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": ""},
                        }
                    ]
                },
                None,
            ),
            (
                {
                    "tool_calls": [
                        {
                            "index": 1,
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "calculate", "arguments": '{"expr'},
                        }
                    ]
                },
                None,
            ),
            ({"tool_calls": [{"index": 0, "function": {"arguments": '{"tz": "UTC"}'}}]}, None),
            ({"tool_calls": [{"index": 1, "function": {"arguments": 'ession": "2+2"}'}}]}, None),
            ({}, "tool_calls"),
        ]
    )
    fake_openai.script.append([({"content": "It is "}, None), ({"content": "noon."}, None), ({}, "stop")])
    backend = OpenAIBackend(fake_openai.url)  # no /v1: added
    try:
        assert await backend.available() and backend.model == "qwen2.5-3b-instruct"
        text, calls = await collect(backend.chat([{"role": "user", "content": "time?"}], TOOLS))
        assert text == "Let me check. "
        assert calls == [
            ToolCall("get_time", {"tz": "UTC"}, "call_a"),
            ToolCall("calculate", {"expression": "2+2"}, "call_b"),
        ]
        followup = [
            {"role": "user", "content": "time?"},
            {
                "role": "assistant",
                "content": "Let me check. ",
                "tool_calls": [c.as_message_call() for c in calls],
            },
            {"role": "tool", "tool_call_id": "call_a", "name": "get_time", "content": "12:00"},
        ]
        text, calls = await collect(backend.chat(followup, []))
        assert (text, calls) == ("It is noon.", [])
    finally:
        await backend.close()
    first, second = fake_openai.bodies
    assert first["stream"] is True and first["model"] == "qwen2.5-3b-instruct"
    assert first["tools"] == TOOLS and "tools" not in second
    assert second["messages"][1]["tool_calls"][0]["function"] == {
        "name": "get_time",
        "arguments": '{"tz": "UTC"}',
    }
    assert second["messages"][2] == {"role": "tool", "tool_call_id": "call_a", "content": "12:00"}


async def test_openai_http_error_is_an_llm_error(fake_openai: FakeOpenAI) -> None:
    backend = OpenAIBackend(fake_openai.url + "/v1", model="m")
    try:
        with pytest.raises(LLMError):  # script empty -> the double answers HTTP 500
            await collect(backend.chat([{"role": "user", "content": "x"}], []))
    finally:
        await backend.close()


async def test_auto_prefers_llm_url_then_ollama(fake_openai: FakeOpenAI, fake_ollama: FakeOllama) -> None:
    llm = make_llm("auto", ollama_host=fake_ollama.url, llm_url=fake_openai.url)
    assert isinstance(llm, AutoLLM)
    try:
        assert await llm.probe() is llm.candidates[0]
        assert llm.name.startswith("openai:qwen2.5-3b-instruct")
        await fake_openai.stop()
        assert await llm.probe() is llm.candidates[1]
        assert llm.name == "ollama:qwen2.5:3b"
    finally:
        await llm.close()


def test_make_llm_rejects_bad_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--llm-url"):
        make_llm("openai")
    with pytest.raises(ValueError, match="unknown --llm"):
        make_llm("gpt5")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"loop": True, "turns": [{"text": "Hi."}]}))
    scripted = make_llm(f"scripted:{plan}")
    assert scripted.name == "scripted:plan.json"
