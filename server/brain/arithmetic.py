"""Words and symbols to a calculator expression: "23 times 4", « racine carrée de 16 ».

:func:`to_arithmetic` parses the spoken form into an expression for the safe evaluator
(:func:`jarvis.server.brain.calculator.evaluate`) and the words to say it back with.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from .intent_text import strip_accents_same_length
from .numbers import words_to_number
from .speech import speak_number

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
    (("per", "cent", "on"), "/100*"),
    (("percent", "on"), "/100*"),
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
    (("multiplies", "par"), "*"),
    (("multipliee", "par"), "*"),
    (("multipliees", "par"), "*"),
    (("divise", "par"), "/"),
    (("divises", "par"), "/"),
    (("divisee", "par"), "/"),
    (("divisees", "par"), "/"),
    (("pour", "cent", "de"), "/100*"),
    (("pourcent", "de"), "/100*"),
    (("pour", "cent", "sur"), "/100*"),
    (("pourcent", "sur"), "/100*"),
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
_FILLERS = {
    "en": {"the", "and", "is", "equals", "equal", "to", "please", "thanks"},
    "fr": {"la", "le", "et", "egale", "merci", "stp", "svp", "s'il", "te", "vous", "plait"},
}


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
        (re.compile(r"^\s*take (?!away\b)(.+?) (?:away )?from (.+)$", re.I), r"\2 minus \1"),
        # "the square of 7" -> "7 squared", "the cube of 3" -> "3 cubed"
        (re.compile(r"^\s*(?:the )?square of (.+)$", re.I), r"\1 squared"),
        (re.compile(r"^\s*(?:the )?cube of (.+)$", re.I), r"\1 cubed"),
        # "square 9" -> "9 squared", but "square root of 144" is a root
        (re.compile(r"^\s*(?:square|squared) (?!roots?\b)(.+)$", re.I), r"\1 squared"),
        # "2 to the 10th power", "2 to the 10th" -> "2 to the power of 10"
        (re.compile(r"\bto the (\d+)(?:st|nd|rd|th)(?: power)?\b", re.I), r"to the power of \1"),
        # "3 quarters of 80" -> "3 / 4 times 80", "2 thirds of 90" -> "2 / 3 times 90"
        (re.compile(r"^\s*(\d+) quarters? of (.+)$", re.I), r"\1 / 4 times \2"),
        (re.compile(r"^\s*(\d+) thirds? of (.+)$", re.I), r"\1 / 3 times \2"),
        # "3/4 of 100" -> "3/4 times 100"
        (re.compile(r"^\s*(\d+)\s*/\s*(\d+) of (.+)$", re.I), r"\1 / \2 times \3"),
        # "half of 64" -> "64 divided by 2"; "twice 21" -> "21 times 2"
        (re.compile(r"^\s*(?:a |one )?half (?:of )?(.+)$", re.I), r"\1 divided by 2"),
        (re.compile(r"^\s*(?:a|one) third of (.+)$", re.I), r"\1 divided by 3"),
        (re.compile(r"^\s*(?:a|one) quarter of (.+)$", re.I), r"\1 divided by 4"),
        (re.compile(r"^\s*(?:double|twice) (.+)$", re.I), r"\1 times 2"),
        # "20% off 150" (a discount) -> "150 minus 20 percent of 150"
        (re.compile(r"^\s*(.+?)\s*(?:%|\bper ?cent\b)\s+off\s+(.+)$", re.I), r"\2 minus \1 percent of \2"),
    ],
    "fr": [
        (re.compile(r"^\s*divis(?:e|ez|er) (.+?) par (.+)$", re.I), r"\1 divisé par \2"),
        (re.compile(r"^\s*multipli(?:e|ez|er) (.+?) par (.+)$", re.I), r"\1 fois \2"),
        (
            re.compile(r"^\s*(?:additionn(?:e|ez|er)|ajout(?:e|ez|er)) (.+?) (?:et|à) (.+)$", re.I),
            r"\1 plus \2",
        ),
        (re.compile(r"^\s*soustra(?:is|yez|ire) (.+?) de (.+)$", re.I), r"\2 moins \1"),
        (
            re.compile(r"^\s*(?:enl[eè]ve|enlevez|retire|retirez|[oô]te) (.+?) (?:de|à) (.+)$", re.I),
            r"\2 moins \1",
        ),
        # « le carré de 7 » -> « 7 au carré »
        (re.compile(r"^\s*(?:le )?carr[ée] de (.+)$", re.I), r"\1 au carré"),
        (re.compile(r"^\s*(?:le )?cube de (.+)$", re.I), r"\1 au cube"),
        # « la moitié de 64 » -> « 64 divisé par 2 », « le double de 21 » -> « 21 fois 2 »
        (re.compile(r"^\s*(?:la )?moiti[ée] de (.+)$", re.I), r"\1 divisé par 2"),
        (re.compile(r"^\s*(?:le )?tiers de (.+)$", re.I), r"\1 divisé par 3"),
        (re.compile(r"^\s*(?:le )?quart de (.+)$", re.I), r"\1 divisé par 4"),
        (re.compile(r"^\s*(?:le )?double de (.+)$", re.I), r"\1 fois 2"),
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
    tokens = _EXPR_TOKEN.findall(strip_accents_same_length(text).casefold())
    leftover = _EXPR_TOKEN.sub("", strip_accents_same_length(text).casefold())
    if re.search(r"[^\s?!.,:;=]", leftover):
        return None  # symbols we do not know (e.g. "&", "$")
    expression: list[str] = []
    spoken: list[str] = []
    pending_sqrt = 0
    operators = 0
    numbers = 0
    index = 0
    after_value = False  # the last token ends a value (a number, ")", "percent", "squared")

    def add_operand(python: str, words: str) -> bool:
        nonlocal pending_sqrt, numbers, after_value
        if after_value:
            return False  # "2 plus 3 4", "20 percent 150": two numbers side by side are no arithmetic
        after_value = True
        expression.append(python)
        spoken.append(words)
        numbers += 1
        if pending_sqrt:
            expression.append(")" * pending_sqrt)
            pending_sqrt = 0
        return True

    while index < len(tokens):
        token = tokens[index]
        if token[0].isdigit():
            value = _parse_number(token, lang)
            if value is None:
                return None
            if not add_operand(
                repr(value) if isinstance(value, float) else str(value), speak_number(value, lang)
            ):
                return None
            index += 1
            continue
        if token in _SYMBOLS:
            symbol = _SYMBOLS[token]
            expression.append(symbol)
            after_value = symbol == ")"
            if symbol not in "()":
                spoken.append(spoken_ops[symbol])
                operators += 1
            index += 1
            continue
        if token == "%":
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            # A spoken "%" is always a percentage, never modulo ("mod" and "modulo" are said).
            if following in ("of", "on", "de", "sur"):
                symbol, index = "/100*", index + 2
            elif following is None or following in ")":
                symbol, index = "/100", index + 1
            else:
                return None
            expression.append(symbol)
            spoken.append(spoken_ops[symbol])
            operators += 1
            after_value = symbol == "/100"
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
                if not add_operand("pi", "pi"):
                    return None
            else:
                expression.append(symbol)
                spoken.append(spoken_ops[symbol])
                operators += 1
                after_value = symbol in ("/100", "**2", "**3", ")")
            continue
        number = words_to_number(token, lang)
        if number is not None:
            if not add_operand(str(number), speak_number(number, lang)):
                return None
            index += 1
            continue
        if token in fillers:
            index += 1
            continue
        return None
    if pending_sqrt or not numbers or not operators or _stacked_operators(expression):
        return None
    return Arithmetic("".join(expression), " ".join(spoken))


_BINARY = frozenset({"+", "-", "*", "/", "**", "%", "/100*"})


def _stacked_operators(expression: list[str]) -> bool:
    """Two operators in a row where the second is not a minus sign: "9 minus plus 6" is what an
    STT runner-up made of "9 plus 6", not arithmetic ("6 times minus 2" is)."""
    return any(a in _BINARY and b in _BINARY and b != "-" for a, b in itertools.pairwise(expression))
