"""Home Assistant tools for the agent: list areas/entities, read a state, call a service.

Targets are resolved by friendly name and/or area (:meth:`HARegistry.resolve`): "kitchen lights" is
``light.kitchen_lights`` if that exists, else every light in the area "kitchen". Only the services in
:data:`jarvis.server.homeassistant.actions.SERVICES` can be called. Calls on locks, alarm panels and
garage doors are sensitive: the brain asks for a spoken yes first (:meth:`Tool.is_sensitive`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from jarvis.server.homeassistant import HASettings, HomeAssistantClient, HomeAssistantError
from jarvis.server.homeassistant.actions import (
    SERVICES,
    Values,
    describe_state,
    execute,
    is_sensitive_entity,
    mentions_sensitive,
    plan_calls,
)
from jarvis.server.homeassistant.registry import HAEntity, HARegistry

from ..context import TurnContext
from .base import Tool, ToolError, ToolResult, ToolSpec

_LOGGER = logging.getLogger(__name__)

_DOMAINS = sorted(SERVICES)
_TARGET_PROPS: dict[str, Any] = {
    "name": {
        "type": "string",
        "description": "friendly name of the device or group, e.g. 'kitchen lights', 'garage door', "
        "or an entity id like light.kitchen_lights",
    },
    "area": {"type": "string", "description": "area/room, e.g. 'kitchen' (all matching devices there)"},
    "domain": {"type": "string", "enum": _DOMAINS, "description": "kind of device, e.g. light, cover"},
}
MAX_LIST = 60
"""Most entities listed back to the model in one answer."""


async def _registry(client: HomeAssistantClient, refresh: bool = False) -> HARegistry:
    try:
        return await client.registry(refresh=refresh)
    except HomeAssistantError as err:
        raise ToolError(str(err)) from err


async def resolve_targets(
    client: HomeAssistantClient, arguments: dict[str, Any], domains: list[str] | None = None
) -> list[HAEntity]:
    """Entities named by ``name``/``area``/``domain``; refreshes the registry once on a miss."""
    name = (arguments.get("name") or arguments.get("entity_id") or "").strip() or None
    area = (arguments.get("area") or "").strip() or None
    domain = (arguments.get("domain") or "").strip() or None
    if domain and domain not in SERVICES:
        raise ToolError(f"unknown domain {domain!r}; use one of {', '.join(_DOMAINS)}")
    wanted = [domain] if domain else domains
    if not name and not area:
        raise ToolError("say which device: give a name and/or an area")
    for refresh in (False, True):
        registry = await _registry(client, refresh)
        found = registry.resolve(name, area, wanted)
        if found:
            return found
    what = " ".join(x for x in (name, f"in {area}" if area else None) if x)
    raise ToolError(f"no Home Assistant device matches {what!r}; call ha_list to see the names")


class HAListTool(Tool):
    spec = ToolSpec(
        name="ha_list",
        description="List Home Assistant areas, or devices (entities) with their state, optionally "
        "only in one area or of one kind (domain).",
        parameters={
            "type": "object",
            "properties": {
                "what": {"type": "string", "enum": ["areas", "entities"]},
                "area": _TARGET_PROPS["area"],
                "domain": _TARGET_PROPS["domain"],
            },
            "required": ["what"],
        },
    )

    def __init__(self, client: HomeAssistantClient) -> None:
        self.client = client

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        registry = await _registry(self.client, refresh=True)
        if arguments.get("what") == "areas":
            names = registry.area_names()
            return ToolResult("Areas: " + (", ".join(names) if names else "(none defined)"))
        area_name = (arguments.get("area") or "").strip()
        domain = (arguments.get("domain") or "").strip()
        entities = list(registry.entities.values())
        if area_name:
            area = registry.find_area(area_name)
            if area is None:
                raise ToolError(f"no area named {area_name!r}; areas: {', '.join(registry.area_names())}")
            entities = [e for e in entities if e.area_id == area.area_id]
        if domain:
            entities = [e for e in entities if e.domain == domain]
        else:
            entities = [e for e in entities if e.domain in SERVICES or e.domain == "sensor"]
        entities.sort(key=lambda e: e.entity_id)
        lines = [
            f"{e.name} ({e.entity_id}): {e.state}"
            + (f", area {registry.area_name(e.area_id)}" if e.area_id else "")
            for e in entities[:MAX_LIST]
        ]
        if len(entities) > MAX_LIST:
            lines.append(f"... and {len(entities) - MAX_LIST} more; narrow by area or domain")
        return ToolResult("\n".join(lines) if lines else "No matching devices.")


class HAGetStateTool(Tool):
    spec = ToolSpec(
        name="ha_get_state",
        description="Read the current state of Home Assistant devices or sensors (on/off, brightness, "
        "position, temperature...), by name and/or area.",
        parameters={"type": "object", "properties": dict(_TARGET_PROPS), "required": []},
    )

    def __init__(self, client: HomeAssistantClient) -> None:
        self.client = client

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        entities = await resolve_targets(self.client, arguments)
        lines = []
        try:
            for entity in entities[:MAX_LIST]:
                state = await self.client.get_state(entity.entity_id)
                if state is not None:
                    lines.append(describe_state(state))
        except HomeAssistantError as err:
            raise ToolError(str(err)) from err
        return ToolResult("\n".join(lines) if lines else "No state available.")


class HACallServiceTool(Tool):
    spec = ToolSpec(
        name="ha_call_service",
        description="Control Home Assistant devices: lights, switches, covers/blinds/garage doors, "
        "climate, media players, fans, scenes, locks, alarms. action is a service such as turn_on, "
        "turn_off, toggle, open_cover, close_cover, set_cover_position, set_temperature, "
        "set_hvac_mode, media_play, media_pause, volume_set, set_percentage, lock, unlock, "
        "alarm_arm_away, alarm_disarm (scenes: turn_on).",
        parameters={
            "type": "object",
            "properties": {
                "action": {"type": "string", "description": "the service, e.g. turn_on"},
                **_TARGET_PROPS,
                "brightness_pct": {"type": "number", "description": "light brightness 0-100"},
                "position": {"type": "number", "description": "cover position 0 (closed) - 100 (open)"},
                "percentage": {"type": "number", "description": "fan speed 0-100"},
                "temperature": {"type": "number", "description": "target temperature"},
                "hvac_mode": {"type": "string", "description": "heat, cool, heat_cool, auto, off"},
                "volume_pct": {"type": "number", "description": "media player volume 0-100"},
                "code": {"type": "string", "description": "alarm/lock code, only if the user said it"},
            },
            "required": ["action"],
        },
        sensitive=False,
    )

    def __init__(self, client: HomeAssistantClient) -> None:
        self.client = client

    def _cached_targets(self, arguments: dict[str, Any]) -> list[HAEntity] | None:
        registry = self.client.cached_registry
        if registry is None:
            return None
        name = (arguments.get("name") or arguments.get("entity_id") or "").strip() or None
        area = (arguments.get("area") or "").strip() or None
        domain = (arguments.get("domain") or "").strip() or None
        if not name and not area:
            return None
        return registry.resolve(name, area, [domain] if domain else None) or None

    def is_sensitive(self, arguments: dict[str, Any]) -> bool:
        """Locks, alarm panels and garage doors need a yes.

        Targets the cached registry does not know (not loaded yet, or a device added since) are judged
        fail-safe: any cover, lock or alarm, or words such as "garage", "gate", "door", "lock".
        """
        domain = (arguments.get("domain") or "").strip()
        if domain in ("lock", "alarm_control_panel"):
            return True
        targets = self._cached_targets(arguments)
        if targets is not None:
            return any(is_sensitive_entity(e) for e in targets)
        name = str(arguments.get("name") or arguments.get("entity_id") or "").strip()
        if domain == "cover" or name.split(".", 1)[0] in ("cover", "lock", "alarm_control_panel"):
            return True
        words = (name, arguments.get("area"), arguments.get("action"), domain)
        return mentions_sensitive(*(str(w) for w in words if w))

    def describe_action(self, arguments: dict[str, Any]) -> str:
        targets = self._cached_targets(arguments)
        what = (
            ", ".join(e.name for e in targets)
            if targets
            else (arguments.get("name") or arguments.get("area"))
        )
        action = str(arguments.get("action", "")).replace("_", " ")
        return f"{action} {what}".strip()

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        action = str(arguments.get("action") or "").strip()
        if not action:
            raise ToolError("action is required, e.g. turn_on")
        try:
            values = Values.from_args(arguments)
        except ValueError as err:
            raise ToolError(str(err)) from err
        if (
            not arguments.get("name")
            and not arguments.get("entity_id")
            and not arguments.get("area")
            and ctx.area
        ):
            arguments = {**arguments, "area": ctx.area}  # "turn on the lights" -> where the speaker is
        entities = await resolve_targets(self.client, arguments)
        try:
            calls = plan_calls(action, entities, values)
        except ValueError as err:
            raise ToolError(str(err)) from err
        try:
            states = await execute(self.client, calls)
        except HomeAssistantError as err:
            raise ToolError(str(err)) from err
        done = "; ".join(
            f"{c.domain}.{c.service} on {', '.join(e.entity_id for e in c.entities)}" for c in calls
        )
        now = "\n".join(describe_state(s) for s in states)
        return ToolResult(f"Done: {done}.\nNow:\n{now}" if now else f"Done: {done}.")


def homeassistant_tools(client: HomeAssistantClient) -> list[Tool]:
    """The three Home Assistant tools, sharing one client (and its registry cache)."""
    return [HAListTool(client), HAGetStateTool(client), HACallServiceTool(client)]


@dataclass
class HomeAssistantHooks:
    """What the brain needs from Home Assistant: its tools and its fast path, over one client."""

    client: HomeAssistantClient
    tools: list[Tool]
    fast_paths: list[Any]
    """The local intents (:class:`jarvis.server.brain.ha_intents.HAIntentRecognizer`), if enabled."""

    async def close(self) -> None:
        await self.client.close()


def homeassistant_hooks(settings: HASettings) -> HomeAssistantHooks | None:
    """Tools and local intents for ``settings``; None when no Home Assistant is configured.

    Nothing connects yet: the registry is fetched on first use, so the brain starts even while
    Home Assistant is down (the tools then report it, the intents step aside).
    """
    if not settings.enabled:
        return None
    from ..ha_intents import HAIntentRecognizer

    client = HomeAssistantClient(settings)
    fast_paths: list[Any] = [HAIntentRecognizer(client)] if settings.local_intents else []
    _LOGGER.info("Home Assistant at %s: %d tools, local intents %s", settings.url, 3, settings.local_intents)
    return HomeAssistantHooks(client, homeassistant_tools(client), fast_paths)
