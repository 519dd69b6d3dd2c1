"""Text preparation for the local intents: what the templates see.

:func:`prepare` cleans a transcript and rewrites duration idioms before and after spoken numbers become
digits ("half an hour" -> "30 minutes", "une heure et demie" -> "90 minutes", "1h30" ->
"1 heures 30 minutes", "an hour" -> "1 hour"), and folds the inflections STT writes for a command verb
("cancelled" -> "cancel"). :func:`strip_accents_same_length` removes accents without moving any
character, so entity spans found in the folded text still point into the prepared text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from jarvis.protocol.language import base_language

from .numbers import normalize_numbers


def strip_accents_same_length(text: str) -> str:
    """Remove accents without changing the length ("pâtes" -> "pates"; "œ" stays)."""
    out = []
    for ch in text:
        decomposed = unicodedata.normalize("NFD", ch)
        out.append(decomposed[0] if decomposed and not unicodedata.combining(decomposed[0]) else ch)
    return "".join(out)


def fold(text: str) -> str:
    return strip_accents_same_length(text).casefold()


_NUMBER = r"\d+(?:\.\d+)?"


def _plus_half(unit_seconds: int, extra: float, out_unit: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        value = float(match.group(1)) + extra
        seconds = value * unit_seconds
        divisor = 60 if out_unit.startswith("min") else 1
        return f"{_fmt_plain(seconds / divisor)} {out_unit}"

    return replace


def _fmt_plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


_EN_BEFORE = [
    (re.compile(r"\bhalf (?:an|one) hour\b", re.I), "30 minutes"),
    (re.compile(r"\bhalf (?:a|one) minute\b", re.I), "30 seconds"),
    (re.compile(r"\b(?:a )?quarter (?:of )?an hour\b|\ba quarter hour\b", re.I), "15 minutes"),
    (re.compile(r"\bthree quarters of an hour\b", re.I), "45 minutes"),
    (re.compile(r"\b(?:an|a|one) hour and a half\b", re.I), "90 minutes"),
    (re.compile(r"\b(?:an|a|one) hour and a quarter\b", re.I), "75 minutes"),
    (re.compile(r"\b(?:an|a|one) minute and a half\b", re.I), "90 seconds"),
    (re.compile(r"\ba couple (?:of )?(?=(?:hours?|minutes?|seconds?)\b)", re.I), "2 "),
    (re.compile(r"\b(?:an|a) (hour|minute|second)\b", re.I), r"1 \1"),
    (re.compile(r"\b(another|an extra) (hour|minute|second)\b", re.I), r"\1 1 \2"),
]
_UNIT_HYPHEN = re.compile(
    r"\b(\d+(?:\.\d+)?)-(hours?|hrs?|minutes?|mins?|seconds?|secs?|heures?|secondes?)\b", re.I
)
"""Whisper writes "a 5-minute timer": the number and its unit, as two words."""
_EN_AFTER: list[tuple[re.Pattern[str], Any]] = [
    (_UNIT_HYPHEN, r"\1 \2"),
    (re.compile(rf"\b({_NUMBER}) hours? and (?:a half|0\.5)(?!\d)", re.I), _plus_half(3600, 0.5, "minutes")),
    (re.compile(rf"\b({_NUMBER}) minutes? and (?:a half|0\.5)(?!\d)", re.I), _plus_half(60, 0.5, "seconds")),
    (
        re.compile(rf"\b({_NUMBER}) hours? and (?:a quarter|0\.25)(?!\d)", re.I),
        _plus_half(3600, 0.25, "minutes"),
    ),
    # "1 and a half minutes", "2 and a half hours" (the numbers made "a half" 0.5)
    (re.compile(rf"\b({_NUMBER}) and (?:a half|0\.5) hours?\b", re.I), _plus_half(3600, 0.5, "minutes")),
    (re.compile(rf"\b({_NUMBER}) and (?:a half|0\.5) minutes?\b", re.I), _plus_half(60, 0.5, "seconds")),
    # "add 2 more minutes", "one more minute": "more" / "extra" before a unit changes no duration
    (
        re.compile(rf"\b({_NUMBER}) (?:more|extra) (?=(?:hours?|minutes?|mins?|seconds?|secs?)\b)", re.I),
        r"\1 ",
    ),
]
_FR_BEFORE = [
    (re.compile(r"\b(?:une |1 )?demi[- ]heure\b", re.I), "30 minutes"),
    (re.compile(r"\b(?:une |1 )?demi[- ]minute\b", re.I), "30 secondes"),
    (re.compile(r"\b(?:un |1 )?quart d['’ ]heure\b", re.I), "15 minutes"),
    (re.compile(r"\btrois quarts d['’ ]heure\b", re.I), "45 minutes"),
]
_FR_AFTER: list[tuple[re.Pattern[str], Any]] = [
    (_UNIT_HYPHEN, r"\1 \2"),
    (re.compile(r"\b(?:une|un)\s+(heure|minute|seconde)\b", re.I), r"1 \1"),
    (re.compile(rf"\b({_NUMBER}) heures? et demie?\b", re.I), _plus_half(3600, 0.5, "minutes")),
    (re.compile(rf"\b({_NUMBER}) heures? et quart\b", re.I), _plus_half(3600, 0.25, "minutes")),
    (re.compile(rf"\b({_NUMBER}) minutes? et demie?\b", re.I), _plus_half(60, 0.5, "secondes")),
    # « 20 pour cent de 150 » became « 20 pour 100 de 150 »: after a number it is « pourcent » (not
    # before a unit: « minuteur de 2 pour 100 secondes » is no percentage)
    (
        re.compile(
            rf"\b({_NUMBER}) pour[- ]?(?:100|cents?)\b(?![.,]?\d)"
            r"(?!\s*(?:h|heures?|min|mn|minutes?|s|sec|secondes?)\b)",
            re.I,
        ),
        r"\1 pourcent",
    ),
]
# Inflections STT writes for a command verb ("cancelled the timer", "sets a timer"): matched as the verb.
_VERB_FORMS = {
    "en": [
        (re.compile(r"\b(?:cancell?ed|cancell?ing|cancels)\b", re.I), "cancel"),
        (re.compile(r"\b(?:sets|setting)\b", re.I), "set"),
        (re.compile(r"\b(?:starts|started|starting)\b", re.I), "start"),
        (re.compile(r"\b(?:stopped|stopping|stops)\b", re.I), "stop"),
        (re.compile(r"\b(?:paused|pausing|pauses)\b", re.I), "pause"),
    ],
    "fr": [
        (re.compile(r"\bannul(?:é|ée|er|ez|es)\b", re.I), "annule"),
        (re.compile(r"\barr[êe]t(?:é|er|ez|es)\b", re.I), "arrête"),
    ],
}
# "for like ten minutes": "like" as a hedge before a number carries nothing.
_HEDGE_BEFORE_NUMBER = {"en": re.compile(r"\b(?:like|about|around|roughly) (?=\d)", re.I)}
_HOUR_MINUTES = re.compile(r"\b(\d+)\s*h\s*(\d{1,2})\b(?!\s*(?:min|mn|minutes?)\b)", re.I)
_HOURS_ONLY = re.compile(r"\b(\d+)\s*h\b", re.I)


_GERUNDS = {
    "setting": "set", "starting": "start", "cancelling": "cancel", "canceling": "cancel",
    "stopping": "stop", "pausing": "pause", "resuming": "resume", "adding": "add", "giving": "give",
    "putting": "put", "telling": "tell", "checking": "check", "reminding": "remind", "making": "make",
    "creating": "create", "calculating": "calculate", "removing": "remove", "deleting": "delete",
    "clearing": "clear", "listing": "list", "showing": "show", "working": "work",
}  # fmt: skip


def _mind_doing(match: re.Match[str]) -> str:
    """ "would you mind setting" -> "set" (a gerund this table does not know is left as it was)."""
    verb = _GERUNDS.get(match.group(1).casefold())
    return verb if verb is not None else match.group(0)


# How a request is wrapped around the command ("would you mind setting a timer", "go ahead and set a
# timer", "can I get a timer", "could you let me know what time it is", « mets-moi un minuteur », « tu
# peux me mettre un minuteur »): the wrapper is dropped, the command stays. Only at the start.
_REQUEST_FRAMES: dict[str, list[tuple[re.Pattern[str], Any]]] = {
    "en": [
        (re.compile(r"^(?:(?:would|could|do) you mind|mind) (\w+ing)\b", re.I), _mind_doing),
        (
            re.compile(
                r"^(?:go ahead and|i need you to|i want you to|i'?d like you to|i would like you to) ", re.I
            ),
            "",
        ),
        (re.compile(r"^(?:can|could|may) i (?:get|have) (?=(?:a|an|one|another) )", re.I), "give me "),
        (
            re.compile(
                r"^(?:(?:could|can|would|will) you (?:please )?)?let me know (?=(?:what|how|when|which)\b)",
                re.I,
            ),
            "",
        ),
    ],
    "fr": [
        (
            re.compile(
                r"\b(mets|mettez|lance|lancez|programme|programmez|r[eè]gle|r[ée]glez|d[ée]marre)[- ]moi\b",
                re.I,
            ),
            r"\1",
        ),
        (re.compile(r"\bme (mettre|lancer|programmer|r[ée]gler|d[ée]marrer)\b", re.I), r"\1"),
    ],
}


def prepare(text: str, language: str) -> str:
    """The text the templates see before accents are removed (numbers as digits, idioms expanded)."""
    lang = base_language(language)
    text = " ".join(text.replace("’", "'").split())
    for pattern, replacement in _REQUEST_FRAMES.get(lang, []):
        text = pattern.sub(replacement, text)
    before, after = (_FR_BEFORE, _FR_AFTER) if lang == "fr" else (_EN_BEFORE, _EN_AFTER)
    for pattern, replacement in [*before, *_VERB_FORMS.get(lang, [])]:
        text = pattern.sub(replacement, text)
    text = normalize_numbers(text, lang)
    if hedge := _HEDGE_BEFORE_NUMBER.get(lang):
        text = hedge.sub("", text)
    hour_word, minute_word = ("heures", "minutes") if lang == "fr" else ("hours", "minutes")
    text = _HOUR_MINUTES.sub(rf"\1 {hour_word} \2 {minute_word}", text)
    text = _HOURS_ONLY.sub(rf"\1 {hour_word}", text)
    for pattern, replacement in after:
        text = pattern.sub(replacement, text)
    return text
