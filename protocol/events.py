"""Jarvis's own Wyoming events (extensions). Everything else is plain Wyoming.

Each is a dataclass with ``event()`` / ``from_event()`` like ``wyoming.asr.Transcript``; unknown
fields in incoming data are ignored. See docs/satellite-protocol.md for when each is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wyoming.event import Event, Eventable

_AUTH_TYPE = "jarvis-auth"
_AUTH_OK_TYPE = "jarvis-auth-ok"
_FEEDBACK_TYPE = "jarvis-feedback"
_TURN_METRICS_TYPE = "jarvis-turn-metrics"
_FOLLOW_UP_TYPE = "jarvis-follow-up"

EXPECTS_ANSWER_KEY = "jarvis_expects_answer"
"""In the brain's ``handled`` context: the answer asks the user something (a confirmation, the
onboarding question, an LLM's question). The brain also sets Home Assistant's name for it,
``continue_conversation``."""
ALTERNATIVES_KEY = "jarvis_alternatives"
"""In STT's ``transcript`` context, and the hub's transcript to the brain: the decoder's runners-up,
best first (at most 4 strings). The brain tries them for a local intent only when the transcript
itself is none (docs/stt.md, "Runners-up")."""
MAX_ALTERNATIVES = 4
MAX_ALTERNATIVE_CHARS = 300
"""Bounds on the runners-up one transcript may carry, at every hop (STT, hub, brain)."""


def alternatives_of(context: object) -> tuple[str, ...]:
    """The runners-up in a ``transcript``'s context, bounded; anything malformed is no runner-up."""
    found = context.get(ALTERNATIVES_KEY) if isinstance(context, dict) else None
    if not isinstance(found, list):
        return ()
    return tuple(
        a[:MAX_ALTERNATIVE_CHARS] for a in found[:MAX_ALTERNATIVES] if isinstance(a, str) and a.strip()
    )


FOLLOW_UP_KEY = "follow_up"
"""In a satellite's ``run-pipeline`` data: this turn is the reply to a :class:`FollowUp`, no wake word."""


@dataclass
class Auth(Eventable):
    """Satellite -> hub, the first event on a connection: who is speaking and the shared token."""

    token: str
    """The hub's token (printed by ``jarvis serve`` on first run)."""
    satellite_id: str
    """Stable id of this satellite (e.g. hostname), used for timers and sessions."""
    name: str | None = None
    """Human-readable satellite name."""
    area: str | None = None
    """Area/room the satellite is in (e.g. "kitchen")."""
    user_id: str | None = None
    """User this satellite speaks for; the hub's default user if missing."""
    local_wake: bool = True
    """True when the satellite detects the wake word itself and streams only after it."""

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == _AUTH_TYPE

    def event(self) -> Event:
        data: dict[str, Any] = {
            "token": self.token,
            "satellite_id": self.satellite_id,
            "local_wake": self.local_wake,
        }
        for key in ("name", "area", "user_id"):
            if (value := getattr(self, key)) is not None:
                data[key] = value
        return Event(type=_AUTH_TYPE, data=data)

    @staticmethod
    def from_event(event: Event) -> Auth:
        data = event.data or {}
        return Auth(
            token=str(data.get("token", "")),
            satellite_id=str(data.get("satellite_id", "")),
            name=data.get("name"),
            area=data.get("area"),
            user_id=data.get("user_id"),
            local_wake=bool(data.get("local_wake", True)),
        )


@dataclass
class AuthOk(Eventable):
    """Hub -> satellite: the token was accepted; the session is bound to this user and area."""

    session_id: str
    user_id: str
    area: str | None = None
    server_name: str | None = None

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == _AUTH_OK_TYPE

    def event(self) -> Event:
        data: dict[str, Any] = {"session_id": self.session_id, "user_id": self.user_id}
        if self.area is not None:
            data["area"] = self.area
        if self.server_name is not None:
            data["server_name"] = self.server_name
        return Event(type=_AUTH_OK_TYPE, data=data)

    @staticmethod
    def from_event(event: Event) -> AuthOk:
        data = event.data or {}
        return AuthOk(
            session_id=str(data.get("session_id", "")),
            user_id=str(data.get("user_id", "")),
            area=data.get("area"),
            server_name=data.get("server_name"),
        )


@dataclass
class TurnMetrics(Eventable):
    """Hub -> satellite at the end of a turn: monotonic stage times, in ms from the turn start."""

    turn_id: str
    stages_ms: dict[str, float] = field(default_factory=dict)
    """e.g. {"wake": 0, "speech_end": 1830.2, "endpoint": 2410.0, "transcript": 2501.3, ...}"""
    outcome: str | None = None
    """How the turn ended: ``answered`` (an answer was spoken or sent), ``not-handled`` (the brain
    judged the utterance not for Jarvis, e.g. "Thanks for watching."), ``silent`` (handled with
    nothing to say, e.g. "never mind"), ``no-reply`` (a follow-up window passed in silence), or
    ``failed``/``cancelled``. A client still waiting for an
    answer ends the turn when the outcome is not ``answered``."""
    endpoint: dict[str, Any] | None = None
    """How listening ended (voice turns): ``rule`` (``fixed``, ``complete``, ``incomplete``,
    ``unknown``, ``no-verdict``, ``max-length``, ``audio-stop``; docs/hub.md), ``wait_ms`` (the
    silence that rule waits for) and ``silence_ms`` (the silence after speech when it ended)."""

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == _TURN_METRICS_TYPE

    def event(self) -> Event:
        return Event(
            type=_TURN_METRICS_TYPE,
            data={"turn_id": self.turn_id, "stages_ms": dict(self.stages_ms)}
            | ({"outcome": self.outcome} if self.outcome else {})
            | ({"endpoint": dict(self.endpoint)} if self.endpoint else {}),
        )

    @staticmethod
    def from_event(event: Event) -> TurnMetrics:
        data = event.data or {}
        stages = data.get("stages_ms") or {}
        return TurnMetrics(
            turn_id=str(data.get("turn_id", "")),
            stages_ms={str(k): float(v) for k, v in stages.items()} if isinstance(stages, dict) else {},
            outcome=str(data["outcome"]) if isinstance(data.get("outcome"), str) else None,
            endpoint=dict(data["endpoint"]) if isinstance(data.get("endpoint"), dict) else None,
        )


@dataclass
class FollowUp(Eventable):
    """Hub -> satellite, after ``handled``: the answer asked something; once it is played, listen for
    the reply without the wake word for ``seconds`` (docs/satellite-protocol.md, "Follow-up").

    A satellite with its own wake word then sends ``run-pipeline`` from ``asr`` with
    ``follow_up: true`` and streams; for one whose wake word runs on the hub (the web page, hub-side
    wake) the hub starts that turn itself on ``played``. No speech within ``seconds``: the turn ends
    with the outcome ``no-reply`` and nothing runs."""

    seconds: float

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == _FOLLOW_UP_TYPE

    def event(self) -> Event:
        return Event(type=_FOLLOW_UP_TYPE, data={"seconds": self.seconds})

    @staticmethod
    def from_event(event: Event) -> FollowUp:
        seconds = (event.data or {}).get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 < seconds <= 60:
            raise ValueError(f"jarvis-follow-up needs seconds in (0, 60], got {seconds!r}")
        return FollowUp(float(seconds))


_ANNOUNCE_TYPE = "jarvis-announce"
_ANNOUNCED_TYPE = "jarvis-announced"
MAX_ANNOUNCE_CHARS = 1000


@dataclass
class Announce(Eventable):
    """Admin -> hub (a session authenticated with the master token): speak ``text`` on satellites.

    Exactly one target: ``satellite_id``, ``area`` (every satellite in it), or ``everywhere``. The
    hub answers :class:`Announced` once each target has played it or failed (``jarvis announce``)."""

    text: str
    satellite_id: str | None = None
    area: str | None = None
    everywhere: bool = False

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == _ANNOUNCE_TYPE

    def event(self) -> Event:
        data: dict[str, Any] = {"text": self.text}
        if self.satellite_id is not None:
            data["satellite_id"] = self.satellite_id
        if self.area is not None:
            data["area"] = self.area
        if self.everywhere:
            data["all"] = True
        return Event(type=_ANNOUNCE_TYPE, data=data)

    @staticmethod
    def from_event(event: Event) -> Announce:
        """The request as sent (wrong types become empty); :meth:`problem` says if it can be done."""
        data = event.data or {}
        text, satellite_id, area = data.get("text"), data.get("satellite_id"), data.get("area")
        return Announce(
            text if isinstance(text, str) else "",
            satellite_id if isinstance(satellite_id, str) else None,
            area if isinstance(area, str) else None,
            data.get("all") is True,
        )

    def problem(self) -> str | None:
        """Why this request cannot be announced (None: it can): no text, a text too long, or not
        exactly one target."""
        if not self.text.strip():
            return "jarvis-announce needs a non-empty 'text'"
        if len(self.text) > MAX_ANNOUNCE_CHARS:
            return f"announcement longer than {MAX_ANNOUNCE_CHARS} characters"
        if sum([self.satellite_id is not None, self.area is not None, self.everywhere]) != 1:
            return "jarvis-announce needs exactly one of 'satellite_id', 'area' or 'all'"
        for name, value in (("satellite_id", self.satellite_id), ("area", self.area)):
            if value is not None and not 0 < len(value) <= 128:
                return f"bad {name} {value!r}"
        return None


@dataclass
class Announced(Eventable):
    """Hub -> admin: where the announcement was played (``played``) and where it failed (``failed``)."""

    played: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == _ANNOUNCED_TYPE

    def event(self) -> Event:
        return Event(type=_ANNOUNCED_TYPE, data={"played": list(self.played), "failed": list(self.failed)})

    @staticmethod
    def from_event(event: Event) -> Announced:
        data = event.data or {}
        return Announced(
            [str(x) for x in data.get("played") or [] if isinstance(x, str)],
            [str(x) for x in data.get("failed") or [] if isinstance(x, str)],
        )


@dataclass
class Feedback(Eventable):
    """Satellite (web page) -> hub: thumbs up/down on a turn's answer."""

    turn_id: str
    rating: int
    """+1 or -1."""
    comment: str | None = None

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == _FEEDBACK_TYPE

    def event(self) -> Event:
        data: dict[str, Any] = {"turn_id": self.turn_id, "rating": self.rating}
        if self.comment is not None:
            data["comment"] = self.comment
        return Event(type=_FEEDBACK_TYPE, data=data)

    @staticmethod
    def from_event(event: Event) -> Feedback:
        data = event.data or {}
        return Feedback(
            turn_id=str(data.get("turn_id", "")),
            rating=int(data.get("rating", 0)),
            comment=data.get("comment"),
        )
