"""Jarvis's persona, the system prompt, and the few fixed sentences the brain speaks (EN/FR)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime

from .memory import Fact, Profile

PERSONA = (
    "You are Jarvis, a friendly, concise voice assistant running privately in the user's home. "
    "Your answers are spoken aloud by a text-to-speech voice: answer in one to three short sentences, "
    "plain words, no lists, no markdown, no emojis, no URLs. Answer in the language the user speaks. "
    "Use the tools when they help (time, date, arithmetic, timers, remembering facts) instead of guessing, "
    "and never invent tool results."
)

RULES = (
    "Privacy rules: you only know about the CURRENT user, whose profile and memory are below. "
    "You know nothing about any other person in the household. If asked about someone else's name, "
    "age, interests, preferences or anything they said, answer that you do not know (for example "
    '"I don\'t know."); never guess and never say you lack access. '
    "Only store a fact with the remember tool when the user asks you to remember something."
)

FIXED: dict[str, dict[str, str]] = {
    "need_llm": {
        "en": "I need a language model for that.",
        "fr": "J'ai besoin d'un modèle de langage pour ça.",
    },
    "confirm": {
        "en": "Are you sure you want me to {action}?",
        "fr": "Êtes-vous sûr de vouloir que je fasse ceci : {action} ?",
    },
    "confirm_done": {"en": "Done.", "fr": "C'est fait."},
    "confirm_dropped": {"en": "Okay, I won't.", "fr": "D'accord, je ne le fais pas."},
    "confirm_expired": {
        "en": "That request expired, please ask again.",
        "fr": "Cette demande a expiré, redemandez-moi.",
    },
    "tool_failed": {"en": "Sorry, that did not work: {error}", "fr": "Désolé, ça n'a pas marché : {error}"},
    "gave_up": {
        "en": "Sorry, I could not finish that.",
        "fr": "Désolé, je n'ai pas pu terminer.",
    },
    "llm_failed": {
        "en": "Sorry, my language model is not answering right now.",
        "fr": "Désolé, mon modèle de langage ne répond pas pour le moment.",
    },
    "intro_question": {
        "en": "By the way, I don't know you yet: tell me your name, your age, what you are interested "
        "in and what matters to you.",
        "fr": "Au fait, je ne vous connais pas encore : dites-moi votre prénom, votre âge, ce qui vous "
        "intéresse et ce qui compte pour vous.",
    },
    "greeting": {"en": "Hello! I'm Jarvis.", "fr": "Bonjour ! Je suis Jarvis."},
    "nice_to_meet": {
        "en": "Nice to meet you, {name}! I'll remember that.",
        "fr": "Enchanté, {name} ! Je m'en souviendrai.",
    },
    "noted": {"en": "Thanks, I'll remember that.", "fr": "Merci, je m'en souviendrai."},
}


def lang_of(language: str | None) -> str:
    """``fr``, ``fr-FR``, ``fr_CA`` -> ``fr``; anything not French -> ``en``."""
    return "fr" if (language or "").lower().startswith("fr") else "en"


def say(key: str, language: str | None, **fields: str) -> str:
    return FIXED[key][lang_of(language)].format(**fields)


def _profile_lines(profile: Profile) -> list[str]:
    labels = {
        "name": "Name",
        "age": "Age",
        "interests": "Interests",
        "what_matters": "What matters to them",
        "notes": "Notes",
    }
    return [f"- {label}: {value}" for key, label in labels.items() if (value := getattr(profile, key))]


def system_prompt(
    profile: Profile,
    summary: str | None,
    facts: Sequence[Fact],
    tool_lines: Sequence[str],
    now: datetime,
    area: str | None = None,
) -> str:
    """Persona + rules + THIS user's static profile, dynamic memory and facts + the tool list."""
    parts = [PERSONA, RULES, f"Current local time: {now.strftime('%A %d %B %Y, %H:%M')} ({now.tzname()})."]
    if area:
        parts.append(f"The user is speaking from the {area}.")
    profile_lines = _profile_lines(profile)
    parts.append(
        "About the current user:\n" + "\n".join(profile_lines)
        if profile_lines
        else "About the current user: nothing known yet."
    )
    if summary:
        parts.append("What you have learned about the current user's interests and preferences:\n" + summary)
    if facts:
        parts.append(
            "Facts the current user asked you to remember:\n" + "\n".join(f"- {f.fact}" for f in facts)
        )
    if tool_lines:
        parts.append("Tools you can call:\n" + "\n".join(f"- {line}" for line in tool_lines))
    return "\n\n".join(parts)


SUMMARY_PROMPT = (
    "You maintain a short memory of one user of a voice assistant. Given the previous summary and the "
    "user's recent requests, rewrite the summary of the user's current interests and preferences in at "
    "most five short sentences. Keep what is still true, drop what is outdated, invent nothing. Reply "
    "with the summary only."
)

PROFILE_PROMPT = (
    "Extract the speaker's self-introduction as JSON with the keys name, age, interests, what_matters "
    "(strings, or null when not said). Reply with the JSON object only."
)


# -- yes / no ---------------------------------------------------------------------------------------

_YES = {
    "yes",
    "yeah",
    "yep",
    "yup",
    "sure",
    "do it",
    "confirm",
    "confirmed",
    "go ahead",
    "yes please",
    "of course",
    "ok do it",
    "okay do it",
    "oui",
    "vas-y",
    "vas y",
    "ouais",
    "confirme",
    "je confirme",
    "oui vas-y",
    "fais-le",
    "fais le",
    "bien sûr",
    "bien sur",
    "d'accord",
}
_NO = {
    "no",
    "nope",
    "cancel",
    "don't",
    "do not",
    "stop",
    "never mind",
    "no thanks",
    "no thank you",
    "non",
    "annule",
    "annuler",
    "non merci",
    "laisse tomber",
    "surtout pas",
}


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower().replace("’", "'")
    text = re.sub(r"[^\w' -]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def yes_no(text: str) -> bool | None:
    """True for a clear yes, False for a clear no (EN/FR), None for anything else."""
    norm = _norm(text)
    if norm in _YES:
        return True
    if norm in _NO:
        return False
    # "yes, do it" / "no, cancel": every comma-separated part agrees
    parts = [p.strip() for p in re.split(r"[,.!]", text.lower()) if p.strip()]
    if len(parts) > 1:
        answers = {yes_no(p) for p in parts}
        if answers in ({True}, {False}):
            return answers.pop()
    return None


# -- self-introduction without an LLM ----------------------------------------------------------------

_NAME_RES = [
    re.compile(r"\bmy name is ([A-Z\u00C0-\u024F][\w'-]*(?: [A-Z\u00C0-\u024F][\w'-]*)?)", re.I),
    re.compile(r"\b(?:call me|i'm|i am) ([A-Z\u00C0-\u024F][\w'-]*)\b"),
    re.compile(r"\bje m'appelle ([\w\u00C0-\u024F'-]+(?: [A-Z\u00C0-\u024F][\w'-]*)?)", re.I),
    re.compile(r"\bmon (?:pr[ée]nom|nom) (?:est|c'est) ([\w\u00C0-\u024F'-]+)", re.I),
    re.compile(r"\b(?:appelle-moi|je suis) ([A-Z\u00C0-\u024F][\w'-]*)\b"),
]
_AGE_RES = [
    re.compile(r"\b(?:i am|i'm) (\d{1,3})(?: years old)?\b", re.I),
    re.compile(r"\b(\d{1,3}) years old\b", re.I),
    re.compile(r"\bj'ai (\d{1,3}) ans\b", re.I),
]
_INTEREST_RES = [
    re.compile(r"\bi(?: really)? (?:like|love|enjoy|am interested in|'m interested in) ([^.;!?]+)", re.I),
    re.compile(r"\bj'(?:aime|adore) ([^.;!?]+)", re.I),
    re.compile(r"\bje m'intéresse (?:à|au|aux) ([^.;!?]+)", re.I),
]
_MATTERS_RES = [
    re.compile(r"\b(?:what matters to me is|what matters is|i care about) ([^.;!?]+)", re.I),
    re.compile(r"\b(?:ce qui compte pour moi,? c'est|ce qui compte,? c'est|je tiens à) ([^.;!?]+)", re.I),
]
_NOT_NAMES = {"not", "a", "an", "the", "here", "fine", "good", "ok", "okay", "sorry", "just", "very", "so"}


def _first(patterns: Sequence[re.Pattern[str]], text: str) -> str | None:
    for pattern in patterns:
        if m := pattern.search(text):
            return m.group(1).strip(" ,")
    return None


def parse_introduction(text: str) -> dict[str, str]:
    """Pull name/age/interests/what matters out of "my name is Ann, I'm 34 and I like chess" (EN/FR)."""
    found: dict[str, str] = {}
    name = _first(_NAME_RES, text)
    if name and name.lower() not in _NOT_NAMES and not name.isdigit():
        found["name"] = name[:1].upper() + name[1:]
    if age := _first(_AGE_RES, text):
        found["age"] = age
    if interests := _first(_INTEREST_RES, text):
        found["interests"] = re.split(r"\b(?:and what matters|and i care|et ce qui compte)\b", interests)[
            0
        ].strip(" ,")
    if matters := _first(_MATTERS_RES, text):
        found["what_matters"] = matters
    return found
