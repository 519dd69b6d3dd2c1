"""``expect_reply``: the model says that its answer asks the user something.

A voice assistant's question ("Which room?", "For how long?") is answered without "hey jarvis" when
the brain flags the answer (``jarvis_expects_answer``, docs/satellite-protocol.md §3a). The brain never
guesses that from a question mark: the model calls this tool before it asks, and the agent flags
the answer that follows (``Output.expects_answer``).
"""

from __future__ import annotations

from typing import Any

from ..context import TurnContext
from .base import Tool, ToolResult, ToolSpec

EXPECT_REPLY = "expect_reply"


class ExpectReplyTool(Tool):
    spec = ToolSpec(
        EXPECT_REPLY,
        "Call this just before an answer that asks the user a question they should answer right away "
        "(which room, how long, yes or no). Their reply is then heard without the wake word.",
    )

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        return ToolResult(
            "Noted: ask your question now; the user's reply will be heard without the wake word."
        )
