"""One satellite connection: authentication, then turns (docs/satellite-protocol.md).

The reader loop (:meth:`SatelliteSession.handle_event`) converts incoming audio to 16 kHz/16-bit/mono
and routes it: to the current turn's queue while it listens, else (hub-side wake word mode) to the wake
word detector. Each turn runs in its own task; a new ``run-pipeline``, a ``detection`` or a hub-side
wake word while a turn is still running cancels that turn (barge-in): its task is cancelled *and
awaited* (it sends ``audio-stop`` if its answer had started) before the new turn starts.

Authentication: the first event must be a valid ``jarvis-auth`` within ``hub.auth_timeout_s`` (else an
``error`` with code ``auth-timeout`` and the connection closes). Its token is a device credential
(``jarvis devices pair``, :mod:`jarvis.server.devices`): the satellite id, user, area and name then
come from the registry, and claiming another satellite id is ``unauthorized``; or the master token
(``<data dir>/token``), for unpaired satellites, which may not take a paired device's id. A wrong or
revoked token is answered only after the per-address backoff (``Hub.auth_backoff``: the delay doubles
with each failure from that address), so guessing the token is slow. ``user_id`` must look like one
(``[A-Za-z0-9_.-]{1,64}``) and ``area`` and ``name`` be short strings, else ``bad-event``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.snd import Played
from wyoming.timer import TimerFinished
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStarted, VoiceStopped
from wyoming.wake import Detection

from jarvis.protocol.audio import TARGET_FORMAT, AudioConverter, AudioFormatError
from jarvis.protocol.events import (
    FOLLOW_UP_KEY,
    Announce,
    Announced,
    Auth,
    AuthOk,
    Feedback,
    FollowUp,
    TurnMetrics,
)
from jarvis.protocol.language import LANGUAGE_CODE
from jarvis.protocol.peer_auth import UNVERIFIED_PREFIX, valid_user_id
from jarvis.protocol.service import ServiceHandler
from jarvis.protocol.tasks import cancel_and_wait

from ..tokens import tokens_match
from .pipeline import PipelineEvent, PipelineEventType, PipelineRun, TurnInfo
from .services import ServiceUnavailable
from .vad import VadModel, make_vad

if TYPE_CHECKING:
    from jarvis.protocol.wake import WakeWordDetector

    from .hub import Hub

_LOGGER = logging.getLogger(__name__)

BYTES_PER_S = TARGET_FORMAT.bytes_per_second
WAKE_PHRASE_BYTES = int(1.5 * BYTES_PER_S)
"""Audio before the hub-side detection sent to STT: the whole "hey jarvis" (docs/satellite.md)."""
WAKE_RING_BYTES = WAKE_PHRASE_BYTES + BYTES_PER_S // 2
"""The bound on the recent audio kept in hub-side wake mode."""
#: A language code a satellite may ask for in run-pipeline: "en", "fr", "fr-FR", "pt_BR".
#: The longest ``satellite_id``, ``area`` or ``name`` a satellite may send in jarvis-auth.
MAX_LABEL_CHARS = 128


class SatelliteSession(ServiceHandler):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hub: Hub) -> None:
        super().__init__(reader, writer, hub.limits)
        self.hub = hub
        self.session_id = uuid.uuid4().hex[:12]
        self.authenticated = False
        self.satellite_id = ""
        self.user_id = hub.settings.default_user
        self.area: str | None = None
        self.name: str | None = None
        self.device_id: str | None = None
        """The paired device this session authenticated as (None: the master token)."""
        self.credential_hash: str | None = None
        """That device's credential hash then: a re-paired device's old session is closed too."""
        self.master_token = False
        """It authenticated with the master token (not a device credential, not a configured link)."""
        self._closing = False
        """:meth:`revoked` has closed it (the reader loop is winding down)."""
        self.local_wake = True
        self.conversation_id = self.session_id
        self.turn: PipelineRun | None = None
        self.turn_task: asyncio.Task[None] | None = None
        self._converter: AudioConverter | None = None
        self._vad: VadModel | None = None
        self._vad_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-vad")
        self._wake: WakeWordDetector | None = None
        self._wake_mode = False
        """Listening for the hub-side wake word between turns (run-pipeline start_stage=wake)."""
        self._end_stage = "tts"
        self._language: str | None = None
        """The language the satellite asked for in its last run-pipeline (the web page's setting)."""
        self._pending_wake_at: float | None = None
        self._detected_model: str | None = None
        """The wake word named by the satellite's last ``detection`` (its text is only a hint)."""
        self._recent = bytearray()
        """The last audio heard in hub-side wake mode (bounded: WAKE_RING_BYTES)."""
        self._follow_up = False
        """The last answer asked something: its reply may come without the wake word (docs/hub.md)."""
        peer = writer.get_extra_info("peername")
        self.peer_address = str(peer[0]) if isinstance(peer, tuple) and peer else "local"
        """The peer's address without its port: the key of the wrong-token backoff."""
        self._auth_deadline: asyncio.TimerHandle | None = None
        self._expiry: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """The reader loop, with the auth deadline armed until ``jarvis-auth`` succeeds."""
        timeout = self.hub.settings.hub.auth_timeout_s
        if timeout and timeout > 0:
            self._auth_deadline = asyncio.get_running_loop().call_later(timeout, self._auth_expired)
        try:
            await super().run()
        finally:
            if self._auth_deadline is not None:
                self._auth_deadline.cancel()
            expiry = self._expiry
            if expiry is not None:
                await cancel_and_wait(expiry)

    def _auth_expired(self) -> None:
        if self.authenticated:
            return
        timeout = self.hub.settings.hub.auth_timeout_s
        self.bad_client_log(logging.WARNING, "%s: no jarvis-auth within %.0f s; closing", self.peer, timeout)
        self._expiry = asyncio.create_task(
            self._close_unauthenticated(timeout), name=f"auth-timeout {self.peer}"
        )

    async def _close_unauthenticated(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
            async with asyncio.timeout(1.0):  # a peer that reads nothing must not hold us up
                await self.write_error(f"no jarvis-auth within {timeout:g} s; closing", "auth-timeout")
        self.writer.close()  # the reader loop sees EOF and ends

    # -- reader loop ---------------------------------------------------------------------------

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(self.hub.info().event())
            return True
        if not self.authenticated:
            return await self._authenticate(event)
        try:
            return await self._dispatch(event)
        except (KeyError, ValueError, TypeError) as err:  # a well-framed event with bad fields
            _LOGGER.warning("%s: bad %s event: %r", self.satellite_id, event.type, err)
            await self.write_error(f"bad {event.type} event: {err!r}", "bad-event")
            return True

    async def _dispatch(self, event: Event) -> bool:
        if AudioChunk.is_type(event.type):
            await self._on_audio(AudioChunk.from_event(event))
        elif AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            try:
                self._converter = AudioConverter(start.rate, start.width, start.channels)
            except AudioFormatError as err:
                self._converter = None
                await self.write_error(str(err), "bad-audio")
        elif AudioStop.is_type(event.type):
            await self._flush_audio()
            if self.turn is not None and self.turn.wants_audio:
                self.turn.end_audio()
        elif RunPipeline.is_type(event.type):
            await self._on_run_pipeline(event)
        elif Detection.is_type(event.type):
            self._pending_wake_at = time.monotonic()
            self._detected_model = Detection.from_event(event).name
            await self._barge_in("detection")
        elif Transcript.is_type(event.type):
            if self.turn is not None and self.turn.wants_text:
                self.turn.set_text(Transcript.from_event(event).text or "")
            else:
                await self.write_error("transcript outside a text turn", "bad-event")
        elif Played.is_type(event.type):
            _LOGGER.debug("%s: played", self.satellite_id)
            if self._follow_up and self._wake_mode and self.turn is None:
                # The hub hears for this client: listen for the reply now that the question was heard.
                await self._start_run("asr", self._end_stage, follow_up=True)
        elif Announce.is_type(event.type):
            await self._on_announce(event)
        elif Feedback.is_type(event.type):
            feedback = Feedback.from_event(event)
            _LOGGER.info("Feedback from %s on %s: %+d", self.satellite_id, feedback.turn_id, feedback.rating)
        elif event.type in ("pong",):
            pass
        else:
            return await self.unsupported(event)
        return True

    async def _authenticate(self, event: Event) -> bool:
        if not Auth.is_type(event.type):
            _LOGGER.warning("%s: %r before jarvis-auth; closing", self.peer, event.type)
            await self.write_error("authenticate first (jarvis-auth)", "unauthorized")
            return False
        auth = Auth.from_event(event)
        backoff = self.hub.auth_backoff
        # Every attempt from an address that has failed lately waits its turn, right or wrong, and
        # attempts in parallel queue one delay apart: guessing gets slower with each failure.
        await backoff.wait(self.peer_address)
        master = tokens_match(self.hub.token, auth.token)
        device = None if master else self.hub.devices.authenticate(auth.token)
        if not master and device is not None and not device.active:
            # A revoked credential is no guess (its hash is on file): refused, but not counted
            # against the address, where other satellites (the web app's bridge) may share it.
            _LOGGER.warning("%s: revoked credential of device %r; closing", self.peer, device.device_id)
            await self.write_error("this device's credential was revoked", "unauthorized")
            return False
        if not master and device is None:
            delay = backoff.failure(self.peer_address)
            _LOGGER.warning(
                "%s: wrong token for satellite %r; closing (next attempt from %s waits %.2f s)",
                self.peer,
                auth.satellite_id[:MAX_LABEL_CHARS],
                self.peer_address,
                delay,
            )
            await self.write_error("wrong or missing token", "unauthorized")
            return False
        backoff.success(self.peer_address)
        problem = _auth_problem(event.data or {})
        if problem:
            _LOGGER.warning("%s: bad jarvis-auth: %s; closing", self.peer, problem)
            await self.write_error(f"bad jarvis-auth: {problem}", "bad-event")
            return False
        if device is not None:
            # A paired device is who the registry says: its id, user, area and name. It may not
            # speak as another satellite; what else it sends about itself is ignored.
            if auth.satellite_id != device.device_id:
                _LOGGER.warning(
                    "%s: device %r claimed satellite id %r; closing",
                    self.peer,
                    device.device_id,
                    auth.satellite_id[:MAX_LABEL_CHARS],
                )
                await self.write_error(
                    f"this credential belongs to device {device.device_id!r}: connect with "
                    f"--satellite-id {device.device_id}",
                    "unauthorized",
                )
                return False
            self.device_id = device.device_id
            self.credential_hash = device.credential_hash
            self.satellite_id = device.device_id
            self.user_id = device.user_id
            self.area = device.area
            self.name = device.name or auth.name
        else:
            self.hub.devices.refresh()  # a device paired a moment ago counts already
            paired = self.hub.devices.get(auth.satellite_id)
            if paired is not None and paired.active:
                # Not even the master token takes a paired device's id (its timers, its session).
                _LOGGER.warning(
                    "%s: master token claimed paired device %r; closing", self.peer, auth.satellite_id
                )
                await self.write_error(
                    f"satellite id {auth.satellite_id!r} is a paired device: connect with its credential",
                    "unauthorized",
                )
                return False
            self.hub.warn_master_token(auth.satellite_id)
            self.master_token = True
            configured = self.hub.settings.satellite(auth.satellite_id)
            self.satellite_id = auth.satellite_id
            self.user_id = configured.user_id or auth.user_id or self.hub.settings.default_user
            self.area = configured.area or auth.area
            self.name = configured.name or auth.name
        self.local_wake = auth.local_wake
        self.authenticated = True
        if self._auth_deadline is not None:
            self._auth_deadline.cancel()
        mark = getattr(self, "mark_authenticated", None)  # connection caps: keep a reserved slot
        if mark is not None:
            mark()
        await self.write_event(
            AuthOk(
                session_id=self.session_id,
                user_id=self.user_id,
                area=self.area,
                server_name=self.hub.settings.hub.name,
            ).event()
        )
        await self.hub.register(self)
        _LOGGER.info(
            "Satellite %s (%s) connected from %s: user=%s area=%s (%s)",
            self.satellite_id,
            self.name or "-",
            self.peer,
            self.user_id,
            self.area,
            "device credential" if device is not None else "master token",
        )
        return True

    async def revoked(self, text: str = "this device's credential was revoked") -> None:
        """Close this session with an ``unauthorized`` error: the registry no longer allows it (its
        device was revoked or re-paired, or its id was paired while it used the master token)."""
        if self._closing:
            return
        self._closing = True
        _LOGGER.warning("Satellite %s: closing its session: %s", self.satellite_id, text)
        with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
            async with asyncio.timeout(1.0):  # a peer that reads nothing must not hold us up
                await self.write_error(text, "unauthorized")
        self.writer.close()  # the reader loop sees EOF and ends

    # -- audio ---------------------------------------------------------------------------------

    async def _on_audio(self, chunk: AudioChunk) -> None:
        if self._converter is None:  # audio without audio-start: take the chunk's own format
            try:
                self._converter = AudioConverter(chunk.rate, chunk.width, chunk.channels)
            except AudioFormatError as err:
                await self.write_error(str(err), "bad-audio")
                return
        try:
            audio = self._converter.convert(chunk.audio)
        except AudioFormatError as err:
            await self.write_error(str(err), "bad-audio")
            return
        await self._route(audio)

    async def _flush_audio(self) -> None:
        if self._converter is not None:
            tail = self._converter.flush()
            if tail:
                await self._route(tail)

    async def _route(self, audio: bytes) -> None:
        if not audio:
            return
        run = self.turn
        if run is not None and run.wants_audio:
            run.feed_audio(audio)
            return
        wake = self._wake
        if self._wake_mode and wake is not None:
            self._recent += audio
            if len(self._recent) > WAKE_RING_BYTES:
                del self._recent[: len(self._recent) - WAKE_RING_BYTES]
            # ~0.1 ms per 10 ms of audio, but model inference never runs on the event loop.
            # The session's one worker thread also runs the VAD and every reset, so calls never overlap.
            loop = asyncio.get_running_loop()
            try:
                detected = await loop.run_in_executor(self._vad_executor, wake.process, audio)
            except RuntimeError:  # the session is closing: its worker or its detector is gone
                return
            if detected:
                self._pending_wake_at = time.monotonic()
                # The turn's own audio never reaches the detector: start it afresh (no refractory
                # period left over) for when it listens again, e.g. for a barge-in.
                try:
                    await loop.run_in_executor(self._vad_executor, wake.reset)
                except RuntimeError:
                    return
                await self.write_event(Detection(name=wake.model).event())
                # STT gets the whole wake phrase: the words around the command's start matter.
                wake_audio, self._recent = bytes(self._recent[-WAKE_PHRASE_BYTES:]), bytearray()
                await self._start_run(
                    "asr", self._end_stage, wake_phrase_s=len(wake_audio) / BYTES_PER_S, wake_model=wake.model
                )
                if self.turn is not None and wake_audio:
                    self.turn.feed_audio(wake_audio)

    # -- turns ---------------------------------------------------------------------------------

    async def _on_run_pipeline(self, event: Event) -> None:
        try:
            request = RunPipeline.from_event(event)
        except (ValueError, KeyError) as err:
            await self.write_error(f"bad run-pipeline: {err}", "bad-event")
            return
        language = event.data.get("language")
        if language is not None:
            if not isinstance(language, str) or not LANGUAGE_CODE.match(language):
                await self.write_error(f"bad language {language!r}: use a code like en or fr-FR", "bad-event")
                return
            self._language = language
        start = request.start_stage
        end = request.end_stage
        end_stage = "tts" if end == PipelineStage.TTS else "handle"
        if end not in (PipelineStage.TTS, PipelineStage.HANDLE):
            await self.write_error(
                f"end_stage {end.value!r} is not supported; use handle or tts", "bad-event"
            )
            return
        if start == PipelineStage.WAKE:
            try:
                self._ensure_wake()
            except Exception as err:  # model missing: a clear error, the session stays usable
                await self.write_error(f"hub wake word unavailable: {err}", "wake-unavailable")
                return
            await self._barge_in("run-pipeline")
            self._wake_mode = True
            self._end_stage = end_stage
            return
        if start == PipelineStage.ASR:
            self._wake_mode = False
            wake_ms = event.data.get("wake_phrase_ms", 0)  # the satellite's pre-roll (our extension)
            if not isinstance(wake_ms, int | float) or isinstance(wake_ms, bool) or not 0 <= wake_ms <= 5000:
                await self.write_error(f"bad wake_phrase_ms {wake_ms!r}: 0 to 5000", "bad-event")
                return
            if event.data.get(FOLLOW_UP_KEY) is True and self._follow_up:
                await self._start_run("asr", end_stage, follow_up=True)  # the reply, no wake word
                return
            # The wake word the satellite named in its detection, else the household's (configured).
            model, self._detected_model = self._detected_model or self.hub.settings.hub.wake_word, None
            await self._start_run("asr", end_stage, wake_phrase_s=wake_ms / 1000, wake_model=model)
        elif start in (PipelineStage.HANDLE, PipelineStage.INTENT):
            await self._start_run("handle", end_stage)
        else:
            await self.write_error(f"start_stage {start.value!r} is not supported", "bad-event")

    def _ensure_wake(self) -> None:
        if self._wake is None:
            from jarvis.protocol.wake import WakeWordDetector

            settings = self.hub.settings.hub
            self._wake = WakeWordDetector(settings.wake_word, engine=settings.wake_engine)

    async def _barge_in(self, why: str) -> None:
        """Cancel the running turn (if any) and wait until it has wound down."""
        task = self.turn_task
        if task is None or task.done():
            return
        _LOGGER.info(
            "%s: barge-in (%s) cancels turn %s", self.satellite_id, why, self.turn and self.turn.info.turn_id
        )
        await cancel_and_wait(task)

    async def _start_run(
        self,
        start_stage: str,
        end_stage: str,
        wake_phrase_s: float = 0.0,
        wake_model: str | None = None,
        follow_up: bool = False,
    ) -> None:
        await self._barge_in("run-pipeline")
        self._follow_up = False  # one reply per question: any new turn closes the window
        if start_stage == "asr" and self._vad is None:
            self._vad = make_vad(self.hub.settings.hub.vad)
        wake_at, self._pending_wake_at = self._pending_wake_at, None
        info = TurnInfo(
            user_id=self.user_id,
            satellite_id=self.satellite_id,
            conversation_id=self.conversation_id,
            area=self.area,
            language=self._language or self.hub.services.language,
            follow_up=follow_up,
        )
        run = PipelineRun(
            self.hub.services,
            info,
            self._on_pipeline_event,
            start_stage=start_stage,
            end_stage=end_stage,
            vad=self._vad,
            vad_executor=self._vad_executor,
            wake_at=wake_at,
            wake_phrase_s=wake_phrase_s,
            wake_model=wake_model,
            no_speech_timeout_s=self.hub.settings.hub.follow_up_s if follow_up else None,
        )
        self.turn = run
        self.turn_task = asyncio.create_task(self._run_turn(run), name=f"turn-{info.turn_id}")

    async def _run_turn(self, run: PipelineRun) -> None:
        try:
            await run.run()
        finally:
            if self.turn is run:
                self.turn = None
            if self._wake is not None:
                try:
                    await asyncio.get_running_loop().run_in_executor(self._vad_executor, self._wake.reset)
                except RuntimeError:  # the session is closing: its worker thread is already shut down
                    pass

    async def _on_pipeline_event(self, pe: PipelineEvent) -> None:
        event = _to_wyoming(pe)
        if pe.type == PipelineEventType.BRAIN_EVENT and pe.event is not None:
            if TimerFinished.is_type(pe.event.type):
                # The hub's own countdown (TimerBook) rings this timer; the brain's, relayed on the
                # connection of a turn that happens to be running, would ring it a second time.
                return
            if Announce.is_type(pe.event.type):
                self._announce_for_the_brain(pe.event)  # its announce tool, after the spoken "yes"
                return
            self.hub.timers.handle(self.satellite_id, pe.event)
        if pe.type == PipelineEventType.EXPECTS_ANSWER:
            event = self._follow_up_after()
        if event is None:
            return
        try:
            await self.write_event(event)
        except (ConnectionError, RuntimeError) as err:
            _LOGGER.debug("%s: cannot send %s: %s", self.satellite_id, event.type, err)

    # -- announcements -------------------------------------------------------------------------

    async def _on_announce(self, event: Event) -> None:
        """``jarvis-announce`` from an administrator (the master token): speak it on the targets."""
        if not self.master_token:
            await self.write_error("announcements need the master token (jarvis announce)", "unauthorized")
            return
        request = Announce.from_event(event)
        if (problem := request.problem()) is not None:
            await self.write_error(problem, "bad-event")
            return
        targets = self.hub.announce_targets(request, exclude=self)
        if not targets:
            if request.satellite_id is not None:
                missing = f"satellite {request.satellite_id} is not connected"
            elif request.area is not None:
                missing = f"no satellite of area {request.area} is connected"
            else:
                missing = "no satellite is connected"
            await self.write_error(missing, "not-found")
            return
        results = await asyncio.gather(
            *(target.announce(request.text) for target in targets), return_exceptions=True
        )
        played = [t.satellite_id for t, ok in zip(targets, results, strict=True) if ok is True]
        failed = [t.satellite_id for t, ok in zip(targets, results, strict=True) if ok is not True]
        _LOGGER.info("Announcement on %s (failed: %s)", played, failed)
        await self.write_event(Announced(played, failed).event())

    def _announce_for_the_brain(self, event: Event) -> None:
        """The brain's ``announce`` tool ran (it asked for a yes first): speak it on the targets but
        this satellite, in the background (the answer here goes on)."""
        request = Announce.from_event(event)
        if (problem := request.problem()) is not None:
            _LOGGER.warning("Ignoring the brain's bad jarvis-announce: %s", problem)
            return
        targets = self.hub.announce_targets(request, exclude=self)
        _LOGGER.info("The brain announces on %s", [t.satellite_id for t in targets])
        for target in targets:
            self.hub.spawn(target.announce(request.text), f"announce {target.satellite_id}")

    async def announce(self, text: str) -> bool:
        """Speak ``text`` here now: a running turn is cut (like a barge-in), then the hub's TTS audio
        is relayed as an answer is (``synthesize``, ``audio-*``). False if it could not be spoken."""
        await self._barge_in("announcement")
        return await self._speak_announcement(text) is None

    async def _speak_announcement(self, text: str) -> str | None:
        """``synthesize`` then the hub's TTS audio for ``text``, relayed here; None when spoken, else
        why not (logged). An interrupted stream is still closed with ``audio-stop``."""
        timeout = self.hub.services.service_timeout_s
        started = False
        try:
            await self.write_event(Synthesize(text=text).event())
            async with self.hub.services.tts.connect() as tts:
                await tts.write_event(Synthesize(text=text).event())
                while True:
                    event = await tts.read_event(timeout=timeout)
                    if event is None:
                        raise ConnectionError("TTS closed the connection")
                    if Error.is_type(event.type):
                        raise ConnectionError(f"TTS failed: {Error.from_event(event).text}")
                    if AudioStart.is_type(event.type) or AudioChunk.is_type(event.type):
                        started = True
                        await self.write_event(event)
                    elif AudioStop.is_type(event.type):
                        started = False
                        await self.write_event(event)
                        return None
        except (ServiceUnavailable, ConnectionError, TimeoutError, RuntimeError) as err:
            _LOGGER.warning("Satellite %s: announcement failed: %s", self.satellite_id, err)
            return str(err) or type(err).__name__
        finally:
            if started:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.write_event(AudioStop().event())

    def _follow_up_after(self) -> Event | None:
        """The answer asks something: open the follow-up window (if configured, for a spoken answer)."""
        seconds = self.hub.settings.hub.follow_up_s
        if seconds <= 0 or self.turn is None or self.turn.end_stage != "tts":
            return None
        self._follow_up = True
        return FollowUp(seconds).event()

    async def disconnect(self) -> None:
        task = self.turn_task
        if task is not None:
            await cancel_and_wait(task)
        wake, self._wake = self._wake, None
        if wake is not None:
            # Close on the worker thread, after any process()/reset() still queued there: a
            # cancelled run_in_executor does not stop a call already running.
            self._vad_executor.submit(wake.close)
        self._vad_executor.shutdown(wait=False)
        if self.authenticated:
            self.hub.unregister(self)
            _LOGGER.info("Satellite %s disconnected", self.satellite_id)


def _auth_problem(data: dict[str, object]) -> str | None:
    """What is wrong with a ``jarvis-auth``'s identity fields (None: nothing)."""
    satellite_id = data.get("satellite_id")
    if not isinstance(satellite_id, str) or not satellite_id:
        return "satellite_id is required (a string)"
    if len(satellite_id) > MAX_LABEL_CHARS or not satellite_id.isprintable():
        return f"satellite_id must be at most {MAX_LABEL_CHARS} printable characters"
    if satellite_id.startswith(UNVERIFIED_PREFIX):
        return f"satellite_id must not start with {UNVERIFIED_PREFIX!r}"
    user_id = data.get("user_id")
    if user_id is not None and user_id != "" and not valid_user_id(user_id):
        return "user_id must be 1-64 letters, digits, '_', '.' or '-'"
    for key in ("area", "name"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > MAX_LABEL_CHARS or not value.isprintable():
            return f"{key} must be a string of at most {MAX_LABEL_CHARS} printable characters"
    return None


def _to_wyoming(pe: PipelineEvent) -> Event | None:
    t = pe.type
    d = pe.data
    if t == PipelineEventType.VOICE_STARTED:
        return VoiceStarted().event()
    if t == PipelineEventType.VOICE_STOPPED:
        return VoiceStopped().event()
    if t == PipelineEventType.TRANSCRIPT:
        return Transcript(text=d["text"], language=d.get("language")).event()
    if t == PipelineEventType.BRAIN_EVENT:
        return pe.event
    if t == PipelineEventType.SENTENCE:
        return Synthesize(text=d["text"]).event()
    if t == PipelineEventType.AUDIO_START:
        return AudioStart(rate=d["rate"], width=d["width"], channels=d["channels"]).event()
    if t == PipelineEventType.AUDIO_CHUNK:
        return AudioChunk(
            rate=d["rate"], width=d["width"], channels=d["channels"], audio=pe.payload or b""
        ).event()
    if t == PipelineEventType.AUDIO_STOP:
        return AudioStop().event()
    if t == PipelineEventType.ERROR:
        return Error(text=d["text"], code=d["code"]).event()
    if t == PipelineEventType.METRICS:
        return TurnMetrics(
            turn_id=d["turn_id"],
            stages_ms=d["stages_ms"],
            outcome=d.get("outcome"),
            endpoint=d.get("endpoint"),
        ).event()
    return None
