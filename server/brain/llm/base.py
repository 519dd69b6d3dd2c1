"""The one small interface every language-model backend implements.

Messages are OpenAI-style dicts (``{"role": "system"|"user"|"assistant"|"tool", "content": ...}``;
an assistant message may carry ``tool_calls``; a tool message carries ``tool_call_id`` and ``name``).
Each backend converts them to its own wire format. Tools are OpenAI/Ollama function specs
(:meth:`jarvis.server.brain.tools.base.ToolSpec.as_llm_tool`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call requested by the model."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    """The backend's call id (OpenAI); synthesized when the backend has none (Ollama)."""

    def as_message_call(self) -> dict[str, Any]:
        """The OpenAI-style ``tool_calls`` entry of an assistant message."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments)},
        }


@dataclass(frozen=True)
class ChatDelta:
    """One piece of a streamed answer: some text and/or complete tool calls."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


class LLMError(Exception):
    """The backend failed (unreachable, model missing, bad response). The message is for logs."""


class LLMBackend(ABC):
    """A chat model with tool calling."""

    name: str = "llm"
    """Shown in logs and in the brain's ``describe`` answer (e.g. ``ollama:qwen2.5:3b``)."""

    @abstractmethod
    def chat(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]]) -> AsyncIterator[ChatDelta]:
        """Stream the answer to ``messages``; raise :class:`LLMError` on failure."""

    @abstractmethod
    async def available(self) -> bool:
        """Whether the backend is reachable and has its model (cheap; called periodically)."""

    async def close(self) -> None:
        """Release connections."""

    @property
    def is_real(self) -> bool:
        """False for :class:`NoLLM` (nothing to talk to)."""
        return True


async def complete(backend: LLMBackend, messages: Sequence[Message]) -> str:
    """Run a chat without tools and return the whole text (summaries, profile extraction)."""
    parts: list[str] = []
    async for delta in backend.chat(messages, []):
        parts.append(delta.text)
    return "".join(parts)


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict, whether the backend sent a dict or a JSON string."""
    if isinstance(raw, dict):
        return dict(raw)
    if raw in (None, ""):
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, json.JSONDecodeError) as err:
        raise LLMError(f"tool-call arguments are not valid JSON: {raw!r}") from err
    if not isinstance(value, dict):
        raise LLMError(f"tool-call arguments must be a JSON object: {raw!r}")
    return value
