"""The hub drives standard Wyoming satellites (``wyoming-satellite``), as Home Assistant does.

A ``wyoming-satellite`` is a Wyoming *server*: its controller (Home Assistant, here the hub) connects
to it. Per ``[wyoming_satellites.<name>]`` in the config, one :class:`WyomingSatelliteLink` task:

1. connects to ``tcp://host:10700`` and sends ``describe``; the ``info`` must have a ``satellite``;
2. sends ``run-satellite``, after which the satellite sends ``run-pipeline`` and its audio;
3. runs a :class:`WyomingSatelliteSession`: the hub's own per-satellite session
   (:class:`~.session.SatelliteSession`, with its :class:`~.pipeline.PipelineRun` turns, hub-side wake
   word, VAD endpointing, barge-in and timers) on that connection, authenticated by the
   configuration instead of ``jarvis-auth``;
4. sends one ``ping``: a satellite that answers ``pong`` is pinged from then on and dropped when it
   stops answering (wyoming-satellite 1.0 does not answer: then TCP keepalive finds a dead peer);
5. when the connection ends (the satellite restarted, the network dropped), connects again after a
   backoff that doubles from ``backoff_min_s`` to ``backoff_max_s``.

``run-pipeline`` as wyoming-satellite sends it:

- local wake word: ``start_stage=asr`` after its own detection; the audio is the command;
- always streaming: ``start_stage=wake``; the hub's wake word (``hub.wake_word``) listens, and after
  each turn it listens again;
- VAD: ``start_stage=wake`` each time it hears speech, with ``audio-stop`` when it gives up. A
  ``start_stage=wake`` that comes while an answer is playing re-arms the wake word; it does not cut
  the answer (only the wake word does, as barge-in).

``restart_on_end`` (newer satellites) is honoured: true restarts the same run when a turn ends;
false with ``start_stage=wake`` ends listening after one turn. Without the field (1.0) the hub
keeps listening for its wake word, which is what an always-streaming 1.0 satellite needs: it sends
``run-pipeline`` once per ``run-satellite``. ``start_stage=tts`` with ``announce_text`` speaks the
text. Back to the satellite go what Home Assistant sends: ``detect``, ``detection``, ``transcribe``,
``voice-started``/``voice-stopped``, ``transcript``, ``synthesize``, ``audio-start/chunk/stop``,
``error``, plus ``timer-started/updated/cancelled/finished``; Jarvis's own ``jarvis-turn-metrics`` is
not sent. A local-wake turn that ends without a transcript (no speech) gets an empty one:
wyoming-satellite 1.0 streams until a transcript comes and only then listens for its wake word
again. It has no timer sounds either, so a finished timer also rings as a chime (``timer_chime``).

Identity (user, area) comes from the configuration only; the satellite's ``info`` supplies just a
default area and name.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.snd import Played
from wyoming.timer import TimerFinished
from wyoming.wake import Detect, Detection

from jarvis.protocol.tasks import cancel_and_wait
from jarvis.protocol.wire import ProtocolError, read_event, write_event

from ..config import WyomingSatelliteSettings
from .pipeline import PipelineEvent, PipelineEventType
from .session import SatelliteSession

if TYPE_CHECKING:
    from .hub import Hub

_LOGGER = logging.getLogger(__name__)

DEFAULT_SATELLITE_PORT = 10700
"""Where wyoming-satellite listens by default."""

#: Events from a standard satellite that the hub's session handles as they are.
_SESSION_EVENTS = (AudioChunk, AudioStart, AudioStop, Detection, Transcript, Played)


@dataclass(frozen=True)
class LinkTimings:
    """How the hub keeps a link to a satellite (seconds)."""

    connect_timeout_s: float = 5.0
    handshake_timeout_s: float = 5.0
    """``describe`` must be answered with ``info`` within this."""
    ping_probe_s: float = 1.0
    """How long the first ``ping`` waits for ``pong`` (no answer: the satellite is not pinged)."""
    ping_interval_s: float = 5.0
    ping_timeout_s: float = 5.0
    """A pinged satellite heard from for ``ping_interval_s + ping_timeout_s`` is dropped."""
    backoff_min_s: float = 1.0
    backoff_max_s: float = 30.0
    stable_s: float = 30.0
    """A connection that lasted this long starts the backoff afresh."""
    keepalive_idle_s: int = 10
    """TCP keepalive: probe an idle connection after this long, every 5 s, 3 times."""
    chime_wait_s: float = 30.0
    """A timer chime waits at most this long for an answer that is playing to end."""


DEFAULT_TIMINGS = LinkTimings()


class LinkState(enum.Enum):
    """Where a link to a satellite is. STOPPED is final."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    """``run-satellite`` sent; the session runs."""
    WAITING = "waiting"
    """Disconnected; waiting out the backoff before the next attempt."""
    STOPPED = "stopped"


class NotASatellite(Exception):
    """The service's ``info`` has no ``satellite``."""


def parse_uri(uri: str) -> tuple[str, int]:
    """``tcp://host:port`` -> (host, port); raises ValueError."""
    parsed = urlparse(uri)
    if parsed.scheme != "tcp" or not parsed.hostname:
        raise ValueError(f"a Wyoming satellite URI is tcp://host:port, got {uri!r}")
    return parsed.hostname, parsed.port or DEFAULT_SATELLITE_PORT


def chime(rate: int = 16000, rings: int = 3) -> bytes:
    """A timer's ring: ``rings`` two-tone beeps, 16-bit mono PCM at ``rate`` Hz."""

    def tone(freq: float, seconds: float) -> np.ndarray:
        t = np.arange(int(rate * seconds)) / rate
        fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)  # 10 ms ramps: no clicks
        return np.sin(2 * np.pi * freq * t) * fade * 0.35

    gap = np.zeros(int(rate * 0.08))
    ring = np.concatenate([tone(880, 0.18), gap, tone(1320, 0.18), np.zeros(int(rate * 0.35))])
    audio = np.tile(ring, rings)
    return (audio * 32767).astype("<i2").tobytes()


class WyomingSatelliteSession(SatelliteSession):
    """The hub's session on a connection it opened to a standard Wyoming satellite.

    Authenticated by the configuration (no ``jarvis-auth``): ``satellite_id`` is the config name.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        hub: Hub,
        *,
        satellite_id: str,
        config: WyomingSatelliteSettings,
        info: Info,
        timings: LinkTimings = DEFAULT_TIMINGS,
    ) -> None:
        super().__init__(reader, writer, hub)
        self.config = config
        self.timings = timings
        self.remote_info = info
        """The satellite's latest ``info``."""
        satellite = info.satellite
        self.satellite_id = satellite_id
        self.user_id = config.user_id or hub.settings.default_user
        self.area = config.area or (satellite.area if satellite else None)
        self.name = config.name or (satellite.name if satellite else None)
        self.local_wake = False
        self.authenticated = True
        self.supports_ping: bool | None = None
        """Whether it answered the first ``ping`` (None: not known yet)."""
        self._pong = asyncio.Event()
        self._last_heard = time.monotonic()
        self._request: RunPipeline | None = None
        """The satellite's last ``run-pipeline``."""
        self._restart_on_end: bool | None = None
        """Its ``restart_on_end``; None when it did not send the field (wyoming-satellite 1.0)."""
        self._request_serial = 0
        self._turn_request: dict[str, int] = {}
        """turn_id -> the serial of the ``run-pipeline`` in force when that turn started."""
        self._transcribed: dict[str, bool] = {}
        """turn_id -> a transcript went to the satellite in that turn."""
        self._side_tasks: set[asyncio.Task[Any]] = set()
        """Restarts, chimes and announcements: cancelled and awaited when the session ends."""

    # -- connection -----------------------------------------------------------------------------

    async def run(self) -> None:
        pinger = asyncio.create_task(self._ping_loop(), name=f"ping {self.satellite_id}")
        try:
            await super().run()
        finally:
            await cancel_and_wait(pinger)

    async def _ping_loop(self) -> None:
        t = self.timings
        await self._send(Ping().event())
        try:
            await asyncio.wait_for(self._pong.wait(), t.ping_probe_s)
        except TimeoutError:
            self.supports_ping = False
            _LOGGER.info("Wyoming satellite %s: no pong; TCP keepalive watches the link", self.satellite_id)
            return
        self.supports_ping = True
        _LOGGER.debug(
            "Wyoming satellite %s answers ping; pinging it every %.0f s", self.satellite_id, t.ping_interval_s
        )
        while True:
            await asyncio.sleep(t.ping_interval_s)
            silent = time.monotonic() - self._last_heard
            if silent > t.ping_interval_s + t.ping_timeout_s:
                _LOGGER.warning(
                    "Wyoming satellite %s: nothing heard for %.0f s (no pong); reconnecting",
                    self.satellite_id,
                    silent,
                )
                self.writer.close()  # the reader loop sees EOF and ends
                return
            try:
                await self.write_event(Ping().event())
            except (ConnectionError, RuntimeError):
                return

    async def disconnect(self) -> None:
        tasks = list(self._side_tasks)
        for task in tasks:
            task.cancel()
        # gather, not cancel_and_wait: while the link itself is being cancelled, that re-raises at
        # the first task and would leave the others (and the turn) running.
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await super().disconnect()
        finally:
            self.hub.unregister(self)  # (idempotent) also when the turn's cancellation re-raised

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=f"{name} {self.satellite_id}")
        self._side_tasks.add(task)
        task.add_done_callback(self._side_done)

    def _side_done(self, task: asyncio.Task[Any]) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            _LOGGER.warning("Wyoming satellite %s: %s failed: %r", self.satellite_id, task.get_name(), err)

    def _follow_up_after(self) -> Event | None:
        return None  # a standard satellite knows no jarvis-follow-up, and its hub wake restarts itself

    async def write_event(self, event: Event) -> None:
        await super().write_event(event)
        if TimerFinished.is_type(event.type) and self.config.timer_chime:
            self._spawn(self._ring(), "timer chime")

    # -- from the satellite ---------------------------------------------------------------------

    async def handle_event(self, event: Event) -> bool:
        self._last_heard = time.monotonic()
        etype = event.type
        if Pong.is_type(etype):
            self._pong.set()
            return True
        if Info.is_type(etype):
            self.remote_info = Info.from_event(event)
            return True
        if RunPipeline.is_type(etype):
            await self._on_satellite_run_pipeline(event)
            return True
        if Describe.is_type(etype) or any(cls.is_type(etype) for cls in _SESSION_EVENTS):
            return await super().handle_event(event)
        # streaming-started, satellite-connected, ...: not for the hub (Home Assistant ignores them too)
        _LOGGER.debug("Wyoming satellite %s: ignoring %s", self.satellite_id, etype)
        return True

    async def _on_satellite_run_pipeline(self, event: Event) -> None:
        data = event.data or {}
        try:
            request = RunPipeline.from_event(event)
        except (ValueError, KeyError, TypeError) as err:
            await self.write_error(f"bad run-pipeline: {err}", "bad-event")
            return
        restart = data.get("restart_on_end")
        self._request = request
        self._restart_on_end = restart if isinstance(restart, bool) else None
        self._request_serial += 1
        start = request.start_stage
        _LOGGER.info(
            "Wyoming satellite %s: run-pipeline %s -> %s (restart_on_end=%s)",
            self.satellite_id,
            start.value,
            request.end_stage.value,
            self._restart_on_end,
        )
        if start == PipelineStage.TTS:
            if request.announce_text:
                self._spawn(self.announce(request.announce_text), "announce")
            else:
                await self.write_error("start_stage tts needs announce_text", "bad-event")
            return
        self.local_wake = start != PipelineStage.WAKE
        task = self.turn_task
        if start == PipelineStage.WAKE and task is not None and not task.done():
            # (VAD satellites send this whenever they hear speech, the answer's echo too.) Listen
            # for the wake word again; the answer plays on unless the wake word interrupts it.
            try:
                self._ensure_wake()
            except Exception as err:  # model missing: a clear error, the session stays usable
                await self.write_error(f"hub wake word unavailable: {err}", "wake-unavailable")
                return
            self._wake_mode = True
            self._end_stage = "tts" if request.end_stage == PipelineStage.TTS else "handle"
            return
        await self._on_run_pipeline(event)
        if start == PipelineStage.WAKE and self._wake_mode:
            await self._send(Detect().event())

    # -- to the satellite -----------------------------------------------------------------------

    async def _send(self, event: Event) -> None:
        try:
            await self.write_event(event)
        except (ConnectionError, RuntimeError) as err:
            _LOGGER.debug("%s: cannot send %s: %s", self.satellite_id, event.type, err)

    async def _on_pipeline_event(self, pe: PipelineEvent) -> None:
        run = self.turn
        if pe.type == PipelineEventType.RUN_START:
            if run is not None:
                self._turn_request[run.info.turn_id] = self._request_serial
                if run.start_stage == "asr":  # Home Assistant's stt-start
                    await self._send(Transcribe(language=run.info.language.split(",")[0]).event())
            return
        if pe.type == PipelineEventType.TRANSCRIPT and run is not None:
            self._transcribed[run.info.turn_id] = True
        if pe.type == PipelineEventType.METRICS:
            return  # jarvis-turn-metrics is Jarvis's own; a standard satellite has no use for it
        if pe.type == PipelineEventType.RUN_END:
            if run is not None:
                heard = self._transcribed.pop(run.info.turn_id, False)
                latest = self._turn_request.get(run.info.turn_id) == self._request_serial
                if run.start_stage == "asr" and not heard and self.local_wake and latest:
                    # No transcript (no speech, STT down): wyoming-satellite 1.0 streams on until
                    # it gets one, deaf to its wake word. An empty one sends it back to listening.
                    # (Not for a turn a newer run-pipeline cut: that one's command is streaming.)
                    await self._send(Transcript(text="").event())
                await self._after_turn(run.info.turn_id, run.start_stage, run.end_stage)
            return
        await super()._on_pipeline_event(pe)

    async def _after_turn(self, turn_id: str, start_stage: str, end_stage: str) -> None:
        """``restart_on_end``, once a turn has ended."""
        serial = self._turn_request.pop(turn_id, None)
        if serial != self._request_serial:
            return  # a newer run-pipeline has taken over
        request = self._request
        if request is None or request.start_stage == PipelineStage.WAKE:
            if self._restart_on_end is False:
                self._wake_mode = False  # one wake-word turn was asked for, and it has run
            elif self._wake_mode:
                await self._send(Detect().event())  # listening for the wake word again
            return
        if self._restart_on_end and start_stage == "asr":
            self._spawn(self._restart(self.turn_task, end_stage, serial), "restart")

    async def _restart(self, ended: asyncio.Task[None] | None, end_stage: str, serial: int) -> None:
        if ended is not None:
            await asyncio.wait({ended})  # its own end: never cancelled from here
        if self._request_serial == serial and (self.turn_task is ended or self.turn_task is None):
            await self._start_run("asr", end_stage)

    async def _ring(self) -> None:
        """The chime of a finished timer, after any answer that is playing."""
        task = self.turn_task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=self.timings.chime_wait_s)
        await self._play(chime(), 16000)

    async def _play(self, pcm: bytes, rate: int, width: int = 2, channels: int = 1) -> None:
        await self.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        step = rate * width * channels // 10  # 100 ms per chunk
        for i in range(0, len(pcm), step):
            await self.write_event(AudioChunk(rate, width, channels, pcm[i : i + step]).event())
        await self.write_event(AudioStop().event())

    async def announce(self, text: str) -> bool:
        """Speak ``text`` on the satellite (``synthesize`` on the hub's TTS, audio relayed); False if
        it could not be spoken, which the satellite is told with an ``error``. Its own turn is not
        cut: wyoming-satellite restarts its pipeline itself (``_after_turn``)."""
        problem = await self._speak_announcement(text)
        if problem is not None:
            await self.write_error(f"announcement failed: {problem}", "tts-unavailable")
        return problem is None


class WyomingSatelliteLink:
    """Keeps the hub connected to one configured Wyoming satellite. ``start()``, then ``stop()``."""

    def __init__(
        self,
        hub: Hub,
        satellite_id: str,
        config: WyomingSatelliteSettings,
        timings: LinkTimings = DEFAULT_TIMINGS,
    ) -> None:
        self.hub = hub
        self.satellite_id = satellite_id
        self.config = config
        self.timings = timings
        self.host, self.port = parse_uri(config.uri)
        self.state = LinkState.WAITING
        self.connections = 0
        """Connections that reached ``run-satellite``."""
        self.info: Info | None = None
        self.session: WyomingSatelliteSession | None = None
        self.last_error: str | None = None
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"wyoming-satellite {self.satellite_id}")

    async def stop(self) -> None:
        """Tell the satellite to pause (best effort), then cancel and await the link's task."""
        session = self.session
        if session is not None:
            with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await session.write_event(PauseSatellite().event())
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        await self._set(LinkState.STOPPED)

    async def wait_until(self, predicate: Callable[[WyomingSatelliteLink], bool]) -> None:
        """Wait (unbounded: wrap it in ``asyncio.timeout``) until ``predicate(self)`` holds."""
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    async def _set(self, state: LinkState) -> None:
        async with self._changed:
            self.state = state
            self._changed.notify_all()

    async def _run(self) -> None:
        delay = self.timings.backoff_min_s
        failures = 0
        while True:
            await self._set(LinkState.CONNECTING)
            began = time.monotonic()
            try:
                await self._connect_and_serve()
            except (OSError, TimeoutError, ProtocolError, NotASatellite, ValueError) as err:
                self.last_error = str(err) or type(err).__name__
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                _LOGGER.log(
                    level,
                    "Wyoming satellite %s at %s:%d: %s; retrying in %.1f s%s",
                    self.satellite_id,
                    self.host,
                    self.port,
                    self.last_error,
                    delay,
                    " (further failures are logged at DEBUG)" if failures == 1 else "",
                )
            except Exception:  # a bug must not end the link for good: log it, and try again
                self.last_error = "internal error"
                failures += 1
                _LOGGER.exception(
                    "Wyoming satellite %s: link failed; retrying in %.1f s", self.satellite_id, delay
                )
            else:
                failures = 0
                _LOGGER.warning(
                    "Wyoming satellite %s disconnected; reconnecting in %.1f s", self.satellite_id, delay
                )
            if time.monotonic() - began >= self.timings.stable_s:
                delay = self.timings.backoff_min_s
            await self._set(LinkState.WAITING)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.timings.backoff_max_s)

    async def _connect_and_serve(self) -> None:
        t = self.timings
        limits = self.hub.limits
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=limits.max_header_bytes),
            t.connect_timeout_s,
        )
        session: WyomingSatelliteSession | None = None
        try:
            _keepalive(writer, t.keepalive_idle_s)
            info = await self._handshake(reader, writer)
            session = WyomingSatelliteSession(
                reader,
                writer,
                self.hub,
                satellite_id=self.satellite_id,
                config=self.config,
                info=info,
                timings=t,
            )
            self.info = info
            self.session = session
            self.connections += 1
            self.last_error = None
            await self.hub.register(session)
            _LOGGER.info(
                "Wyoming satellite %s (%s) connected at %s:%d: user=%s area=%s",
                self.satellite_id,
                session.name or "-",
                self.host,
                self.port,
                session.user_id,
                session.area,
            )
            await self._set(LinkState.CONNECTED)
            await session.run()  # until the connection ends; closes the writer
        finally:
            self.session = None
            if session is not None:
                self.hub.unregister(session)  # (idempotent; session.run's disconnect did it already)
            writer.close()  # (session.run closes it too; closing twice is harmless)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await writer.wait_closed()

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Info:
        """``describe`` -> ``info`` (with a satellite), then ``run-satellite``.

        Nothing but ``describe`` goes out before the hub is ready for what the satellite sends:
        wyoming-satellite 1.0 takes any other event as its controller's first, and may send
        ``run-pipeline`` at once.
        """
        limits = self.hub.limits
        async with asyncio.timeout(self.timings.handshake_timeout_s):
            await write_event(Describe().event(), writer)
            while True:
                event = await read_event(reader, limits)
                if event is None:
                    raise ConnectionResetError("the satellite closed the connection before its info")
                if Info.is_type(event.type):
                    info = Info.from_event(event)
                    break
        if info.satellite is None:
            raise NotASatellite("its info has no satellite: not a Wyoming satellite")
        await write_event(RunSatellite().event(), writer)
        return info


def _keepalive(writer: asyncio.StreamWriter, idle_s: int) -> None:
    """TCP keepalive, so a satellite that vanished (power cut) is noticed without ping."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", idle_s), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


class WyomingSatellites:
    """All configured links of a hub (``settings.wyoming_satellites``)."""

    def __init__(self, hub: Hub, timings: LinkTimings = DEFAULT_TIMINGS) -> None:
        self.links: dict[str, WyomingSatelliteLink] = {
            name: WyomingSatelliteLink(hub, name, config, timings)
            for name, config in hub.settings.wyoming_satellites.items()
            if config.enabled
        }

    def start(self) -> None:
        for link in self.links.values():
            _LOGGER.info("Connecting to Wyoming satellite %s at %s", link.satellite_id, link.config.uri)
            link.start()

    async def stop(self) -> None:
        for link in self.links.values():
            await link.stop()
