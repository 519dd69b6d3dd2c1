"""Is a partial transcript already a complete local command? (the hub's semantic early endpoint)

:func:`judge` answers ``jarvis-intent-probe`` (jarvis.protocol.endpoint) from the intent templates
alone: it calls :meth:`IntentRecognizer.recognize`, which only parses, and never a handler, so
nothing is executed (no timer started, no memory written, no answer spoken).

- ``incomplete``: the text ends on a word that needs a continuation ("set a timer for", "three
  times", "mets un minuteur de", "… et"), or names a timer with no number ("set a timer").
- ``complete``: it parses as a local intent with every slot it needs: a timer with a duration, an
  arithmetic question with an operator ("what is twenty" is not one: the person may go on with
  "… three times four"; a question that is only a number so far is ``incomplete``).
- ``unknown``: anything else (a question for the LLM, a command we do not know).
"""

from __future__ import annotations

import re
import unicodedata

from hassil import RecognizeResult

from jarvis.protocol.endpoint import COMPLETE, INCOMPLETE, UNKNOWN, IntentVerdict
from jarvis.protocol.language import base_language

from .intents import ADD_TIMER_TIME, CALCULATE, START_TIMER, IntentRecognizer, to_arithmetic
from .normalize import normalize_transcript

DANGLING: dict[str, frozenset[str]] = {
    "en": frozenset(
        "for and to of the a an in at on by with or plus minus times divided over into from my your "
        "than about is are was but because if".split()
    ),
    "fr": frozenset(
        "de du des d et pour a au aux le la les l un une dans sur par avec ou plus moins fois divise "
        "mon ma mes en mais".split()
    ),
}
"""Last words that leave a command hanging (accents removed: "à" is "a", "divisé" is "divise")."""

_TIMER_WORDS = re.compile(r"\b(?:timers?|countdown|minuteurs?|minuteries?|chronos?)\b", re.I)
_DURATION_SLOTS = ("hours", "minutes", "seconds")
_WORD = re.compile(r"\w+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _has_duration(result: RecognizeResult) -> bool:
    for slot in _DURATION_SLOTS:
        entity = result.entities.get(slot)
        if entity is not None and isinstance(entity.value, int | float) and entity.value > 0:
            return True
    return False


def _complete(result: RecognizeResult, lang: str) -> bool:
    name = result.intent.name
    if name == CALCULATE:
        entity = result.entities.get("expression")
        expression = str(entity.text or entity.value) if entity is not None else ""
        return bool(expression) and to_arithmetic(expression, lang) is not None
    if name in (START_TIMER, ADD_TIMER_TIME):
        return _has_duration(result)
    return True


def _bare_number(result: RecognizeResult) -> bool:
    """An arithmetic question that is only a number so far ("what is 20" before "… three times four")."""
    if result.intent.name != CALCULATE:
        return False
    entity = result.entities.get("expression")
    expression = str(entity.text or entity.value).strip(" ?.!") if entity is not None else ""
    return re.fullmatch(r"\d+(?:[.,]\d+)?", expression) is not None


def judge(recognizer: IntentRecognizer | None, text: str, language: str | None) -> IntentVerdict:
    """The verdict on ``text`` (a partial transcript, wake phrase included). Blocking: run it off the loop."""
    lang = base_language(language or "en")
    normalized = normalize_transcript(text, lang)
    words = _WORD.findall(_fold(normalized))
    if not words:
        return IntentVerdict(UNKNOWN)
    if words[-1] in DANGLING.get(lang, DANGLING["en"]):
        return IntentVerdict(INCOMPLETE)
    prepared = normalized
    if recognizer is not None and lang in recognizer.languages:
        prepared, results = recognizer.recognize(normalized, lang)
        for result in results:
            if _complete(result, lang):
                return IntentVerdict(COMPLETE, result.intent.name)
        if any(_bare_number(result) for result in results):
            return IntentVerdict(INCOMPLETE)  # "what is 20", "how much is nine": the operator is coming
    if _TIMER_WORDS.search(_fold(prepared)) and not re.search(r"\d", prepared):
        return IntentVerdict(INCOMPLETE)  # "set a timer": the duration is coming
    if _TIMER_WORDS.search(_fold(prepared)) and re.search(r"\d\W*$", prepared):
        return IntentVerdict(INCOMPLETE)  # "set a timer for 10": the unit is coming
    return IntentVerdict(UNKNOWN)
