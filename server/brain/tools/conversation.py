"""``expect_reply``: the model says that its answer asks the user something.

A voice assistant's question ("Which room?", "For how long?") is answered without "hey jarvis" when
the brain flags the answer (``jarvis_expects_answer``, docs/satellite-protocol.md §3a). The brain never
guesses that from a question mark: the model calls this tool before it asks, and the agent flags
the answer that follows (``Output.expects_answer``).
"""

from __future__ import annotations

from typing import Any

from ..context import TurnContext
from .base import Tool, ToolError, ToolResult, ToolSpec

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


class AnnounceTool(Tool):
    """``announce``: "tell the kids dinner is ready" speaks on the satellites of an area, or on all.

    It reaches other rooms, so it is sensitive: the brain asks for a spoken "yes" first, as for any
    such action. The brain cannot reach satellites itself: the tool's ``jarvis-announce`` event goes
    with the answer, and the hub (which authenticated the brain connection as its own) speaks it on
    every target but the satellite that asked (docs/hub.md, "Announcements")."""

    spec = ToolSpec(
        "announce",
        "Speak a short message out loud on the household's other satellites: in one area (a room such "
        "as kitchen), or on all of them when no area is given.",
        {
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "What to say, as it should be heard."},
                "area": {"type": "string", "description": "A room, e.g. kitchen; omit for every room."},
            },
            "required": ["text"],
        },
        sensitive=True,
    )

    def describe_action(self, arguments: dict[str, Any]) -> str:
        where = f"in the {arguments['area']}" if arguments.get("area") else "in every room"
        return f"announce “{arguments.get('text', '')}” {where}"

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        from jarvis.protocol.events import MAX_ANNOUNCE_CHARS, Announce

        text = str(arguments.get("text") or "").strip()
        if not text or len(text) > MAX_ANNOUNCE_CHARS:
            raise ToolError(f"'text' must be 1 to {MAX_ANNOUNCE_CHARS} characters")
        area = str(arguments["area"]).strip() if arguments.get("area") else None
        event = Announce(text, area=area or None, everywhere=not area).event()
        where = f"in the {area}" if area else "in every room"
        return ToolResult(f"The announcement will be spoken {where}.", events=[event])
