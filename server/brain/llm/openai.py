"""Any OpenAI-compatible server (vLLM, llama.cpp, LM Studio): streaming chat with tools over aiohttp."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

from .base import ChatDelta, LLMBackend, LLMError, Message, ToolCall, parse_arguments

_LOGGER = logging.getLogger(__name__)


def api_base(url: str) -> str:
    """``http://host:8000`` or ``http://host:8000/v1`` -> ``http://host:8000/v1``."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


def to_openai_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Only the fields the Chat Completions API defines (strict servers reject others)."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        role = msg["role"]
        if role == "tool":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": msg.get("tool_call_id", ""),
                    "content": msg.get("content", ""),
                }
            )
        elif role == "assistant" and msg.get("tool_calls"):
            out.append(
                {"role": "assistant", "content": msg.get("content") or None, "tool_calls": msg["tool_calls"]}
            )
        else:
            out.append({"role": role, "content": msg.get("content") or ""})
    return out


class _ToolCallAssembler:
    """Tool calls arrive as fragments keyed by ``index``; the arguments string is concatenated."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def add(self, fragments: list[dict[str, Any]]) -> None:
        for frag in fragments:
            index = int(frag.get("index", len(self._calls)))
            call = self._calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
            if frag.get("id"):
                call["id"] = frag["id"]
            function = frag.get("function") or {}
            if function.get("name"):
                call["name"] += function["name"]
            if function.get("arguments"):
                args = function["arguments"]
                call["arguments"] += args if isinstance(args, str) else json.dumps(args)

    def finish(self) -> tuple[ToolCall, ...]:
        calls = tuple(
            ToolCall(
                name=call["name"],
                arguments=parse_arguments(call["arguments"]),
                id=call["id"] or f"call_{index}",
            )
            for index, call in sorted(self._calls.items())
        )
        self._calls.clear()
        return calls


class OpenAIBackend(LLMBackend):
    """``POST /v1/chat/completions`` with ``stream: true``; Server-Sent Events parsed line by line."""

    def __init__(
        self,
        url: str,
        model: str | None = None,
        api_key: str | None = None,
        probe_timeout: float = 3.0,
        request_timeout: float = 120.0,
    ) -> None:
        self.base = api_base(url)
        self.model = model
        self.api_key = api_key
        self.probe_timeout = probe_timeout
        self.request_timeout = request_timeout
        self.name = f"openai:{model or '?'}@{self.base}"
        self._session: aiohttp.ClientSession | None = None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers())
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def available(self) -> bool:
        try:
            async with self._http().get(
                f"{self.base}/models", timeout=aiohttp.ClientTimeout(total=self.probe_timeout)
            ) as resp:
                if resp.status != 200:
                    _LOGGER.debug("%s/models answered HTTP %s", self.base, resp.status)
                    return False
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as err:
            _LOGGER.debug("OpenAI-compatible server at %s not reachable: %s", self.base, err)
            return False
        if self.model is None:
            models = [m.get("id") for m in (body or {}).get("data", []) if isinstance(m, dict)]
            if not models:
                _LOGGER.warning("%s serves no model", self.base)
                return False
            self.model = str(models[0])
            self.name = f"openai:{self.model}@{self.base}"
            _LOGGER.info("Using model %s from %s", self.model, self.base)
        return True

    async def chat(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ChatDelta]:
        if self.model is None and not await self.available():
            raise LLMError(f"no model available at {self.base}")
        body: dict[str, Any] = {"model": self.model, "messages": to_openai_messages(messages), "stream": True}
        if tools:
            body["tools"] = list(tools)
        calls = _ToolCallAssembler()
        try:
            async with self._http().post(
                f"{self.base}/chat/completions",
                json=body,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            ) as resp:
                if resp.status != 200:
                    text = (await resp.text())[:500]
                    raise LLMError(f"{self.base} answered HTTP {resp.status}: {text}")
                async for raw in resp.content:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        continue  # comments, event names, keep-alives
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except json.JSONDecodeError as err:
                        raise LLMError(f"bad SSE data from {self.base}: {data[:200]!r}") from err
                    if chunk.get("error"):
                        raise LLMError(f"{self.base} error: {chunk['error']}")
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        if delta.get("tool_calls"):
                            calls.add(delta["tool_calls"])
                        if delta.get("content"):
                            yield ChatDelta(text=delta["content"])
                        if choice.get("finish_reason") and (done := calls.finish()):
                            yield ChatDelta(tool_calls=done)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise LLMError(f"OpenAI-compatible server at {self.base} failed: {err}") from err
        if done := calls.finish():
            yield ChatDelta(tool_calls=done)
