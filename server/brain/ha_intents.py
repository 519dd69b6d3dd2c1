"""Local Home Assistant intents: the common commands go straight to Home Assistant, without the LLM.

English and French, with ``hassil`` templates; the device and area names come from Home Assistant
(slot lists rebuilt whenever the cached registry changes):

- turn on / off X ("turn off the kitchen lights", "éteins la lumière de la cuisine");
- set X to N % (light brightness, cover position, fan speed, media volume; "set the bed light to
  fifty percent", "mets le volet du salon à 30 %");
- open / close a cover ("close the living room window", "ferme le volet").

A recognizer in the brain's fast path: :meth:`HAIntentRecognizer.handle` returns a :class:`Reply`, or
None ("not mine", the agent answers). Sensitive targets (locks, alarms, garage doors) are never handled
here: they go to the agent, which asks for confirmation. When Home Assistant cannot be reached the
recognizer steps aside (None) so the agent can answer honestly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from hassil import Intents, recognize_all
from hassil.intents import SlotList, TextSlotList

from jarvis.protocol.language import base_language
from jarvis.protocol.logs import private
from jarvis.server.homeassistant import HomeAssistantClient, HomeAssistantError
from jarvis.server.homeassistant.actions import Values, execute, is_sensitive_entity, plan_calls
from jarvis.server.homeassistant.registry import DOMAIN_WORDS, HAEntity, HARegistry

from .context import Reply, TurnContext

_LOGGER = logging.getLogger(__name__)

ON_OFF_DOMAINS = ("light", "switch", "fan", "input_boolean", "media_player")
LEVEL_DOMAINS = ("light", "cover", "fan", "media_player")
COVER_DOMAINS = ("cover",)

_EN_ON = "(turn|switch|power) on"
_EN_OFF = "(turn|switch|power) off"
_PCT_EN = "{percent}[ ][%|percent|per cent]"
_PCT_FR = "{percent}[ ][%|pour cent|pourcent|pour-cent]"
_ART_FR = "[le|la|les|l']"
_AREA_FR = "(de|du|des|dans|à) [la|le|les|l'] {area}"
_OFF_FR = "(éteins|éteint|éteignez|éteindre|coupe|coupez)"
_SET_FR = "(mets|mettez|mettre|règle|réglez|régler|passe|passez|baisse|monte)"

_SENTENCES: dict[str, dict[str, list[str]]] = {
    "en": {
        "HassTurnOn": [
            f"{_EN_ON} [the] {{onoff_name}}",
            "(turn|switch|power) [the] {onoff_name} on",
            f"{_EN_ON} [(the|all [the])] {{domain_word}} in [the] {{area}}",
            f"{_EN_ON} [(the|all [the])] {{area}} {{domain_word}}",
            f"{_EN_ON} [(the|all [the])] {{domain_word}}",
            "(turn|switch) [the] {domain_word} in [the] {area} on",
        ],
        "HassTurnOff": [
            f"{_EN_OFF} [the] {{onoff_name}}",
            "(turn|switch|power) [the] {onoff_name} off",
            f"{_EN_OFF} [(the|all [the])] {{domain_word}} in [the] {{area}}",
            f"{_EN_OFF} [(the|all [the])] {{area}} {{domain_word}}",
            f"{_EN_OFF} [(the|all [the])] {{domain_word}}",
            "(turn|switch) [the] {domain_word} in [the] {area} off",
        ],
        "HassSetPercent": [
            f"(set|dim|put|turn) [the] {{level_name}} [brightness|position|volume|speed] to {_PCT_EN}",
            f"set [the] (brightness|position|volume|speed) of [the] {{level_name}} to {_PCT_EN}",
            f"(set|dim|put|turn) [the] {{domain_word}} in [the] {{area}} to {_PCT_EN}",
            f"(set|dim|put|turn) [the] {{area}} {{domain_word}} to {_PCT_EN}",
            f"(set|dim) [the] {{domain_word}} to {_PCT_EN}",
        ],
        "HassOpen": [
            "open [the] {cover_name}",
            "open [the] {area} {domain_word}",
            "open [the] {domain_word} in [the] {area}",
        ],
        "HassClose": [
            "close [the] {cover_name}",
            "close [the] {area} {domain_word}",
            "close [the] {domain_word} in [the] {area}",
        ],
    },
    "fr": {
        "HassTurnOn": [
            f"(allume|allumez|allumer|active|activez|activer|mets en marche) {_ART_FR} {{onoff_name}}",
            f"(allume|allumez|allumer|active|activer) [toutes|tous] {_ART_FR} {{domain_word}} {_AREA_FR}",
            f"(allume|allumez|allumer|active|activer) [toutes|tous] {_ART_FR} {{domain_word}}",
        ],
        "HassTurnOff": [
            f"(éteins|éteint|éteignez|éteindre|coupe|coupez|désactive|désactivez) {_ART_FR} {{onoff_name}}",
            f"{_OFF_FR} [toutes|tous] {_ART_FR} {{domain_word}} {_AREA_FR}",
            f"{_OFF_FR} [toutes|tous] {_ART_FR} {{domain_word}}",
        ],
        "HassSetPercent": [
            f"{_SET_FR} {_ART_FR} {{level_name}} à {_PCT_FR}",
            f"{_SET_FR} {_ART_FR} {{domain_word}} {_AREA_FR} à {_PCT_FR}",
            f"{_SET_FR} {_ART_FR} {{domain_word}} à {_PCT_FR}",
        ],
        "HassOpen": [
            f"(ouvre|ouvrez|ouvrir) {_ART_FR} {{cover_name}}",
            f"(ouvre|ouvrez|ouvrir) {_ART_FR} {{domain_word}} {_AREA_FR}",
        ],
        "HassClose": [
            f"(ferme|fermez|fermer) {_ART_FR} {{cover_name}}",
            f"(ferme|fermez|fermer) {_ART_FR} {{domain_word}} {_AREA_FR}",
        ],
    },
}

#: Words around a command that change nothing ("hey Jarvis, please turn on ...").
_SKIP_WORDS: dict[str, list[str]] = {
    "en": ["hey jarvis", "jarvis", "please", "can you", "could you", "would you", "will you", "for me"],
    "fr": [
        "hé jarvis",
        "jarvis",
        "s'il te plaît",
        "s'il vous plaît",
        "stp",
        "svp",
        "peux-tu",
        "pourrais-tu",
        "tu peux",
        "est-ce que tu peux",
    ],
}
_NAME_SLOTS = {"onoff_name", "level_name", "cover_name"}
_ACTIONS = {
    "HassTurnOn": "turn_on",
    "HassTurnOff": "turn_off",
    "HassSetPercent": "set",
    "HassOpen": "open",
    "HassClose": "close",
}
_INTENT_DOMAINS = {
    "HassTurnOn": ON_OFF_DOMAINS,
    "HassTurnOff": ON_OFF_DOMAINS,
    "HassSetPercent": LEVEL_DOMAINS,
    "HassOpen": COVER_DOMAINS,
    "HassClose": COVER_DOMAINS,
}

_SPEECH = {
    "en": {
        "turn_on": "Turned on {what}.",
        "turn_off": "Turned off {what}.",
        "set": "Set {what} to {value} percent.",
        "open": "Opening {what}.",
        "close": "Closing {what}.",
        "error": "I couldn't reach Home Assistant.",
        "many": "{count} {kind} in the {area}",
        "kinds": "devices",
    },
    "fr": {
        "turn_on": "J'ai allumé {what}.",
        "turn_off": "J'ai éteint {what}.",
        "set": "J'ai réglé {what} à {value} pour cent.",
        "open": "J'ouvre {what}.",
        "close": "Je ferme {what}.",
        "error": "Je n'arrive pas à joindre Home Assistant.",
        "many": "{count} {kind} de la pièce {area}",
        "kinds": "appareils",
    },
}
_KIND = {
    "en": {
        "light": "lights",
        "switch": "switches",
        "cover": "covers",
        "fan": "fans",
        "media_player": "players",
    },
    "fr": {
        "light": "lumières",
        "switch": "prises",
        "cover": "volets",
        "fan": "ventilateurs",
        "media_player": "lecteurs",
    },
}


@dataclass(frozen=True)
class HAMatch:
    """A recognized command: what to do, to which entities, and how to describe them."""

    intent: str
    action: str
    entities: tuple[HAEntity, ...]
    percent: float | None = None
    area: str | None = None


def _language(language: str) -> str:
    lang = base_language(language or "en")
    return lang if lang in _SENTENCES else "en"


class HAIntentRecognizer:
    """Fast path for Home Assistant commands. ``await handle(ctx)`` -> Reply | None."""

    def __init__(
        self, client: HomeAssistantClient, registry_timeout_s: float = 3.0, retry_after_s: float = 30.0
    ) -> None:
        self.client = client
        self.registry_timeout_s = registry_timeout_s
        self.retry_after_s = retry_after_s
        """After Home Assistant failed to answer, skip it for this long (no added latency per turn)."""
        self._down_until = 0.0
        self._intents = {
            lang: Intents.from_dict(
                {
                    "language": lang,
                    "intents": {name: {"data": [{"sentences": s}]} for name, s in sentences.items()},
                    "lists": {"percent": {"range": {"from": 0, "to": 100}}},
                }
            )
            for lang, sentences in _SENTENCES.items()
        }
        self._slots_for: HARegistry | None = None
        self._slots: dict[str, SlotList] = {}
        self._domain_words = TextSlotList.from_tuples(
            [(word, domain) for domain, words in DOMAIN_WORDS.items() for word in words]
            + [("lumière", "light"), ("lumières", "light"), ("télé", "media_player")]
        )

    # ----- recognition (pure, given a registry) ---------------------------------------------------
    def _slot_lists(self, registry: HARegistry) -> dict[str, SlotList]:
        if self._slots_for is not registry:

            def names(domains: tuple[str, ...]) -> TextSlotList:
                pairs = [
                    (n, e.entity_id)
                    for e in registry.entities.values()
                    if e.domain in domains
                    for n in (e.name, *e.aliases)
                    if n
                ]
                return TextSlotList.from_tuples(pairs)

            self._slots = {
                "onoff_name": names(ON_OFF_DOMAINS),
                "level_name": names(LEVEL_DOMAINS),
                "cover_name": names(COVER_DOMAINS),
                "area": TextSlotList.from_tuples(
                    [(n, a.area_id) for a in registry.areas.values() for n in (a.name, *a.aliases) if n]
                ),
                "domain_word": self._domain_words,
            }
            self._slots_for = registry
        return self._slots

    def recognize(
        self, text: str, language: str, registry: HARegistry, area: str | None = None
    ) -> HAMatch | None:
        """The command in ``text``, or None. ``area`` is where the speaker is (for "the lights")."""
        lang = _language(language)
        cleaned = text.replace("’", "'").strip()
        results = list(
            recognize_all(
                cleaned,
                self._intents[lang],
                slot_lists=self._slot_lists(registry),
                skip_words=_SKIP_WORDS[lang],
                language=lang,
            )
        )
        if not results:
            return None
        # a device's own name beats "<area> <kind>", which beats a bare kind ("the lights")
        result = min(
            results, key=lambda r: 0 if set(r.entities) & _NAME_SLOTS else 1 if "area" in r.entities else 2
        )
        intent = result.intent.name
        slots = {name: entity.value for name, entity in result.entities.items()}
        domains = _INTENT_DOMAINS[intent]
        targets: list[HAEntity] = []
        area_name: str | None = None
        for key in ("onoff_name", "level_name", "cover_name"):
            if key in slots:
                picked = registry.entities.get(str(slots[key]))
                if picked is not None:
                    # every entity of the allowed domains sharing the spoken name
                    targets = [
                        e for e in registry.resolve(picked.name, None, domains) if e.domain in domains
                    ] or [picked]
        if not targets and "domain_word" in slots:
            domain = str(slots["domain_word"])
            if domain not in domains:
                return None
            area_obj = registry.areas.get(str(slots["area"])) if "area" in slots else None
            if area_obj is None and area:
                area_obj = registry.find_area(area)
            if area_obj is None:
                return None  # "turn on the lights" with no idea where: let the agent ask
            area_name = area_obj.name
            targets = registry.in_area(area_obj, [domain])
        if not targets:
            return None
        percent = float(slots["percent"]) if "percent" in slots else None
        return HAMatch(intent, _ACTIONS[intent], tuple(targets), percent, area_name)

    # ----- the fast path ----------------------------------------------------------------------------
    async def handle(self, ctx: TurnContext) -> Reply | None:
        started = time.monotonic()
        if started < self._down_until:
            return None
        try:
            async with asyncio.timeout(self.registry_timeout_s):
                registry = await self.client.registry()
        except (HomeAssistantError, TimeoutError) as err:
            self._down_until = time.monotonic() + self.retry_after_s
            _LOGGER.warning(
                "Home Assistant intents off for %.0f s: %s", self.retry_after_s, err or "timed out"
            )
            return None
        match = self.recognize(ctx.text, ctx.language, registry, ctx.area)
        if match is None:
            return None
        if any(is_sensitive_entity(e) for e in match.entities):
            _LOGGER.info(
                "%r targets a sensitive device; leaving it to the agent's confirmation",
                private(ctx.text, _LOGGER),
            )
            return None
        lang = _language(ctx.language)
        values = Values(
            brightness_pct=match.percent,
            position=match.percent,
            percentage=match.percent,
            volume_pct=match.percent,
        )
        try:
            calls = plan_calls(match.action, match.entities, values)
        except ValueError as err:
            _LOGGER.info("Intent %s not applicable: %s", match.intent, err)
            return None
        try:
            await execute(self.client, calls)
        except HomeAssistantError as err:
            _LOGGER.error("Home Assistant call for %r failed: %s", private(ctx.text, _LOGGER), err)
            return Reply(_SPEECH[lang]["error"])
        _LOGGER.info(
            "HA intent %s on %s in %.0f ms",
            match.intent,
            [e.entity_id for e in match.entities],
            (time.monotonic() - started) * 1000,
        )
        return Reply(self.speech(match, lang))

    @staticmethod
    def speech(match: HAMatch, lang: str) -> str:
        words = _SPEECH[lang]
        if len(match.entities) == 1 or match.area is None:
            what = ", ".join(e.name for e in match.entities)
        else:
            domains = {e.domain for e in match.entities}
            kind = (
                _KIND[lang].get(next(iter(domains)), words["kinds"]) if len(domains) == 1 else words["kinds"]
            )
            what = words["many"].format(count=len(match.entities), kind=kind, area=match.area)
        value: Any = match.percent if match.percent is None else f"{match.percent:g}"
        return words[match.action].format(what=what, value=value)
