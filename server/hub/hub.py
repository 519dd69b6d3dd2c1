"""The hub: a Wyoming server for satellites, with shared service pools, timers and metrics.

:func:`start_hub` is what ``jarvis hub`` and ``jarvis serve`` call; tests call it on port 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from wyoming.event import Event
from wyoming.info import Attribution, Info, Satellite

from jarvis.protocol import __version__
from jarvis.protocol.backoff import FailureBackoff
from jarvis.protocol.discovery import HUB_TYPE
from jarvis.protocol.events import Announce
from jarvis.protocol.service import WyomingServer
from jarvis.protocol.wire import DEFAULT_LIMITS, WireLimits

from ..config import Settings
from ..devices import DeviceError, DeviceRegistry, devices_path
from ..metrics import REGISTRY, MetricsServer
from ..timer_file import TimerFile
from .endpoint import EndpointPolicy
from .pipeline import PipelineServices
from .services import ServicePool
from .session import SatelliteSession
from .timers import TimerBook
from .vad import EndpointSettings
from .wyoming_satellites import WyomingSatellites

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT = 10600
ZEROCONF_TYPE = HUB_TYPE
TIMERS_FILENAME = "timers-hub.json"
"""The hub's timers, kept across restarts (server/timer_file.py)."""
"""The hub's DNS-SD type (defined once, in :mod:`jarvis.protocol.discovery`)."""

_SESSIONS = REGISTRY.gauge("jarvis_hub_sessions", "Satellites connected to the hub")


class Hub:
    """Shared state of all satellite sessions. ``async with`` starts and stops it."""

    def __init__(
        self,
        settings: Settings,
        token: str,
        *,
        stt: Sequence[str],
        tts: Sequence[str],
        brain: Sequence[str],
        limits: WireLimits = DEFAULT_LIMITS,
        peer_secret: str | None = None,
        devices: DeviceRegistry | None = None,
        device_poll_s: float = 1.0,
    ) -> None:
        """``peer_secret``: what the hub proves itself to the brain with; None = ``settings``' file.

        ``devices``: the paired devices (default ``<data dir>/devices.json``); re-read every
        ``device_poll_s`` seconds, and sessions of revoked devices closed.
        """
        hub = settings.hub
        self.settings = settings
        self.token = token
        self.devices = devices or DeviceRegistry(devices_path(settings.data_dir))
        self.devices.refresh()
        self.device_poll_s = device_poll_s
        self._device_watch: asyncio.Task[None] | None = None
        self._warned_master: bool = False
        self._background: set[asyncio.Task[Any]] = set()
        self.limits = limits
        if peer_secret is None:
            from ..tokens import load_or_create_peer_secret

            peer_secret = load_or_create_peer_secret(settings.peer_secret_path())
        self.auth_backoff = FailureBackoff(hub.auth_backoff_s, hub.auth_backoff_max_s)
        """Per peer address: wrong tokens make the next jarvis-auth from there wait longer."""
        self.services = PipelineServices(
            stt=ServicePool("stt", stt),
            tts=ServicePool("tts", tts),
            brain=ServicePool("brain", brain, peer_secret=peer_secret),
            endpoint=EndpointSettings(
                threshold=hub.vad_threshold,
                silence_s=hub.silence_s,
                max_utterance_s=hub.max_utterance_s,
                no_speech_timeout_s=hub.no_speech_timeout_s,
            ),
            endpoint_policy=EndpointPolicy(
                mode=hub.endpoint,
                complete_silence_s=hub.complete_silence_s,
                incomplete_silence_s=hub.incomplete_silence_s,
                verdict_wait_s=hub.verdict_wait_s,
            ),
            service_timeout_s=hub.service_timeout_s,
            language=settings.stt.language,
        )
        self.sessions: dict[str, SatelliteSession] = {}
        self._device_sessions: set[SatelliteSession] = set()
        """Every open session of a paired device (an older one of a reconnected device too)."""
        self.timers = TimerBook(self._deliver, TimerFile(settings.resolved_data_dir() / TIMERS_FILENAME))
        self.fingerprint: str | None = None
        """SHA-256 of the certificate satellites pin, with ``hub.tls`` (:mod:`jarvis.protocol.tls`)."""
        context = None
        if hub.tls:
            context, self.fingerprint = hub_tls(settings)
        self.server = WyomingServer(
            f"{'tls' if hub.tls else 'tcp'}://{hub.host}:{hub.port}",
            functools.partial(SatelliteSession, hub=self),
            limits,
            ssl_context=context,
        )
        self.metrics: MetricsServer | None = None
        self.wyoming_satellites = WyomingSatellites(self)
        """The standard Wyoming satellites the hub connects to (``[wyoming_satellites.*]``)."""

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def uri(self) -> str:
        return self.server.uri

    def info(self) -> Info:
        return Info(
            satellite=Satellite(
                name=self.settings.hub.name,
                attribution=Attribution(
                    name="Jarvis, on the Wyoming protocol", url="https://github.com/OHF-Voice/wyoming"
                ),
                installed=True,
                description="Jarvis hub: voice pipeline for satellites (jarvis-auth required)",
                version=__version__,
            )
        )

    async def register(self, session: SatelliteSession) -> None:
        old = self.sessions.get(session.satellite_id)
        if old is not None and old is not session:
            _LOGGER.info("Satellite %s reconnected; the newer connection wins", session.satellite_id)
        self.sessions[session.satellite_id] = session
        _SESSIONS.set(len(self.sessions))
        if session.device_id is not None:
            self._device_sessions.add(session)
            # last_seen is written in the background (an fsync must not delay the session)
            self.spawn(self._touch(session.device_id), f"touch {session.device_id}")
        for event in self.timers.take_pending(session.satellite_id):
            _LOGGER.info("Delivering a timer that finished while %s was away", session.satellite_id)
            await session.write_event(event)

    def unregister(self, session: SatelliteSession) -> None:
        if self.sessions.get(session.satellite_id) is session:
            del self.sessions[session.satellite_id]
        self._device_sessions.discard(session)
        _SESSIONS.set(len(self.sessions))

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """A background task of the hub (a device's last_seen write, an announcement): kept until
        done, and awaited by :meth:`stop`."""
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def announce_targets(
        self, request: Announce, exclude: SatelliteSession | None = None
    ) -> list[SatelliteSession]:
        """The connected sessions an announcement is for: one satellite, an area's, or every one."""
        sessions = [s for s in self.sessions.values() if s is not exclude]
        if request.satellite_id is not None:
            return [s for s in sessions if s.satellite_id == request.satellite_id]
        if request.area is not None:
            wanted = request.area.casefold()
            return [s for s in sessions if (s.area or "").casefold() == wanted]
        return sessions

    def warn_master_token(self, satellite_id: str) -> None:
        """Say once per hub that a satellite logs in with the master token, not its own credential."""
        if self._warned_master:
            return
        self._warned_master = True
        _LOGGER.warning(
            "Satellite %s authenticated with the master token; per-device credentials are preferred "
            "(jarvis devices pair --id ID --user USER --area AREA; docs/devices.md). "
            "This is said once.",
            satellite_id,
        )

    async def _touch(self, device_id: str) -> None:
        try:
            await asyncio.to_thread(self.devices.touch, device_id)
        except (OSError, DeviceError) as err:  # a read-only data dir: the device still connects
            _LOGGER.debug("Cannot record that device %s was seen: %s", device_id, err)

    async def close_revoked(self) -> int:
        """Re-read the registry and close the sessions it no longer allows; returns how many.

        Those are the sessions of devices revoked (or re-paired) since they connected, and
        master-token sessions holding an id that has been paired since.
        """
        self.devices.refresh()
        doomed: list[tuple[SatelliteSession, str]] = []
        for session in list(self._device_sessions):
            device = self.devices.get(session.device_id or "")
            if device is None or not device.active or device.credential_hash != session.credential_hash:
                self._device_sessions.discard(session)
                doomed.append((session, "this device's credential was revoked"))
        for satellite_id, session in list(self.sessions.items()):
            paired = self.devices.get(satellite_id)
            if session.master_token and paired is not None and paired.active:
                doomed.append(
                    (
                        session,
                        f"satellite id {satellite_id!r} is now a paired device: connect with its credential",
                    )
                )
        await asyncio.gather(*(session.revoked(text) for session, text in doomed))
        return len(doomed)

    async def _watch_devices(self) -> None:
        while True:
            await asyncio.sleep(self.device_poll_s)
            try:
                await self.close_revoked()
            except Exception:  # never let the watcher die: revocation must keep working
                _LOGGER.exception("Checking for revoked devices failed")

    async def _deliver(self, satellite_id: str, event: Event) -> bool:
        session = self.sessions.get(satellite_id)
        if session is None:
            return False
        try:
            await session.write_event(event)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def start(self) -> None:
        self.timers.restore()  # before satellites connect: a timer that ended meanwhile rings on connect
        await self.server.start()
        if self.device_poll_s > 0:
            self._device_watch = asyncio.create_task(self._watch_devices(), name="hub-device-watch")
        hub = self.settings.hub
        if hub.metrics_port is not None:
            self.metrics = MetricsServer(hub.metrics_host, hub.metrics_port)
            await self.metrics.start()
        _LOGGER.info(
            "Hub on %s (stt=%s tts=%s brain=%s)",
            self.uri,
            [s.uri for s in self.services.stt.services],
            [s.uri for s in self.services.tts.services],
            [s.uri for s in self.services.brain.services],
        )
        self.wyoming_satellites.start()

    async def stop(self) -> None:
        watch, self._device_watch = self._device_watch, None
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        await self.wyoming_satellites.stop()
        await self.server.stop()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.timers.close()
        if self.metrics is not None:
            await self.metrics.stop()
            self.metrics = None

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def hub_certificate(settings: Settings) -> tuple[Path, Path]:
    """The hub's certificate and key: the web page's self-signed pair in ``<data dir>/tls/`` (made
    if missing or about to expire)."""
    from ..web.tls import ensure_certificate

    return ensure_certificate(settings.resolved_data_dir() / "tls")


def hub_tls(settings: Settings) -> tuple[ssl.SSLContext, str]:
    """The hub's TLS context and the fingerprint satellites pin (:func:`hub_certificate`)."""
    from jarvis.protocol.tls import fingerprint_of_file

    from ..web.tls import server_ssl_context

    cert, key = hub_certificate(settings)
    return server_ssl_context(cert, key), fingerprint_of_file(cert)


async def start_hub(
    settings: Settings,
    token: str,
    *,
    stt: Sequence[str] | None = None,
    tts: Sequence[str] | None = None,
    brain: Sequence[str] | None = None,
    peer_secret: str | None = None,
) -> Hub:
    """Start a hub; service URIs default to ``settings.hub.stt/tts/brain``."""
    hub = Hub(
        settings,
        token,
        stt=list(stt or settings.hub.stt),
        tts=list(tts or settings.hub.tts),
        brain=list(brain or settings.hub.brain),
        peer_secret=peer_secret,
    )
    await hub.start()
    return hub
