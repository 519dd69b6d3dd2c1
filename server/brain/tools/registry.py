"""The agent's tool box: built-in tools plus any extra ones (Home Assistant...) behind one interface."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from .base import Tool, ToolSpec

_LOGGER = logging.getLogger(__name__)


class ToolRegistry:
    """Tools by name. ``sensitive`` names need a spoken confirmation whatever the tool says."""

    def __init__(self, tools: Iterable[Tool] = (), sensitive: Iterable[str] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self.sensitive = {name.strip() for name in sensitive if name.strip()}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        name = tool.spec.name
        if name in self._tools:
            _LOGGER.warning("Tool %s registered twice; the later one wins", name)
        self._tools[name] = tool

    def extend(self, tools: Iterable[Tool]) -> None:
        for tool in tools:
            self.add(tool)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [tool.spec for tool in self._tools.values()]

    def llm_tools(self) -> list[dict[str, Any]]:
        return [spec.as_llm_tool() for spec in self.specs()]

    def prompt_lines(self) -> list[str]:
        return [f"{spec.name}: {spec.description}" for spec in self.specs()]

    def needs_confirmation(self, tool: Tool, arguments: dict[str, Any]) -> bool:
        return tool.spec.name in self.sensitive or tool.is_sensitive(arguments)
