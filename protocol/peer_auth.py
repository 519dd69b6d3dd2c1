"""How the hub proves itself to the brain: a shared secret in the first event of a connection.

The brain's Wyoming port is also open to Home Assistant and any raw client, none of which can be
believed about *who* is speaking. The hub can: it authenticated the satellite. So the hub opens each
brain connection with ``jarvis-peer-auth`` carrying the peer secret (``<data dir>/peer-secret``, mode
0600, shared by ``jarvis serve``, ``jarvis brain`` and ``jarvis hub``, or ``--peer-secret-file``).
The brain compares it in constant time and answers ``jarvis-peer-authed`` (then the connection's
``context.user_id`` / ``satellite_id`` are believed) or an ``error`` with code ``unauthorized`` (and
closes). A client that never sends it is served as the default user (see docs/brain.md).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from wyoming.event import Event, Eventable

_PEER_AUTH_TYPE = "jarvis-peer-auth"
_PEER_AUTHED_TYPE = "jarvis-peer-authed"

#: The brain keeps the timers of clients that did not authenticate under ``unverified:<id>``; no real
#: satellite may take such an id.
UNVERIFIED_PREFIX = "unverified:"

#: A user id anyone may assert where one is accepted (hub auth, web API): no paths, no control chars.
USER_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def valid_user_id(value: object) -> bool:
    """True for a string of 1-64 letters, digits, ``_``, ``.`` or ``-``, not made only of dots."""
    return isinstance(value, str) and bool(USER_ID_RE.fullmatch(value)) and value.strip(".") != ""


def secrets_match(expected: str, given: object) -> bool:
    """Constant-time comparison; an empty or non-string secret never matches."""
    if not expected or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


@dataclass
class PeerAuth(Eventable):
    """Hub -> brain, the first event on a connection: the peer secret."""

    secret: str

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == _PEER_AUTH_TYPE

    def event(self) -> Event:
        return Event(type=_PEER_AUTH_TYPE, data={"secret": self.secret})

    @staticmethod
    def from_event(event: Event) -> PeerAuth:
        data = event.data or {}
        secret = data.get("secret")
        return PeerAuth(secret=secret if isinstance(secret, str) else "")


@dataclass
class PeerAuthed(Eventable):
    """Brain -> hub: the secret was right; this connection may say who is speaking."""

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == _PEER_AUTHED_TYPE

    def event(self) -> Event:
        return Event(type=_PEER_AUTHED_TYPE)

    @staticmethod
    def from_event(event: Event) -> PeerAuthed:
        return PeerAuthed()
