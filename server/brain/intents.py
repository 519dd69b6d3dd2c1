"""Local intents: the brain's fast path, answered without the LLM, in English and French.

Time, date, timers (set / cancel / list / time left), arithmetic, "what's my name" and stop/cancel are
recognised with hassil templates (``sentences/<lang>/*.yaml``). :meth:`IntentRecognizer.handle` returns
None for anything else, and the agent answers.

How a transcript is matched:

1. Clean-up and duration idioms: "half an hour" -> "30 minutes", "une heure et demie" -> "90 minutes",
   "1h30" -> "1 heures 30 minutes", "an hour" -> "1 hour".
2. Spoken numbers to digits (:func:`jarvis.server.brain.numbers.normalize_numbers`).
3. Accents removed character by character (same length, so entity spans still point into the text of
   step 2: timer names keep their accents). French templates are written without accents.
4. hassil finds every matching template; results are tried best first (fewest wildcards, most literal
   text). A handler may still refuse (e.g. the ``{expression}`` wildcard holds no arithmetic) and the
   next result is tried.

Replies are :class:`IntentReply` (a :class:`~jarvis.server.brain.context.Reply` with the intent name).
Stop/cancel ("stop", "never mind", "annule", "arrête") gives ``IntentReply(speech="", stop=True)``:
the handler should stop speaking / end the turn and say nothing (see :func:`is_stop`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from hassil import Intents, RecognizeResult, recognize_all

from jarvis.protocol.logs import private

from . import calculator
from .context import Reply, TurnContext
from .normalize import wake_like_leads
from .numbers import normalize_numbers, words_to_number
from .repair import repairs, vocabulary
from .timers import Timer, TimerError, TimerManager

_LOGGER = logging.getLogger(__name__)

LANGUAGES = ("en", "fr")
MAX_TEXT_LENGTH = 250
"""Characters. Local intents are short commands; longer text goes straight to the agent."""

GET_TIME = "JarvisGetTime"
GET_DATE = "JarvisGetDate"
START_TIMER = "JarvisStartTimer"
CANCEL_TIMER = "JarvisCancelTimer"
TIMER_STATUS = "JarvisTimerStatus"
LIST_TIMERS = "JarvisListTimers"
PAUSE_TIMER = "JarvisPauseTimer"
RESUME_TIMER = "JarvisResumeTimer"
ADD_TIMER_TIME = "JarvisAddTimerTime"
CALCULATE = "JarvisCalculate"
GET_NAME = "JarvisGetName"
STOP = "JarvisStop"

_LEFTOVER_LEAD = re.compile(r"^\s*[^\W\d_]+(?:\s+[^\W\d_]+)?\s*,\s+", re.UNICODE)
MAX_COMPOUND_PARTS = 3
MAX_FALLBACKS = 24
"""Alternative readings of one transcript tried at most (wake-like leads, one-word repairs)."""
_CONJUNCTION = re.compile(r"\s*,?\s+\b(?:and then|and also|and|then|et puis|et aussi|et|puis)\b\s+", re.I)
"""Where a compound request splits: "what time is it and what day is it", « … et … »."""

ProfileName = Callable[[str], Awaitable[str | None]]


@dataclass
class IntentReply(Reply):
    """A local intent's answer."""

    intent: str = ""
    """Which intent answered (``JarvisGetTime``...), for logs and metrics."""
    stop: bool = False
    """The user asked to stop/cancel: say nothing, stop any playback, end the turn."""


def is_stop(reply: Reply | None) -> bool:
    """True when ``reply`` is the stop/cancel intent's (empty) answer."""
    return isinstance(reply, IntentReply) and reply.stop


def base_language(language: str) -> str:
    """ "en-US" -> "en", "fr_CA" -> "fr"."""
    return re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower()


def _strip_accents_same_length(text: str) -> str:
    """Remove accents without changing the length ("pâtes" -> "pates"; "œ" stays)."""
    out = []
    for ch in text:
        decomposed = unicodedata.normalize("NFD", ch)
        out.append(decomposed[0] if decomposed and not unicodedata.combining(decomposed[0]) else ch)
    return "".join(out)


def _fold(text: str) -> str:
    return _strip_accents_same_length(text).casefold()


# --------------------------------------------------------------------------------------------
# Text preparation
# --------------------------------------------------------------------------------------------

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
    (re.compile(r"\b(?:an|a|one) minute and a half\b", re.I), "90 seconds"),
    (re.compile(r"\b(?:an|a) (hour|minute|second)\b", re.I), r"1 \1"),
]
_EN_AFTER: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(rf"\b({_NUMBER}) hours? and (?:a half|0\.5)(?!\d)", re.I), _plus_half(3600, 0.5, "minutes")),
    (re.compile(rf"\b({_NUMBER}) minutes? and (?:a half|0\.5)(?!\d)", re.I), _plus_half(60, 0.5, "seconds")),
]
_FR_BEFORE = [
    (re.compile(r"\b(?:une |1 )?demi[- ]heure\b", re.I), "30 minutes"),
    (re.compile(r"\b(?:une |1 )?demi[- ]minute\b", re.I), "30 secondes"),
    (re.compile(r"\b(?:un |1 )?quart d['’ ]heure\b", re.I), "15 minutes"),
    (re.compile(r"\btrois quarts d['’ ]heure\b", re.I), "45 minutes"),
]
_FR_AFTER: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"\b(?:une|un)\s+(heure|minute|seconde)\b", re.I), r"1 \1"),
    (re.compile(rf"\b({_NUMBER}) heures? et demie?\b", re.I), _plus_half(3600, 0.5, "minutes")),
    (re.compile(rf"\b({_NUMBER}) heures? et quart\b", re.I), _plus_half(3600, 0.25, "minutes")),
    (re.compile(rf"\b({_NUMBER}) minutes? et demie?\b", re.I), _plus_half(60, 0.5, "secondes")),
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


def prepare(text: str, language: str) -> str:
    """The text the templates see before accents are removed (numbers as digits, idioms expanded)."""
    lang = base_language(language)
    text = " ".join(text.replace("’", "'").split())
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


# --------------------------------------------------------------------------------------------
# Spoken output
# --------------------------------------------------------------------------------------------

_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_FR_WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_FR_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def speak_time(now: datetime, lang: str) -> str:
    if lang == "fr":
        if now.minute == 0 and now.hour in (0, 12):
            return "Il est minuit." if now.hour == 0 else "Il est midi."
        if now.minute == 0:
            return f"Il est {now.hour} h."
        return f"Il est {now.hour} h {now.minute:02d}."
    hour = now.hour % 12 or 12
    suffix = "AM" if now.hour < 12 else "PM"
    if now.minute == 0:
        return f"It's {hour} {suffix}."
    return f"It's {hour}:{now.minute:02d} {suffix}."


def speak_date(now: datetime, lang: str) -> str:
    if lang == "fr":
        day = "1er" if now.day == 1 else str(now.day)
        return f"Nous sommes le {_FR_WEEKDAYS[now.weekday()]} {day} {_FR_MONTHS[now.month - 1]} {now.year}."
    return f"Today is {_EN_WEEKDAYS[now.weekday()]}, {_EN_MONTHS[now.month - 1]} {now.day}, {now.year}."


_UNITS = {
    "en": (("hour", "hours"), ("minute", "minutes"), ("second", "seconds"), "and"),
    "fr": (("heure", "heures"), ("minute", "minutes"), ("seconde", "secondes"), "et"),
}


def speak_duration(seconds: float, lang: str, *, drop_seconds_over_an_hour: bool = False) -> str:
    """5400 -> "1 hour and 30 minutes" / "1 heure et 30 minutes"."""
    total = max(0, math.ceil(seconds - 1e-9))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if drop_seconds_over_an_hour and hours and secs:
        minutes += 1  # round up: never announce less time than is left
        secs = 0
        if minutes == 60:
            hours, minutes = hours + 1, 0
    hour_w, minute_w, second_w, conj = _UNITS[lang if lang in _UNITS else "en"]
    parts = []
    for value, (singular, plural) in ((hours, hour_w), (minutes, minute_w), (secs, second_w)):
        if value:
            parts.append(f"{value} {singular if value == 1 else plural}")
    if not parts:
        return f"0 {second_w[1]}"
    if len(parts) == 1:
        return parts[0]
    return f"{', '.join(parts[:-1])} {conj} {parts[-1]}"


def speak_number(value: float, lang: str) -> str:
    """92 -> "92", 2.5 -> "2.5" / "2,5", -3 -> "minus 3" / "moins 3"."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            text = str(int(value))
        elif abs(value) >= 1e15 or (value != 0 and abs(value) < 1e-6):
            text = f"{value:.6g}"
        else:
            text = f"{value:.6f}".rstrip("0").rstrip(".")
            if text in ("0", "-0"):
                text = f"{value:.6g}"
    else:
        text = str(value)
    if lang == "fr":
        text = text.replace(".", ",")
    if text.startswith("-"):
        text = ("moins " if lang == "fr" else "minus ") + text[1:]
    return text


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------------
# Arithmetic: words and symbols to a calculator expression
# --------------------------------------------------------------------------------------------

_SQRT = "sqrt"

_EN_OPS: list[tuple[tuple[str, ...], str]] = [
    (("raised", "to", "the", "power", "of"), "**"),
    (("to", "the", "power", "of"), "**"),
    (("to", "the", "power"), "**"),
    (("raised", "to"), "**"),
    (("the", "square", "root", "of"), _SQRT),
    (("square", "root", "of"), _SQRT),
    (("square", "root"), _SQRT),
    (("multiplied", "by"), "*"),
    (("multiply", "by"), "*"),
    (("divided", "by"), "/"),
    (("divide", "by"), "/"),
    (("take", "away"), "-"),
    (("per", "cent", "of"), "/100*"),
    (("percent", "of"), "/100*"),
    (("per", "cent"), "/100"),
    (("percent",), "/100"),
    (("open", "parenthesis"), "("),
    (("close", "parenthesis"), ")"),
    (("open", "bracket"), "("),
    (("close", "bracket"), ")"),
    (("times",), "*"),
    (("x",), "*"),
    (("over",), "/"),
    (("plus",), "+"),
    (("minus",), "-"),
    (("less",), "-"),
    (("power",), "**"),
    (("squared",), "**2"),
    (("cubed",), "**3"),
    (("modulo",), "%"),
    (("mod",), "%"),
    (("pi",), "pi"),
]
_FR_OPS: list[tuple[tuple[str, ...], str]] = [
    (("a", "la", "puissance"), "**"),
    (("puissance",), "**"),
    (("exposant",), "**"),
    (("au", "carre"), "**2"),
    (("au", "cube"), "**3"),
    (("la", "racine", "carree", "de"), _SQRT),
    (("racine", "carree", "de"), _SQRT),
    (("racine", "carree"), _SQRT),
    (("racine", "de"), _SQRT),
    (("multiplie", "par"), "*"),
    (("divise", "par"), "/"),
    (("pour", "cent", "de"), "/100*"),
    (("pourcent", "de"), "/100*"),
    (("pour", "cent"), "/100"),
    (("pourcent",), "/100"),
    (("ouvre", "la", "parenthese"), "("),
    (("ferme", "la", "parenthese"), ")"),
    (("fois",), "*"),
    (("x",), "*"),
    (("sur",), "/"),
    (("plus",), "+"),
    (("moins",), "-"),
    (("modulo",), "%"),
    (("pi",), "pi"),
]
_SPOKEN_OPS = {
    "en": {
        "+": "plus", "-": "minus", "*": "times", "/": "divided by", "**": "to the power of",
        "**2": "squared", "**3": "cubed", _SQRT: "the square root of", "/100*": "percent of",
        "/100": "percent", "%": "modulo", "pi": "pi",
    },
    "fr": {
        "+": "plus", "-": "moins", "*": "fois", "/": "divisé par", "**": "puissance",
        "**2": "au carré", "**3": "au cube", _SQRT: "la racine carrée de", "/100*": "pour cent de",
        "/100": "pour cent", "%": "modulo", "pi": "pi",
    },
}  # fmt: skip
_SYMBOLS = {
    "+": "+", "-": "-", "−": "-", "*": "*", "×": "*", "/": "/", "÷": "/", "^": "**", "(": "(", ")": ")",
}  # fmt: skip
_EXPR_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[+\-−*×/÷^()%]|[^\W\d_]+(?:'[^\W\d_]+)?")
_FILLERS = {"en": {"the", "and", "is", "equals", "equal", "to"}, "fr": {"la", "le", "et", "egale"}}


_CALCULATOR_ERRORS = (
    # (part of the CalculatorError message, English, French)
    ("divide by zero", "You can't divide by zero.", "On ne peut pas diviser par zéro."),
    ("too long", "Sorry, that calculation is too long for me.", "Désolé, ce calcul est trop long pour moi."),
    (
        "square root of a negative",
        "A negative number has no real square root.",
        "Un nombre négatif n'a pas de racine carrée réelle.",
    ),
    (
        "fractional power",
        "I can't raise a negative number to a fractional power.",
        "Je ne peux pas élever un nombre négatif à une puissance fractionnaire.",
    ),
)


def _calculator_error(message: str, lang: str) -> str:
    for key, english, french in _CALCULATOR_ERRORS:
        if key in message:
            return french if lang == "fr" else english
    if lang == "fr":
        return "Désolé, je ne peux pas calculer ça : le nombre est trop grand."
    return "Sorry, I can't calculate that: the number is too large."


@dataclass
class Arithmetic:
    expression: str
    """For :func:`calculator.evaluate`."""
    spoken: str
    """How to say it back ("23 times 4")."""


def _parse_number(token: str, lang: str) -> float | None:
    if lang == "en" and re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", token):
        token = token.replace(",", "")
    elif token.count(",") == 1 and token.count(".") == 0:
        token = token.replace(",", ".")
    try:
        value = float(token)
    except ValueError:
        return None
    return int(value) if value.is_integer() and "." not in token else value


# "divide 100 by 8" -> "100 divided by 8": the verb first, its two operands after it.
_VERB_FIRST = {
    "en": [
        (re.compile(r"^\s*divide (.+?) (?:by|over) (.+)$", re.I), r"\1 divided by \2"),
        (re.compile(r"^\s*multiply (.+?) (?:by|with|and) (.+)$", re.I), r"\1 times \2"),
        (re.compile(r"^\s*(?:add|sum) (.+?) (?:and|to|plus) (.+)$", re.I), r"\1 plus \2"),
        (re.compile(r"^\s*subtract (.+?) from (.+)$", re.I), r"\2 minus \1"),
        (re.compile(r"^\s*(?:square|squared) (.+)$", re.I), r"\1 squared"),
    ],
    "fr": [
        (re.compile(r"^\s*divis(?:e|ez|er) (.+?) par (.+)$", re.I), r"\1 divisé par \2"),
        (re.compile(r"^\s*multipli(?:e|ez|er) (.+?) par (.+)$", re.I), r"\1 fois \2"),
        (
            re.compile(r"^\s*(?:additionn(?:e|ez|er)|ajout(?:e|ez|er)) (.+?) (?:et|à) (.+)$", re.I),
            r"\1 plus \2",
        ),
        (re.compile(r"^\s*soustra(?:is|yez|ire) (.+?) de (.+)$", re.I), r"\2 moins \1"),
    ],
}


def to_arithmetic(text: str, lang: str) -> Arithmetic | None:
    """Turn "23 times 4" / "12 plus 7" / "divide 100 by 8" / "racine carrée de 16" into an expression.

    None when the text is not purely arithmetic (unknown words, no operator, no number).
    """
    for pattern, replacement in _VERB_FIRST.get(lang, []):
        text = pattern.sub(replacement, text.strip(" ?!.,"))
    ops = _FR_OPS if lang == "fr" else _EN_OPS
    spoken_ops = _SPOKEN_OPS.get(lang, _SPOKEN_OPS["en"])
    fillers = _FILLERS.get(lang, _FILLERS["en"])
    tokens = _EXPR_TOKEN.findall(_strip_accents_same_length(text).casefold())
    leftover = _EXPR_TOKEN.sub("", _strip_accents_same_length(text).casefold())
    if re.search(r"[^\s?!.,:;=]", leftover):
        return None  # symbols we do not know (e.g. "&", "$")
    expression: list[str] = []
    spoken: list[str] = []
    pending_sqrt = 0
    operators = 0
    numbers = 0
    index = 0

    def add_operand(python: str, words: str) -> None:
        nonlocal pending_sqrt, numbers
        expression.append(python)
        spoken.append(words)
        numbers += 1
        if pending_sqrt:
            expression.append(")" * pending_sqrt)
            pending_sqrt = 0

    while index < len(tokens):
        token = tokens[index]
        if token[0].isdigit():
            value = _parse_number(token, lang)
            if value is None:
                return None
            add_operand(repr(value) if isinstance(value, float) else str(value), speak_number(value, lang))
            index += 1
            continue
        if token in _SYMBOLS:
            symbol = _SYMBOLS[token]
            expression.append(symbol)
            if symbol not in "()":
                spoken.append(spoken_ops[symbol])
                operators += 1
            index += 1
            continue
        if token == "%":
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following in ("of", "de"):
                symbol, index = "/100*", index + 2
            elif following is None or following in ")":
                symbol, index = "/100", index + 1
            else:
                symbol, index = "%", index + 1
            expression.append(symbol)
            spoken.append(spoken_ops[symbol])
            operators += 1
            continue
        words, symbol = next(
            ((words, symbol) for words, symbol in ops if tuple(tokens[index : index + len(words)]) == words),
            ((), ""),
        )
        if words:
            index += len(words)
            if symbol == _SQRT:
                expression.append("sqrt(")
                spoken.append(spoken_ops[_SQRT])
                pending_sqrt += 1
                operators += 1
            elif symbol == "pi":
                add_operand("pi", "pi")
            else:
                expression.append(symbol)
                spoken.append(spoken_ops[symbol])
                operators += 1
            continue
        number = words_to_number(token, lang)
        if number is not None:
            add_operand(str(number), speak_number(number, lang))
            index += 1
            continue
        if token in fillers:
            index += 1
            continue
        return None
    if pending_sqrt or not numbers or not operators:
        return None
    return Arithmetic("".join(expression), " ".join(spoken))


# --------------------------------------------------------------------------------------------
# The recognizer
# --------------------------------------------------------------------------------------------

_ARTICLES = {
    "en": ("the ", "my ", "a ", "an "),
    "fr": ("les ", "le ", "la ", "l'", "mes ", "mon ", "ma ", "du ", "des ", "de la ", "de l'", "de "),
}
_BAD_NAMES = {
    "a", "an", "the", "my", "all", "every", "un", "une", "le", "la", "les", "tous", "mon", "mes",
    # function words whisper slips in ("set to timer"): never what someone names a timer
    "to", "of", "for", "at", "in", "on", "it", "is", "this", "that", "and", "or",
    "de", "du", "des", "à", "en", "ce", "et", "ou",
}  # fmt: skip


def _clean_name(name: str, lang: str) -> str | None:
    cleaned = name.strip(" .,!?;:\"'«»")
    changed = True
    while changed:
        changed = False
        for article in _ARTICLES.get(lang, ()):
            if cleaned.casefold().startswith(article) and len(cleaned) > len(article):
                cleaned = cleaned[len(article) :].lstrip()
                changed = True
    cleaned = " ".join(cleaned.split())
    if not cleaned or cleaned.casefold() in _BAD_NAMES or any(ch.isdigit() for ch in cleaned):
        return None
    return cleaned


def _name_key(name: str) -> str:
    key = _fold(name)
    return " ".join(word[:-1] if len(word) > 3 and word.endswith("s") else word for word in key.split())


def _score(result: RecognizeResult) -> tuple[int, int, int, str]:
    wildcards = [entity for entity in result.entities_list if entity.is_wildcard]
    return (
        len(wildcards),
        -result.text_chunks_matched,
        sum(len(entity.text or "") for entity in wildcards),
        result.intent.name,
    )


@functools.lru_cache(maxsize=4)
def _load_intents(root: str) -> dict[str, Intents]:
    """Compile the templates of every language once per process (they are read-only afterwards)."""
    compiled: dict[str, Intents] = {}
    for lang in LANGUAGES:
        files = sorted((Path(root) / lang).glob("*.yaml"))
        if not files:
            raise FileNotFoundError(f"no sentence templates in {Path(root) / lang}")
        compiled[lang] = Intents.from_files(files)
        # hassil parses templates lazily: pay that once here, not on the first user turn.
        list(recognize_all("warm up", compiled[lang], language=lang))
    return compiled


class IntentRecognizer:
    """Recognises and answers local intents. Templates are compiled once, at construction."""

    def __init__(
        self,
        timers: TimerManager,
        profile_name: ProfileName | None = None,
        sentences_dir: Path | None = None,
    ) -> None:
        self.timers = timers
        self.profile_name = profile_name
        root = sentences_dir or Path(str(resources.files("jarvis.server.brain").joinpath("sentences")))
        self._intents = _load_intents(str(root))
        self._root = str(root)
        self._handlers: dict[str, Callable[[RecognizeResult, TurnContext, str, str], Awaitable[Reply | None]]]
        self._handlers = {
            GET_TIME: self._get_time,
            GET_DATE: self._get_date,
            START_TIMER: self._start_timer,
            CANCEL_TIMER: self._cancel_timer,
            TIMER_STATUS: self._timer_status,
            LIST_TIMERS: self._list_timers,
            PAUSE_TIMER: self._pause_resume_timer,
            RESUME_TIMER: self._pause_resume_timer,
            ADD_TIMER_TIME: self._add_timer_time,
            CALCULATE: self._calculate,
            GET_NAME: self._get_name,
            STOP: self._stop,
        }

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._intents)

    def recognize(self, text: str, language: str) -> tuple[str, list[RecognizeResult]]:
        """The prepared text and every matching template result, best first."""
        lang = base_language(language)
        intents = self._intents.get(lang)
        if intents is None or not text.strip() or len(text) > MAX_TEXT_LENGTH:
            return text, []
        prepared = prepare(text, lang)
        results = list(recognize_all(_strip_accents_same_length(prepared), intents, language=lang))
        results.sort(key=_score)
        return prepared, results

    async def handle(self, ctx: TurnContext) -> Reply | None:
        """Answer ``ctx`` if it is a local intent; None lets the agent answer.

        A compound request ("what time is it and what day is it") is answered here when every part
        is a local intent, in one reply; if any part is not, the whole request goes to the agent.
        """
        reply = await self._handle_one(ctx)
        if reply is not None:
            return reply
        # What is left of a wake phrase nothing could be recognised in ("HR this, what day is it",
        # "this, what's the time"): one or two words before a comma. The rest must be a whole command.
        # Or words that sound like "hey jarvis" ("Each harvest set a timer", "Hit Elvis, ...").
        leads = wake_like_leads(ctx.text)
        if (lead := _LEFTOVER_LEAD.match(ctx.text)) is not None:
            leads.append(ctx.text[lead.end() :])
        lang = base_language(ctx.language)
        # Then one STT slip repaired (repair.py): in the whole text, then after a wake-like lead.
        vocab = self._vocabulary(lang)
        tried = {ctx.text}
        for text in [*leads, *(r for base in [ctx.text, *leads] for r in repairs(base, lang, vocab))]:
            if text in tried or len(tried) > MAX_FALLBACKS:
                continue
            tried.add(text)
            _, results = await asyncio.to_thread(self.recognize, text, lang)
            if self._plausible(results, prepare(text, lang), lang):
                reply = await self._handle_one(replace(ctx, text=text))
                if reply is not None:
                    return reply
        parts = [p for p in _CONJUNCTION.split(ctx.text) if p.strip(" ,.?!")]
        if not 1 < len(parts) <= MAX_COMPOUND_PARTS:
            return None
        recognized = [await asyncio.to_thread(self.recognize, part, lang) for part in parts]
        if not all(self._plausible(results, prepared, lang) for prepared, results in recognized):
            return None  # recognise every part before acting on any of them
        replies = []
        for part in parts:
            reply = await self._handle_one(replace(ctx, text=part.strip(" ,")))
            if reply is None or is_stop(reply):
                return None
            replies.append(reply)
        intents = "+".join(r.intent for r in replies if isinstance(r, IntentReply))
        return IntentReply(
            speech=" ".join(r.speech for r in replies if r.speech),
            events=[e for r in replies for e in r.events],
            intent=intents,
        )

    async def _handle_one(self, ctx: TurnContext) -> Reply | None:
        lang = base_language(ctx.language)
        prepared, results = await asyncio.to_thread(self.recognize, ctx.text, lang)
        for result in results:
            handler = self._handlers.get(result.intent.name)
            if handler is None:
                continue
            reply = await handler(result, ctx, lang, prepared)
            if reply is not None:
                _LOGGER.debug("Intent %s answered %r", result.intent.name, ctx.text)
                return reply
        return None

    # -- helpers -----------------------------------------------------------------------------

    def _vocabulary(self, lang: str) -> frozenset[str]:
        return vocabulary(self._root, lang) if lang in self._intents else frozenset()

    def _plausible(self, results: list[RecognizeResult], prepared: str, lang: str) -> bool:
        """Some result is a real match: not only the ``{expression}`` catch-all on non-arithmetic."""
        for result in results:
            if result.intent.name != CALCULATE:
                return True
            text = self._slot_text(result, "expression", prepared)
            if text and to_arithmetic(text, lang) is not None:
                return True
        return False

    @staticmethod
    def _slot_text(result: RecognizeResult, name: str, prepared: str) -> str | None:
        entity = result.entities.get(name)
        if entity is None:
            return None
        if entity.text_span is not None:
            start, end = entity.text_span
            if 0 <= start <= end <= len(prepared):
                return prepared[start:end]
        return str(entity.text or entity.value)

    @staticmethod
    def _duration(result: RecognizeResult) -> float:
        total = 0.0
        for slot, factor in (("hours", 3600), ("minutes", 60), ("seconds", 1)):
            entity = result.entities.get(slot)
            if entity is not None and isinstance(entity.value, int | float):
                total += float(entity.value) * factor
        return total

    def _matching_timers(self, ctx: TurnContext, name: str | None) -> list[Timer]:
        timers = self.timers.list(ctx.satellite_id)
        if name is None:
            return timers
        key = _name_key(name)
        return [timer for timer in timers if timer.name is not None and _name_key(timer.name) == key]

    @staticmethod
    def _label(timer: Timer, lang: str) -> str:
        """ "the pasta timer" / "the timer for 5 minutes" (EN); "le minuteur pâtes" (FR)."""
        if lang == "fr":
            if timer.name:
                return f"le minuteur {timer.name}"
            return f"le minuteur de {speak_duration(timer.total_seconds, lang)}"
        if timer.name:
            return f"the {timer.name} timer"
        return f"the timer for {speak_duration(timer.total_seconds, lang)}"

    def _describe(self, timers: list[Timer], lang: str) -> str:
        """What is left on each timer."""
        if len(timers) == 1:
            timer = timers[0]
            left = speak_duration(self.timers.remaining(timer), lang, drop_seconds_over_an_hour=True)
            paused = not timer.is_active
            if lang == "fr":
                return f"Il reste {left} sur {self._label(timer, lang)}{' (en pause)' if paused else ''}."
            return f"{_capitalize(left)} left on {self._label(timer, lang)}{' (paused)' if paused else ''}."
        if lang == "fr":
            parts = [f"Vous avez {len(timers)} minuteurs."]
            for timer in timers:
                left = speak_duration(self.timers.remaining(timer), lang, drop_seconds_over_an_hour=True)
                parts.append(f"{_capitalize(self._label(timer, lang))} : il reste {left}.")
        else:
            parts = [f"You have {len(timers)} timers."]
            for timer in timers:
                left = speak_duration(self.timers.remaining(timer), lang, drop_seconds_over_an_hour=True)
                parts.append(f"{_capitalize(self._label(timer, lang))} has {left} left.")
        return " ".join(parts)

    # -- handlers ----------------------------------------------------------------------------

    async def _get_time(self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str) -> Reply:
        return IntentReply(speech=speak_time(ctx.now(), lang), intent=GET_TIME)

    async def _get_date(self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str) -> Reply:
        now = ctx.now()
        if (result.intent_metadata or {}).get("year"):
            speech = f"Nous sommes en {now.year}." if lang == "fr" else f"It's {now.year}."
            return IntentReply(speech=speech, intent=GET_DATE)
        return IntentReply(speech=speak_date(now, lang), intent=GET_DATE)

    async def _start_timer(
        self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str
    ) -> Reply | None:
        ok, name = self._name_slot(result, lang, prepared)
        if not ok:
            return None  # "set a the timer..." or a number swallowed by the name: not ours
        seconds = self._duration(result)
        if seconds <= 0:
            speech = (
                "Pour combien de temps ? Dites par exemple : minuteur de 5 minutes."
                if lang == "fr"
                else "For how long? Say for example: set a timer for 5 minutes."
            )
            return IntentReply(speech=speech, intent=START_TIMER)
        try:
            timer, event = self.timers.set(seconds, name=name, satellite_id=ctx.satellite_id)
        except TimerError as err:
            _LOGGER.info("Timer refused: %s", err)
            speech = (
                "Désolé, les minuteurs sont limités à 100 heures."
                if lang == "fr"
                else "Sorry, timers can run for at most 100 hours."
            )
            return IntentReply(speech=speech, intent=START_TIMER)
        duration = speak_duration(seconds, lang)
        if lang == "fr":
            label = f"Minuteur {timer.name}" if timer.name else "Minuteur"
            speech = f"{label} réglé sur {duration}."
        else:
            label = f"{_capitalize(timer.name)} timer" if timer.name else "Timer"
            speech = f"{label} set for {duration}."
        return IntentReply(speech=speech, events=[event], intent=START_TIMER)

    async def _cancel_timer(
        self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str
    ) -> Reply | None:
        ok, name = self._name_slot(result, lang, prepared)
        if not ok:
            return None
        timers = self._matching_timers(ctx, name)
        if (result.intent_metadata or {}).get("by_duration"):
            wanted = self._duration(result)
            timers = [t for t in timers if abs(t.total_seconds - wanted) < 1]
        metadata = result.intent_metadata or {}
        plural = re.search(r"\b(?:timers|minuteurs|minuteries)\b", prepared, re.I) is not None
        if len(timers) > 1 and name is None and not metadata.get("all") and not plural:
            if not metadata.get("by_duration"):
                # "cancel the timer" with several running: which one? (never all of them at once)
                return IntentReply(speech=self._which_timer(len(timers), lang), intent=CANCEL_TIMER)
        if not timers:
            if lang == "fr":
                speech = f"Il n'y a pas de minuteur {name}." if name else "Il n'y a aucun minuteur à annuler."
            else:
                speech = f"There is no {name} timer." if name else "There is no timer to cancel."
            return IntentReply(speech=speech, intent=CANCEL_TIMER)
        events = []
        for timer in timers:
            events.extend(self.timers.cancel(timer_id=timer.id))
        if len(timers) == 1:
            timer = timers[0]
            if lang == "fr":
                speech = f"Minuteur {timer.name} annulé." if timer.name else "Minuteur annulé."
            else:
                speech = f"{_capitalize(timer.name)} timer cancelled." if timer.name else "Timer cancelled."
        else:
            speech = (
                f"{len(timers)} minuteurs annulés." if lang == "fr" else f"{len(timers)} timers cancelled."
            )
        return IntentReply(speech=speech, events=events, intent=CANCEL_TIMER)

    async def _timer_status(
        self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str
    ) -> Reply | None:
        ok, name = self._name_slot(result, lang, prepared)
        if not ok:
            return None
        timers = self._matching_timers(ctx, name)
        if not timers:
            return IntentReply(speech=self._no_timer(name, lang), intent=TIMER_STATUS)
        return IntentReply(speech=self._describe(timers, lang), intent=TIMER_STATUS)

    async def _list_timers(
        self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str
    ) -> Reply:
        timers = self._matching_timers(ctx, None)
        if not timers:
            speech = "Aucun minuteur en cours." if lang == "fr" else "You have no timers running."
        elif len(timers) == 1:
            intro = "Vous avez 1 minuteur." if lang == "fr" else "You have 1 timer."
            speech = f"{intro} {self._describe(timers, lang)}"
        else:
            speech = self._describe(timers, lang)
        return IntentReply(speech=speech, intent=LIST_TIMERS)

    def _name_slot(self, result: RecognizeResult, lang: str, prepared: str) -> tuple[bool, str | None]:
        """(ok, name): ok is False when the ``{name}`` wildcard holds something that is not a name."""
        if "name" not in result.entities:
            return True, None
        name = _clean_name(self._slot_text(result, "name", prepared) or "", lang)
        return name is not None, name

    @staticmethod
    def _no_timer(name: str | None, lang: str) -> str:
        if lang == "fr":
            return f"Il n'y a pas de minuteur {name}." if name else "Aucun minuteur en cours."
        return f"There is no {name} timer." if name else "You have no timers running."

    @staticmethod
    def _which_timer(count: int, lang: str) -> str:
        if lang == "fr":
            return f"Vous avez {count} minuteurs : lequel ? Dites par exemple : le minuteur des pâtes."
        return f"You have {count} timers. Which one? Say for example: the pasta timer."

    async def _pause_resume_timer(
        self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str
    ) -> Reply | None:
        ok, name = self._name_slot(result, lang, prepared)
        if not ok:
            return None
        intent = result.intent.name
        pause = intent == PAUSE_TIMER
        timers = [t for t in self._matching_timers(ctx, name) if t.is_active == pause]
        if not timers:
            if self._matching_timers(ctx, name):  # they exist, but are already in the wanted state
                if lang == "fr":
                    speech = "C'est déjà en pause." if pause else "C'est déjà en marche."
                else:
                    speech = "That timer is already paused." if pause else "That timer is already running."
                return IntentReply(speech=speech, intent=intent)
            return IntentReply(speech=self._no_timer(name, lang), intent=intent)
        events = [self.timers.pause(t) if pause else self.timers.resume(t) for t in timers]
        if lang == "fr":
            done = "en pause" if pause else "relancé"
            if len(timers) == 1:
                speech = f"Minuteur {timers[0].name} {done}." if timers[0].name else f"Minuteur {done}."
            else:
                speech = f"{len(timers)} minuteurs {'en pause' if pause else 'relancés'}."
        else:
            done = "paused" if pause else "resumed"
            if len(timers) == 1:
                label = f"{_capitalize(timers[0].name)} timer" if timers[0].name else "Timer"
                speech = f"{label} {done}."
            else:
                speech = f"{len(timers)} timers {done}."
        return IntentReply(speech=speech, events=events, intent=intent)

    async def _add_timer_time(
        self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str
    ) -> Reply | None:
        ok, name = self._name_slot(result, lang, prepared)
        if not ok:
            return None
        delta = self._duration(result)
        if delta <= 0:
            return None
        subtract = bool((result.intent_metadata or {}).get("subtract"))
        timers = self._matching_timers(ctx, name)
        if not timers:
            return IntentReply(speech=self._no_timer(name, lang), intent=ADD_TIMER_TIME)
        if len(timers) > 1:
            return IntentReply(speech=self._which_timer(len(timers), lang), intent=ADD_TIMER_TIME)
        timer = timers[0]
        try:
            event = self.timers.adjust(timer, -delta if subtract else delta)
        except TimerError as err:
            _LOGGER.info("Timer adjustment refused: %s", err)
            if lang == "fr":
                speech = "Il ne reste pas assez de temps sur ce minuteur."
            else:
                speech = "There isn't that much time left on the timer."
            if not subtract:
                speech = (
                    "Désolé, les minuteurs sont limités à 100 heures."
                    if lang == "fr"
                    else "Sorry, timers can run for at most 100 hours."
                )
            return IntentReply(speech=speech, intent=ADD_TIMER_TIME)
        amount = speak_duration(delta, lang)
        left = speak_duration(self.timers.remaining(timer), lang, drop_seconds_over_an_hour=True)
        label = self._label(timer, lang)
        if lang == "fr":
            label = label.replace("le minuteur", "au minuteur" if not subtract else "du minuteur", 1)
            verb = "retiré" if subtract else "ajouté"
            speech = f"J'ai {verb} {amount} {label}. Il reste {left}."
        else:
            verb, prep = ("Removed", "from") if subtract else ("Added", "to")
            speech = f"{verb} {amount} {prep} {label}. {_capitalize(left)} left."
        return IntentReply(speech=speech, events=[event], intent=ADD_TIMER_TIME)

    async def _calculate(
        self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str
    ) -> Reply | None:
        text = self._slot_text(result, "expression", prepared)
        if not text:
            return None
        arithmetic = to_arithmetic(text, lang)
        if arithmetic is None:
            return None
        try:
            value = calculator.evaluate(arithmetic.expression)
        except calculator.CalculatorSyntaxError:
            return None  # not arithmetic after all: let the agent have it
        except calculator.CalculatorError as err:
            _LOGGER.info("Calculation %r refused: %s", private(arithmetic.expression, _LOGGER), err)
            speech = _calculator_error(str(err), lang)
            return IntentReply(speech=speech, intent=CALCULATE)
        answer = speak_number(value, lang)
        verb = "égale" if lang == "fr" else "is"
        return IntentReply(speech=f"{_capitalize(arithmetic.spoken)} {verb} {answer}.", intent=CALCULATE)

    async def _get_name(self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str) -> Reply:
        name = await self.profile_name(ctx.user_id) if self.profile_name is not None else None
        if name:
            speech = f"Vous vous appelez {name}." if lang == "fr" else f"Your name is {name}."
        else:
            speech = "Je ne connais pas encore votre nom." if lang == "fr" else "I don't know your name yet."
        return IntentReply(speech=speech, intent=GET_NAME)

    async def _stop(self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str) -> Reply:
        return IntentReply(speech="", intent=STOP, stop=True)
