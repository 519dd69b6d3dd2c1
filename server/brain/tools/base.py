"""The tool interface. Time, date, calculator, timers, memory and Home Assistant all implement it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from wyoming.event import Event

from ..context import TurnContext


@dataclass(frozen=True)
class ToolSpec:
    """How the tool is described to the LLM (OpenAI/Ollama function-calling format)."""

    name: str
    description: str
    parameters: dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}, "required": []}
    )
    sensitive: bool = False
    """Needs spoken confirmation in the next turn before it runs (unlock, disarm, open garage...)."""

    def as_llm_tool(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass
class ToolResult:
    """What a tool returns to the agent (``text``, fed back to the LLM) plus events for the hub."""

    text: str
    events: list[Event] = field(default_factory=list)
    is_error: bool = False


class ToolError(Exception):
    """A tool failed in a way the LLM should hear about (bad arguments, unknown entity...)."""


class Tool(ABC):
    spec: ToolSpec

    @abstractmethod
    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        """Run the tool. Raise ToolError for a failure to report to the model. Never block the loop."""

    def is_sensitive(self, arguments: dict[str, Any]) -> bool:
        """Whether this particular call needs confirmation (e.g. HA: only locks/alarms/garage)."""
        return self.spec.sensitive
