"""Word error rate, for the STT benchmark and the tests: how far a transcript is from what was said."""

from __future__ import annotations

import re
import unicodedata

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """0..999_999_999 as English words: 42 -> "forty two", 1300 -> "one thousand three hundred"."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            high, rest = divmod(n, size)
            return number_words(high) + " " + name + ("" if rest == 0 else " " + number_words(rest))
    raise AssertionError("unreachable")


def _expand_number(match: re.Match[str]) -> str:
    token = match.group(0)
    if ":" in token:  # 7:30 -> seven thirty, 7:05 -> seven oh five, 7:00 -> seven
        hours, minutes = token.split(":")
        words = number_words(int(hours))
        if int(minutes) == 0:
            return words
        if minutes.startswith("0"):
            return f"{words} oh {number_words(int(minutes))}"
        return f"{words} {number_words(int(minutes))}"
    if "." in token:  # 3.5 -> three point five
        whole, frac = token.split(".")
        return number_words(int(whole)) + " point " + " ".join(_ONES[int(d)] for d in frac)
    return number_words(int(token.replace(",", "")))


def normalize(text: str) -> list[str]:
    """Lower-case words without punctuation; digits spelled out ("4" -> "four")."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("%", " percent ")
    text = re.sub(r"\d{1,2}:\d{2}|\d+(?:,\d{3})+|\d+\.\d+|\d+", _expand_number, text)
    text = re.sub(r"[-–—/]", " ", text)
    text = re.sub(r"[^\w\s]", "", text)
    return text.split()


def wer(ref: str, hyp: str) -> float:
    """Word error rate of ``hyp`` against ``ref``: (substitutions + deletions + insertions) / len(ref).

    Both are normalised first (lower case, no punctuation, numbers as words). An empty reference
    gives 0.0 for an empty hypothesis and 1.0 otherwise.
    """
    r, h = normalize(ref), normalize(hyp)
    if not r:
        return 0.0 if not h else 1.0
    prev = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        cur = [i] + [0] * len(h)
        for j, hw in enumerate(h, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rw != hw))
        prev = cur
    return prev[-1] / len(r)
