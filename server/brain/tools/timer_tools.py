"""Timer tools over the brain's :class:`~jarvis.server.brain.timers.TimerManager`.

Timers belong to the satellite they were set on (``TurnContext.satellite_id``); results carry the
``timer-started`` / ``timer-cancelled`` events, which the handler sends before the answer.
"""

from __future__ import annotations

import math
from typing import Any

from ..context import TurnContext
from .base import Tool, ToolError, ToolResult, ToolSpec


def spoken_duration(seconds: float) -> str:
    total = max(0, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    for value, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second")):
        if value:
            parts.append(f"{value} {unit}{'s' if value != 1 else ''}")
    return " ".join(parts) or "0 seconds"


def _number(arguments: dict[str, Any], key: str) -> float:
    value = arguments.get(key)
    if value in (None, ""):
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ToolError(f"{key} must be a number, got {value!r}") from err
    if not math.isfinite(number) or number < 0:
        raise ToolError(f"{key} must be a positive number")
    return number


def _name(arguments: dict[str, Any]) -> str | None:
    name = arguments.get("name")
    return str(name).strip() or None if name else None


_NAME = {"type": "string", "description": "Optional timer name, e.g. pasta"}


class _TimerTool(Tool):
    def __init__(self, timers: Any) -> None:
        self.timers = timers

    def _describe(self, timer: Any) -> str:
        left = spoken_duration(self.timers.remaining(timer))
        label = f"the {timer.name} timer" if timer.name else "a timer"
        paused = " (paused)" if not timer.is_active else ""
        return f"{label} with {left} left{paused}"

    def _pick(self, arguments: dict[str, Any], ctx: TurnContext) -> list[Any]:
        name = _name(arguments)
        timers = self.timers.find(name, ctx.satellite_id) if name else self.timers.list(ctx.satellite_id)
        if not timers:
            raise ToolError(f"there is no timer called {name}" if name else "there is no timer running")
        return list(timers)


class SetTimerTool(_TimerTool):
    spec = ToolSpec(
        "set_timer",
        "Start a countdown timer on the device the user is speaking to.",
        {
            "type": "object",
            "properties": {
                "hours": {"type": "number"},
                "minutes": {"type": "number"},
                "seconds": {"type": "number"},
                "name": _NAME,
            },
            "required": [],
        },
    )

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        from ..timers import TimerError

        seconds = _number(arguments, "hours") * 3600 + _number(arguments, "minutes") * 60
        seconds += _number(arguments, "seconds")
        try:
            timer, event = self.timers.set(seconds, _name(arguments), ctx.satellite_id)
        except TimerError as err:
            raise ToolError(str(err)) from err
        label = f"{timer.name} timer" if timer.name else "Timer"
        return ToolResult(f"{label} set for {spoken_duration(seconds)}.", events=[event])


class CancelTimerTool(_TimerTool):
    spec = ToolSpec(
        "cancel_timer",
        "Cancel a timer by name, or all timers of this device when no name is given.",
        {"type": "object", "properties": {"name": _NAME}, "required": []},
    )

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        name = _name(arguments)
        events = self.timers.cancel(name=name, satellite_id=ctx.satellite_id)
        if not events:
            raise ToolError(f"there is no timer called {name}" if name else "there is no timer running")
        return ToolResult(f"Cancelled {len(events)} timer{'s' if len(events) > 1 else ''}.", events=events)


class ListTimersTool(_TimerTool):
    spec = ToolSpec("list_timers", "List the timers running on this device and the time left on each.")

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        timers = self.timers.list(ctx.satellite_id)
        if not timers:
            return ToolResult("No timers are running.")
        return ToolResult("Running: " + "; ".join(self._describe(t) for t in timers) + ".")


class TimerRemainingTool(_TimerTool):
    spec = ToolSpec(
        "timer_remaining",
        "How much time is left on a timer (by name, or the one ending soonest).",
        {"type": "object", "properties": {"name": _NAME}, "required": []},
    )

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        timer = self._pick(arguments, ctx)[0]
        text = self._describe(timer)
        return ToolResult(text[:1].upper() + text[1:] + ".")


def timer_tools(timers: Any) -> list[Tool]:
    return [SetTimerTool(timers), CancelTimerTool(timers), ListTimersTool(timers), TimerRemainingTool(timers)]
