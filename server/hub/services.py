"""Pools of Wyoming services (STT, TTS, brain) the hub talks to.

``--stt tcp://a:10300,tcp://b:10300``: each request goes to the *least busy* service that is up
(fewest requests in flight; ties go round-robin). A service that refuses a connection or drops one
mid-request is marked down and retried after a backoff (1 s, 2 s, 4 s … capped); if every service of
a kind is down, they are tried anyway (so a restarted service is used again at once), and
:class:`ServiceUnavailable` is raised only when none answers.

A pool given a ``peer_secret`` (the brain pool) opens every connection with ``jarvis-peer-auth`` and
waits for ``jarvis-peer-authed`` (jarvis.protocol.peer_auth): only then does the brain believe the
``user_id`` and ``satellite_id`` the hub sends. A brain that refuses the secret counts as down (and says
so in the log); a handle service that does not know the event (not a Jarvis brain) is used anyway,
as an unauthenticated client.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from wyoming.error import Error
from wyoming.info import Describe, Info

from jarvis.protocol.peer_auth import PeerAuth, PeerAuthed
from jarvis.protocol.service import Connection, Endpoint

from ..metrics import REGISTRY

_LOGGER = logging.getLogger(__name__)

_UP = REGISTRY.gauge("jarvis_service_up", "1 if the hub can reach the service", ("kind", "uri"))
_IN_FLIGHT = REGISTRY.gauge("jarvis_service_in_flight", "Requests in flight per service", ("kind", "uri"))
_REQUESTS = REGISTRY.counter("jarvis_service_requests_total", "Requests sent per service", ("kind", "uri"))
_FAILURES = REGISTRY.counter(
    "jarvis_service_failures_total", "Connection failures per service", ("kind", "uri")
)


class PeerRefused(Exception):
    """The service did not accept the hub's ``jarvis-peer-auth``."""


class ServiceUnavailable(Exception):
    """No service of this kind could be reached."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class ServiceState:
    uri: str
    in_flight: int = 0
    up: bool = True
    failures: int = 0
    retry_at: float = 0.0
    """Monotonic time before which a down service is skipped (unless all are down)."""
    info: Info | None = None
    requests: int = 0
    peer_auth_unsupported: bool = False
    """The service answered jarvis-peer-auth with unsupported-event (not a Jarvis brain)."""
    _order: int = field(default=0, repr=False)


class ServicePool:
    """The services of one kind ("stt", "tts", "brain")."""

    def __init__(
        self,
        kind: str,
        uris: Sequence[str],
        *,
        connect_timeout: float = 3.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        peer_secret: str | None = None,
    ) -> None:
        if not uris:
            raise ValueError(f"no {kind} service configured")
        for uri in uris:
            Endpoint.parse(uri)  # a clear ValueError for a bad URI, at startup
        self.kind = kind
        self.services = [ServiceState(uri) for uri in uris]
        self.connect_timeout = connect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.peer_secret = peer_secret or None
        """Sent in ``jarvis-peer-auth`` first on every connection (the brain pool); None: not sent."""
        self._rr = itertools.count()
        for service in self.services:
            _UP.labels(kind=kind, uri=service.uri).set(1)

    def _candidates(self) -> list[ServiceState]:
        now = time.monotonic()
        ready = [s for s in self.services if s.up or s.retry_at <= now]
        if not ready:  # all down and backing off: try them anyway, soonest first
            return sorted(self.services, key=lambda s: s.retry_at)
        tick = next(self._rr)
        n = len(self.services)
        # least busy first (a down service whose backoff is over gets probed like an idle one);
        # among equals, rotate the starting point (round-robin)
        return sorted(
            ready,
            key=lambda s: (s.in_flight, (self.services.index(s) - tick) % n),
        )

    def mark_down(self, service: ServiceState, reason: str) -> None:
        service.failures += 1
        delay = min(self.backoff_max, self.backoff_initial * 2 ** (service.failures - 1))
        service.retry_at = time.monotonic() + delay
        if service.up:
            _LOGGER.warning(
                "%s service %s is down (%s); retrying in %.0f s", self.kind, service.uri, reason, delay
            )
        service.up = False
        _UP.labels(kind=self.kind, uri=service.uri).set(0)
        _FAILURES.labels(kind=self.kind, uri=service.uri).inc()

    def mark_up(self, service: ServiceState) -> None:
        if not service.up:
            _LOGGER.info("%s service %s is back", self.kind, service.uri)
        service.up = True
        service.failures = 0
        service.retry_at = 0.0
        _UP.labels(kind=self.kind, uri=service.uri).set(1)

    async def _connect(self) -> tuple[ServiceState, Connection]:
        errors: list[str] = []
        for service in self._candidates():
            try:
                conn = await Connection.open(service.uri, timeout=self.connect_timeout)
            except (OSError, TimeoutError) as err:
                self.mark_down(service, f"connect: {err or type(err).__name__}")
                errors.append(f"{service.uri}: {err or type(err).__name__}")
                continue
            if self.peer_secret is not None:
                try:
                    await self._peer_auth(service, conn)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, PeerRefused) as err:
                    await conn.close()
                    self.mark_down(service, f"peer auth: {err or type(err).__name__}")
                    errors.append(f"{service.uri}: {err or type(err).__name__}")
                    continue
                except BaseException:
                    await conn.close()
                    raise
            self.mark_up(service)
            return service, conn
        raise ServiceUnavailable(self.kind, f"no {self.kind} service reachable ({'; '.join(errors)})")

    async def _peer_auth(self, service: ServiceState, conn: Connection) -> None:
        """Prove to the service that we are the hub; raises PeerRefused if it says no."""
        assert self.peer_secret is not None
        await conn.write_event(PeerAuth(self.peer_secret).event())
        event = await conn.read_event(timeout=self.connect_timeout)
        if event is None:
            raise ConnectionError("closed the connection after jarvis-peer-auth")
        if PeerAuthed.is_type(event.type):
            return
        if Error.is_type(event.type):
            err = Error.from_event(event)
            if err.code == "unsupported-event":  # a handle service that is not a Jarvis brain
                if not service.peer_auth_unsupported:
                    _LOGGER.warning(
                        "%s service %s does not know jarvis-peer-auth: it will not know who is speaking",
                        self.kind,
                        service.uri,
                    )
                service.peer_auth_unsupported = True
                return
            _LOGGER.error(
                "%s service %s refused the hub's peer secret (%s): give the hub and the brain the same "
                "peer-secret file (--peer-secret-file, docs/deploy.md)",
                self.kind,
                service.uri,
                err.text,
            )
            raise PeerRefused(f"refused the peer secret: {err.text}")
        raise PeerRefused(f"unexpected answer to jarvis-peer-auth: {event.type}")

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        """A fresh connection to the least busy service, counted in flight while open.

        A ``ConnectionError`` (or EOF reported as one) inside the block marks the service down.
        """
        service, conn = await self._connect()
        service.in_flight += 1
        service.requests += 1
        _IN_FLIGHT.labels(kind=self.kind, uri=service.uri).set(service.in_flight)
        _REQUESTS.labels(kind=self.kind, uri=service.uri).inc()
        try:
            yield conn
        except (ConnectionError, asyncio.IncompleteReadError) as err:
            self.mark_down(service, f"connection lost: {err or type(err).__name__}")
            raise
        finally:
            service.in_flight -= 1
            _IN_FLIGHT.labels(kind=self.kind, uri=service.uri).set(service.in_flight)
            await conn.close()

    async def describe(self, timeout: float = 5.0) -> Info | None:
        """``info`` of the first reachable service (cached per service)."""
        service, conn = await self._connect()
        try:
            if service.info is None:
                await conn.write_event(Describe().event())
                while True:
                    event = await conn.read_event(timeout=timeout)
                    if event is None:
                        raise ConnectionError("closed before info")
                    if Info.is_type(event.type):
                        service.info = Info.from_event(event)
                        break
            return service.info
        except (ConnectionError, TimeoutError) as err:
            self.mark_down(service, f"describe: {err}")
            return None
        finally:
            await conn.close()

    @property
    def any_up(self) -> bool:
        return any(s.up for s in self.services)
