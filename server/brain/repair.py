"""One-word repairs of a transcript that no sentence template matched: tolerant intent matching.

Whisper's slips on a command are small: one word is a near-spelling of a template word ("minouteur"
for "minuteur", "timor" for "timer") or a short function word slipped in ("set to timer for ten
minutes"). hassil 3.13 (installed) has no fuzzy matching, so :func:`repairs` proposes the transcript
with one such word repaired:

- **substitution**: a word that is in no template (4+ letters) is replaced by the one template word
  closest to it, within 1 edit (2 for words of 7+ letters), if that closest word is unique;
- **homophone**: a word whisper writes for the sound of a template word is replaced by it, although
  it is a real word: « mais » / « mes » for « mets » (« mais un minuteur de cinq minutes »), « s'en »
  / « sans » for « cent », « foie » for « fois »; "too" / "to" for "two", "won" for "one";
- **deletion**: one short function word ("to", "a", « de ») is removed.

Only one repair per proposal, never a negation, a number or "and"/« et » removed or respelled
(deleting "and" from "and pause", whisper's "unpause", would pause the timer); "and", "at", "had",
"with" may be heard for "add" as the first word only ("and 2 minutes to the timer", "with 3 minutes
to my timer": :data:`FIRST_WORD_HOMOPHONES`). The caller must still recognise the whole proposal as
a command (``IntentRecognizer._plausible``) before acting on it; a sentence that matches nothing
still goes to the LLM.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from .normalize import _distance, _plain

MIN_SUBSTITUTED = 4
"""Letters of the shortest word that may be replaced ("sets" yes, "the" no)."""
LONG_WORD = 7
"""From this many letters a word may be 2 edits from the template word."""
MAX_REPAIRS = 12
"""Proposals at most per transcript (each costs one template recognition)."""
DELETABLE = {
    "en": frozenset({"to", "a", "an", "the", "of", "at", "on", "in", "it", "uh"}),
    "fr": frozenset({"de", "le", "la", "les", "un", "une", "à", "a", "du", "en"}),
}
"""Function words whisper inserts; one of them may be dropped."""
HOMOPHONES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "to": ("two",), "too": ("two",), "won": ("one",), "ate": ("eight",), "for": ("four",),
        "fore": ("four",), "sex": ("six",), "tree": ("three",), "tin": ("ten",),
        "there": ("the",), "their": ("the",),
    },
    "fr": {
        "mais": ("mets",), "mes": ("mets",), "met": ("mets",), "mai": ("mets",),
        "s'en": ("cent",), "sans": ("cent",), "sang": ("cent",), "vin": ("vingt",), "vain": ("vingt",),
        "foi": ("fois",), "foie": ("fois",), "cette": ("sept",), "set": ("sept",), "dis": ("dix",),
        "mois": ("moins",), "ces": ("seize",),
    },
}  # fmt: skip
"""Real words whisper writes for the sound of a command word (same or nearly the same sound)."""
FIRST_WORD_HOMOPHONES: dict[str, dict[str, tuple[str, ...]]] = {
    # "add 2 minutes to the timer" heard as "and / at / had / with 2 minutes to the timer"
    "en": {"and": ("add",), "at": ("add",), "had": ("add",), "ad": ("add",), "with": ("add",)},
}
"""Homophones of a command verb, respelled only as the first word (mid-sentence "at" is "at")."""
NEVER = frozenset(
    {"not", "no", "don't", "dont", "never", "and", "ne", "pas", "n'", "jamais", "et", "non", "all", "tous"}
)
"""Words never repaired away: a negation, a conjunction, a quantifier."""

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)


def _strings(node: Any, skip_keys: frozenset[str] = frozenset({"language", "name"})) -> Iterator[str]:
    """Every string value of a parsed YAML tree (keys are syntax, not vocabulary)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in skip_keys:
                yield from _strings(value, skip_keys)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, skip_keys)


@functools.lru_cache(maxsize=8)
def vocabulary(sentences_dir: str, lang: str) -> frozenset[str]:
    """The words of a language's templates, plain (casefolded, no accents)."""
    words: set[str] = set()
    for path in sorted((Path(sentences_dir) / lang).glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for text in _strings(data):
            words.update(_plain(w) for w in _WORD.findall(text))
    return frozenset(w for w in words if w)


def _closest(word: str, vocab: Iterable[str]) -> str | None:
    limit = 2 if len(word) >= LONG_WORD else 1
    best: list[str] = []
    best_distance = limit + 1
    for candidate in vocab:
        if abs(len(candidate) - len(word)) > limit or len(candidate) < MIN_SUBSTITUTED:
            continue
        distance = _distance(word, candidate, limit)
        if distance < best_distance:
            best, best_distance = [candidate], distance
        elif distance == best_distance:
            best.append(candidate)
    return best[0] if len(best) == 1 else None


def repairs(text: str, lang: str, vocab: frozenset[str]) -> list[str]:
    """``text`` with one word replaced or removed: homophones, then near-spellings, then deletions;
    at most :data:`MAX_REPAIRS`."""
    words = list(_WORD.finditer(text))
    homophones: list[str] = []
    substituted: list[str] = []
    deleted: list[str] = []
    table = HOMOPHONES.get(lang, {})
    if words:
        # The first word only, respelled (the command verb "add" heard as "and": "and pause the
        # timer" then matches nothing); "and" is never removed, nor respelled mid-sentence.
        first = words[0]
        for other in FIRST_WORD_HOMOPHONES.get(lang, {}).get(_plain(first.group()), ()):
            homophones.append(text[: first.start()] + other + text[first.end() :])
    for match in words:
        plain = _plain(match.group())
        if plain in NEVER:
            continue
        for other in table.get(plain, ()):  # number and operator words are in no template's text
            homophones.append(text[: match.start()] + other + text[match.end() :])
        if len(plain) >= MIN_SUBSTITUTED and plain not in vocab:
            closest = _closest(plain, vocab)
            if closest is not None:
                substituted.append(text[: match.start()] + closest + text[match.end() :])
        elif plain in DELETABLE.get(lang, frozenset()):
            rest = (text[: match.start()] + text[match.end() :]).split()
            deleted.append(" ".join(rest))
    return (homophones + substituted + deleted)[:MAX_REPAIRS]
