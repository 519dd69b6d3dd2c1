"""Text preparation for speech: sentence splitting of streamed text, and markdown/emoji hygiene.

- :class:`SentenceSplitter` turns a stream of text deltas into speakable pieces, in order. It uses
  ``sentence_stream.SentenceBoundaryDetector`` (the same rules Home Assistant and wyoming-piper use)
  and adds two things for latency:

  * *eager flush*: the detector only ends a sentence once it sees the next one begin. A chunk that
    itself ends a sentence (terminal punctuation followed by whitespace, not an abbreviation) is
    released at once, so a producer that sends whole sentences (our brain, per ``handled-chunk``)
    does not have to wait for the next one before the first is spoken.
  * *first-clause split*: the first piece of a reply is cut at its first clause boundary (comma,
    semicolon, colon, dash) when both halves are long enough. The first audio then waits for half a
    sentence of synthesis instead of a whole one; later sentences are synthesized while earlier
    ones play, so they are not split.

- :func:`clean_for_speech` removes what piper would otherwise read aloud or stumble over:
  markdown markup (emphasis, headings, bullets, links, code fences, tables), emoji and other
  pictographs, and it joins lines into one utterance.

- :func:`speak_clock_times` writes English (and French) clock times the way people say them.
  espeak reads "1:05 AM" as "one zero five A M" and "1:00 AM" as "one zero zero A M"; people (and
  speech recognizers) expect "one oh five in the morning" and "one in the morning".
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable

from sentence_stream import SentenceBoundaryDetector

_LOGGER = logging.getLogger(__name__)

#: A buffer that ends a sentence: terminal punctuation, optional closing quotes/brackets, whitespace.
_ENDS_SENTENCE_RE = re.compile(r"[.!?…]+['\"\)\]\}\u2019\u201d»]*\s+$")
#: The last word before the final period looks like an abbreviation ("Dr.", "U.S.", "e.g.").
_ABBREVIATION_RE = re.compile(r"(?:\b[A-Z][A-Za-z]{0,2}|\b[a-z]|\b(?:[A-Za-z]\.)+[A-Za-z])\.\s*$")
_LOWER_ABBREVIATIONS = frozenset({"e.g.", "i.e.", "vs.", "etc.", "approx.", "incl.", "no.", "cf."})
#: A clause boundary: punctuation followed by whitespace.
_CLAUSE_RE = re.compile(r"(?:[,;:]|\s[\u2013\u2014-])\s+")


def _looks_like_abbreviation(text: str) -> bool:
    stripped = text.rstrip()
    if not stripped.endswith("."):
        return False
    last_word = stripped.rsplit(maxsplit=1)[-1].lower()
    return last_word in _LOWER_ABBREVIATIONS or bool(_ABBREVIATION_RE.search(stripped))


def first_clause_end(text: str, min_words: int = 4) -> int | None:
    """Offset just past the first clause boundary with at least ``min_words`` words on each side."""
    for match in _CLAUSE_RE.finditer(text):
        if len(text[: match.end()].split()) < min_words:
            continue
        if len(text[match.end() :].split()) < min_words:
            return None
        return match.end()
    return None


def split_first_clause(sentence: str, min_words: int = 4) -> list[str]:
    """Cut ``sentence`` at its first clause boundary if both parts have at least ``min_words`` words."""
    end = first_clause_end(sentence, min_words)
    if end is None:
        return [sentence]
    return [sentence[:end].strip(), sentence[end:].strip()]


class SentenceSplitter:
    """Split streamed text into sentences as early as it is safe to (see the module docstring)."""

    def __init__(self, split_first_clause: bool = True, min_clause_words: int = 4) -> None:
        self._detector = SentenceBoundaryDetector()
        self._split_first = split_first_clause
        self._min_clause_words = min_clause_words
        self._emitted = False

    def add(self, chunk: str) -> list[str]:
        """Add a text delta; return the pieces that are complete now."""
        pieces = list(self._detector.add_chunk(chunk))
        detector = self._detector
        if self._split_first and not self._emitted and not pieces and not detector.current_sentence:
            # The first sentence is still arriving: release its first clause as soon as enough of
            # the rest has arrived to know it will be split anyway (same rule as a whole sentence).
            end = first_clause_end(detector.remaining_text, self._min_clause_words)
            if end is not None:
                head = detector.remaining_text[:end].strip()
                detector.remaining_text = detector.remaining_text[end:]
                self._emitted = True
                return [head, *self._post(self._flush_if_complete())]
        return self._post(pieces + self._flush_if_complete())

    def _flush_if_complete(self) -> list[str]:
        buffered = self._detector.current_sentence + self._detector.remaining_text
        if buffered.strip() and _ENDS_SENTENCE_RE.search(buffered) and not _looks_like_abbreviation(buffered):
            return [self._detector.finish()]
        return []

    def finish(self) -> list[str]:
        """End of text: return whatever is left."""
        return self._post([self._detector.finish()])

    def _post(self, pieces: Iterable[str]) -> list[str]:
        out: list[str] = []
        for piece in pieces:
            piece = piece.strip()
            if not piece:
                continue
            if not self._emitted and self._split_first:
                out.extend(split_first_clause(piece, self._min_clause_words))
            else:
                out.append(piece)
            self._emitted = True
        return out


def split_sentences(text: str, split_first_clause: bool = True) -> list[str]:
    """All pieces of a complete text, as :class:`SentenceSplitter` would stream them."""
    splitter = SentenceSplitter(split_first_clause=split_first_clause)
    return splitter.add(text) + splitter.finish()


# ---------------------------------------------------------------------------------------------
# Hygiene

_CODE_FENCE_RE = re.compile(r"^\s*(```|~~~).*$", re.M)
_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_URL_RE = re.compile(r"<(https?://[^>]+)>")
_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}\s+", re.M)
_BLOCKQUOTE_RE = re.compile(r"^\s{0,3}>\s?", re.M)
_BULLET_RE = re.compile(r"^\s*[-*+•]\s+", re.M)
_RULE_RE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$", re.M)
_TABLE_SEPARATOR_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$", re.M)
_EMPHASIS_RES = (
    re.compile(r"\*\*(.+?)\*\*"),
    re.compile(r"__(.+?)__"),
    re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"),
    re.compile(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])"),
    re.compile(r"~~(.+?)~~"),
    re.compile(r"`([^`]*)`"),
)
_TIMES_RE = re.compile(r"(?<=\d)\s*[*×]\s*(?=\d)")
_STRAY_MARKUP_RE = re.compile(r"[*`#~|]+|(?<!\w)_+|_+(?!\w)")
_SPACE_RE = re.compile(r"[ \t\u00a0]+")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+([,.;:!?])")
#: Symbols that are not pictographs: piper/espeak speak these usefully.
_KEEP_SYMBOLS = frozenset("°©®™§¶+=<>%&@$€£¥")


def _is_pictograph(char: str) -> bool:
    if char in _KEEP_SYMBOLS:
        return False
    code = ord(char)
    if code in (0x200D, 0x20E3) or 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF:
        return True  # zero-width joiner, keycap, variation selectors, skin tones
    category = unicodedata.category(char)
    return category in ("So", "Cs", "Co", "Cn") or (category == "Sk" and code > 0x2000)


def clean_for_speech(text: str) -> str:
    """Return ``text`` without markdown markup and emoji, on one line; "" if nothing speakable is left."""
    text = unicodedata.normalize("NFC", text)
    text = _CODE_FENCE_RE.sub("", text)
    text = _IMAGE_RE.sub(r"\1", text)
    text = _LINK_RE.sub(r"\1", text)
    text = _URL_RE.sub(r"\1", text)
    text = _RULE_RE.sub("", text)
    text = _TABLE_SEPARATOR_RE.sub("", text)
    text = _HEADING_RE.sub("", text)
    text = _BLOCKQUOTE_RE.sub("", text)
    text = _BULLET_RE.sub("", text)
    text = _TIMES_RE.sub(" times ", text)
    for pattern in _EMPHASIS_RES:
        text = pattern.sub(r"\1", text)
    text = "".join(" " if _is_pictograph(c) else c for c in text)
    text = text.replace("|", ",")
    text = _STRAY_MARKUP_RE.sub(" ", text)

    # One line: a line that does not end in punctuation gets a comma (list items, table rows).
    lines = [_SPACE_RE.sub(" ", line).strip(" ,") for line in text.splitlines()]
    joined = ""
    for line in lines:
        if not line:
            continue
        if joined:
            joined += " " if joined[-1] in ".!?,;:…" else ", "
        joined += line
    joined = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", joined)
    # Nothing but punctuation is nothing to say.
    if not any(c.isalnum() for c in joined):
        return ""
    return joined


def truncate_text(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars``, at the last sentence end or word break before the cap."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    for boundary in (max(head.rfind(". "), head.rfind("! "), head.rfind("? ")), head.rfind(" ")):
        if boundary > max_chars // 2:
            return head[: boundary + 1].rstrip()
    return head


#: A clock time: H:MM or HH:MM with an optional AM/PM ("am", "a.m.", "PM"), or an hour with AM/PM
#: ("3 PM", "11 a.m."; the check for that form is in :func:`_say_clock`).
_CLOCK_RE = re.compile(
    r"(?<![\d:.])(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?(?![\d:])"
    r"(?:\s*(?P<meridiem>(?P<letter>[AaPp])(?P<dot>\.?)\s?[Mm]\b)(?P<period>\.?))?"
)
#: AM/PM after an hour without minutes; lower-case "am" only with dots ("I'm 2 am" is no time).
_HOUR_MERIDIEM_RE = re.compile(r"[AP]M|[ap]\.m")


def _part_of_day(hour: int, meridiem: str) -> str:
    """How a speaker says AM/PM: "in the morning", "in the afternoon", "in the evening", "at night"."""
    if meridiem in "Aa":
        return "in the morning"
    if hour == 12 or hour < 6:
        return "in the afternoon"
    return "in the evening" if hour < 9 else "at night"


def _hour_minute(hour: int, minute: int) -> str:
    return f"{hour} oh {minute}" if minute < 10 else f"{hour} {minute}"


def _say_clock(match: re.Match[str]) -> str:
    hour, meridiem = int(match["hour"]), match["letter"]
    minute = None if match["minute"] is None else int(match["minute"])
    if minute is None and not (meridiem and _HOUR_MERIDIEM_RE.fullmatch(match["meridiem"])):
        return match[0]  # a bare number, or "2 am"
    if (minute or 0) > 59 or hour > (12 if meridiem else 23) or (meridiem and hour == 0):
        return match[0]
    # A period after "AM" ends the sentence; after "a.m." it does at the end or before a capital.
    rest = match.string[match.end() :].lstrip()
    period = "." if match["period"] and (not match["dot"] or not rest or rest[0].isupper()) else ""
    if meridiem:
        if hour == 12 and not minute:
            return ("midnight" if meridiem in "Aa" else "noon") + period
        said = _hour_minute(hour, minute) if minute else f"{hour}"
        return f"{said} {_part_of_day(hour, meridiem)}{period}"
    assert minute is not None  # the 24-hour form has minutes
    if minute == 0:
        if hour == 0:
            return "midnight"
        return f"{hour} o'clock" if hour <= 12 else f"{hour} hundred"
    return _hour_minute(hour, minute)


#: A French clock time: "10 h 04", "10h04", "10 h", "10:04" (the brain writes "Il est 10 h 04.").
_FR_CLOCK_RE = re.compile(r"(?<![\d:.,])(\d{1,2})\s?(?:h(?![^\W\d_])|:(?=\d{2}))\s?(\d{2})?(?![\d:])")


def _say_clock_fr(match: re.Match[str]) -> str:
    hour, minute = int(match[1]), int(match[2] or 0)
    if hour > 23 or minute > 59:
        return match[0]
    said = {0: "minuit", 12: "midi", 1: "une heure", 21: "vingt et une heures"}.get(hour, f"{hour} heures")
    return f"{said} {minute}" if minute else said


def speak_clock_times(text: str, language: str = "en") -> str:
    """``text`` with clock times written as speakers of ``language`` (English or French) say them.

    espeak reads "1:05 AM" as "one zero five A M"; this gives it "1 oh 5 in the morning" instead.
    "3:48 PM" becomes "3 48 in the afternoon", "9:15 PM" "9 15 at night", "12:00 PM" "noon",
    "9:00" "9 o'clock", "13:00" "13 hundred", "13:05" "13 oh 5" and "3 PM" "3 in the afternoon".

    A part of the day is also clearer than "A M": right before "A M", "forty-eight" loses its
    "eight" and "fifteen" sounds like "fifty" to a speech recognizer (tiny.en heard "12:48 AM" as
    "12:40 AM" and "2:15 AM" as "2:50 AM"; it hears both right with "in the morning"). Text that is
    not a clock time ("3:1", "10:75", "1:2:3") is left alone.

    French: espeak reads "10 h 04" as "dix ache zéro quatre"; "10 h 04" and "10:04" become
    "10 heures 4", "1 h" "une heure", "0 h 15" "minuit 15" and "12 h" "midi". Other languages are
    returned unchanged.
    """
    language = language.lower()
    if language.startswith("fr"):
        return _FR_CLOCK_RE.sub(_say_clock_fr, text)
    if language.startswith("en"):
        return _CLOCK_RE.sub(_say_clock, text)
    return text
