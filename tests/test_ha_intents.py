"""Local Home Assistant intents (EN/FR): what is recognized, which entities it targets, what is said.

Recognition runs on a registry snapshot (data shaped like Home Assistant's answers); executing the
calls against a real Home Assistant is in tests/test_ha_live.py.
"""

from __future__ import annotations

import asyncio

import pytest

from jarvis.server.brain.context import TurnContext
from jarvis.server.brain.ha_intents import HAIntentRecognizer, HAMatch
from jarvis.server.homeassistant import HASettings, HomeAssistantClient
from jarvis.server.homeassistant.registry import HAArea, HAEntity, HARegistry


@pytest.fixture(scope="module")
def registry() -> HARegistry:
    return HARegistry(
        [
            HAArea("kitchen", "Kitchen", ("cuisine",)),
            HAArea("living_room", "Living Room", ("salon",)),
            HAArea("bedroom", "Bedroom", ("chambre",)),
        ],
        [
            HAEntity("light.kitchen_lights", "Kitchen Lights", "kitchen"),
            HAEntity("light.ceiling_lights", "Ceiling Lights", "kitchen"),
            HAEntity("light.bed_light", "Bed Light", "bedroom", aliases=("lampe de chevet",)),
            HAEntity("switch.decorative_lights", "Decorative Lights", "living_room"),
            HAEntity("cover.living_room_window", "Living Room Window", "living_room"),
            HAEntity("cover.garage_door", "Garage Door", device_class="garage"),
            HAEntity("fan.ceiling_fan", "Ceiling Fan", "bedroom"),
            HAEntity("media_player.kitchen", "Kitchen Speaker", "kitchen"),
            HAEntity("lock.front_door", "Front Door"),
            HAEntity("light.entree", "Entrée"),
        ],
    )


@pytest.fixture(scope="module")
def recognizer() -> HAIntentRecognizer:
    # recognition never touches the client; a client for an unused address is enough
    return HAIntentRecognizer(HomeAssistantClient(HASettings(url="http://127.0.0.1:9", token="unused")))


KITCHEN = ["light.ceiling_lights", "light.kitchen_lights"]


@pytest.mark.parametrize(
    "language, text, intent, targets, percent",
    [
        ("en", "turn on the kitchen lights", "HassTurnOn", ["light.kitchen_lights"], None),
        ("en", "Turn off the Kitchen Lights.", "HassTurnOff", ["light.kitchen_lights"], None),
        ("en", "switch the decorative lights off", "HassTurnOff", ["switch.decorative_lights"], None),
        ("en", "turn off all the lights in the kitchen", "HassTurnOff", KITCHEN, None),
        ("en", "turn on the bedroom lights", "HassTurnOn", ["light.bed_light"], None),
        ("en", "turn on the ceiling fan", "HassTurnOn", ["fan.ceiling_fan"], None),
        ("en", "set the bed light to fifty percent", "HassSetPercent", ["light.bed_light"], 50),
        ("en", "dim the kitchen lights to 20%", "HassSetPercent", ["light.kitchen_lights"], 20),
        ("en", "set the lights in the kitchen to 75 percent", "HassSetPercent", KITCHEN, 75),
        ("en", "set the living room window to 30%", "HassSetPercent", ["cover.living_room_window"], 30),
        (
            "en",
            "set the kitchen speaker volume to 40 percent",
            "HassSetPercent",
            ["media_player.kitchen"],
            40,
        ),
        ("en", "close the living room window", "HassClose", ["cover.living_room_window"], None),
        ("en", "open the blinds in the living room", "HassOpen", ["cover.living_room_window"], None),
        ("fr", "allume les lumières de la cuisine", "HassTurnOn", KITCHEN, None),
        ("fr", "éteins la lampe de chevet", "HassTurnOff", ["light.bed_light"], None),
        ("fr", "Éteins les lumières de la chambre", "HassTurnOff", ["light.bed_light"], None),
        ("fr", "allume Decorative Lights", "HassTurnOn", ["switch.decorative_lights"], None),
        ("fr", "mets la lampe de chevet à cinquante pour cent", "HassSetPercent", ["light.bed_light"], 50),
        ("fr", "règle les lumières de la cuisine à 30 %", "HassSetPercent", KITCHEN, 30),
        ("fr", "ferme le volet du salon", "HassClose", ["cover.living_room_window"], None),
        ("fr", "ouvre Living Room Window", "HassOpen", ["cover.living_room_window"], None),
        ("en-US", "turn on the kitchen lights", "HassTurnOn", ["light.kitchen_lights"], None),
        (
            "en",
            "Hey Jarvis, could you turn on the kitchen lights please?",
            "HassTurnOn",
            ["light.kitchen_lights"],
            None,
        ),
        (
            "fr",
            "Jarvis, peux-tu éteindre la lampe de chevet s'il te plaît ?",
            "HassTurnOff",
            ["light.bed_light"],
            None,
        ),
        ("fr", "allume l’Entrée", "HassTurnOn", ["light.entree"], None),
    ],
)
def test_recognized(
    recognizer: HAIntentRecognizer,
    registry: HARegistry,
    language: str,
    text: str,
    intent: str,
    targets: list[str],
    percent: float | None,
) -> None:
    match = recognizer.recognize(text, language, registry)
    assert match is not None, text
    assert match.intent == intent
    assert sorted(e.entity_id for e in match.entities) == targets
    assert match.percent == percent


@pytest.mark.parametrize(
    "language, text",
    [
        ("en", "what time is it"),
        ("en", "turn on the toaster"),  # no such device: the agent answers
        ("en", "turn on the living room window"),  # a cover cannot be "turned on"
        ("en", "turn on the lights"),  # where? no area known
        ("en", "lock the front door"),
        ("fr", "quelle heure est-il"),
        ("fr", "allume le grille-pain"),
    ],
)
def test_not_recognized(
    recognizer: HAIntentRecognizer, registry: HARegistry, language: str, text: str
) -> None:
    assert recognizer.recognize(text, language, registry) is None


def test_speaker_area_for_the_lights(recognizer: HAIntentRecognizer, registry: HARegistry) -> None:
    match = recognizer.recognize("turn off the lights", "en", registry, area="kitchen")
    assert match is not None and sorted(e.entity_id for e in match.entities) == KITCHEN
    match = recognizer.recognize("éteins les lumières", "fr", registry, area="cuisine")
    assert match is not None and len(match.entities) == 2


def test_speech(registry: HARegistry) -> None:
    kitchen = (registry.entities["light.kitchen_lights"],)
    both = tuple(registry.entities[i] for i in KITCHEN)
    say = HAIntentRecognizer.speech
    assert say(HAMatch("HassTurnOn", "turn_on", kitchen), "en") == "Turned on Kitchen Lights."
    assert say(HAMatch("HassTurnOff", "turn_off", both, None, "Kitchen"), "en") == (
        "Turned off 2 lights in the Kitchen."
    )
    assert (
        say(HAMatch("HassSetPercent", "set", kitchen, 40.0), "fr")
        == "J'ai réglé Kitchen Lights à 40 pour cent."
    )
    assert say(HAMatch("HassTurnOff", "turn_off", both, None, "Kitchen"), "fr") == (
        "J'ai éteint 2 lumières de la pièce Kitchen."
    )


async def test_unreachable_home_assistant_steps_aside() -> None:
    """A Home Assistant that hangs up: the fast path says "not mine", then leaves it alone for a while."""
    connections = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = HomeAssistantClient(HASettings(url=f"http://127.0.0.1:{port}", token="t", timeout_s=2.0))
    try:
        recognizer = HAIntentRecognizer(client, retry_after_s=60)
        assert await recognizer.handle(TurnContext(text="turn on the kitchen lights")) is None
        tried = connections
        assert tried >= 1
        # the next turns do not wait for Home Assistant again until retry_after_s has passed
        assert await recognizer.handle(TurnContext(text="turn off the kitchen lights")) is None
        assert connections == tried
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
