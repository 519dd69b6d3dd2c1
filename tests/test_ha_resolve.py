"""Home Assistant entity resolution, allowed services, sensitivity and errors, without a Home Assistant.

The registry is built from data shaped exactly like Home Assistant 2024.3.3's answers (WebSocket
``config/*_registry/list`` and REST ``/api/states``, as captured from the demo integration). The
real-HA versions of these paths are in tests/test_ha_live.py.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from jarvis.server.brain.context import TurnContext
from jarvis.server.brain.tools.base import ToolError
from jarvis.server.brain.tools.homeassistant import HACallServiceTool, HAGetStateTool
from jarvis.server.homeassistant import HASettings, HomeAssistantClient
from jarvis.server.homeassistant.actions import (
    Values,
    describe_state,
    is_sensitive_entity,
    mentions_sensitive,
    plan_calls,
    service_for,
)
from jarvis.server.homeassistant.registry import HARegistry, normalize
from jarvis.server.homeassistant.settings import HASettings as Settings

AREAS = [
    {"area_id": "kitchen", "name": "Kitchen", "aliases": ["cuisine"], "icon": None, "picture": None},
    {"area_id": "living_room", "name": "Living Room", "aliases": ["salon"], "icon": None, "picture": None},
    {"area_id": "garage", "name": "Garage", "aliases": [], "icon": None, "picture": None},
]
DEVICES = [
    {"id": "dev-ceiling", "area_id": "kitchen", "name": "Ceiling Lights", "name_by_user": None},
    {"id": "dev-garage", "area_id": "garage", "name": "Garage Door", "name_by_user": None},
]
ENTITIES = [
    {
        "entity_id": "light.kitchen_lights",
        "area_id": "kitchen",
        "device_id": None,
        "name": None,
        "original_name": None,
        "disabled_by": None,
        "hidden_by": None,
        "platform": "demo",
    },
    # area comes from the device
    {
        "entity_id": "light.ceiling_lights",
        "area_id": None,
        "device_id": "dev-ceiling",
        "name": None,
        "disabled_by": None,
        "hidden_by": None,
        "platform": "demo",
    },
    {
        "entity_id": "light.bed_light",
        "area_id": None,
        "device_id": None,
        "name": None,
        "disabled_by": None,
        "hidden_by": None,
        "platform": "demo",
        "aliases": ["night lamp"],
    },
    {
        "entity_id": "cover.garage_door",
        "area_id": None,
        "device_id": "dev-garage",
        "name": None,
        "disabled_by": None,
        "hidden_by": None,
        "platform": "demo",
    },
    {
        "entity_id": "switch.secret",
        "area_id": "kitchen",
        "device_id": None,
        "name": None,
        "disabled_by": "user",
        "hidden_by": None,
        "platform": "demo",
    },
]


def _state(entity_id: str, state: str, name: str, **attrs: Any) -> dict[str, Any]:
    return {"entity_id": entity_id, "state": state, "attributes": {"friendly_name": name, **attrs}}


STATES = [
    _state("light.kitchen_lights", "on", "Kitchen Lights", brightness=180),
    _state("light.ceiling_lights", "off", "Ceiling Lights"),
    _state("light.bed_light", "off", "Bed Light"),
    _state("light.living_room_rgbww_lights", "on", "Living Room RGBWW Lights"),
    _state("cover.garage_door", "closed", "Garage Door", device_class="garage"),
    _state("cover.living_room_window", "open", "Living Room Window", current_position=70),
    _state("lock.front_door", "locked", "Front Door"),
    _state("switch.secret", "off", "Secret"),
    _state("switch.decorative_lights", "on", "Decorative Lights"),  # YAML-only: no registry entry
    _state("sensor.outside_temperature", "12.5", "Outside Temperature", unit_of_measurement="°C"),
]


@pytest.fixture(scope="module")
def registry() -> HARegistry:
    return HARegistry.from_api(AREAS, DEVICES, ENTITIES, STATES)


def ids(entities: list[Any]) -> list[str]:
    return [e.entity_id for e in entities]


def test_snapshot_areas_from_entity_or_device_and_skips_disabled(registry: HARegistry) -> None:
    assert registry.entities["light.kitchen_lights"].area_id == "kitchen"
    assert registry.entities["light.ceiling_lights"].area_id == "kitchen"  # via its device
    assert registry.entities["cover.garage_door"].device_class == "garage"
    assert "switch.secret" not in registry.entities
    assert "switch.decorative_lights" in registry.entities  # no registry entry, still usable
    assert registry.area_names() == ["Garage", "Kitchen", "Living Room", "cuisine", "salon"]


@pytest.mark.parametrize(
    "name, area, domains, expected",
    [
        ("kitchen lights", None, None, ["light.kitchen_lights"]),
        ("The Kitchen Lights!", None, None, ["light.kitchen_lights"]),
        ("kitchen light", None, None, ["light.kitchen_lights"]),
        ("light.bed_light", None, None, ["light.bed_light"]),
        ("night lamp", None, None, ["light.bed_light"]),  # alias
        ("bed light", "kitchen", None, ["light.bed_light"]),  # a name beats the area filter
        ("lights", "kitchen", None, ["light.ceiling_lights", "light.kitchen_lights"]),
        ("the lights in the kitchen", None, None, ["light.ceiling_lights", "light.kitchen_lights"]),
        ("les lumières de la cuisine", None, None, ["light.ceiling_lights", "light.kitchen_lights"]),
        ("salon lights", None, None, []),  # no light is in the living room area
        ("kitchen", None, ["light"], ["light.ceiling_lights", "light.kitchen_lights"]),
        (None, "garage", None, ["cover.garage_door"]),
        ("kitchen lites", None, None, ["light.kitchen_lights"]),  # fuzzy
        ("kitchen lights", None, ["switch"], []),
        ("toaster", None, None, []),
        ("lights", "attic", None, []),  # unknown area
    ],
)
def test_resolve(
    registry: HARegistry, name: str | None, area: str | None, domains: Any, expected: list[str]
) -> None:
    assert ids(registry.resolve(name, area, domains)) == expected


def test_normalize() -> None:
    assert normalize("  Lumières du SALON ! ") == "lumieres du salon"
    assert normalize("l’entrée") == "l entree"


def test_services_aliases_and_values() -> None:
    assert service_for("cover", "open") == "open_cover"
    assert service_for("cover", "cover.close_cover") == "close_cover"  # a full service name
    assert service_for("cover", "cover_close_cover") == "close_cover"
    assert service_for("light", "on") == "turn_on"
    assert service_for("scene", "activate") == "turn_on"
    assert service_for("alarm_control_panel", "disarm") == "alarm_disarm"
    assert service_for("light", "unlock") is None
    assert service_for("homeassistant", "restart") is None  # only the allowed domains
    assert Values(brightness_pct=40).service_data("light", "turn_on") == {"brightness_pct": 40}
    assert Values(position=30).service_data("cover", "set_cover_position") == {"position": 30}
    assert Values(volume_pct=25).service_data("media_player", "volume_set") == {"volume_level": 0.25}
    assert Values(code="1234").service_data("lock", "unlock") == {"code": "1234"}
    with pytest.raises(ValueError, match="between 0 and 100"):
        Values(brightness_pct=150).service_data("light", "turn_on")
    with pytest.raises(ValueError, match="needs a position"):
        Values().service_data("cover", "set_cover_position")
    with pytest.raises(ValueError, match="must be a number"):
        Values.from_args({"brightness_pct": "bright"})


def test_plan_calls_groups_by_domain_and_refuses_what_is_not_allowed(registry: HARegistry) -> None:
    targets = [
        registry.entities[i]
        for i in ("light.kitchen_lights", "switch.decorative_lights", "cover.garage_door")
    ]
    calls = plan_calls("turn_off", targets, Values())
    assert [(c.domain, c.service, ids(list(c.entities))) for c in calls] == [
        ("cover", "close_cover", ["cover.garage_door"]),
        ("light", "turn_off", ["light.kitchen_lights"]),
        ("switch", "turn_off", ["switch.decorative_lights"]),
    ]
    with pytest.raises(ValueError, match="not possible for sensor"):
        plan_calls("turn_on", [registry.entities["sensor.outside_temperature"]], Values())


def test_sensitivity(registry: HARegistry) -> None:
    assert is_sensitive_entity(registry.entities["cover.garage_door"])
    assert is_sensitive_entity(registry.entities["lock.front_door"])
    assert not is_sensitive_entity(registry.entities["cover.living_room_window"])
    assert mentions_sensitive("ouvre le portail")
    assert mentions_sensitive("open", "the garage")
    assert not mentions_sensitive("turn on", "kitchen lights")


def test_describe_state(registry: HARegistry) -> None:
    assert describe_state(STATES[0]) == "Kitchen Lights (light.kitchen_lights): on, brightness 71%"
    assert describe_state(STATES[5]) == "Living Room Window (cover.living_room_window): open, position 70%"
    assert describe_state(STATES[-1]) == "Outside Temperature (sensor.outside_temperature): 12.5 °C"


def test_settings_from_env_and_token_not_printed() -> None:
    settings = Settings.from_env({"JARVIS_HA_URL": "http://ha.local:8123", "JARVIS_HA_TOKEN": "s3cret"})
    assert settings.enabled and settings.url == "http://ha.local:8123"
    assert "s3cret" not in repr(settings)
    assert not Settings.from_env({}).enabled
    with pytest.raises(ValueError, match="URL and a token"):
        HomeAssistantClient(Settings.from_env({}))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_home_assistant_is_a_tool_error_not_a_crash() -> None:
    settings = HASettings(url=f"http://127.0.0.1:{_closed_port()}", token="t", timeout_s=2.0)
    async with HomeAssistantClient(settings) as client:
        tool = HACallServiceTool(client)
        # before any registry is loaded, sensitivity is judged by the words (fail safe)
        assert tool.is_sensitive({"action": "open", "name": "garage door"})
        assert tool.is_sensitive({"action": "turn_on", "domain": "lock", "name": "x"})
        assert not tool.is_sensitive({"action": "turn_on", "name": "kitchen lights"})
        assert tool.is_sensitive({"action": "open", "name": "cover.entrance"})
        assert tool.is_sensitive({"action": "open_cover", "domain": "cover", "name": "entrance"})
        with pytest.raises(ToolError, match="cannot reach Home Assistant"):
            await tool.call({"action": "turn_on", "name": "kitchen lights"}, TurnContext("turn on"))
        with pytest.raises(ToolError, match="say which device"):
            await HAGetStateTool(client).call({}, TurnContext("?"))
        with pytest.raises(ToolError, match="unknown domain"):
            await HAGetStateTool(client).call({"name": "x", "domain": "rocket"}, TurnContext("?"))
