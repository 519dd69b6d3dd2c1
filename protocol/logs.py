"""What people say stays out of the logs unless asked for.

Transcripts and answers are private words: every turn used to be logged at INFO, so a default log file
held everything said in the house. Now they are logged at DEBUG (``--debug``), or at INFO when the
owner opts in with ``JARVIS_LOG_TRANSCRIPTS=1`` (docs/configuration.md).

- :func:`transcript_level` is the level for a line that is only about the words
  (``_LOGGER.log(transcript_level(), "heard %r", text)``).
- :func:`private` wraps the words in a line that also carries metrics worth INFO (latencies): the
  line stays at INFO, and the words show only when the opt-in is on or the logger is at DEBUG;
  otherwise ``<N chars>`` stands in for them.
"""

from __future__ import annotations

import logging
import os

ENV_VAR = "JARVIS_LOG_TRANSCRIPTS"


def log_transcripts() -> bool:
    """True when ``$JARVIS_LOG_TRANSCRIPTS`` opts in (``1``, ``true``, ``yes``, ``on``)."""
    return os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def transcript_level() -> int:
    """``logging.INFO`` when transcripts are opted in, else ``logging.DEBUG``."""
    return logging.INFO if log_transcripts() else logging.DEBUG


class _Hidden:
    """Stands in for hidden words: formats as ``<N chars>`` with ``%r`` and ``%s`` alike."""

    __slots__ = ("_size",)

    def __init__(self, size: int) -> None:
        self._size = size

    def __repr__(self) -> str:
        return f"<{self._size} chars>"

    __str__ = __repr__


def private(text: object, logger: logging.Logger) -> object:
    """``text`` for a log line's arguments when transcripts are opted in or ``logger`` is at DEBUG,
    else a ``<N chars>`` stand-in. Decided when called (the line is logged right after)."""
    if log_transcripts() or logger.isEnabledFor(logging.DEBUG):
        return text
    return _Hidden(len(str(text or "")))
