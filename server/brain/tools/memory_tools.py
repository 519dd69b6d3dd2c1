"""Remember / forget a fact about the CURRENT user (``TurnContext.user_id``) only."""

from __future__ import annotations

from typing import Any

from ..context import TurnContext
from ..memory import MemoryError_, MemoryStore
from .base import Tool, ToolError, ToolResult, ToolSpec

_FACT = {
    "type": "object",
    "properties": {"fact": {"type": "string", "description": "The fact, as a short sentence."}},
    "required": ["fact"],
}


class RememberTool(Tool):
    spec = ToolSpec(
        "remember", "Store a fact about the current user when they ask you to remember it.", _FACT
    )

    def __init__(self, memory: MemoryStore) -> None:
        self.memory = memory

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        try:
            await self.memory.add_fact(ctx.user_id, str(arguments.get("fact") or ""))
        except MemoryError_ as err:
            raise ToolError(str(err)) from err
        return ToolResult(f"Remembered: {arguments['fact']}")


class ForgetTool(Tool):
    spec = ToolSpec("forget", "Forget a fact previously remembered about the current user.", _FACT)

    def __init__(self, memory: MemoryStore) -> None:
        self.memory = memory

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        try:
            removed = await self.memory.forget_fact(ctx.user_id, str(arguments.get("fact") or ""))
        except MemoryError_ as err:
            raise ToolError(str(err)) from err
        if not removed:
            raise ToolError("no remembered fact matches that")
        return ToolResult("Forgot: " + "; ".join(f.fact for f in removed))
