"""Time and date tools, in the user's timezone (``TurnContext.tz``) or a named one."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..context import TurnContext
from .base import Tool, ToolError, ToolResult, ToolSpec

_TZ_PARAM = {
    "type": "object",
    "properties": {
        "timezone": {
            "type": "string",
            "description": "Optional IANA timezone such as Europe/Paris, for another place than the user's.",
        }
    },
    "required": [],
}


def _now(arguments: dict[str, Any], ctx: TurnContext) -> datetime:
    name = arguments.get("timezone")
    if not name:
        return ctx.now()
    try:
        return datetime.now(ZoneInfo(str(name)))
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ToolError(f"unknown timezone {name!r}; use an IANA name like Europe/Paris") from err


class TimeTool(Tool):
    spec = ToolSpec("get_time", "Current local time (24-hour clock) with the timezone.", _TZ_PARAM)

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        now = _now(arguments, ctx)
        return ToolResult(f"The time is {now.strftime('%H:%M')} ({now.tzname()}).")


class DateTool(Tool):
    spec = ToolSpec("get_date", "Today's date and day of the week.", _TZ_PARAM)

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        now = _now(arguments, ctx)
        return ToolResult(f"Today is {now.strftime('%A')} {now.day} {now.strftime('%B %Y')}.")
