"""The events of the semantic early endpoint (docs/hub.md, "Endpointing").

While a person speaks, the hub wants to know whether what they said so far is already a complete
command, to end the turn after a short silence instead of the usual one:

- STT -> hub: ``jarvis-stt-hypothesis``: the text of the latest decode of the utterance so far
  (unlike ``transcript-chunk``, not only the words two decodes agreed on) and how much audio it
  covers. Sent only to a client that asked for it in ``transcribe``'s context
  (``{"jarvis_hypotheses": true}``); the STT says it will in ``transcript-start``'s context.
- hub -> brain: ``jarvis-intent-probe``: "is this text a complete local command?". The brain answers
  ``jarvis-intent-verdict`` from its intent parser alone: nothing is executed, no timer started,
  no memory written. Only a connection that opened with ``jarvis-peer-auth`` may ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wyoming.event import Event, Eventable

_HYPOTHESIS_TYPE = "jarvis-stt-hypothesis"
_PROBE_TYPE = "jarvis-intent-probe"
_VERDICT_TYPE = "jarvis-intent-verdict"

HYPOTHESES_KEY = "jarvis_hypotheses"
"""In ``transcribe``'s context (client asks) and ``transcript-start``'s context (STT will send)."""

COMPLETE = "complete"
"""A local command with every slot it needs ("what time is it", "set a timer for 10 minutes")."""
INCOMPLETE = "incomplete"
"""Obviously unfinished: it ends on a dangling word ("set a timer for", "… et") or asks for a
timer without a number ("set a timer"), or is an arithmetic question that is only a number so
far ("what is twenty")."""
UNKNOWN = "unknown"
"""Neither (anything for the LLM, or a command we cannot judge)."""
VERDICTS = (COMPLETE, INCOMPLETE, UNKNOWN)


@dataclass
class SttHypothesis(Eventable):
    """STT -> hub, while audio arrives: the latest decode of the utterance so far."""

    text: str
    audio_ms: int
    """Milliseconds of the utterance's audio (from its ``audio-start``) the decode covers."""
    language: str | None = None

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == _HYPOTHESIS_TYPE

    def event(self) -> Event:
        data: dict[str, Any] = {"text": self.text, "audio_ms": self.audio_ms}
        if self.language is not None:
            data["language"] = self.language
        return Event(type=_HYPOTHESIS_TYPE, data=data)

    @staticmethod
    def from_event(event: Event) -> SttHypothesis:
        data = event.data or {}
        audio_ms = data.get("audio_ms")
        language = data.get("language")
        return SttHypothesis(
            text=str(data.get("text") or ""),
            audio_ms=int(audio_ms)
            if isinstance(audio_ms, int | float) and not isinstance(audio_ms, bool)
            else 0,
            language=language if isinstance(language, str) else None,
        )


@dataclass
class IntentProbe(Eventable):
    """Hub -> brain (peer-authenticated connection): is ``text`` a complete local command?"""

    text: str
    """The partial transcript, as the STT wrote it (wake phrase included)."""
    language: str | None = None

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == _PROBE_TYPE

    def event(self) -> Event:
        data: dict[str, Any] = {"text": self.text}
        if self.language is not None:
            data["language"] = self.language
        return Event(type=_PROBE_TYPE, data=data)

    @staticmethod
    def from_event(event: Event) -> IntentProbe:
        data = event.data or {}
        language = data.get("language")
        return IntentProbe(
            text=str(data.get("text") or ""), language=language if isinstance(language, str) else None
        )


@dataclass
class IntentVerdict(Eventable):
    """Brain -> hub: the answer to ``jarvis-intent-probe`` (nothing was executed)."""

    verdict: str
    """``complete``, ``incomplete`` or ``unknown``; the hub treats any other value as ``unknown``."""
    intent: str | None = None
    """The local intent a ``complete`` text parses as (e.g. ``JarvisGetTime``)."""

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == _VERDICT_TYPE

    def event(self) -> Event:
        data: dict[str, Any] = {"verdict": self.verdict}
        if self.intent is not None:
            data["intent"] = self.intent
        return Event(type=_VERDICT_TYPE, data=data)

    @staticmethod
    def from_event(event: Event) -> IntentVerdict:
        data = event.data or {}
        verdict = data.get("verdict")
        intent = data.get("intent")
        return IntentVerdict(
            verdict=verdict if isinstance(verdict, str) else UNKNOWN,
            intent=intent if isinstance(intent, str) else None,
        )
