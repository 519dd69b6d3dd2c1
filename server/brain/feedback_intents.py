"""Voice feedback: "that was wrong" / « c'est faux » right after an answer marks it 👎.

A fast path (:class:`VoiceFeedback`), plugged in through ``start_brain(extra_fast_paths=...)``.
The rating goes to the brain's memory store (``record_feedback``), the same place the web page's
👎 goes when it matches a recorded turn.

Whose turn: only ``TurnContext.user_id``'s, which the brain sets from the authenticated hub peer
(an unauthenticated client is the default user); no client field names the turn or the user.
Which turn: that user's latest recorded turn, and only if it ended less than ``window_s`` seconds
ago (default 2 minutes) and was not itself a feedback phrase. Otherwise the utterance is not ours
and goes on to the agent like any other.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Callable

from .context import Reply, TurnContext
from .memory import MemoryError_, MemoryStore, MemoryWriteError

_LOGGER = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 120.0

#: The phrases, after :func:`_key` (lower case, no accents, no punctuation, one space).
NEGATIVE_PHRASES: dict[str, frozenset[str]] = {
    "en": frozenset(
        {
            "that was wrong",
            "that s wrong",
            "thats wrong",
            "that is wrong",
            "that s not right",
            "thats not right",
            "that is not right",
            "that wasn t right",
            "that was not right",
            "wrong answer",
        }
    ),
    "fr": frozenset(
        {
            "c est faux",
            "c etait faux",
            "c est pas ca",
            "ce n est pas ca",
            "c est pas juste",
            "ce n est pas juste",
            "mauvaise reponse",
        }
    ),
}

_ACK = {
    "en": "Noted, that answer was wrong.",
    "fr": "C'est noté, cette réponse était fausse.",
}

_FILLERS = ("jarvis", "hey", "no", "non", "nope", "hmm", "euh", "ok", "okay")


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    while words and words[0] in _FILLERS:  # "no, that's wrong", "jarvis, c'est faux"
        words.pop(0)
    while words and words[-1] in _FILLERS:
        words.pop()
    return " ".join(words)


def is_negative_feedback(text: str) -> bool:
    """Whether ``text`` is one of the "that was wrong" phrases, in either language."""
    key = _key(text)
    return any(key in phrases for phrases in NEGATIVE_PHRASES.values())


class VoiceFeedback:
    """The fast path: mark the user's previous turn 👎 and say so briefly, in the turn's language."""

    def __init__(
        self,
        memory: MemoryStore,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.memory = memory
        self.window_s = window_s
        self.clock = clock

    async def handle(self, ctx: TurnContext) -> Reply | None:
        if not is_negative_feedback(ctx.text):
            return None
        turns = await self.memory.recent_turns(ctx.user_id, None, limit=1)
        if not turns:
            return None
        turn = turns[-1]
        age = self.clock() - turn.created_at
        if age > self.window_s or age < -5 or is_negative_feedback(turn.user_text):
            return None  # nothing recent to mark: the agent answers it like any other utterance
        try:
            await self.memory.record_feedback(ctx.user_id, turn.id, -1, "voice")
        except (MemoryError_, MemoryWriteError) as err:
            _LOGGER.warning("Voice feedback on turn %s of %s not stored: %s", turn.id, ctx.user_id, err)
            return None
        _LOGGER.info("Voice feedback -1 on turn %s of user %s", turn.id, ctx.user_id)
        return Reply(_ACK.get(ctx.language, _ACK["en"]))
