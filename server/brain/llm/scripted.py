"""ScriptedLLM — a TEST DOUBLE, never a default.

It replays planned turns (tool calls, then text) instead of running a model, and records every
``messages``/``tools`` pair it was given so tests can assert on the prompts. It is only selectable
explicitly (``jarvis brain --llm scripted:plan.json``, for benchmarks and demos of the plumbing).

Plan file format (JSON)::

    {"loop": true,
     "turns": [
        {"tool_calls": [{"name": "get_time", "arguments": {}}]},
        {"text": "It is noon. ", "chunks": ["It is ", "noon."], "delay": 0.05}
     ]}

Each ``chat()`` call consumes the next turn; ``loop`` restarts at the first turn when exhausted.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import ChatDelta, LLMBackend, LLMError, Message, ToolCall


@dataclass
class ScriptedTurn:
    """What the double answers to one ``chat()`` call."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    chunks: list[str] | None = None
    """How ``text`` is streamed (default: word by word)."""
    delay: float = 0.0
    """Seconds to wait before each chunk (simulated generation time)."""
    gate: asyncio.Event | None = None
    """If set, wait for it before streaming chunk number ``gate_before`` (deterministic streaming tests)."""
    gate_before: int = 1
    error: str | None = None
    """Raise :class:`LLMError` with this message instead of answering."""

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        return re.findall(r"\S+\s*", self.text)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> ScriptedTurn:
        calls = [
            ToolCall(name=c["name"], arguments=dict(c.get("arguments") or {}), id=c.get("id", f"call_{i}"))
            for i, c in enumerate(data.get("tool_calls") or ())
        ]
        chunks = data.get("chunks")
        text = data.get("text") or ("".join(chunks) if chunks else "")
        return ScriptedTurn(
            text=text,
            tool_calls=calls,
            chunks=chunks,
            delay=float(data.get("delay", 0.0)),
            error=data.get("error"),
        )


@dataclass
class RecordedCall:
    messages: list[Message]
    tools: list[dict[str, Any]]

    @property
    def system(self) -> str:
        return "\n".join(m.get("content") or "" for m in self.messages if m["role"] == "system")

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.tools]


class ScriptedLLM(LLMBackend):
    """TEST DOUBLE: replays :class:`ScriptedTurn`s and records what it was asked."""

    def __init__(self, turns: Sequence[ScriptedTurn | str] = (), loop: bool = False, name: str = "scripted"):
        self.turns = [ScriptedTurn(text=t) if isinstance(t, str) else t for t in turns]
        self.loop = loop
        self.name = name
        self.calls: list[RecordedCall] = []
        self.finished = 0
        """Number of turns streamed to the end."""
        self._next = 0

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedLLM:
        data = json.loads(Path(path).read_text())
        if isinstance(data, list):
            data = {"turns": data}
        turns = [ScriptedTurn.from_dict(t) for t in data.get("turns", [])]
        if not turns:
            raise ValueError(f"{path}: a script needs at least one turn")
        return cls(turns, loop=bool(data.get("loop", False)), name=f"scripted:{Path(path).name}")

    def add(self, *turns: ScriptedTurn | str) -> None:
        self.turns.extend(ScriptedTurn(text=t) if isinstance(t, str) else t for t in turns)

    async def available(self) -> bool:
        return True

    async def chat(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ChatDelta]:
        self.calls.append(RecordedCall(copy.deepcopy(list(messages)), copy.deepcopy(list(tools))))
        if self._next >= len(self.turns):
            if not (self.loop and self.turns):
                raise LLMError("ScriptedLLM: script exhausted")
            self._next = 0
        turn = self.turns[self._next]
        self._next += 1
        if turn.error:
            raise LLMError(turn.error)
        for index, piece in enumerate(turn.pieces()):
            if turn.gate is not None and index == turn.gate_before:
                await turn.gate.wait()
            if turn.delay:
                await asyncio.sleep(turn.delay)
            yield ChatDelta(text=piece)
        if turn.tool_calls:
            yield ChatDelta(tool_calls=tuple(turn.tool_calls))
        self.finished += 1
