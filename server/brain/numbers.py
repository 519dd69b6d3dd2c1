"""Spoken numbers to digits, in English and French.

Speech-to-text often writes numbers as words ("twenty three times four", "quatre-vingt-dix-sept").
The intent templates and the calculator want digits, so the brain normalises first:

>>> normalize_numbers("twenty three times four", "en")
'23 times 4'
>>> normalize_numbers("vingt-trois fois quatre", "fr")
'23 fois 4'
>>> words_to_number("one hundred and five", "en")
105

Supported: units, teens, tens, hundreds, thousand/million/billion (EN), mille/million/milliard (FR,
including "quatre-vingt(s)", "soixante-dix", "vingt et un" and the Belgian/Swiss "septante",
"huitante/octante", "nonante"), decimals ("two point five", "deux virgule cinq"), halves and quarters
("a half", "two and a half", "three quarters", "deux et demi", "un quart").

Decimals are written with a dot in both languages ("2.5"): the output is for machines (templates,
calculator), not for display. Lone articles are left alone: English "a"/"an" and French "un"/"une"
on their own are not numbers ("une minute" stays as is; ``words_to_number("une", "fr")`` is 1).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass

from jarvis.protocol.language import base_language

_LOGGER = logging.getLogger(__name__)

Number = int | float

_UNIT = "unit"
_TEEN = "teen"
_TENS = "tens"
_HUNDRED = "hundred"
_SCALE = "scale"
_AND = "and"
_ARTICLE = "article"
_POINT = "point"
_HALF = "half"
_QUARTER = "quarter"
_NEGATIVE = "negative"


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _key(word: str) -> str:
    return _strip_accents(word).casefold()


_EN_VOCAB: dict[str, tuple[str, Number]] = {
    "zero": (_UNIT, 0),
    "one": (_UNIT, 1),
    "two": (_UNIT, 2),
    "three": (_UNIT, 3),
    "four": (_UNIT, 4),
    "five": (_UNIT, 5),
    "six": (_UNIT, 6),
    "seven": (_UNIT, 7),
    "eight": (_UNIT, 8),
    "nine": (_UNIT, 9),
    "ten": (_TEEN, 10),
    "eleven": (_TEEN, 11),
    "twelve": (_TEEN, 12),
    "thirteen": (_TEEN, 13),
    "fourteen": (_TEEN, 14),
    "fifteen": (_TEEN, 15),
    "sixteen": (_TEEN, 16),
    "seventeen": (_TEEN, 17),
    "eighteen": (_TEEN, 18),
    "nineteen": (_TEEN, 19),
    "twenty": (_TENS, 20),
    "thirty": (_TENS, 30),
    "forty": (_TENS, 40),
    "fourty": (_TENS, 40),
    "fifty": (_TENS, 50),
    "sixty": (_TENS, 60),
    "seventy": (_TENS, 70),
    "eighty": (_TENS, 80),
    "ninety": (_TENS, 90),
    "hundred": (_HUNDRED, 100),
    "thousand": (_SCALE, 1_000),
    "million": (_SCALE, 1_000_000),
    "billion": (_SCALE, 1_000_000_000),
    "and": (_AND, 0),
    "a": (_ARTICLE, 1),
    "an": (_ARTICLE, 1),
    "point": (_POINT, 0),
    "half": (_HALF, 0.5),
    "quarter": (_QUARTER, 0.25),
    "quarters": (_QUARTER, 0.25),
    "negative": (_NEGATIVE, -1),
    "minus": (_NEGATIVE, -1),
}

_FR_VOCAB: dict[str, tuple[str, Number]] = {
    "zero": (_UNIT, 0),
    "un": (_UNIT, 1),
    "une": (_UNIT, 1),
    "deux": (_UNIT, 2),
    "trois": (_UNIT, 3),
    "quatre": (_UNIT, 4),
    "cinq": (_UNIT, 5),
    "six": (_UNIT, 6),
    "sept": (_UNIT, 7),
    "huit": (_UNIT, 8),
    "neuf": (_UNIT, 9),
    "dix": (_TEEN, 10),
    "onze": (_TEEN, 11),
    "douze": (_TEEN, 12),
    "treize": (_TEEN, 13),
    "quatorze": (_TEEN, 14),
    "quinze": (_TEEN, 15),
    "seize": (_TEEN, 16),
    "vingt": (_TENS, 20),
    "vingts": (_TENS, 20),
    "trente": (_TENS, 30),
    "quarante": (_TENS, 40),
    "cinquante": (_TENS, 50),
    "soixante": (_TENS, 60),
    "septante": (_TENS, 70),
    "huitante": (_TENS, 80),
    "octante": (_TENS, 80),
    "nonante": (_TENS, 90),
    "cent": (_HUNDRED, 100),
    "cents": (_HUNDRED, 100),
    "mille": (_SCALE, 1_000),
    "million": (_SCALE, 1_000_000),
    "millions": (_SCALE, 1_000_000),
    "milliard": (_SCALE, 1_000_000_000),
    "milliards": (_SCALE, 1_000_000_000),
    "et": (_AND, 0),
    "virgule": (_POINT, 0),
    "demi": (_HALF, 0.5),
    "demie": (_HALF, 0.5),
    "quart": (_QUARTER, 0.25),
    "quarts": (_QUARTER, 0.25),
    "moins": (_NEGATIVE, -1),
}

_VOCABS = {"en": _EN_VOCAB, "fr": _FR_VOCAB}

# Words: letters and digits (no underscore). Separators between number words: spaces and hyphens.
_WORD_RE = re.compile(r"[^\W_]+")
_JOINER_RE = re.compile(r"[\s\-‐‑]+")
_NUMBER_LITERAL_RE = re.compile(r"[+-]?\d+(?:[.,]\d+)?")


def _vocab(language: str) -> dict[str, tuple[str, Number]] | None:
    return _VOCABS.get(base_language(language))


@dataclass
class _Token:
    kind: str | None
    value: Number
    word: str
    start: int
    end: int
    joined: bool
    """True when only spaces/hyphens separate this word from the previous one."""


def _tokenize(text: str, vocab: dict[str, tuple[str, Number]], french: bool) -> list[_Token]:
    tokens: list[_Token] = []
    prev_end: int | None = None
    for match in _WORD_RE.finditer(text):
        key = _key(match.group())
        kind, value = vocab.get(key, (None, 0))
        joined = prev_end is not None and bool(_JOINER_RE.fullmatch(text[prev_end : match.start()]))
        tokens.append(_Token(kind, value, key, match.start(), match.end(), joined))
        prev_end = match.end()

    if french:
        # "quatre-vingt(s)" is one tens word (80).
        merged: list[_Token] = []
        for token in tokens:
            if token.word in ("vingt", "vingts") and token.joined and merged and merged[-1].word == "quatre":
                previous = merged.pop()
                merged.append(_Token(_TENS, 80, "quatre-vingt", previous.start, token.end, previous.joined))
            else:
                merged.append(token)
        tokens = merged
    return tokens


def _result(value: Number) -> Number:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Parser:
    """Greedy parser of one number starting at a token index."""

    def __init__(self, tokens: list[_Token], french: bool) -> None:
        self.tokens = tokens
        self.french = french

    def _peek(self, index: int) -> _Token | None:
        """The token at ``index`` if it is glued (spaces/hyphens only) to the one before it."""
        if index < len(self.tokens) and self.tokens[index].joined:
            return self.tokens[index]
        return None

    def parse(self, start: int) -> tuple[Number, int] | None:
        """Parse a number at ``start``; return (value, index after the last token) or None."""
        tokens = self.tokens
        first = tokens[start]
        if first.kind is None:
            return None

        total = 0
        hundreds = 0
        sub = 0
        sub_kind: str | None = None  # unit, teen, tens, dix (FR: tens + "dix" waiting for 7-9)
        last_scale = 10**12
        last_kind: str | None = None
        consumed = 0
        index = start
        article = False

        def value() -> int:
            return total + hundreds + sub

        while index < len(tokens):
            token = tokens[index] if consumed == 0 else self._peek(index)
            if token is None or token.kind is None:
                break
            kind = token.kind
            number = int(token.value)

            if kind == _ARTICLE:
                # English "a"/"an": only "a hundred", "a thousand", "a half", "a quarter".
                nxt = self._peek(index + 1)
                if consumed or nxt is None:
                    break
                if nxt.kind in (_HUNDRED, _SCALE):
                    article = True
                    consumed += 1
                    index += 1
                    last_kind = kind
                    continue
                if nxt.kind in (_HALF, _QUARTER):
                    return float(nxt.value), index + 2
                break

            if kind == _UNIT:
                if number == 0:
                    if consumed:
                        break
                    consumed, index, last_kind = 1, index + 1, kind
                    break  # zero stands alone (but may take a decimal part below)
                if sub_kind == "dix":
                    if number < 7:
                        break
                elif not (sub == 0 or (sub_kind == _TENS and sub % 10 == 0)):
                    break
                sub += number
                sub_kind = _UNIT
            elif kind == _TEEN:
                if self.french and sub_kind == _TENS and sub in (60, 80):
                    sub += number
                elif sub != 0:
                    break
                else:
                    sub = number
                sub_kind = "dix" if (self.french and number == 10) else _TEEN
            elif kind == _TENS:
                if sub != 0:
                    break
                sub = number
                sub_kind = _TENS
            elif kind == _HUNDRED:
                if hundreds:
                    break
                if sub == 0:
                    if not (self.french or article):
                        break
                    hundreds = 100
                elif self.french and sub >= 10:
                    break
                else:
                    hundreds = sub * 100
                sub, sub_kind = 0, None
            elif kind == _SCALE:
                if number >= last_scale:
                    break
                group = hundreds + sub
                if group == 0:
                    if not (article or (self.french and number == 1000)):
                        break
                    group = 1
                total += group * number
                hundreds, sub, sub_kind = 0, 0, None
                last_scale = number
            elif kind == _AND:
                nxt = self._peek(index + 1)
                if consumed == 0 or nxt is None:
                    break
                if self.french:
                    if nxt.kind in (_HALF, _QUARTER) and nxt.word != "quarts":
                        return float(value()) + float(nxt.value), index + 2
                    if sub_kind == _TENS and nxt.word in ("un", "une", "onze"):
                        consumed += 1
                        index += 1
                        last_kind = kind
                        continue
                    break
                after = self._peek(index + 2)
                if nxt.kind == _ARTICLE and after is not None and after.kind in (_HALF, _QUARTER):
                    return float(value()) + float(after.value), index + 3
                if last_kind in (_HUNDRED, _SCALE) and nxt.kind in (_UNIT, _TEEN, _TENS):
                    if nxt.kind == _UNIT and nxt.value == 0:
                        break
                    consumed += 1
                    index += 1
                    last_kind = kind
                    continue
                break
            elif kind == _HALF:
                # "one half" / "un demi"
                if consumed == 1 and value() == 1 and last_kind == _UNIT:
                    return 0.5, index + 1
                break
            elif kind == _QUARTER:
                # "three quarters", "un quart", "one quarter"
                if consumed == 1 and last_kind == _UNIT and 1 <= value() <= 3:
                    return value() * 0.25, index + 1
                break
            elif kind == _POINT:
                break
            else:  # negative: handled by the callers
                break

            consumed += 1
            index += 1
            last_kind = kind

        if consumed == 0 or last_kind in (_ARTICLE, _AND):
            return None

        # Decimal part: "two point five", "deux virgule cinq", "three point one four".
        point = self._peek(index)
        if point is not None and point.kind == _POINT:
            digits = []
            cursor = index + 1
            while (digit := self._peek(cursor)) is not None and digit.kind == _UNIT:
                digits.append(str(int(digit.value)))
                cursor += 1
            if digits:
                return float(f"{value()}.{''.join(digits)}"), cursor
        return value(), index


def words_to_number(text: str, language: str) -> float | None:
    """The number that ``text`` spells out entirely, or None.

    "twenty three" -> 23, "one hundred and five" -> 105, "a half" -> 0.5, "two point five" -> 2.5,
    "quatre-vingt-dix-sept" -> 97, "minus five" -> -5, "12" -> 12, "2,5" -> 2.5. Integral values come
    back as ``int``. Unknown language -> None (only digit literals are understood).
    """
    stripped = text.strip().rstrip(".!?")
    if _NUMBER_LITERAL_RE.fullmatch(stripped):
        return _result(float(stripped.replace(",", ".")))

    vocab = _vocab(language)
    if vocab is None:
        return None
    french = vocab is _FR_VOCAB
    tokens = _tokenize(stripped, vocab, french)
    if not tokens:
        return None
    sign = 1
    start = 0
    if tokens[0].kind == _NEGATIVE and len(tokens) > 1:
        sign, start = -1, 1
        tokens[1].joined = False  # parse from there as a fresh start
    parsed = _Parser(tokens, french).parse(start)
    if parsed is None:
        return None
    value, end = parsed
    if end != len(tokens):
        return None
    return _result(sign * value)


def _format(value: Number) -> str:
    value = _result(value)
    return str(value) if isinstance(value, int) else repr(value)


def normalize_numbers(text: str, language: str) -> str:
    """Replace the spoken numbers in ``text`` by digits; the rest is kept as it is.

    "twenty three times four" -> "23 times 4"; "vingt-trois fois quatre" -> "23 fois 4";
    "set a timer for one and a half hours" -> "set a timer for 1.5 hours".
    "negative five" -> "-5" (EN); "minus"/"moins" stay words: they are operators in arithmetic.
    Unknown language -> text unchanged.
    """
    vocab = _vocab(language)
    if vocab is None or not text:
        return text
    french = vocab is _FR_VOCAB
    tokens = _tokenize(text, vocab, french)
    parser = _Parser(tokens, french)

    pieces: list[str] = []
    cursor = 0  # position in text already copied
    index = 0
    while index < len(tokens):
        token = tokens[index]
        negative = token.word == "negative" and index + 1 < len(tokens) and tokens[index + 1].joined
        start_index = index
        parsed = parser.parse(index + 1 if negative else index)
        if parsed is None:
            index += 1
            continue
        value, end = parsed
        lone = end == start_index + 1
        if lone and french and token.word in ("un", "une"):
            index += 1  # a lone French article, not a number
            continue
        pieces.append(text[cursor : tokens[start_index].start])
        pieces.append(_format(-value if negative else value))
        cursor = tokens[end - 1].end
        index = end
    pieces.append(text[cursor:])
    return "".join(pieces)
