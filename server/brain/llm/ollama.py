"""Ollama through the official ``ollama.AsyncClient``: streaming chat with native tool calling."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import ollama

from .base import ChatDelta, LLMBackend, LLMError, Message, ToolCall, parse_arguments

_LOGGER = logging.getLogger(__name__)

#: Default model: Qwen 2.5 3B has native tool calling, speaks English and French, fits 4 GB.
DEFAULT_MODEL = "qwen2.5:3b"
DEFAULT_HOST = "http://localhost:11434"
DEFAULT_KEEP_ALIVE = "30m"


def default_host() -> str:
    return os.environ.get("OLLAMA_HOST") or DEFAULT_HOST


def _same_model(a: str, b: str) -> bool:
    def norm(name: str) -> str:
        return name if ":" in name else f"{name}:latest"

    return norm(a) == norm(b)


def to_ollama_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """OpenAI-style messages to Ollama's (tool calls carry dict arguments, tool results a tool_name)."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        role = msg["role"]
        item: dict[str, Any] = {"role": role, "content": msg.get("content") or ""}
        if role == "assistant" and msg.get("tool_calls"):
            item["tool_calls"] = [
                {
                    "function": {
                        "name": call["function"]["name"],
                        "arguments": parse_arguments(call["function"].get("arguments")),
                    }
                }
                for call in msg["tool_calls"]
            ]
        if role == "tool" and msg.get("name"):
            item["tool_name"] = msg["name"]
        out.append(item)
    return out


class OllamaBackend(LLMBackend):
    """Chat with a model served by Ollama (``OLLAMA_HOST`` or http://localhost:11434)."""

    def __init__(
        self,
        host: str | None = None,
        model: str = DEFAULT_MODEL,
        keep_alive: str | float = DEFAULT_KEEP_ALIVE,
        pull: bool = False,
        options: dict[str, Any] | None = None,
        probe_timeout: float = 3.0,
        request_timeout: float = 120.0,
    ) -> None:
        self.host = host or default_host()
        self.model = model
        self.keep_alive = keep_alive
        self.pull = pull
        self.options = options
        self.name = f"ollama:{model}"
        self._client = ollama.AsyncClient(host=self.host, timeout=request_timeout)
        self._probe = ollama.AsyncClient(host=self.host, timeout=probe_timeout)
        self._told_missing = False
        self._checked_tools = False

    async def close(self) -> None:
        await self._client.close()
        await self._probe.close()

    async def available(self) -> bool:
        try:
            listing = await self._probe.list()
        except (ConnectionError, httpx.HTTPError, ollama.ResponseError) as err:
            _LOGGER.debug("Ollama at %s not reachable: %s", self.host, err)
            return False
        if any(_same_model(m.model or "", self.model) for m in listing.models):
            await self._check_tools()
            return True
        if self.pull:
            if not await self.pull_model():
                return False
            await self._check_tools()
            return True
        if not self._told_missing:
            _LOGGER.warning(
                "Ollama is running at %s but model %s is missing: run `ollama pull %s` "
                "(or start jarvis brain with --pull)",
                self.host,
                self.model,
                self.model,
            )
            self._told_missing = True
        return False

    async def _check_tools(self) -> None:
        """Warn once if the model cannot call tools (the agent then only chats)."""
        if self._checked_tools:
            return
        self._checked_tools = True
        try:
            shown = await self._probe.show(self.model)
        except (ConnectionError, httpx.HTTPError, ollama.ResponseError) as err:
            _LOGGER.debug("Could not inspect %s: %s", self.model, err)
            return
        capabilities = shown.capabilities or []
        if capabilities and "tools" not in capabilities:
            _LOGGER.warning(
                "Model %s does not support tool calling (capabilities: %s): timers, memory and "
                "home control through the LLM will not work; use e.g. --model %s",
                self.model,
                ", ".join(capabilities),
                DEFAULT_MODEL,
            )

    async def pull_model(self) -> bool:
        """Pull the model, logging a progress bar every 10 %; True when it succeeded."""
        _LOGGER.info("Pulling %s from the Ollama library (this can take a while)", self.model)
        last_status = ""
        last_decile = -1
        try:
            async for progress in await self._client.pull(self.model, stream=True):
                status = progress.status or ""
                if progress.total and progress.completed is not None:
                    decile = int(progress.completed * 10 / progress.total)
                    if decile != last_decile or status != last_status:
                        bar = "#" * decile + "." * (10 - decile)
                        _LOGGER.info(
                            "%s [%s] %3d%% %.1f/%.1f MB",
                            status,
                            bar,
                            decile * 10,
                            progress.completed / 1e6,
                            progress.total / 1e6,
                        )
                        last_decile = decile
                elif status != last_status:
                    _LOGGER.info("%s", status)
                    last_decile = -1
                last_status = status
        except (ConnectionError, httpx.HTTPError, ollama.ResponseError) as err:
            _LOGGER.error("Pulling %s failed: %s", self.model, err)
            return False
        if last_status != "success":
            _LOGGER.error("Pulling %s ended without success (last status %r)", self.model, last_status)
            return False
        _LOGGER.info("Model %s is ready", self.model)
        return True

    async def chat(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ChatDelta]:
        try:
            stream = await self._client.chat(
                model=self.model,
                messages=to_ollama_messages(messages),
                tools=list(tools) or None,
                stream=True,
                keep_alive=self.keep_alive,
                options=self.options,
            )
            count = 0
            async for part in stream:
                message = part.message
                calls: list[ToolCall] = []
                for call in message.tool_calls or ():
                    count += 1
                    calls.append(
                        ToolCall(
                            name=call.function.name,
                            arguments=dict(call.function.arguments or {}),
                            id=f"call_{count}",
                        )
                    )
                if message.content or calls:
                    yield ChatDelta(text=message.content or "", tool_calls=tuple(calls))
        except ollama.ResponseError as err:
            if err.status_code == 404:
                raise LLMError(f"Ollama has no model {self.model}: run `ollama pull {self.model}`") from err
            raise LLMError(f"Ollama error: {err.error}") from err
        except (ConnectionError, httpx.HTTPError) as err:
            raise LLMError(f"Ollama at {self.host} failed: {err}") from err
