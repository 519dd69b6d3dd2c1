"""A snapshot of Home Assistant's areas and entities, and entity resolution by name and area.

Built from the WebSocket registries (``config/area_registry/list``, ``config/device_registry/list``,
``config/entity_registry/list``) plus the current states (``/api/states``). An entity's area is its own
``area_id`` or, failing that, its device's, as in Home Assistant's own intent matching.

Resolution ("the kitchen lights" -> entity ids), in order:
1. an entity whose friendly name, registry name, alias or object id equals the phrase;
2. "<area> <domain word>" / "<domain word> in <area>" -> every entity of that domain in the area;
3. an area name alone, with the domain given by the caller -> every entity of that domain in the area;
4. a close fuzzy match on names (difflib ratio >= 0.85), only when nothing above matched.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Words that name a domain, English and French (normalized: lowercase, no accents, singular).
DOMAIN_WORDS: dict[str, tuple[str, ...]] = {
    "light": ("light", "lights", "lamp", "lamps", "lighting", "lumiere", "lumieres", "lampe", "lampes"),
    "switch": ("switch", "switches", "plug", "plugs", "interrupteur", "interrupteurs", "prise", "prises"),
    "cover": (
        "blind",
        "blinds",
        "shutter",
        "shutters",
        "cover",
        "covers",
        "curtain",
        "curtains",
        "volet",
        "volets",
        "store",
        "stores",
        "rideau",
        "rideaux",
    ),
    "fan": ("fan", "fans", "ventilateur", "ventilateurs", "ventilo"),
    "media_player": ("tv", "television", "speaker", "speakers", "tele", "enceinte", "enceintes"),
    "climate": ("thermostat", "heating", "heater", "ac", "air conditioning", "chauffage", "climatisation"),
    "lock": ("lock", "locks", "door lock", "serrure", "serrures"),
}

_ARTICLES = {
    "the",
    "my",
    "a",
    "an",
    "all",
    "le",
    "la",
    "les",
    "l",
    "du",
    "de",
    "des",
    "mon",
    "ma",
    "mes",
    "tous",
    "toutes",
    "tout",
    "toute",
    "d",
}
_AREA_LINKS = (
    "in the",
    "in",
    "of the",
    "at the",
    "dans la",
    "dans le",
    "dans l",
    "dans",
    "de la",
    "du",
    "de l",
    "de",
)


def normalize(text: str) -> str:
    """Lowercase, strip accents and punctuation, collapse spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[_'’\-]", " ", text)
    text = re.sub(r"[^\w\s+%]", " ", text)
    return " ".join(text.split())


def _strip_articles(text: str) -> str:
    words = text.split()
    while words and words[0] in _ARTICLES:
        words = words[1:]
    return " ".join(words)


def _singular(text: str) -> str:
    words = text.split()
    if words and len(words[-1]) > 3 and words[-1].endswith("s") and not words[-1].endswith("ss"):
        words[-1] = words[-1][:-1]
    return " ".join(words)


def _keys(text: str) -> set[str]:
    base = _strip_articles(normalize(text))
    return {k for k in (base, _singular(base)) if k}


@dataclass(frozen=True)
class HAArea:
    area_id: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class HAEntity:
    entity_id: str
    name: str
    """The friendly name (what Home Assistant shows)."""
    area_id: str | None = None
    device_class: str | None = None
    aliases: tuple[str, ...] = ()
    state: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def domain(self) -> str:
        return self.entity_id.split(".", 1)[0]

    @property
    def object_id(self) -> str:
        return self.entity_id.split(".", 1)[1]

    def names(self) -> list[str]:
        return [self.name, *self.aliases, self.object_id.replace("_", " ")]


class HARegistry:
    """Areas and entities at one moment; pure data, safe to share."""

    def __init__(self, areas: Iterable[HAArea], entities: Iterable[HAEntity]) -> None:
        self.areas: dict[str, HAArea] = {a.area_id: a for a in areas}
        self.entities: dict[str, HAEntity] = {e.entity_id: e for e in entities}
        self._by_name: dict[str, list[HAEntity]] = {}
        for entity in self.entities.values():
            for name in entity.names():
                for key in _keys(name):
                    bucket = self._by_name.setdefault(key, [])
                    if entity not in bucket:
                        bucket.append(entity)
        self._area_by_name: dict[str, HAArea] = {}
        for area in self.areas.values():
            for name in (area.name, *area.aliases, area.area_id.replace("_", " ")):
                for key in _keys(name):
                    self._area_by_name.setdefault(key, area)

    @classmethod
    def from_api(
        cls,
        areas: Iterable[Mapping[str, Any]],
        devices: Iterable[Mapping[str, Any]],
        entities: Iterable[Mapping[str, Any]],
        states: Iterable[Mapping[str, Any]],
    ) -> HARegistry:
        """Combine the three WebSocket registry lists and the REST states into one snapshot.

        Entities without a registry entry (YAML-only ones) still come from the states; disabled and
        hidden registry entries are left out.
        """
        area_objs = [
            HAArea(
                area_id=str(a["area_id"]),
                name=str(a.get("name") or a["area_id"]),
                aliases=tuple(str(x) for x in a.get("aliases") or ()),
            )
            for a in areas
            if a.get("area_id")
        ]
        device_area = {str(d["id"]): d.get("area_id") for d in devices if d.get("id")}
        reg = {str(e["entity_id"]): e for e in entities if e.get("entity_id")}
        result: list[HAEntity] = []
        for state in states:
            entity_id = str(state.get("entity_id", ""))
            if "." not in entity_id:
                continue
            entry = reg.get(entity_id, {})
            if entry.get("disabled_by") or entry.get("hidden_by"):
                continue
            attrs = state.get("attributes") or {}
            area_id = entry.get("area_id") or device_area.get(str(entry.get("device_id") or ""))
            name = attrs.get("friendly_name") or entry.get("name") or entry.get("original_name")
            result.append(
                HAEntity(
                    entity_id=entity_id,
                    name=str(name or entity_id.split(".", 1)[1].replace("_", " ")),
                    area_id=str(area_id) if area_id else None,
                    device_class=attrs.get("device_class")
                    or entry.get("device_class")
                    or entry.get("original_device_class"),
                    aliases=tuple(str(x) for x in entry.get("aliases") or ()),
                    state=state.get("state"),
                    attributes=dict(attrs),
                )
            )
        return cls(area_objs, result)

    # ----- lookups ---------------------------------------------------------------------------------
    def area_name(self, area_id: str | None) -> str | None:
        area = self.areas.get(area_id or "")
        return area.name if area else None

    def find_area(self, phrase: str) -> HAArea | None:
        for key in _keys(phrase):
            if key in self._area_by_name:
                return self._area_by_name[key]
        return None

    def in_area(self, area: HAArea, domains: Iterable[str] | None = None) -> list[HAEntity]:
        wanted = set(domains) if domains else None
        return sorted(
            (
                e
                for e in self.entities.values()
                if e.area_id == area.area_id and (wanted is None or e.domain in wanted)
            ),
            key=lambda e: e.entity_id,
        )

    def entity_names(self, domains: Iterable[str] | None = None) -> list[str]:
        """Every friendly name and alias (for intent slot lists)."""
        wanted = set(domains) if domains else None
        names: list[str] = []
        for entity in self.entities.values():
            if wanted is None or entity.domain in wanted:
                names.extend(n for n in (entity.name, *entity.aliases) if n)
        return sorted(set(names))

    def area_names(self) -> list[str]:
        return sorted({n for a in self.areas.values() for n in (a.name, *a.aliases) if n})

    def resolve(
        self,
        name: str | None = None,
        area: str | None = None,
        domains: Iterable[str] | None = None,
    ) -> list[HAEntity]:
        """Entities meant by ``name`` (and/or ``area``), restricted to ``domains`` if given.

        Returns [] when nothing matches. ``name`` may be an entity id.
        """
        wanted = set(domains) if domains else None

        def ok(e: HAEntity) -> bool:
            return wanted is None or e.domain in wanted

        area_obj = self.find_area(area) if area else None
        if area and area_obj is None:
            return []
        if name and name in self.entities and ok(self.entities[name]):
            return [self.entities[name]]
        if name:
            # 1. exact name / alias / object id
            for key in _keys(name):
                hits = [e for e in self._by_name.get(key, []) if ok(e)]
                if area_obj is not None:
                    in_area = [e for e in hits if e.area_id == area_obj.area_id]
                    hits = in_area or hits
                if hits:
                    return sorted(hits, key=lambda e: e.entity_id)
            # 2. "<area> <domain word>" or "<domain word> in <area>"
            split = self._split_area_domain(name)
            if split is not None:
                found_area, domain = split
                if wanted is None or domain in wanted:
                    hits = self.in_area(found_area, [domain])
                    if hits:
                        return hits
            # 2b. a bare domain word ("the lights") with the area given separately
            bare = _domain_of_word(_strip_articles(normalize(name)))
            if bare and area_obj is not None and (wanted is None or bare in wanted):
                return self.in_area(area_obj, [bare])
            # 3. the name is an area ("turn off the kitchen")
            named_area = self.find_area(name)
            if named_area is not None and wanted:
                hits = self.in_area(named_area, wanted)
                if hits:
                    return hits
            # 4. fuzzy
            return self._fuzzy(name, ok, area_obj)
        if area_obj is not None:
            return self.in_area(area_obj, wanted)
        return []

    def _split_area_domain(self, phrase: str) -> tuple[HAArea, str] | None:
        text = _strip_articles(normalize(phrase))
        words = text.split()
        for cut in range(1, len(words)):
            head, tail = " ".join(words[:cut]), " ".join(words[cut:])
            # "<area> <domain word>"
            domain = _domain_of_word(tail)
            if domain and (found := self.find_area(head)):
                return found, domain
            # "<domain word> <link> <area>"
            domain = _domain_of_word(head)
            if domain:
                rest = tail
                for link in _AREA_LINKS:
                    if rest.startswith(link + " "):
                        rest = rest[len(link) + 1 :]
                        break
                if found := self.find_area(rest):
                    return found, domain
        return None

    def _fuzzy(self, name: str, ok: Any, area_obj: HAArea | None) -> list[HAEntity]:
        target = _strip_articles(normalize(name))
        best: tuple[float, list[HAEntity]] = (0.0, [])
        for key, entities in self._by_name.items():
            score = difflib.SequenceMatcher(None, target, key).ratio()
            hits = [e for e in entities if ok(e) and (area_obj is None or e.area_id == area_obj.area_id)]
            if hits and score > best[0]:
                best = (score, hits)
        return best[1] if best[0] >= 0.85 else []


def _domain_of_word(word: str) -> str | None:
    word = word.strip()
    for domain, words in DOMAIN_WORDS.items():
        if word in words:
            return domain
    return None
