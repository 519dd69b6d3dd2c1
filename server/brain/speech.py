"""Spoken output of the local intents: times, dates, durations and numbers, in English and French."""

from __future__ import annotations

import math
from datetime import datetime

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


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]
