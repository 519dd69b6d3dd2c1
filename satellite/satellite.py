"""The satellite: microphone -> wake word -> hub, and the hub's answer -> speaker.

One long-lived task per peer, each with its own queue:

- microphone task: reads the audio source, runs the local wake word (in a worker thread), keeps a
  short pre-roll, and streams to the hub while a turn is being spoken;
- link task: connects (``--server`` or zeroconf), authenticates, then runs a reader, a writer
  (fed by the send queue) and a pinger; reconnects with exponential backoff when any of them fails;
- speaker task: plays the answers queued by the reader, then sends ``played``.

Follows docs/satellite-protocol.md. :meth:`Satellite.run` never returns on its own unless
``once`` is set; cancelling it (or :meth:`stop`) cancels and awaits every task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from enum import IntEnum, StrEnum
from typing import Any

from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.snd import Played
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStarted, VoiceStopped
from wyoming.wake import Detection

from jarvis.protocol.audio import TARGET_FORMAT, validate_format
from jarvis.protocol.events import FOLLOW_UP_KEY, Auth, AuthOk, FollowUp, TurnMetrics
from jarvis.protocol.service import Connection
from jarvis.protocol.tls import PinMismatch
from jarvis.protocol.wire import ProtocolError, read_event

from .audio_io import AudioSink, AudioSource
from .settings import SERVICE_TYPE, SatelliteSettings
from .sounds import Sound, alarm_tone, awake_tone, done_tone, load_wav

_LOGGER = logging.getLogger(__name__)

SEND_QUEUE_SIZE = 256
METRICS_GRACE_S = 2.0
"""With ``once``: how long to wait after ``played`` for the hub's ``jarvis-turn-metrics``."""


class State(StrEnum):
    """What the satellite is doing."""

    CONNECTING = "connecting"
    """No hub session (connecting, authenticating, or waiting to retry)."""
    IDLE = "idle"
    """Listening for the wake word (locally, or the hub is listening: ``--no-wake``)."""
    STREAMING = "streaming"
    """A turn is being spoken: audio goes to the hub until it sends ``voice-stopped``."""
    WAITING = "waiting"
    """The hub is thinking; no audio is sent (local wake word)."""
    PLAYING = "playing"
    """The answer is being played."""


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    """Bad settings, audio device problems."""
    UNAUTHORIZED = 3
    """The hub refused the token (``--once``)."""
    HUB_ERROR = 4
    """The hub sent ``error`` during the turn (``--once``)."""
    TIMEOUT = 5
    """No complete turn within ``--turn-timeout`` (``--once``)."""


class Unauthorized(Exception):
    """The hub refused our token."""


class LinkDead(Exception):
    """No pong in time: the link is gone even if TCP has not noticed."""


def _default_printer(line: str) -> None:
    print(line, flush=True)


class Satellite:
    """One satellite. ``await run()``; returns an :class:`ExitCode` (only with ``once``)."""

    def __init__(
        self,
        settings: SatelliteSettings,
        source: AudioSource,
        sink: AudioSink,
        *,
        printer: Callable[[str], None] = _default_printer,
    ) -> None:
        self.settings = settings
        self.source = source
        self.sink = sink
        self.printer = printer
        self.state = State.CONNECTING
        self.session: AuthOk | None = None
        self.connections = 0
        """Successful (authenticated) connections so far."""
        self.turns_completed = 0
        self.connect_attempts = 0
        """Connection attempts so far (successful or not)."""
        self.exit_message = ""
        self._changed = asyncio.Event()

        self._detector: Any = None
        if settings.wake.local:
            from jarvis.protocol.wake import WakeWordDetector

            self._detector = WakeWordDetector(
                settings.wake.model, refractory_s=settings.wake.refractory_s, engine=settings.wake.engine
            )
        self._preroll = bytearray()
        self._detector_stale = False
        """Reset the detector before its next chunk. Only the microphone task touches the detector
        (a worker thread may be inside process()), so other tasks ask for a reset with this flag."""
        self._preroll_max = int((settings.wake.preroll_s + 1.0) * TARGET_FORMAT.bytes_per_second)

        self._awake_sound: Sound | None = None
        self._done_sound: Sound | None = None
        sounds = settings.sounds
        if sounds.enabled or sounds.awake_wav:
            self._awake_sound = load_wav(sounds.awake_wav) if sounds.awake_wav else awake_tone()
        if sounds.enabled or sounds.done_wav:
            self._done_sound = load_wav(sounds.done_wav) if sounds.done_wav else done_tone()
        self._alarm_sound = load_wav(sounds.timer_wav) if sounds.timer_wav else alarm_tone()

        self._send_queue: asyncio.Queue[Event] | None = None
        self._pong = asyncio.Event()
        self._speaker_queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._speaker_task: asyncio.Task[None] | None = None
        self._shutting_down = False
        self._done: asyncio.Future[ExitCode] | None = None
        self._turn_started: float | None = None
        self._turn_marks: dict[str, float] = {}
        self._follow_up_s: float | None = None
        """The answer being played asked something: listen this long for the reply, no wake word."""
        self._metrics_seen = asyncio.Event()
        """Set when the hub's ``jarvis-turn-metrics`` for the current turn arrived."""
        """Monotonic times of this turn's events (printed as ``timing:`` after ``played``)."""
        self._audio_timestamp_ms = 0

    # ------------------------------------------------------------------------------------------
    # Lifecycle

    async def run(self) -> ExitCode:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self._shutting_down = False
        tasks: list[asyncio.Task[Any]] = []
        try:
            await self.sink.start()
            self._speaker_task = asyncio.create_task(self._speaker_loop(), name="speaker")
            tasks = [
                asyncio.create_task(self._mic_loop(), name="microphone"),
                asyncio.create_task(self._link_loop(), name="link"),
            ]
            timeout = self.settings.run.turn_timeout_s if self.settings.run.once else None
            try:
                async with asyncio.timeout(timeout):
                    done, _ = await asyncio.wait([self._done, *tasks], return_when=asyncio.FIRST_COMPLETED)
            except TimeoutError:
                return self._fail(
                    ExitCode.TIMEOUT,
                    f"no complete turn within --turn-timeout {timeout:g} s (state: {self.state.value})",
                )
            for task in tasks:
                if task in done:
                    task.result()  # a crashed task raises here
                    raise RuntimeError(f"task {task.get_name()} ended unexpectedly")
            return self._done.result()
        finally:
            await self._shutdown(tasks)

    def stop(self, code: ExitCode = ExitCode.OK, message: str = "") -> None:
        """Make :meth:`run` return ``code`` (used by signal handlers and ``once``)."""
        if self._done is not None and not self._done.done():
            self.exit_message = message
            self._done.set_result(code)

    def _fail(self, code: ExitCode, message: str) -> ExitCode:
        self.exit_message = message
        _LOGGER.error("%s", message)
        return code

    async def _shutdown(self, tasks: list[asyncio.Task[Any]]) -> None:
        self._shutting_down = True
        all_tasks = [t for t in [*tasks, self._speaker_task] if t is not None]
        for task in all_tasks:
            task.cancel()
        await asyncio.gather(*all_tasks, return_exceptions=True)
        # A speaker task restarted while the others wound down (a barge-in or link loss during
        # shutdown) is cancelled too, never left pending.
        if self._speaker_task is not None and self._speaker_task not in all_tasks:
            self._speaker_task.cancel()
            await asyncio.gather(self._speaker_task, return_exceptions=True)
        self.sink.stop_now()
        await self.sink.close()
        await self.source.close()
        # The detector is not closed here: a cancelled worker thread may still be inside
        # process(); the TFLite interpreter is released when the last reference goes.

    def _set_state(self, state: State) -> None:
        if state is not self.state:
            _LOGGER.debug("State %s -> %s", self.state.value, state.value)
            self.state = state
            self._notify()

    def _notify(self) -> None:
        """Wake :meth:`wait_until` callers: the state or a counter changed."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[Satellite], bool]) -> None:
        """Return once ``predicate(self)`` holds (checked at every state or counter change).

        Unbounded: callers wrap it in ``asyncio.timeout``.
        """
        while not predicate(self):
            await self._changed.wait()

    # ------------------------------------------------------------------------------------------
    # Link to the hub

    async def _resolve_uri(self) -> str:
        server = self.settings.server
        if server.uri:
            return server.uri
        from jarvis.protocol import discovery

        found = await discovery.browse(
            SERVICE_TYPE, server.discovery_timeout_s, interfaces=server.discovery_interfaces
        )
        if server.hub_name is not None:
            found = [s for s in found if s.name == server.hub_name]
        if not found:
            wanted = f"hub {server.hub_name!r}" if server.hub_name else "hub"
            raise ConnectionError(
                f"no {wanted} found over zeroconf ({SERVICE_TYPE}) within {server.discovery_timeout_s:g} s"
            )
        if len(found) > 1:
            _LOGGER.warning(
                "Several hubs advertised (%s); using %s (choose one with --hub-name)",
                ", ".join(s.name for s in found),
                found[0].name,
            )
        _LOGGER.info("Found hub %s at %s", found[0].name, found[0].uri)
        return found[0].uri

    def _pinned(self, uri: str) -> str:
        """With a pinned certificate the link is TLS, whatever zeroconf's TXT record says (a
        hostile answer could ask for plain TCP to get the token)."""
        if self.settings.server.fingerprint is None or uri.startswith("tls://"):
            return uri
        if self.settings.server.uri is None and uri.startswith("tcp://"):
            return "tls://" + uri.removeprefix("tcp://")
        return uri  # --server tcp:// with a pin: Connection.open refuses it, saying why

    async def _link_loop(self) -> None:
        link = self.settings.link
        delay = link.reconnect_min_s
        while True:
            self._set_state(State.CONNECTING)
            uri = self.settings.server.uri or "(zeroconf)"
            self.connect_attempts += 1
            self._notify()
            try:
                uri = await self._resolve_uri()
                conn = await Connection.open(
                    self._pinned(uri),
                    timeout=self.settings.server.connect_timeout_s,
                    fingerprint=self.settings.server.fingerprint,
                )
            except Exception as err:  # OSError, timeouts, zeroconf trouble: log and retry, never exit
                _LOGGER.log(
                    logging.ERROR if isinstance(err, PinMismatch) else logging.WARNING,
                    "Cannot reach the hub at %s: %s; retrying in %.1f s",
                    uri,
                    err or type(err).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, link.reconnect_max_s)
                continue
            authenticated = False
            try:
                await self._authenticate(conn)
                authenticated = True
                self.connections += 1
                self._notify()
                await self._session(conn)
            except Unauthorized as err:
                message = f"the hub at {uri} refused the token: {err}"
                if self.settings.run.once:
                    self.stop(ExitCode.UNAUTHORIZED, message)
                    _LOGGER.error("%s", message)
                    return
                _LOGGER.error("%s; check --token (retrying in %.0f s)", message, link.reconnect_max_s)
                delay = link.reconnect_max_s
            except (ConnectionError, OSError, TimeoutError, ProtocolError, LinkDead) as err:
                _LOGGER.warning("Lost the hub at %s: %s", uri, err or type(err).__name__)
            finally:
                self._end_session()
                await conn.close()
            if authenticated:
                delay = link.reconnect_min_s
            _LOGGER.info("Reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, link.reconnect_max_s)

    async def _authenticate(self, conn: Connection) -> None:
        ident = self.settings.identity
        auth = Auth(
            token=self.settings.server.token,
            satellite_id=ident.satellite_id,
            name=ident.name,
            area=ident.area,
            user_id=ident.user_id,
            local_wake=self.settings.wake.local,
        )
        await conn.write_event(auth.event())
        timeout = self.settings.server.connect_timeout_s
        while True:
            reply = await conn.read_event(timeout=timeout)
            if reply is None:
                raise ConnectionError("the hub closed the connection during authentication")
            if AuthOk.is_type(reply.type):
                self.session = AuthOk.from_event(reply)
                _LOGGER.info(
                    "Connected to hub %s as %s (user %s, session %s)",
                    self.session.server_name or "",
                    ident.satellite_id,
                    self.session.user_id,
                    self.session.session_id,
                )
                return
            if Error.is_type(reply.type):
                error = Error.from_event(reply)
                if error.code == "unauthorized":
                    raise Unauthorized(error.text)
                raise ConnectionError(f"hub error during authentication: {error.code}: {error.text}")
            if Ping.is_type(reply.type):
                await conn.write_event(Pong(text=Ping.from_event(reply).text).event())
                continue
            raise ConnectionError(f"unexpected {reply.type!r} from the hub during authentication")

    async def _session(self, conn: Connection) -> None:
        self._send_queue = asyncio.Queue(maxsize=SEND_QUEUE_SIZE)
        self._set_state(State.IDLE)
        self.source.connected()
        if self._detector is not None:
            self._detector_stale = True
        else:  # the hub listens for the wake word: stream everything, always
            run = RunPipeline(
                start_stage=PipelineStage.WAKE, end_stage=PipelineStage.TTS, restart_on_end=True
            ).event()
            self._add_language(run)
            await self._send(run)
            await self._send_audio_start()
        tasks = [
            asyncio.create_task(self._reader(conn), name="hub-reader"),
            asyncio.create_task(self._writer(conn, self._send_queue), name="hub-writer"),
            asyncio.create_task(self._pinger(), name="hub-pinger"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            raise ConnectionError("session ended")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _end_session(self) -> None:
        self._send_queue = None
        self.session = None
        if self.state in (State.PLAYING, State.STREAMING, State.WAITING):
            _LOGGER.info("Turn abandoned: the hub went away")
            self._stop_playback()
        self._turn_started = None
        self._set_state(State.CONNECTING)

    def _add_language(self, run: Event) -> None:
        """A satellite pinned to one language says so in each ``run-pipeline`` (the hub checks it)."""
        if self.settings.identity.language:
            run.data["language"] = self.settings.identity.language

    async def _send(self, event: Event) -> None:
        """Queue an event for the hub; dropped when there is no session."""
        queue = self._send_queue
        if queue is not None:
            await queue.put(event)

    async def _send_audio_start(self) -> None:
        self._audio_timestamp_ms = 0
        fmt = TARGET_FORMAT
        await self._send(
            AudioStart(rate=fmt.rate, width=fmt.width, channels=fmt.channels, timestamp=0).event()
        )

    async def _send_audio(self, pcm: bytes) -> None:
        fmt = TARGET_FORMAT
        await self._send(
            AudioChunk(
                rate=fmt.rate,
                width=fmt.width,
                channels=fmt.channels,
                audio=pcm,
                timestamp=self._audio_timestamp_ms,
            ).event()
        )
        self._audio_timestamp_ms += len(pcm) * 1000 // fmt.bytes_per_second

    async def _writer(self, conn: Connection, queue: asyncio.Queue[Event]) -> None:
        while True:
            event = await queue.get()
            try:
                await conn.write_event(event)
            finally:
                queue.task_done()

    async def _reader(self, conn: Connection) -> None:
        while True:
            event = await read_event(conn.reader, conn.limits)
            if event is None:
                raise ConnectionError("the hub closed the connection")
            try:
                await self._on_hub_event(event)
            except (KeyError, TypeError, ValueError) as err:  # e.g. a timer event without its id
                _LOGGER.warning("Ignoring malformed %r from the hub: %r", event.type, err)

    async def _pinger(self) -> None:
        link = self.settings.link
        count = 0
        while True:
            await asyncio.sleep(link.ping_interval_s)
            count += 1
            self._pong.clear()
            try:
                async with asyncio.timeout(link.pong_timeout_s):
                    await self._send(Ping(text=str(count)).event())
                    await self._pong.wait()
            except TimeoutError:
                raise LinkDead(f"no pong from the hub within {link.pong_timeout_s:g} s") from None

    # ------------------------------------------------------------------------------------------
    # Events from the hub

    async def _on_hub_event(self, event: Event) -> None:  # noqa: C901 - one dispatch table
        etype = event.type
        if Pong.is_type(etype):
            self._pong.set()
        elif Ping.is_type(etype):
            await self._send(Pong(text=Ping.from_event(event).text).event())
        elif AudioChunk.is_type(etype):
            if self.state is State.PLAYING:
                self._mark("first_audio")
                self._speaker_queue.put_nowait(("chunk", AudioChunk.from_event(event).audio))
        elif AudioStart.is_type(etype):
            await self._on_audio_start(AudioStart.from_event(event))
        elif AudioStop.is_type(etype):
            self._mark("audio_stop")
            if self.state is State.PLAYING:
                self._speaker_queue.put_nowait(("end", None))
        elif Detection.is_type(etype):
            await self._on_hub_detection(Detection.from_event(event))
        elif VoiceStarted.is_type(etype):
            _LOGGER.debug("Hub: voice started")
        elif VoiceStopped.is_type(etype):
            self._mark("voice_stopped")
            await self._end_utterance()
        elif Transcript.is_type(etype):
            self._mark("transcript")
            text = Transcript.from_event(event).text
            self.printer(f"transcript: {text}")
            await self._end_utterance()
        elif Synthesize.is_type(etype):
            self.printer(f"answer: {Synthesize.from_event(event).text}")
        elif Error.is_type(etype):
            await self._on_hub_error(Error.from_event(event))
        elif TimerStarted.is_type(etype):
            timer = TimerStarted.from_event(event)
            _LOGGER.info("Timer %s started: %d s (%s)", timer.id, timer.total_seconds, timer.name or "")
            self.printer(f"timer-started: {timer.id} {timer.total_seconds} {timer.name or ''}".rstrip())
        elif TimerUpdated.is_type(etype):
            timer_u = TimerUpdated.from_event(event)
            self.printer(f"timer-updated: {timer_u.id} {timer_u.total_seconds} active={timer_u.is_active}")
        elif TimerCancelled.is_type(etype):
            self.printer(f"timer-cancelled: {TimerCancelled.from_event(event).id}")
        elif TimerFinished.is_type(etype):
            timer_id = TimerFinished.from_event(event).id
            _LOGGER.info("Timer %s finished: ringing", timer_id)
            self.printer(f"timer-finished: {timer_id}")
            self._speaker_queue.put_nowait(("sound", self._alarm_sound))
        elif FollowUp.is_type(etype):
            self._follow_up_s = FollowUp.from_event(event).seconds
        elif TurnMetrics.is_type(etype):
            metrics = TurnMetrics.from_event(event)
            self._metrics_seen.set()
            self.printer(
                f"metrics: {json.dumps({'turn_id': metrics.turn_id, 'stages_ms': metrics.stages_ms})}"
            )
            ended = metrics.outcome not in (None, "answered")
            if ended and (self.state is State.WAITING or metrics.outcome == "no-reply"):
                if self.state is State.STREAMING and self.settings.wake.local:
                    await self._send(AudioStop(timestamp=self._audio_timestamp_ms).event())
                    self._detector_stale = True
                await self._turn_without_answer(metrics.outcome)
        else:
            _LOGGER.debug("Ignoring %r from the hub", etype)

    async def _on_audio_start(self, start: AudioStart) -> None:
        if self.state is State.STREAMING:
            _LOGGER.debug("Ignoring audio-start while the user is speaking (cancelled turn)")
            return
        if self.state is State.CONNECTING:
            return
        try:
            fmt = validate_format(start.rate, start.width, start.channels)
        except ValueError as err:
            _LOGGER.warning("Hub sent unplayable audio: %s", err)
            return
        self._set_state(State.PLAYING)
        self._mark("audio_start")
        self._speaker_queue.put_nowait(("start", fmt))

    async def _on_hub_detection(self, detection: Detection) -> None:
        if self.settings.wake.local:
            return  # our own detection echoed back; nothing to do
        _LOGGER.info("Hub heard the wake word %s", detection.name or "")
        if self.state is State.PLAYING:
            self._stop_playback()
        self._begin_turn()
        if self._awake_sound is not None:
            self._speaker_queue.put_nowait(("sound", self._awake_sound))

    async def _end_utterance(self) -> None:
        """The hub decided the user stopped speaking (``voice-stopped`` or ``transcript``)."""
        if self.state is not State.STREAMING:
            return
        if self.settings.wake.local:
            await self._send(AudioStop(timestamp=self._audio_timestamp_ms).event())
            self._detector_stale = True
        self._set_state(State.WAITING)

    async def _on_hub_error(self, error: Error) -> None:
        self.printer(f"error: {error.code}: {error.text}")
        _LOGGER.warning("Hub error %s: %s", error.code, error.text)
        if self.settings.run.once:
            self.stop(ExitCode.HUB_ERROR, f"the hub reported an error: {error.code}: {error.text}")
            return
        if self.state in (State.STREAMING, State.WAITING):
            if self.state is State.STREAMING and self.settings.wake.local:
                await self._send(AudioStop(timestamp=self._audio_timestamp_ms).event())
            self._turn_started = None
            self._set_state(State.IDLE)

    # ------------------------------------------------------------------------------------------
    # Microphone

    async def _mic_loop(self) -> None:
        local = self.settings.wake.local
        async for chunk in self.source.chunks():
            if not local:
                if self.state is not State.CONNECTING:
                    await self._send_audio(chunk)
                continue
            self._preroll += chunk
            if len(self._preroll) > self._preroll_max:
                del self._preroll[: len(self._preroll) - self._preroll_max]
            state = self.state
            if state is State.STREAMING:
                await self._send_audio(chunk)
                self._check_turn_timeout()
            elif state in (State.IDLE, State.WAITING, State.PLAYING):
                if state is State.WAITING:
                    self._check_turn_timeout()
                if self._detector_stale:
                    self._detector_stale = False
                    self._detector.reset()
                detected = await asyncio.to_thread(self._detector.process, chunk)
                if detected and self.state in (State.IDLE, State.WAITING, State.PLAYING):
                    await self._start_turn()

    def _check_turn_timeout(self) -> None:
        if self.settings.run.once or self._turn_started is None:
            return  # with --once the whole run has a deadline instead
        if time.monotonic() - self._turn_started > self.settings.run.turn_timeout_s:
            _LOGGER.warning(
                "Turn abandoned after %.0f s in state %s", self.settings.run.turn_timeout_s, self.state.value
            )
            self._turn_started = None
            if self.state is State.STREAMING:
                self._send_nowait(AudioStop(timestamp=self._audio_timestamp_ms).event())
            self._set_state(State.IDLE)

    def _send_nowait(self, event: Event) -> None:
        if self._send_queue is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._send_queue.put_nowait(event)

    async def _start_turn(self) -> None:
        """The local wake word was heard: barge in if needed, then stream with the pre-roll."""
        detector = self._detector
        if self.state is State.PLAYING:
            _LOGGER.info("Barge-in: wake word during playback")
            self._stop_playback()
        elif self.state is State.WAITING:
            _LOGGER.info("Wake word while waiting for the answer: starting a new turn")
        # Pre-roll: the audio from preroll_s before the detection point up to now.
        behind = detector.samples_processed - (detector.last_detection_sample or detector.samples_processed)
        want = (int(self.settings.wake.preroll_s * TARGET_FORMAT.rate) + behind) * TARGET_FORMAT.width
        preroll = bytes(self._preroll[-want:]) if want > 0 else b""
        self._preroll.clear()
        self._begin_turn()
        _LOGGER.info("Wake word %r detected; streaming to the hub", detector.wake_word)
        await self._send(Detection(name=detector.model, timestamp=None).event())
        run = RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS).event()
        # How much of the audio that follows is the wake phrase: the hub's VAD waits for the command.
        run.data["wake_phrase_ms"] = round(len(preroll) / TARGET_FORMAT.bytes_per_second * 1000)
        self._add_language(run)
        await self._send(run)
        await self._send_audio_start()
        if preroll:
            await self._send_audio(preroll)
        if self._awake_sound is not None:
            self._speaker_queue.put_nowait(("sound", self._awake_sound))

    def _begin_turn(self) -> None:
        """A turn starts here (a wake word, here or at the hub, or a follow-up): time it from now
        and stream."""
        self._turn_started = time.monotonic()
        self._turn_marks = {"wake": self._turn_started}
        self._metrics_seen.clear()
        self._set_state(State.STREAMING)

    async def _start_follow_up(self, seconds: float) -> None:
        """The answer asked something and has been played: listen for the reply, no wake word.

        With a local wake word this satellite starts the turn (``run-pipeline`` with
        ``follow_up: true``); with the hub's, the hub starts it on ``played``. Either way the hub
        ends it after ``seconds`` without speech (outcome ``no-reply``)."""
        if self.state not in (State.IDLE, State.WAITING):
            return  # a barge-in or a new wake word came first
        self._begin_turn()
        self.printer(f"follow-up: listening {seconds:g} s for the reply")
        _LOGGER.info("Listening %.0f s for the reply (no wake word)", seconds)
        if self._awake_sound is not None:
            self._speaker_queue.put_nowait(("sound", self._awake_sound))
        if not self.settings.wake.local:
            return
        self._preroll.clear()
        run = RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS).event()
        run.data[FOLLOW_UP_KEY] = True
        self._add_language(run)
        await self._send(run)
        await self._send_audio_start()

    # ------------------------------------------------------------------------------------------
    # Speaker

    def _stop_playback(self) -> None:
        """Barge-in or link loss: silence now, forget queued audio, restart the speaker task."""
        self.sink.stop_now()
        if self._speaker_task is not None:
            self._speaker_task.cancel()
        self._speaker_queue = asyncio.Queue()
        if self._shutting_down:
            self._speaker_task = None  # the link task losing its hub during shutdown: no new speaker
            return
        self._speaker_task = asyncio.create_task(self._speaker_loop(), name="speaker")

    async def _speaker_loop(self) -> None:
        queue = self._speaker_queue
        while True:
            kind, item = await queue.get()
            try:
                if kind == "start":
                    await self.sink.start_answer(item)
                elif kind == "chunk":
                    await self.sink.play(item)
                elif kind == "sound":
                    await self.sink.play_sound(item)
                elif kind == "end":
                    await self.sink.drain()
                    await self._answer_played()
            except (OSError, RuntimeError, ValueError) as err:  # a device hiccup must not end the satellite
                _LOGGER.error("Playback failed (%s): %s", kind, err)

    def _mark(self, name: str) -> None:
        if self._turn_started is not None and name not in self._turn_marks:
            self._turn_marks[name] = time.monotonic()

    async def _turn_without_answer(self, outcome: str) -> None:
        """The hub closed the turn with nothing to play: end it here now, not at the turn timeout."""
        why = {
            "not-handled": "the utterance was not for Jarvis",
            "silent": "Jarvis had nothing to say",
            "no-reply": "no reply to the question",
        }.get(outcome, f"the turn ended: {outcome}")
        self.printer(f"no-answer: {outcome}: {why}")
        _LOGGER.info("Turn ended without an answer (%s)", outcome)
        self.turns_completed += 1
        self._notify()
        self._turn_started = None
        self._set_state(State.IDLE)
        if self.settings.run.once:
            self.stop(ExitCode.OK, why)

    async def _answer_played(self) -> None:
        await self._send(Played().event())
        self._mark("played")
        if self._turn_started is not None:
            start = self._turn_started
            marks = {name: round((t - start) * 1000, 1) for name, t in self._turn_marks.items()}
            self.printer(f"timing: {json.dumps(marks)}")
        self.turns_completed += 1
        self._notify()
        self._turn_started = None
        if self.state is State.PLAYING:
            self._set_state(State.IDLE)
        follow_up, self._follow_up_s = self._follow_up_s, None
        if follow_up is not None and not self.settings.run.once:
            await self._start_follow_up(follow_up)
            return
        if self._done_sound is not None:
            await self.sink.play_sound(self._done_sound)
        if self.settings.run.once:
            # The hub sends its turn metrics right after the answer; give them a moment to arrive
            # so scripts and benchmarks get them even with --fast.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(METRICS_GRACE_S):
                    await self._metrics_seen.wait()
            queue = self._send_queue
            if queue is not None:  # make sure `played` is on the wire before exiting
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.server.connect_timeout_s):
                        await queue.join()
            self.stop(ExitCode.OK)


__all__ = ["ExitCode", "Satellite", "State"]
