"""Remember / forget a fact about the CURRENT user (``TurnContext.user_id``) only."""

from __future__ import annotations

from typing import Any

from ..context import TurnContext
from ..memory import MemoryError_, MemoryStore, MemoryWriteError
from .base import Tool, ToolError, ToolResult, ToolSpec

_FACT = {
    "type": "object",
    "properties": {"fact": {"type": "string", "description": "The fact, as a short sentence."}},
    "required": ["fact"],
}
_FORGET = {
    "type": "object",
    "properties": {
        "fact": {"type": "string", "description": "The words of the fact to forget."},
        "id": {
            "type": "integer",
            "description": "The id of the fact to forget, once the user chose among candidates.",
        },
    },
    "required": [],
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
        except MemoryWriteError as err:
            raise ToolError(f"{err}. Tell the user: {err.apology(ctx.language)}") from err
        return ToolResult(f"Remembered: {arguments['fact']}")


class ForgetTool(Tool):
    """Forgets ONE fact that the words designate clearly; with several candidates it forgets nothing
    and lists them (with ids) so that the model asks the user which one, then calls again with ``id``."""

    spec = ToolSpec(
        "forget",
        "Forget ONE fact previously remembered about the current user: give its words, or its id when "
        "the user chose among candidates. Forgets nothing when several facts match.",
        _FORGET,
    )

    def __init__(self, memory: MemoryStore) -> None:
        self.memory = memory

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        try:
            if arguments.get("id") is not None:
                return await self._by_id(arguments["id"], ctx)
            result = await self.memory.forget_fact(ctx.user_id, str(arguments.get("fact") or ""))
        except MemoryError_ as err:
            raise ToolError(str(err)) from err
        except MemoryWriteError as err:
            raise ToolError(f"{err}. Tell the user: {err.apology(ctx.language)}") from err
        if result.removed:
            return ToolResult("Forgot: " + "; ".join(f.fact for f in result.removed))
        if not result.candidates:
            raise ToolError("no remembered fact matches that clearly; ask the user which fact they mean")
        listed = "; ".join(f"[id {f.id}] {f.fact}" for f in result.candidates)
        return ToolResult(
            f"Nothing was forgotten: {len(result.candidates)} facts match ({listed}). Ask the user which "
            "one to forget (or whether all of them), and call forget with that id once they confirm."
        )

    async def _by_id(self, value: Any, ctx: TurnContext) -> ToolResult:
        try:
            fact_id = int(value)
        except (TypeError, ValueError) as err:
            raise ToolError("'id' must be a fact id (an integer)") from err
        facts = {f.id: f for f in await self.memory.list_facts(ctx.user_id)}
        if fact_id not in facts or not await self.memory.forget_fact_id(ctx.user_id, fact_id):
            raise ToolError(f"the current user has no remembered fact with id {fact_id}")
        return ToolResult(f"Forgot: {facts[fact_id].fact}")
