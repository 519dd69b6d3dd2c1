"""What Jarvis may do in Home Assistant: the allowed services, which calls are sensitive, and
turning "action + entities + value" into service calls and a short spoken summary.

Used by both the LLM tool (:mod:`jarvis.server.brain.tools.homeassistant`) and the local intents
(:mod:`jarvis.server.brain.ha_intents`), so both paths call Home Assistant the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .client import HomeAssistantClient
from .registry import HAEntity, normalize

_LOGGER = logging.getLogger(__name__)

#: domain -> services Jarvis may call. Anything else is refused (the LLM cannot call arbitrary services).
SERVICES: dict[str, frozenset[str]] = {
    "light": frozenset({"turn_on", "turn_off", "toggle"}),
    "switch": frozenset({"turn_on", "turn_off", "toggle"}),
    "input_boolean": frozenset({"turn_on", "turn_off", "toggle"}),
    "fan": frozenset({"turn_on", "turn_off", "toggle", "set_percentage"}),
    "cover": frozenset({"open_cover", "close_cover", "stop_cover", "set_cover_position", "toggle"}),
    "climate": frozenset({"turn_on", "turn_off", "set_temperature", "set_hvac_mode"}),
    "media_player": frozenset(
        {
            "turn_on",
            "turn_off",
            "toggle",
            "media_play",
            "media_pause",
            "media_play_pause",
            "media_stop",
            "media_next_track",
            "media_previous_track",
            "volume_set",
            "volume_mute",
        }
    ),
    "scene": frozenset({"turn_on"}),
    "lock": frozenset({"lock", "unlock", "open"}),
    "alarm_control_panel": frozenset(
        {
            "alarm_arm_home",
            "alarm_arm_away",
            "alarm_arm_night",
            "alarm_arm_vacation",
            "alarm_disarm",
        }
    ),
}

#: Friendly action words -> the service name, per domain (what a model or an intent is likely to say).
_ALIASES: dict[str, dict[str, str]] = {
    "*": {"on": "turn_on", "off": "turn_off", "switch_on": "turn_on", "switch_off": "turn_off"},
    "cover": {
        "open": "open_cover",
        "close": "close_cover",
        "stop": "stop_cover",
        "turn_on": "open_cover",
        "turn_off": "close_cover",
        "set_position": "set_cover_position",
        "set": "set_cover_position",
    },
    "fan": {"set": "set_percentage", "set_speed": "set_percentage"},
    "light": {"set": "turn_on", "set_brightness": "turn_on", "dim": "turn_on"},
    "climate": {"set": "set_temperature"},
    "media_player": {
        "play": "media_play",
        "pause": "media_pause",
        "stop": "media_stop",
        "next": "media_next_track",
        "previous": "media_previous_track",
        "set": "volume_set",
        "set_volume": "volume_set",
        "mute": "volume_mute",
    },
    "scene": {"activate": "turn_on", "on": "turn_on"},
    "alarm_control_panel": {
        "arm_home": "alarm_arm_home",
        "arm_away": "alarm_arm_away",
        "arm_night": "alarm_arm_night",
        "arm": "alarm_arm_away",
        "disarm": "alarm_disarm",
    },
}

SENSITIVE_DOMAINS = frozenset({"lock", "alarm_control_panel"})
SENSITIVE_COVER_CLASSES = frozenset({"garage", "gate", "door"})
#: Words that make a call sensitive when the target cannot be resolved yet (fail safe).
SENSITIVE_WORDS = (
    "garage",
    "gate",
    "portail",
    "lock",
    "serrure",
    "verrou",
    "alarm",
    "alarme",
    "door",
    "porte",
)


def is_sensitive_entity(entity: HAEntity) -> bool:
    """Locks, alarm panels, and garage doors/gates need a spoken confirmation."""
    if entity.domain in SENSITIVE_DOMAINS:
        return True
    return entity.domain == "cover" and (entity.device_class or "") in SENSITIVE_COVER_CLASSES


def mentions_sensitive(*texts: str | None) -> bool:
    words = set(" ".join(normalize(t) for t in texts if t).split())
    return any(w in words for w in SENSITIVE_WORDS)


def service_for(domain: str, action: str) -> str | None:
    """The service that ``action`` means for ``domain`` (None if not allowed there)."""
    action = normalize(action).replace(" ", "_")
    if action.startswith(f"{domain}_") and action[len(domain) + 1 :] in SERVICES.get(domain, ()):
        action = action[len(domain) + 1 :]
    allowed = SERVICES.get(domain, frozenset())
    if action in allowed:
        return action
    for table in (_ALIASES.get(domain, {}), _ALIASES["*"]):
        if action in table and table[action] in allowed:
            return table[action]
    return None


@dataclass(frozen=True)
class Values:
    """Optional numbers/modes for a call; each maps to the service's own field."""

    brightness_pct: float | None = None
    position: float | None = None
    percentage: float | None = None
    temperature: float | None = None
    hvac_mode: str | None = None
    volume_pct: float | None = None
    code: str | None = None

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Values:
        def num(key: str) -> float | None:
            value = args.get(key)
            if value is None or value == "":
                return None
            try:
                return float(value)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{key} must be a number, got {value!r}") from err

        return cls(
            brightness_pct=num("brightness_pct"),
            position=num("position"),
            percentage=num("percentage"),
            temperature=num("temperature"),
            hvac_mode=str(args["hvac_mode"]) if args.get("hvac_mode") else None,
            volume_pct=num("volume_pct"),
            code=str(args["code"]) if args.get("code") else None,
        )

    def service_data(self, domain: str, service: str) -> dict[str, Any]:
        """The extra data for ``domain.service`` (values that do not apply are dropped)."""
        data: dict[str, Any] = {}

        def pct(value: float) -> int:
            if not 0 <= value <= 100:
                raise ValueError(f"a percentage must be between 0 and 100, got {value:g}")
            return round(value)

        if domain == "light" and service == "turn_on" and self.brightness_pct is not None:
            data["brightness_pct"] = pct(self.brightness_pct)
        elif domain == "cover" and service == "set_cover_position":
            value = self.position if self.position is not None else self.percentage
            if value is None:
                raise ValueError("set_cover_position needs a position (0-100)")
            data["position"] = pct(value)
        elif domain == "fan" and service == "set_percentage":
            value = self.percentage if self.percentage is not None else self.position
            if value is None:
                raise ValueError("set_percentage needs a percentage (0-100)")
            data["percentage"] = pct(value)
        elif domain == "climate" and service == "set_temperature":
            if self.temperature is None:
                raise ValueError("set_temperature needs a temperature")
            data["temperature"] = self.temperature
        elif domain == "climate" and service == "set_hvac_mode":
            if not self.hvac_mode:
                raise ValueError("set_hvac_mode needs an hvac_mode (heat, cool, auto, off...)")
            data["hvac_mode"] = self.hvac_mode
        elif domain == "media_player" and service == "volume_set":
            value = self.volume_pct if self.volume_pct is not None else self.percentage
            if value is None:
                raise ValueError("volume_set needs volume_pct (0-100)")
            data["volume_level"] = pct(value) / 100
        elif domain == "media_player" and service == "volume_mute":
            data["is_volume_muted"] = True
        if domain in ("lock", "alarm_control_panel") and self.code:
            data["code"] = self.code
        return data


@dataclass(frozen=True)
class Call:
    domain: str
    service: str
    entities: tuple[HAEntity, ...]
    data: dict[str, Any]


def plan_calls(action: str, entities: Iterable[HAEntity], values: Values) -> list[Call]:
    """One call per domain among ``entities``; raises ValueError naming what is not allowed."""
    by_domain: dict[str, list[HAEntity]] = {}
    for entity in entities:
        by_domain.setdefault(entity.domain, []).append(entity)
    calls: list[Call] = []
    refused: list[str] = []
    for domain, group in sorted(by_domain.items()):
        service = service_for(domain, action)
        if service is None:
            refused.append(f"{action} is not possible for {domain} ({', '.join(e.name for e in group)})")
            continue
        calls.append(Call(domain, service, tuple(group), values.service_data(domain, service)))
    if not calls:
        raise ValueError("; ".join(refused) or "nothing to do")
    return calls


async def execute(client: HomeAssistantClient, calls: Iterable[Call]) -> list[dict[str, Any]]:
    """Run the calls; returns the fresh state of every targeted entity."""
    states: list[dict[str, Any]] = []
    for call in calls:
        ids = [e.entity_id for e in call.entities]
        await client.call_service(call.domain, call.service, {"entity_id": ids, **call.data})
        for entity_id in ids:
            state = await client.get_state(entity_id)
            if state is not None:
                states.append(state)
    return states


def describe_state(state: dict[str, Any]) -> str:
    """One line for the LLM: 'Kitchen Lights (light.kitchen_lights): on, brightness 70%'."""
    attrs = state.get("attributes") or {}
    name = attrs.get("friendly_name") or state.get("entity_id")
    parts = [str(state.get("state"))]
    if isinstance(attrs.get("brightness"), int | float) and state.get("state") == "on":
        parts.append(f"brightness {round(attrs['brightness'] / 255 * 100)}%")
    if attrs.get("current_position") is not None:
        parts.append(f"position {attrs['current_position']}%")
    if attrs.get("percentage") is not None:
        parts.append(f"speed {attrs['percentage']}%")
    if attrs.get("current_temperature") is not None:
        parts.append(f"current temperature {attrs['current_temperature']}")
    if attrs.get("temperature") is not None and str(state.get("entity_id", "")).startswith("climate."):
        parts.append(f"target temperature {attrs['temperature']}")
    if attrs.get("unit_of_measurement"):
        parts[0] = f"{parts[0]} {attrs['unit_of_measurement']}"
    if attrs.get("media_title"):
        parts.append(f"playing {attrs['media_title']}")
    return f"{name} ({state.get('entity_id')}): {', '.join(parts)}"
