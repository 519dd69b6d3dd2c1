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

The jobs live in their own modules: step 1 is :mod:`.intent_text` (``prepare``), the spoken answers
(times, dates, durations, numbers) are :mod:`.speech`, the words-to-arithmetic parser behind
``{expression}`` is :mod:`.arithmetic` (evaluated by :mod:`.calculator`). This module is the
recognizer and its handlers; the names above are re-exported from here.

Replies are :class:`IntentReply` (a :class:`~jarvis.server.brain.context.Reply` with the intent name).
Stop/cancel ("stop", "never mind", "annule", "arrête") gives ``IntentReply(speech="", stop=True)``:
the handler should stop speaking / end the turn and say nothing (see :func:`is_stop`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from hassil import Intents, RecognizeResult, recognize_all

from jarvis.protocol.logs import private

from . import calculator
from .arithmetic import Arithmetic, to_arithmetic
from .context import Reply, TurnContext
from .intent_text import base_language, fold, prepare, strip_accents_same_length
from .normalize import discourse_leads, sentences, wake_like_leads
from .repair import repairs, vocabulary
from .speech import capitalize, speak_date, speak_duration, speak_number, speak_time
from .timers import Timer, TimerError, TimerManager

__all__ = [
    "ADD_TIMER_TIME",
    "CALCULATE",
    "CANCEL_TIMER",
    "GET_DATE",
    "GET_NAME",
    "GET_TIME",
    "LANGUAGES",
    "LIST_TIMERS",
    "MAX_COMPOUND_PARTS",
    "MAX_FALLBACKS",
    "MAX_TEXT_LENGTH",
    "PAUSE_TIMER",
    "RESUME_TIMER",
    "START_TIMER",
    "STOP",
    "TIMER_STATUS",
    "Arithmetic",
    "IntentRecognizer",
    "IntentReply",
    "ProfileName",
    "base_language",
    "is_stop",
    "prepare",
    "speak_date",
    "speak_duration",
    "speak_number",
    "speak_time",
    "to_arithmetic",
]

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


def _correction(words: str) -> re.Pattern[str]:
    """One of ``words`` set off by punctuation before it: ", no, ", "… I mean "."""
    mark = r"\s*(?:[,.…!?]|\.\.\.)\s*"
    return re.compile(rf"{mark}(?:{words})(?:{mark}|\s+)", re.I)


_SELF_REPAIR = {
    "en": _correction("no|sorry|i mean|wait|actually|make that|make it|or rather|rather"),
    "fr": _correction("non|pardon|enfin|je veux dire|plut[ôo]t|attends|euh non"),
}
"""A speaker correcting themselves mid-command: "set a timer for five, no, ten minutes"."""
MAX_REPAIRED_WORDS = 3


def _self_repairs(text: str, lang: str) -> list[str]:
    """Readings of a self-corrected command: what follows the last correction alone ("…, no, what
    day is it"), then it in place of the 1-3 words before the correction ("set a timer for five, no,
    ten minutes" -> "set a timer for ten minutes"). The caller acts only on a whole command."""
    marker = _SELF_REPAIR.get(lang)
    found = list(marker.finditer(text)) if marker is not None else []
    if not found:
        return []
    last = found[-1]
    before, after = text[: last.start()].split(), text[last.end() :].strip()
    if not after or not before:
        return []
    return [after] + [
        " ".join([*before[:-k], after]) for k in range(1, min(MAX_REPAIRED_WORDS, len(before) - 1) + 1)
    ]


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
    "to", "of", "for", "at", "in", "on", "it", "is", "this", "that", "and", "or", "there", "their",
    "de", "du", "des", "à", "en", "ce", "et", "ou",
}  # fmt: skip
_WHILE_IDIOMS = {
    "second", "sec", "moment", "bit", "while", "minute", "little while", "little bit", "few minutes",
    "few seconds", "couple of minutes", "couple of seconds", "mo", "tick", "now",
    "instant", "seconde", "petit moment", "petit instant", "peu", "petit peu",
}  # fmt: skip
"""Names that are how long, not which: "pause the timer for a second", « un instant »."""
_WHILE_LEADS = {"a", "an", "one", "just", "for", "un", "une", "pour", "juste", "1"}
_WHILE_TAIL = {
    "en": re.compile(
        r"\s*,?\s+(?:just\s+)?(?:for\s+(?:a|an|the)\s+(?:little\s+|short\s+|few\s+|couple\s+of\s+)?"
        r"(?:seconds?|secs?|minutes?|mins?|moments?|bit|while|mo|tick)|for\s+now)\W*$",
        re.I,
    ),
    "fr": re.compile(
        r"\s*,?\s+(?:juste\s+)?(?:pour\s+)?(?:(?:un|une|1)\s+(?:petit\s+|petite\s+)?"
        r"(?:seconde|minute|instant|moment|peu)|l'instant|le\s+moment)\W*$",
        re.I,
    ),
}
"""A pause/stop command's last words that say for how long, not which timer or how long a timer is:
"stop the timer for a moment", « mets le minuteur en pause un instant »."""


def _is_while_idiom(name: str) -> bool:
    words = fold(name).replace("'", " ").split()
    while words and words[0] in _WHILE_LEADS:
        words = words[1:]
    return " ".join(words) in _WHILE_IDIOMS


def _while_tail(text: str, lang: str) -> re.Match[str] | None:
    """The last words of ``text`` when they say for how long ("... for a moment", « ... un instant »)."""
    tail = _WHILE_TAIL.get(lang)
    return tail.search(text) if tail is not None else None


def _compound_parts(text: str) -> list[str]:
    """The parts of a compound request: joined by "and" / « et », or sentences ("Set a timer for 5
    minutes. What time is it?"); a part said twice is one part."""
    parts: dict[str, str] = {}
    for part in (sentence for piece in _CONJUNCTION.split(text) for sentence in sentences(piece)):
        if key := fold(part.strip(" ,.?!")):
            parts.setdefault(key, part)
    return list(parts.values())


BARE_NAME_WORDS = 3
"""Words at most of a timer name said before the timer word with no verb ("the pasta timer for 8 minutes")."""


def _shared_verb(first: str, part: str, index: int) -> list[str]:
    """A later part that is only a noun phrase ("tell me the time and the day") with the words that
    ask for it in the first part: "tell me the day", then "tell me the day"'s shorter forms
    ("what's the time and the date" -> "what's the date")."""
    words = first.strip(" ,.?!").split()
    tail = part.strip(" ,.?!")
    if index == 0 or not tail or len(tail.split()) > SHARED_VERB_TAIL_WORDS:
        return []
    return [" ".join([*words[:k], tail]) for k in range(len(words) - 1, 0, -1)]


SHARED_VERB_TAIL_WORDS = 3
"""Words at most of a part that may borrow the first part's verb ("the day", « la date du jour »)."""


_TRAILING_PREPOSITIONS = frozenset({"for", "of", "to", "at", "on", "pour", "de", "d'", "sur", "pendant"})


def _clean_name(name: str, lang: str) -> str | None:
    cleaned = name.strip(" .,!?;:\"'«»")
    changed = True
    while changed:
        changed = False
        for article in _ARTICLES.get(lang, ()):
            if cleaned.casefold().startswith(article) and len(cleaned) > len(article):
                cleaned = cleaned[len(article) :].lstrip()
                changed = True
    words = cleaned.split()
    while len(words) > 1 and words[-1].casefold() in _TRAILING_PREPOSITIONS:
        words.pop()  # "a timer for the pizza for 12 minutes": the name is "pizza", not "pizza for"
    cleaned = " ".join(words)
    if not cleaned or cleaned.casefold() in _BAD_NAMES or any(ch.isdigit() for ch in cleaned):
        return None
    return cleaned


def _name_key(name: str) -> str:
    key = fold(name)
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
        results = list(recognize_all(strip_accents_same_length(prepared), intents, language=lang))
        results.sort(key=_score)
        return prepared, results

    async def handle(self, ctx: TurnContext) -> Reply | None:
        """Answer ``ctx`` if it is a local intent; None lets the agent answer.

        A compound request ("what time is it and what day is it") is answered here when every part
        is a local intent, in one reply; if any part is not, the whole request goes to the agent.
        """
        lang = base_language(ctx.language)
        reply = await self._handle_one(ctx) or await self._paused_for_a_while(ctx, lang)
        if reply is not None:
            return reply
        # What is left of a wake phrase nothing could be recognised in ("HR this, what day is it",
        # "this, what's the time"): one or two words before a comma. The rest must be a whole command.
        # Or words that sound like "hey jarvis" ("Each harvest set a timer", "Hit Elvis, ...").
        leads = wake_like_leads(ctx.text)
        if (lead := _LEFTOVER_LEAD.match(ctx.text)) is not None:
            leads.append(ctx.text[lead.end() :])
        # Words that start a sentence and change nothing ("but what time is it"), and the last
        # sentence alone ("Is it? What day is today?") when no earlier one asks for something of
        # its own ("Set a timer for 5 minutes. What time is it?" is a compound request, below).
        vocab = self._vocabulary(lang)
        said = [fold(sentence.strip(" ,.?!")) for sentence in sentences(ctx.text)]
        earlier = [
            await self._is_request(sentence, lang, vocab) for sentence in said[:-1] if sentence != said[-1]
        ]  # "Stop. Stop." or "What time is it? What time is it?": said twice, asked once
        leads += discourse_leads(ctx.text, lang, vocab, last_sentence=not any(earlier))
        leads += _self_repairs(ctx.text, lang)
        # Then one STT slip repaired (repair.py): in the whole text, then after a wake-like lead.
        tried = {ctx.text}
        for text in [*leads, *(r for base in [ctx.text, *leads] for r in repairs(base, lang, vocab))]:
            if text in tried or len(tried) > MAX_FALLBACKS:
                continue
            tried.add(text)
            candidate = replace(ctx, text=text)
            _, results = await asyncio.to_thread(self.recognize, text, lang)
            if self._plausible(results, prepare(text, lang), lang):
                reply = await self._handle_one(candidate)
                if reply is not None:
                    return reply
            if (reply := await self._paused_for_a_while(candidate, lang)) is not None:
                return reply
        parts = _compound_parts(ctx.text)
        if not 1 < len(parts) <= MAX_COMPOUND_PARTS:
            return None
        for i, part in enumerate(parts):  # recognise every part before acting on any of them
            for text in [part, *discourse_leads(part, lang, vocab), *_shared_verb(parts[0], part, i)]:
                prepared, results = await asyncio.to_thread(self.recognize, text, lang)
                if self._plausible(results, prepared, lang):
                    parts[i] = text
                    break
            else:
                return None
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

    async def _is_request(self, text: str, lang: str, vocab: frozenset[str]) -> bool:
        """``text`` (or it after discourse words) is a command other than stop ("Stop. What time is
        it?" asks only for the time)."""
        for candidate in [text, *discourse_leads(text, lang, vocab, last_sentence=False)]:
            prepared, results = await asyncio.to_thread(self.recognize, candidate, lang)
            if self._plausible([r for r in results if r.intent.name != STOP], prepared, lang):
                return True
        return False

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

    @staticmethod
    def _of_duration(timers: list[Timer], result: RecognizeResult) -> list[Timer]:
        """The ``timers`` set for the duration the sentence names ("the 5 minute timer")."""
        wanted = IntentRecognizer._duration(result)
        return [t for t in timers if abs(t.total_seconds - wanted) < 1]

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
            return f"{capitalize(left)} left on {self._label(timer, lang)}{' (paused)' if paused else ''}."
        if lang == "fr":
            parts = [f"Vous avez {len(timers)} minuteurs."]
            for timer in timers:
                left = speak_duration(self.timers.remaining(timer), lang, drop_seconds_over_an_hour=True)
                parts.append(f"{capitalize(self._label(timer, lang))} : il reste {left}.")
        else:
            parts = [f"You have {len(timers)} timers."]
            for timer in timers:
                left = speak_duration(self.timers.remaining(timer), lang, drop_seconds_over_an_hour=True)
                parts.append(f"{capitalize(self._label(timer, lang))} has {left} left.")
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
        if (result.intent_metadata or {}).get("bare_name") and not self._bare_name(name, lang):
            return None  # "how long on the timer for 5 minutes" names no timer "how long on"
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
            label = f"{capitalize(timer.name)} timer" if timer.name else "Timer"
            speech = f"{label} set for {duration}."
        return IntentReply(speech=speech, events=[event], intent=START_TIMER)

    async def _cancel_timer(
        self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str
    ) -> Reply | None:
        ok, name = self._name_slot(result, lang, prepared)
        if not ok:
            return None
        timers = self._matching_timers(ctx, name)
        if self._for_a_while(ctx, lang, name):
            # "stop the timer for a moment": a stop for a while is a pause, of the timer(s) there are
            return self._pause_or_resume(ctx, lang, None, pause=True)
        if (result.intent_metadata or {}).get("by_duration"):
            timers = self._of_duration(timers, result)
            if not timers and _while_tail(ctx.text, lang) and self._matching_timers(ctx, None):
                # "stop the timer for a second" with no 1-second timer: for a while, not which timer
                return self._pause_or_resume(ctx, lang, None, pause=True)
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
                speech = f"{capitalize(timer.name)} timer cancelled." if timer.name else "Timer cancelled."
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
        if (result.intent_metadata or {}).get("by_duration"):
            # "how much time is left on the 5 minute timer": the timer set for 5 minutes
            timers = self._of_duration(timers, result)
            if not timers:
                duration = speak_duration(self._duration(result), lang)
                speech = (
                    f"Il n'y a pas de minuteur de {duration}."
                    if lang == "fr"
                    else f"There is no timer for {duration}."
                )
                return IntentReply(speech=speech, intent=TIMER_STATUS)
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

    def _bare_name(self, name: str | None, lang: str) -> bool:
        """A name said with nothing but the timer word before it ("pasta timer for 8 minutes", « minuteur
        thé, 4 minutes »): a short noun phrase, with no word of any command in it."""
        if not name:
            return False
        words = [fold(word) for word in name.split()]
        vocab = self._vocabulary(lang)
        return len(words) <= BARE_NAME_WORDS and not any(word in vocab for word in words)

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
        if self._for_a_while(ctx, lang, name):
            name = None  # "pause the timer for a second": for how long, not which timer
        return self._pause_or_resume(ctx, lang, name, pause=result.intent.name == PAUSE_TIMER)

    def _for_a_while(self, ctx: TurnContext, lang: str, name: str | None) -> bool:
        """The ``{name}`` slot holds how long, not which timer: "pause the timer for a second" (the
        text ends with it, and no timer has that name; "cancel the second timer" names one)."""
        return (
            name is not None
            and _is_while_idiom(name)
            and _while_tail(ctx.text, lang) is not None
            and not self._matching_timers(ctx, name)
        )

    async def _paused_for_a_while(self, ctx: TurnContext, lang: str) -> Reply | None:
        """A pause/resume/stop command that matched nothing with its last words, which say for how
        long ("stop the timer just for a second", « mets le minuteur en pause un instant »): the
        command without them. A stop for a while is a pause."""
        tail = _while_tail(ctx.text, lang)
        if tail is None or not ctx.text[: tail.start()].strip():
            return None
        rest = ctx.text[: tail.start()]
        prepared, results = await asyncio.to_thread(self.recognize, rest, lang)
        for result in results:
            intent = result.intent.name
            if intent not in (PAUSE_TIMER, RESUME_TIMER, CANCEL_TIMER):
                continue
            if (result.intent_metadata or {}).get("by_duration"):
                continue
            ok, name = self._name_slot(result, lang, prepared)
            if ok:
                return self._pause_or_resume(ctx, lang, name, pause=intent != RESUME_TIMER)
        return None

    def _pause_or_resume(self, ctx: TurnContext, lang: str, name: str | None, pause: bool) -> Reply:
        intent = PAUSE_TIMER if pause else RESUME_TIMER
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
                label = f"{capitalize(timers[0].name)} timer" if timers[0].name else "Timer"
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
        if not timers and (result.intent_metadata or {}).get("bare_name"):
            return None  # "add 5 minutes to the pasta" names a timer; "… to the cake recipe" no timer
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
            speech = f"{verb} {amount} {prep} {label}. {capitalize(left)} left."
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
        return IntentReply(speech=f"{capitalize(arithmetic.spoken)} {verb} {answer}.", intent=CALCULATE)

    async def _get_name(self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str) -> Reply:
        name = await self.profile_name(ctx.user_id) if self.profile_name is not None else None
        if name:
            speech = f"Vous vous appelez {name}." if lang == "fr" else f"Your name is {name}."
        else:
            speech = "Je ne connais pas encore votre nom." if lang == "fr" else "I don't know your name yet."
        return IntentReply(speech=speech, intent=GET_NAME)

    async def _stop(self, result: RecognizeResult, ctx: TurnContext, lang: str, prepared: str) -> Reply:
        return IntentReply(speech="", intent=STOP, stop=True)
