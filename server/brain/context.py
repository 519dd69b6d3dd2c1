"""What the brain knows about the turn it is answering."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from wyoming.event import Event


@dataclass(frozen=True)
class TurnContext:
    """One user turn. Built by the handle service from the Wyoming ``transcript`` and its ``context``."""

    text: str
    language: str = "en"
    user_id: str = "default"
    """Whose memory is used. Never mix users."""
    conversation_id: str = "default"
    """Key of the conversation history (HA's conversation_id, or the hub's per-session id)."""
    satellite_id: str | None = None
    """Where the turn was spoken; timers ring there."""
    area: str | None = None
    tz: tzinfo | None = None
    """The user's timezone (None = the server's local timezone)."""
    alternatives: tuple[str, ...] = ()
    """The STT's runners-up for ``text`` (best first): tried for a local intent only when ``text``
    itself is none (docs/stt.md, "Runners-up"). Never shown to the LLM."""

    def now(self) -> datetime:
        return datetime.now(self.tz) if self.tz else datetime.now().astimezone()


@dataclass
class Reply:
    """What a fast path (intent) or a tool produces: words to speak and events for the hub."""

    speech: str
    events: list[Event] = field(default_factory=list)
    """Extra Wyoming events to send before the answer, e.g. ``timer-started``."""
