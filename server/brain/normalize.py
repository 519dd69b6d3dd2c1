"""One clean-up of the transcript, done once per turn before the prefilter, the intents and the LLM.

STT gets the whole utterance, the wake phrase included (whisper needs the words around the boundary
to hear the command's first word), so the transcript usually starts with it. Whisper spells it in
many ways: "Hey Jarvis,", "Hey, Jarvis!", "A Jarvis", "Jarvis.", "Hey Travis", "Hi Jervis", « Hé
Jarvis ». :func:`strip_wake_phrase` removes it from the start only:

- an optional greeting word (hey, hi, a, ok, okay, hé, eh, ...), then
- one word close to "jarvis" by edit distance, with the punctuation around them: at most 3 edits
  after a greeting ("Hey Travis", "Hi Jervis", "A Charvis"), at most 1 without one ("Jervis,
  set..."), so that a sentence that starts with a real name ("Davis called") keeps it; at most 1
  after any other short first word, which is how "hey" is often misheard ("They Jarvis", "Page
  Arvis" from flite voices, measured: see docs/intents.md).

Nothing else is removed: "a timer for ten minutes" and "hey, what time is it" keep their words,
because no Jarvis-like word follows the greeting; "Jarvis" later in a sentence stays.

:func:`strip_fillers` removes hesitations ("uh", "um", « euh ») that carry no meaning anywhere.
"""

from __future__ import annotations

import re
import unicodedata

from jarvis.protocol.language import base_language

WAKE_NAME = "jarvis"
GREETINGS = frozenset({"hey", "hi", "hay", "hei", "a", "ok", "okay", "o.k", "eh", "he", "hé", "yo", "oh"})
"""Words whisper writes in front of the name (the "hey" of "hey jarvis", or a stand-in for it)."""
NAME_DISTANCE_AFTER_GREETING = 3
"""Edits allowed between a heard word and "jarvis" after "hey" ("travis" is 3 edits, "service" 4)."""
SHORT_WORD = 5
"""Letters of a first word that may stand for a misheard "hey" when the name itself is clear."""
NAME_DISTANCE_ALONE = 1
"""Edits allowed for a first word with no greeting before it ("jervis" yes, "davis" no)."""
FILLERS = {
    "en": frozenset({"uh", "uhh", "um", "umm", "er", "erm", "hmm", "mm", "ah"}),
    "fr": frozenset({"euh", "heu", "hum", "bah", "ben", "hmm"}),
}

DISCOURSE_LEADS = {
    "en": frozenset(
        {
            "but",
            "and",
            "so",
            "okay",
            "ok",
            "well",
            "alright",
            "right",
            "now",
            "then",
            "oh",
            "please",
            "also",
            "actually",
            "anyway",
            "yeah",
            "yes",
        }
    ),
    "fr": frozenset(
        {
            "mais",
            "et",
            "alors",
            "bon",
            "donc",
            "ben",
            "bah",
            "puis",
            "oh",
            "ok",
            "okay",
            "sinon",
            "d'accord",
            "ah",
        }
    ),
}
"""Words a person starts a command with that change nothing in it ("but what time is it", « alors,
quelle heure est-il »): tried away only when the whole text matches no intent."""
MAX_DISCOURSE_LEAD = 3
_SENTENCE_END = re.compile(r"(?<=[.?!…])\s+")

_WORD = re.compile(r"[^\W_]+(?:['’.][^\W_]+)*", re.UNICODE)
_SEPARATORS = " \t,.;:!?-–—…\"'«»"


def _plain(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, stopping early once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def is_wake_name(word: str, max_distance: int = NAME_DISTANCE_ALONE) -> bool:
    """True for "Jarvis" and the spellings whisper makes of it ("Jervis"; "Travis" with distance 3)."""
    plain = _plain(word)
    plain = plain.removesuffix("'s").removesuffix("’s")
    if len(plain) < 5:
        return False  # "this", "vis", "jar": too short to be the name, too likely a real word
    return _distance(plain, WAKE_NAME, max_distance) <= max_distance


def strip_wake_phrase(text: str) -> str:
    """Remove a leading wake phrase ("Hey, Jarvis! what time is it" -> "what time is it")."""
    words = list(_WORD.finditer(text))
    if not words:
        return text
    name_index = None
    if is_wake_name(words[0].group()):
        name_index = 0
    elif len(words) > 1:
        first, second = _plain(words[0].group()), words[1].group()
        if first in GREETINGS and is_wake_name(second, NAME_DISTANCE_AFTER_GREETING):
            name_index = 1
        elif len(first) <= SHORT_WORD and is_wake_name(second):
            name_index = 1  # "They Jarvis", "Page Arvis": the "hey" misheard as a short word
    if name_index is None:
        return text
    rest = text[words[name_index].end() :]
    rest = rest.removeprefix("'s").removeprefix("’s")
    return rest.lstrip(_SEPARATORS)


# -- what is left of a garbled wake phrase ------------------------------------------------------

_SOUND_RULES = (
    (re.compile(r"dge|dg|ch|sh|tch|j|g(?=[eiy])|zh"), "j"),
    (re.compile(r"ph|[bpfv]"), "b"),
    (re.compile(r"th|[dt]"), "t"),
    (re.compile(r"ck|[cgkq]"), "k"),
    (re.compile(r"[szx]"), "s"),
    (re.compile(r"[lr]"), "r"),
    (re.compile(r"[mn]"), "n"),
    (re.compile(r"[^bjktsrn]"), ""),
)


def sound_key(text: str) -> str:
    """A coarse consonant skeleton: sound classes, vowels and h/w/y dropped, repeats merged.

    "hey jarvis" -> "jrbs"; "Each harvest" -> "jrbst"; "Hit Elvis" -> "trbs"; "HR this" -> "rts".
    """
    key = "".join(ch for ch in _plain(text) if ch.isalpha())
    for pattern, sound in _SOUND_RULES:
        key = pattern.sub(sound, key)
    return re.sub(r"(.)\1+", r"\1", key)


WAKE_KEY = sound_key("hey jarvis")
WAKE_LEAD_MAX_WORDS = 4
"""Words at most that a misheard "hey jarvis" becomes ("A jar of this", "Page R of this")."""
WAKE_LEAD_DISTANCE = 2
"""Edits allowed between the words' sound key and that of "hey jarvis" ("jrbs")."""


def wake_like_leads(text: str) -> list[str]:
    """What follows the first 1-4 words when those words sound like "hey jarvis", best first.

    For a transcript nothing else could be made of: whisper writes a wake phrase in an unfamiliar
    voice as "HR this", "Each harvest", "Hit Elvis", "A jar of this" (measured, docs/intents.md).
    The caller must still recognise what follows as a whole command: this only proposes.
    """
    words = list(_WORD.finditer(text))
    found: list[tuple[int, int, str]] = []
    for count in range(1, min(WAKE_LEAD_MAX_WORDS, len(words) - 1) + 1):
        lead = [w.group() for w in words[:count]]
        keys = [sound_key(" ".join(lead))]
        if count > 1 and len(_plain(lead[0])) <= SHORT_WORD:
            # "They jardins", "Hit all of us": a short word for "hey", whose own sounds ("th", "t")
            # the key of "hey" (nothing) does not have
            keys.append(sound_key(" ".join(lead[1:])))
        distance = min(
            (_distance(key, WAKE_KEY, WAKE_LEAD_DISTANCE) for key in keys if len(key) >= 2),
            default=WAKE_LEAD_DISTANCE + 1,
        )
        if distance <= WAKE_LEAD_DISTANCE:
            rest = text[words[count - 1].end() :].lstrip(_SEPARATORS)
            if rest:
                found.append((distance, count, rest))
    return [rest for _, _, rest in sorted(found)]


def sentences(text: str) -> list[str]:
    """``text`` cut after each ". ", "? ", "! " ("Is it? What day is today?"); "2.5" stays whole."""
    return [part for part in _SENTENCE_END.split(text.strip()) if part.strip(_SEPARATORS)]


def discourse_leads(
    text: str,
    language: str = "en",
    vocabulary: frozenset[str] = frozenset(),
    last_sentence: bool = True,
) -> list[str]:
    """Other readings of a transcript nothing matched, for the caller to try as whole commands:
    without a leading run of discourse words (:data:`DISCOURSE_LEADS`, "so, okay, what time is
    it"), and (``last_sentence``) its last sentence alone when it has several ("Is it? What day is
    today?"); the caller says whether an earlier sentence is a request of its own.

    "and" stays where "un" + the next word is in ``vocabulary``: "and pause the timer" is how
    whisper writes "unpause the timer", and dropping "and" would do the opposite."""
    lang = base_language(language)
    leads = DISCOURSE_LEADS.get(lang, frozenset()) | DISCOURSE_LEADS["en"]
    out: list[str] = []
    words = list(_WORD.finditer(text))
    count = 0
    while count < min(MAX_DISCOURSE_LEAD, len(words) - 1) and _plain(words[count].group()) in leads:
        if _plain(words[count].group()) == "and" and "un" + _plain(words[count + 1].group()) in vocabulary:
            break
        count += 1
    if count:
        rest = text[words[count - 1].end() :].lstrip(_SEPARATORS)
        if rest:
            out.append(rest)
    parts = sentences(text)
    if last_sentence and len(parts) > 1:
        out.append(parts[-1])
        out.extend(discourse_leads(parts[-1], lang, vocabulary)[:1])
    return out


def strip_fillers(text: str, language: str = "en") -> str:
    """Remove hesitation words ("uh, set a timer" -> "set a timer"), with the comma that follows."""
    lang = base_language(language)
    fillers = FILLERS.get(lang, frozenset()) | FILLERS["en"]
    out: list[str] = []
    last = 0
    for match in _WORD.finditer(text):
        word = match.group()
        before = text[: match.start()].rstrip()
        if word[:1].isupper() and before[-1:].isalnum():
            continue  # capitalized inside a clause: a name ("call me Ben", « appelle-moi Ben »)
        if _plain(word) in fillers:
            out.append(text[last : match.start()])
            last = match.end()
            while last < len(text) and text[last] in ",.…":
                last += 1
    out.append(text[last:])
    return " ".join("".join(out).split()).lstrip(_SEPARATORS)


def normalize_transcript(text: str, language: str = "en") -> str:
    """The transcript the brain works on: no wake phrase, no hesitations, single spaces.

    Returns the original text when cleaning would leave nothing (a bare "Hey Jarvis." stays as it is,
    for the prefilter and the agent to judge).
    """
    cleaned = strip_fillers(strip_wake_phrase(text.strip()), language)
    cleaned = strip_wake_phrase(cleaned)  # "uh, hey Jarvis, ..." puts the filler first
    return cleaned if cleaned.strip(_SEPARATORS) else text.strip()
