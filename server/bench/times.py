"""``jarvis bench times``: does the STT hear the time Jarvis speaks? With and without speaking clock times.

The brain answers "what time is it?" with text such as "It's 12:48 AM.". espeak, which gives piper
its phonemes, reads that as "twelve forty-eight A M" and "1:05 AM" as "one zero five A M"; the TTS
service rewrites English clock times first (:func:`jarvis.server.tts.text.speak_clock_times`:
"twelve forty-eight in the morning", "one oh five in the morning").

For the time intent's answer at every ``--step`` minutes of a day, this synthesizes both forms with
the TTS engine (the voice's own noise, as served) and transcribes them with the STT engine (its
served decoding settings), then reads the transcript back as numbers and a part of the day
(:func:`read_spoken_time`). An answer is heard right when the numbers and the part of the day are
exactly the ones said. Figures go to the ``times`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
from datetime import datetime, timedelta

from .report import markdown_table, write_section

_LOGGER = logging.getLogger(__name__)

#: Words tiny.en writes for the numbers of a spoken time, near-homophones included ("for" 4,
#: "to" 2, "by" 5: it wrote "It's by 14 in the morning" for "five fourteen").
_SPOKEN_NUMBERS = {
    "oh": 0, "o": 0, "zero": 0, "one": 1, "won": 1, "two": 2, "to": 2, "too": 2, "three": 3,
    "four": 4, "for": 4, "five": 5, "by": 5, "six": 6, "seven": 7, "eight": 8, "ate": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50,
}  # fmt: skip
_PARTS_OF_DAY = ("am", "pm", "morning", "afternoon", "evening", "night", "noon", "midnight")
_MERIDIEM_RE = re.compile(r"\b([ap])\.?\s?m\b\.?")


def _number(token: str) -> int | None:
    """The number a token of a transcript stands for ("12", "twelve", "for"); None for a word."""
    return int(token) if token.isdigit() else _SPOKEN_NUMBERS.get(token)


def read_spoken_time(text: str) -> tuple[str, str] | None:
    """("1248", "morning") for "It's 12:48 in the morning" / "It's twelve forty-eight in the
    morning" / "It's 1248 in the morning"; ("105", "am") for "It's 1:05 a.m."; ("", "noon") for
    "It's noon"; None without a part of the day (or AM/PM), or with a word between "it's" and it
    that is no number ("It's 12 aching in the morning").

    The digits are the numbers said between "it's" and the part of the day, in order, tens and units
    words joined ("forty eight" -> 48), separators dropped ("12.48", "12-48", "12:48" -> "1248").
    Words before the first number are the subject ("it's", or what the STT made of it: "at 645 in
    the morning"); up to three words right before the part of the day are its preposition, whatever
    the STT made of it ("in the", "at", "that", "in need", "and then the").
    """
    lowered = text.lower().replace("it is", "it's").replace("o'clock", "oh")  # "12 o'clock 9"
    lowered = lowered[lowered.index("it's") + 4 :] if "it's" in lowered else lowered
    lowered = _MERIDIEM_RE.sub(r" \1m ", lowered)  # "8am", "8 a.m." -> "8 am"
    tokens = re.findall(r"\d+|[a-z]+", lowered)
    at = next((i for i, token in enumerate(tokens) if token in _PARTS_OF_DAY), None)
    if at is None:
        return None
    head = tokens[:at]
    while head and _number(head[0]) is None:
        head.pop(0)  # what the STT made of "it's": "at 645 in the morning"
    for _ in range(3):
        if head and _number(head[-1]) is None:
            head.pop()
    numbers: list[str] = []
    for token in head:
        value = _number(token)
        if value is None:
            return None  # a word that is no number: not a clean reading of a time
        unit = 0 < value < 10 and (len(token) == 1 or not token.isdigit())
        if numbers and unit and numbers[-1] in ("20", "30", "40", "50"):
            numbers[-1] = str(int(numbers[-1]) + value)  # "forty eight", "20-8" -> 48, 28
        else:
            numbers.append(token if token.isdigit() else str(value))
    return "".join(numbers), tokens[at]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--step", type=int, default=7,
        help="minutes between answers (default 7: 206 answers, every minute value 0..59 among them)",
    )  # fmt: skip
    parser.add_argument(
        "--beam-size", type=int, default=None, help="STT beam size (default: the service's, 1)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")


async def run(args: argparse.Namespace) -> int:
    from jarvis.protocol.audio import convert
    from jarvis.server.brain.speech import speak_time
    from jarvis.server.stt.engine import SttEngine, SttSettings
    from jarvis.server.tts.engine import PiperEngine
    from jarvis.server.tts.text import clean_for_speech, speak_clock_times

    if not 1 <= args.step <= 720:
        raise SystemExit("--step must be 1..720")
    if math.gcd(args.step, 60) != 1:
        _LOGGER.warning("--step %d visits only some minute values; 7 or 11 visit them all", args.step)
    tts = PiperEngine.load()
    beam = {} if args.beam_size is None else {"beam_size": args.beam_size}
    settings = SttSettings(workers=1, **beam)
    stt = SttEngine(settings)
    forms = {
        "as written (espeak reads it)": lambda text: text,
        "spoken (`speak_clock_times`)": speak_clock_times,
    }
    right = dict.fromkeys(forms, 0)
    misheard: dict[str, list[str]] = {form: [] for form in forms}
    total = 0
    try:
        day = datetime(2026, 1, 1)
        for minute in range(0, 24 * 60, args.step):
            answer = clean_for_speech(speak_time(day + timedelta(minutes=minute), "en"))
            total += 1
            for form, rewrite in forms.items():
                said = rewrite(answer)
                pcm = await tts.synthesize(said)
                heard = (await stt.transcribe(convert(pcm, tts.sample_rate, 2, 1), "en")).text
                ok = read_spoken_time(heard) == read_spoken_time(said)
                right[form] += ok
                if not ok:
                    misheard[form].append(f"{answer!r} heard as {heard!r}")
                _LOGGER.info("%-5s %r -> %r", "ok" if ok else "WRONG", said, heard)
    finally:
        await stt.close()
        tts.close()
    rows = [(form, f"{right[form]}/{total}", f"{right[form] / total:.1%}") for form in forms]
    table = markdown_table(["time answer", "heard exactly right", "share"], rows)
    examples = "".join(
        f"\n\nMisheard {form}:\n\n" + "\n".join(f"- {line}" for line in misheard[form][:8])
        for form in forms
        if misheard[form]
    )
    command = f"jarvis bench times --step {args.step}"
    if args.beam_size is not None:
        command += f" --beam-size {args.beam_size}"
    body = (
        "## Spoken clock times: does the STT hear the time Jarvis says?\n\n"
        f"`{command}`: the time intent's answer at {total} minutes of a day, synthesized by the TTS "
        "engine (bundled voice, its own noise) and transcribed by the STT engine (bundled tiny.en, "
        f"beam {settings.beam_size}); heard right = the same numbers and part of the day (or AM/PM) "
        "as said.\n\n"
        f"{table}{examples}\n"
    )
    print(body)
    if not args.no_write:
        write_section("times", body)
    return 0
