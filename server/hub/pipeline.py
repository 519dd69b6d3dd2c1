"""One voice turn: audio -> VAD endpoint -> STT (streamed) -> brain -> TTS (sentence by sentence) -> audio.

A :class:`PipelineRun` is created per turn by the satellite's session. It reads 16 kHz/16-bit/mono
audio that the session converts and hands over with :meth:`PipelineRun.feed_audio` (and
:meth:`PipelineRun.end_audio` for the satellite's ``audio-stop``), or a typed question from
:meth:`PipelineRun.set_text`, and reports everything as typed :class:`PipelineEvent`\\ s to one
callback, which the session turns into Wyoming events for the satellite. The STT connection is
opened when the run starts and audio is forwarded as it arrives, so the transcript is ready soon
after the endpoint; the VAD runs on whatever audio is queued at once, so it never falls behind.
Each ``handled-chunk`` from the brain goes to TTS at once (``synthesize-start/chunk/stop``; one
``synthesize`` per sentence for a TTS without streaming), and audio goes to the satellite as it
arrives, as one ``audio-start … audio-stop`` stream.

Stage failures raise a :class:`~.errors.PipelineError` subclass; :meth:`PipelineRun.run` turns it into
an ``error`` event (and a spoken apology when TTS works); ``finally: await self.end()`` always closes
the turn and records its metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any

from wyoming.asr import Transcribe, Transcript, TranscriptChunk
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop, NotHandled
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from jarvis.protocol.audio import TARGET_FORMAT, AudioConverter, AudioFormat
from jarvis.protocol.endpoint import HYPOTHESES_KEY, IntentProbe, IntentVerdict, SttHypothesis
from jarvis.protocol.events import ALTERNATIVES_KEY, EXPECTS_ANSWER_KEY, alternatives_of
from jarvis.protocol.logs import private
from jarvis.protocol.service import Connection
from jarvis.protocol.tasks import cancel_and_wait
from jarvis.protocol.wake import WAKE_HINT_KEY, WakeHint

from ..metrics import REGISTRY
from .endpoint import EndpointPolicy
from .errors import (
    AudioInputError,
    IntentError,
    NoSpeechError,
    PipelineError,
    SpeechToTextError,
    TextToSpeechError,
)
from .services import ServicePool, ServiceUnavailable
from .vad import Endpointer, EndpointSettings, VadEvent, VadModel

_LOGGER = logging.getLogger(__name__)

_AUDIO_BYTES_PER_S = TARGET_FORMAT.rate * TARGET_FORMAT.frame_bytes

RATE, WIDTH, CHANNELS = TARGET_FORMAT.rate, TARGET_FORMAT.width, TARGET_FORMAT.channels
_MAX_PARTIAL_CHARS = 2000
"""The partial transcript kept while the person speaks is cut here (a 15 s utterance is ~300)."""

_TURNS = REGISTRY.counter("jarvis_turns_total", "Voice turns by result", ("result",))
_ENDPOINTS = REGISTRY.counter(
    "jarvis_turn_endpoints_total", "Voice turns by the rule that ended listening (docs/hub.md)", ("rule",)
)
_ENDPOINT_SILENCE = REGISTRY.histogram(
    "jarvis_turn_endpoint_silence_seconds",
    "Silence after speech when listening ended, by the rule that ended it",
    ("rule",),
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.5, 2.0),
)
_STAGE_SECONDS = REGISTRY.histogram(
    "jarvis_turn_stage_seconds", "Time between two stamps of a turn (see docs/hub.md)", ("stage",)
)

#: (histogram label, from stamp, to stamp) recorded per turn when both stamps exist.
STAGE_SPANS: tuple[tuple[str, str, str], ...] = (
    ("endpointing", "speech_end", "endpoint"),
    ("stt", "endpoint", "transcript"),
    ("brain_first_chunk", "transcript", "first_handled_chunk"),
    ("tts_first_audio", "first_handled_chunk", "first_audio"),
    ("endpoint_to_first_audio", "endpoint", "first_audio"),
    ("speech_end_to_first_audio", "speech_end", "first_audio"),
    ("turn", "start", "done"),
)


class RunState(enum.Enum):
    """Where a turn is. Moves forward only; DONE/FAILED/CANCELLED are final."""

    CREATED = "created"
    LISTENING = "listening"
    """Audio flows to STT; no speech yet."""
    IN_SPEECH = "in-speech"
    TRANSCRIBING = "transcribing"
    """Endpoint reached; waiting for STT's transcript."""
    THINKING = "thinking"
    """Transcript sent to the brain."""
    SPEAKING = "speaking"
    """Answer audio flows to the satellite."""
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class PipelineEventType(enum.Enum):
    RUN_START = "run-start"
    VOICE_STARTED = "voice-started"
    VOICE_STOPPED = "voice-stopped"
    TRANSCRIPT = "transcript"
    BRAIN_EVENT = "brain-event"
    """An extra event from the brain for the satellite (``timer-*``); ``event`` holds it."""
    SENTENCE = "sentence"
    """A sentence of the answer goes to TTS (``data['text']``)."""
    EXPECTS_ANSWER = "expects-answer"
    """The brain's answer asks the user something (its ``handled`` context said so)."""
    AUDIO_START = "audio-start"
    AUDIO_CHUNK = "audio-chunk"
    AUDIO_STOP = "audio-stop"
    ERROR = "error"
    METRICS = "metrics"
    RUN_END = "run-end"


@dataclass(frozen=True)
class PipelineEvent:
    type: PipelineEventType
    data: dict[str, Any] = field(default_factory=dict)
    payload: bytes | None = None
    event: Event | None = None


EventCallback = Callable[[PipelineEvent], Awaitable[None]]


@dataclass
class PipelineServices:
    """What every run needs from the hub: the service pools and the timing settings."""

    stt: ServicePool
    tts: ServicePool
    brain: ServicePool
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    endpoint_policy: EndpointPolicy = field(default_factory=EndpointPolicy)
    """Fixed or semantic endpoint (:mod:`.endpoint`)."""
    service_timeout_s: float = 30.0
    audio_idle_timeout_s: float = 5.0
    """A satellite that sends no audio for this long (wall clock) has its utterance ended."""
    max_audio_backlog_s: float = 30.0
    """Audio a run holds that the VAD has not taken yet (16 kHz/16-bit mono seconds); a satellite
    that sends faster than the turn can take it has the excess dropped, with a warning."""
    language: str = "en"
    probe_unsupported: bool = False
    """The brain answered ``jarvis-intent-probe`` with an error: the semantic endpoint stays off."""
    _tts_streaming: bool | None = None

    async def tts_streaming(self) -> bool:
        """Whether the TTS supports ``synthesize-start/chunk/stop`` (asked once via ``describe``)."""
        if self._tts_streaming is None:
            info = await self.tts.describe()
            if info is None:
                return True  # unknown; try streaming, the error path is the same
            self._tts_streaming = (
                any(p.supports_synthesize_streaming for p in info.tts) if info.tts else False
            )
        return self._tts_streaming


@dataclass(frozen=True)
class TurnInfo:
    """Who, where and which conversation; sent to the brain as the transcript's ``context``."""

    user_id: str
    satellite_id: str
    conversation_id: str
    area: str | None = None
    language: str = "en"
    turn_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    follow_up: bool = False
    """The reply to an answer that asked something, heard with no wake word (docs/hub.md, "Follow-up")."""

    def context(self) -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "conversation_id": self.conversation_id,
            "user_id": self.user_id,
            "satellite_id": self.satellite_id,
            "turn_id": self.turn_id,
        }
        if self.area is not None:
            ctx["area"] = self.area
        if self.follow_up:
            # No wake word said it was for Jarvis: the brain checks that it is (prefilter, addressee).
            ctx |= {"always_listening": True, "jarvis_follow_up": True}
        return ctx


class _Closed(Exception):
    """A service closed its connection in the middle of a request."""


async def _read(conn: Connection, timeout: float | None, what: str) -> Event:
    try:
        event = await conn.read_event(timeout=timeout)
    except TimeoutError as err:
        raise TimeoutError(f"no answer from {what} within {timeout} s") from err
    if event is None:
        raise ConnectionError(f"{what} closed the connection")
    return event


class PipelineRun:
    """One turn. Create, then ``await run()`` in its own task; cancel the task for barge-in."""

    def __init__(
        self,
        services: PipelineServices,
        info: TurnInfo,
        emit: EventCallback,
        *,
        start_stage: str = "asr",
        end_stage: str = "tts",
        vad: VadModel | None = None,
        vad_executor: Executor | None = None,
        wake_at: float | None = None,
        wake_phrase_s: float = 0.0,
        wake_model: str | None = None,
        no_speech_timeout_s: float | None = None,
    ) -> None:
        """``no_speech_timeout_s``: this turn's own no-speech deadline (a follow-up's window)."""
        if start_stage not in ("asr", "handle"):
            raise ValueError(f"a run starts at 'asr' or 'handle', not {start_stage!r}")
        if end_stage not in ("handle", "tts"):
            raise ValueError(f"a run ends at 'handle' or 'tts', not {end_stage!r}")
        if start_stage == "asr" and vad is None:
            raise ValueError("an audio run needs a VAD")
        self.services = services
        self.info = info
        self._emit = emit
        self.start_stage = start_stage
        self.end_stage = end_stage
        self.vad = vad
        self.vad_executor = vad_executor
        """Where VAD inference runs (one thread per session keeps calls in order); None = the loop."""
        self.state = RunState.CREATED
        self._max_backlog_bytes = int(services.max_audio_backlog_s * _AUDIO_BYTES_PER_S)
        # One item per 10 ms of the backlog at most (a client sending tiny chunks), +1 for the end.
        self.audio: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue(
            maxsize=max(2, int(services.max_audio_backlog_s * 100) + 1)
        )
        """(16 kHz mono PCM, arrival time) from the satellite; None = the satellite's audio-stop."""
        self.audio_backlog = 0
        """Bytes in :attr:`audio` (bounded by ``max_audio_backlog_s``)."""
        self.audio_dropped = 0
        """Bytes of satellite audio dropped because the backlog was full."""
        self._audio_ended = False
        self._text: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.stamps: dict[str, float] = {"start": time.monotonic()}
        if wake_at is not None:
            self.stamps["wake"] = wake_at
        self.not_handled = False
        """The brain answered ``not-handled`` (the utterance was not for Jarvis)."""
        self.heard_language: str | None = None
        self.alternatives: tuple[str, ...] = ()
        """The STT's runners-up for the transcript (``jarvis_alternatives``), passed on to the brain."""
        """The language the STT decoded the utterance in (its ``transcript.language``), if it said."""
        self.endpoint_settings = (
            replace(services.endpoint, no_speech_timeout_s=no_speech_timeout_s)
            if no_speech_timeout_s
            else services.endpoint
        )
        self.no_reply = False
        """A follow-up window passed with no speech (nothing was sent to the brain)."""
        self.wake_phrase_s = wake_phrase_s
        """Seconds of wake-phrase audio ("hey jarvis") at the start of the utterance (the pre-roll)."""
        self.wake = WakeHint.for_model(wake_model, wake_phrase_s) if wake_model else None
        """What STT is told of it: the phrase and its length (language detection, decoder prefix)."""
        self.transcript: str | None = None
        self.partial = ""
        """The STT's ``transcript-chunk``\\ s so far (words two decodes agreed on), while speaking."""
        self.endpoint_info: dict[str, Any] = {}
        """How listening ended: ``rule`` (see :data:`.endpoint.RULES`), ``wait_ms`` (the silence the
        rule asks for), ``silence_ms`` (the silence heard when it ended)."""
        self._pending_hypothesis: tuple[int, str, str | None] | None = None
        self._verdict: tuple[int, str] | None = None
        """(samples of audio covered, the brain's verdict on their words)."""
        self._prober: asyncio.Task[None] | None = None
        self.sentences: list[str] = []
        self.audio_started = False
        self.audio_stopped = False
        self.audio_format: AudioFormat | None = None
        """Format of the answer's audio stream to the satellite, fixed by its first chunk."""
        self.error: PipelineError | None = None
        self._ended = False

    # -- inputs from the session -------------------------------------------------------------

    @property
    def wants_audio(self) -> bool:
        return self.start_stage == "asr" and self.state in (
            RunState.CREATED,
            RunState.LISTENING,
            RunState.IN_SPEECH,
        )

    @property
    def wants_text(self) -> bool:
        return self.start_stage == "handle" and not self._text.done()

    @property
    def answer_language(self) -> str:
        """The language the brain answers in: the one STT heard, else the session's first one.

        The session's setting may be a list the STT chooses from (``en,fr``); the brain needs one.
        """
        if self.heard_language and "," not in self.heard_language:
            return self.heard_language
        return self.info.language.split(",")[0].strip() or "en"

    def feed_audio(self, pcm: bytes) -> None:
        """16 kHz/16-bit/mono audio from the satellite (stamped with its arrival time).

        Beyond ``max_audio_backlog_s`` of audio not yet taken (or the queue's item cap, one slot
        always kept for the end), the audio is dropped: the turn cannot keep up, and memory stays
        bounded.
        """
        if self._audio_ended:
            return
        full_items = self.audio.qsize() >= self.audio.maxsize - 1
        if full_items or self.audio_backlog + len(pcm) > self._max_backlog_bytes:
            if not self.audio_dropped:
                _LOGGER.warning(
                    "Turn %s: more than %.0f s of audio waiting; dropping audio until it catches up",
                    self.info.turn_id,
                    self.services.max_audio_backlog_s,
                )
            self.audio_dropped += len(pcm)
            return
        self.audio_backlog += len(pcm)
        self.audio.put_nowait((pcm, time.monotonic()))

    def end_audio(self) -> None:
        """The satellite ended the utterance (``audio-stop``)."""
        if not self._audio_ended:
            self._audio_ended = True
            self.audio.put_nowait(None)  # feed_audio always leaves a slot for it

    async def _next_audio(self) -> tuple[list[tuple[bytes, float]], bool]:
        """Everything queued (waiting for at least one item): ``(chunks, ended)``.

        Taking all queued chunks at once means one VAD call per batch: if the VAD thread falls
        behind (a busy CPU), the next call covers more audio and the endpoint keeps up.
        """
        try:
            first = await asyncio.wait_for(self.audio.get(), self.services.audio_idle_timeout_s)
        except TimeoutError:
            _LOGGER.warning("Turn %s: satellite stopped sending audio", self.info.turn_id)
            return [], True
        items = [first]
        while items[-1] is not None and not self.audio.empty():
            items.append(self.audio.get_nowait())
        self.audio_backlog -= sum(len(item[0]) for item in items if item is not None)
        if items[-1] is None:
            return [i for i in items[:-1] if i is not None], True
        return [i for i in items if i is not None], False

    def set_text(self, text: str) -> None:
        if not self._text.done():
            self._text.set_result(text)

    def stamp(self, name: str, when: float | None = None) -> None:
        self.stamps.setdefault(name, time.monotonic() if when is None else when)

    async def emit(self, type_: PipelineEventType, data: dict[str, Any] | None = None, **kw: Any) -> None:
        await self._emit(PipelineEvent(type_, data or {}, **kw))

    # -- the turn -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Run the whole turn; errors become ``error`` events; cancellation propagates."""
        await self.emit(PipelineEventType.RUN_START, {"turn_id": self.info.turn_id})
        try:
            if self.start_stage == "asr":
                text = await self._listen_and_transcribe()
            else:
                try:
                    text = await asyncio.wait_for(asyncio.shield(self._text), self.services.service_timeout_s)
                except TimeoutError as err:
                    raise AudioInputError("bad-event", "a text turn needs a transcript event") from err
                self.stamp("transcript")
            self.transcript = text
            await self._handle_and_speak(text)
            self.state = RunState.DONE
        except PipelineError as err:
            if isinstance(err, NoSpeechError) and self.info.follow_up:
                # Nobody answered the question: the window closes quietly, nothing runs.
                self.state = RunState.DONE
                self.no_reply = True
                return
            self.state = RunState.FAILED
            self.error = err
            _LOGGER.warning("Turn %s failed: %s (%s)", self.info.turn_id, err.message, err.code)
            await self.emit(PipelineEventType.ERROR, {"code": err.code, "text": err.message})
            await self._apologize(err)
        except asyncio.CancelledError:
            self.state = RunState.CANCELLED
            raise
        except Exception as err:  # a bug must end this turn cleanly, not the session
            _LOGGER.exception("Turn %s failed unexpectedly", self.info.turn_id)
            self.state = RunState.FAILED
            self.error = PipelineError("internal", f"internal error: {err}")
            await self.emit(PipelineEventType.ERROR, {"code": "internal", "text": self.error.message})
        finally:
            await asyncio.shield(self.end())

    async def end(self) -> None:
        """Close the turn once: close open audio, record and report metrics."""
        if self._ended:
            return
        self._ended = True
        if self.audio_started and not self.audio_stopped:
            self.audio_stopped = True
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.emit(PipelineEventType.AUDIO_STOP)
        self.stamp("done")
        result = {
            RunState.DONE: "ok",
            RunState.CANCELLED: "cancelled",
        }.get(self.state, self.error.code if self.error else "failed")
        _TURNS.labels(result=result).inc()
        origin = self.stamps.get("wake", self.stamps["start"])
        stages_ms = {
            k: round((v - origin) * 1000, 1) for k, v in sorted(self.stamps.items(), key=lambda i: i[1])
        }
        for label, a, b in STAGE_SPANS:
            if a in self.stamps and b in self.stamps:
                _STAGE_SECONDS.labels(stage=label).observe(max(0.0, self.stamps[b] - self.stamps[a]))
        endpoint = dict(self.endpoint_info)
        if rule := endpoint.get("rule"):
            _ENDPOINTS.labels(rule=rule).inc()
            _ENDPOINT_SILENCE.labels(rule=rule).observe(float(endpoint.get("silence_ms", 0.0)) / 1000)
        _LOGGER.info(
            "Turn %s %s sat=%s %s%s text=%r",
            self.info.turn_id,
            result,
            self.info.satellite_id,
            " ".join(f"{k}={v:.0f}ms" for k, v in stages_ms.items()),
            f" endpoint={endpoint['rule']}/{endpoint.get('silence_ms', 0):.0f}ms" if endpoint else "",
            private(self.transcript, _LOGGER),  # the words: DEBUG or JARVIS_LOG_TRANSCRIPTS=1
        )
        if result != "ok":
            outcome = "cancelled" if result == "cancelled" else "failed"
        elif self.sentences:
            outcome = "answered"
        elif self.no_reply:
            outcome = "no-reply"
        else:
            outcome = "not-handled" if self.not_handled else "silent"
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.emit(
                PipelineEventType.METRICS,
                {"turn_id": self.info.turn_id, "stages_ms": stages_ms, "outcome": outcome}
                | ({"endpoint": endpoint} if endpoint else {}),
            )
            await self.emit(PipelineEventType.RUN_END, {"result": result})

    # -- STT -----------------------------------------------------------------------------------

    async def _listen_and_transcribe(self) -> str:
        assert self.vad is not None
        loop = asyncio.get_running_loop()
        policy = self.services.endpoint_policy
        # VAD inference (silero: ~0.3-1.2 ms per 32 ms window) runs off the event loop, in the
        # session's own thread, so calls stay in order and never overlap a later turn's reset.
        endpointer = await loop.run_in_executor(
            self.vad_executor, Endpointer, self.vad, self.endpoint_settings, self.wake_phrase_s
        )
        silence_s = self.endpoint_settings.silence_s
        endpointer.silence_s, fallback_rule = policy.without_verdict(silence_s)
        self.state = RunState.LISTENING
        reader: asyncio.Task[tuple[str, str | None]] | None = None
        try:
            async with self.services.stt.connect() as stt:
                self.stamp("stt_open")
                # STT answers while the person speaks (hypotheses, partial chunks) and after the
                # endpoint (the transcript): one reader takes it all, so nothing waits unread.
                reader = asyncio.create_task(
                    self._read_stt(stt, endpointer), name=f"stt-read {self.info.turn_id}"
                )
                context: dict[str, Any] = {HYPOTHESES_KEY: True} if policy.semantic else {}
                if self.wake is not None:
                    context[WAKE_HINT_KEY] = self.wake.to_context()
                await stt.write_event(
                    Transcribe(language=self.info.language, context=context or None).event()
                )
                await stt.write_event(AudioStart(rate=RATE, width=WIDTH, channels=CHANNELS).event())
                timestamp = 0
                fed = 0  # samples given to the endpointer so far
                while True:
                    if reader.done():
                        reader.result()  # the STT failed or closed: raise its error now
                    batch, ended = await self._next_audio()
                    if batch:
                        pcm = b"".join(chunk for chunk, _ in batch)
                        await stt.write_event(
                            AudioChunk(RATE, WIDTH, CHANNELS, pcm, timestamp=timestamp).event()
                        )
                        timestamp += len(pcm) * 1000 // (RATE * WIDTH)
                        ends = []  # (stream position after the chunk, when the chunk arrived)
                        for chunk, arrived in batch:
                            fed += len(chunk) // WIDTH
                            ends.append((fed, arrived))
                        applied = self._verdict  # (the prober may replace it while the VAD runs)
                        if applied is not None:
                            endpointer.cover(applied[0], policy.for_verdict(applied[1], silence_s)[0])
                        end_before = endpointer.speech_end_sample
                        decisions = await loop.run_in_executor(self.vad_executor, endpointer.process, pcm)
                        end = endpointer.speech_end_sample
                        if end is not None and end != end_before:
                            # the acoustic end of speech: when the chunk holding it arrived
                            self.stamps["speech_end"] = next(
                                (t for pos, t in ends if pos >= end), ends[-1][1]
                            )
                        if VadEvent.SPEECH_START in decisions:
                            self.state = RunState.IN_SPEECH
                            self.stamp("speech_start")
                            await self.emit(PipelineEventType.VOICE_STARTED)
                        if VadEvent.NO_SPEECH in decisions:
                            raise NoSpeechError("no-speech", "No speech was heard")
                        if VadEvent.ENDPOINT in decisions:
                            self._record_endpoint(endpointer, applied, fallback_rule, silence_s)
                            break
                    if ended:  # the satellite ended the utterance (audio-stop, or it went quiet)
                        if endpointer.speech_start_sample is None:
                            raise NoSpeechError("no-speech", "No speech was heard")
                        self.endpoint_info = {
                            "rule": "audio-stop",
                            "silence_ms": round(endpointer.silence_run_s * 1000, 1),
                        }
                        break
                self.stamp("endpoint")
                self.state = RunState.TRANSCRIBING
                await self.emit(PipelineEventType.VOICE_STOPPED)
                await stt.write_event(AudioStop().event())
                text, language = await asyncio.wait_for(
                    asyncio.shield(reader), self.services.service_timeout_s
                )
                if language:
                    self.heard_language = language
        except ServiceUnavailable as err:
            raise SpeechToTextError("stt-unavailable", str(err)) from err
        except TimeoutError as err:
            raise SpeechToTextError(
                "stt-unavailable",
                f"speech-to-text failed: no answer from STT within {self.services.service_timeout_s} s",
            ) from err
        except ConnectionError as err:
            raise SpeechToTextError("stt-unavailable", f"speech-to-text failed: {err}") from err
        finally:
            if reader is not None:
                await cancel_and_wait(reader)
            if self._prober is not None:
                await cancel_and_wait(self._prober)
        self.stamp("transcript")
        text = text.strip()
        transcript: dict[str, Any] = {"text": text}
        if self.heard_language:
            transcript["language"] = self.heard_language
        await self.emit(PipelineEventType.TRANSCRIPT, transcript)
        if not text:
            raise NoSpeechError("no-text", "Nothing was recognized")
        return text

    def _record_endpoint(
        self, endpointer: Endpointer, verdict: tuple[int, str] | None, fallback_rule: str, silence_s: float
    ) -> None:
        """Which rule ended listening, the silence it asks for and the silence heard (turn metrics)."""
        if endpointer.end_reason == "max-length":
            rule, wait = "max-length", None
        elif endpointer.end_covered and verdict is not None:
            wait, rule = self.services.endpoint_policy.for_verdict(verdict[1], silence_s)
        else:
            rule, wait = fallback_rule, endpointer.silence_s
        info: dict[str, Any] = {
            "rule": rule,
            "silence_ms": round(endpointer.end_silence_samples * 1000 / RATE, 1),
        }
        if wait is not None:
            info["wait_ms"] = round(wait * 1000, 1)
        self.endpoint_info = info

    async def _read_stt(self, stt: Connection, endpointer: Endpointer) -> tuple[str, str | None]:
        """Everything STT sends for this utterance; returns the final ``(text, language)``.

        While audio flows: ``transcript-chunk`` (kept as :attr:`partial`, bounded) and
        ``jarvis-stt-hypothesis`` (judged by the brain for the semantic endpoint, one probe at a time).
        """
        while True:
            event = await stt.read_event()
            if event is None:
                raise ConnectionError("STT closed the connection")
            if Transcript.is_type(event.type):
                heard = Transcript.from_event(event)
                self.alternatives = alternatives_of(heard.context)
                return heard.text or "", heard.language
            if Error.is_type(event.type):
                raise SpeechToTextError("stt-failed", Error.from_event(event).text)
            if TranscriptChunk.is_type(event.type):
                if len(self.partial) < _MAX_PARTIAL_CHARS:
                    self.partial = (self.partial + TranscriptChunk.from_event(event).text)[
                        :_MAX_PARTIAL_CHARS
                    ]
            elif SttHypothesis.is_type(event.type):
                self._on_hypothesis(SttHypothesis.from_event(event), endpointer)

    # -- the semantic endpoint -----------------------------------------------------------------

    def _on_hypothesis(self, hypothesis: SttHypothesis, endpointer: Endpointer) -> None:
        """A decode of the utterance so far: have the brain judge it if it covers all the speech."""
        if not self.services.endpoint_policy.semantic or self.services.probe_unsupported:
            return
        covered = hypothesis.audio_ms * RATE // 1000
        end = endpointer.speech_end_sample
        if end is None or covered < end or not hypothesis.text.strip():
            return  # speech went on after the audio it covers: already stale
        self.stamp("hypothesis")
        self._pending_hypothesis = (covered, hypothesis.text, hypothesis.language)
        if self._prober is None or self._prober.done():
            self._prober = asyncio.create_task(self._probe_loop(), name=f"intent-probe {self.info.turn_id}")

    async def _probe_loop(self) -> None:
        """Judge the newest hypothesis until none is waiting (one probe in flight per turn)."""
        while self._pending_hypothesis is not None:
            covered, text, language = self._pending_hypothesis
            self._pending_hypothesis = None
            verdict = await self._probe(text, language or self.answer_language)
            if verdict is not None and (self._verdict is None or covered >= self._verdict[0]):
                self._verdict = (covered, verdict)
                self.stamp("verdict")

    async def _probe(self, text: str, language: str) -> str | None:
        """The brain's verdict on ``text``, or None if it could not say (logged, never raised)."""
        services = self.services
        try:
            async with services.brain.connect() as brain:
                await brain.write_event(IntentProbe(text, language).event())
                while True:
                    event = await _read(brain, services.endpoint_policy.probe_timeout_s, "the brain")
                    if IntentVerdict.is_type(event.type):
                        return IntentVerdict.from_event(event).verdict
                    if Error.is_type(event.type):
                        err = Error.from_event(event)
                        if err.code in ("unsupported-event", "unauthorized"):
                            if not services.probe_unsupported:
                                _LOGGER.warning(
                                    "The brain cannot judge partial transcripts (%s): semantic endpoint off",
                                    err.text,
                                )
                            services.probe_unsupported = True
                        return None
        except (ServiceUnavailable, ConnectionError, TimeoutError) as err:
            _LOGGER.debug("Turn %s: no intent verdict: %s", self.info.turn_id, err)
            return None

    # -- brain and TTS -------------------------------------------------------------------------

    async def _handle_and_speak(self, text: str) -> None:
        self.state = RunState.THINKING
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaker: asyncio.Task[None] | None = None
        if self.end_stage == "tts":
            # Open the TTS stream now, while the brain thinks: the first sentence goes out at once.
            speaker = asyncio.create_task(self._speak(sentences))
        try:
            try:
                async with self.services.brain.connect() as brain:
                    self.stamp("brain_request")
                    context = self.info.context()
                    if self.alternatives:  # the STT's runners-up, for the brain's intents only
                        context[ALTERNATIVES_KEY] = list(self.alternatives)
                    await brain.write_event(
                        Transcript(text=text, context=context, language=self.answer_language).event()
                    )
                    while True:
                        event = await _read(brain, self.services.service_timeout_s, "the brain")
                        answer: str | None = None
                        finished = False
                        if HandledChunk.is_type(event.type):
                            answer = HandledChunk.from_event(event).text
                            self.stamp("first_handled_chunk")
                        elif HandledStart.is_type(event.type):
                            self.stamp("handled_start")
                            continue
                        elif HandledStop.is_type(event.type):
                            finished = True
                        elif Handled.is_type(event.type) or NotHandled.is_type(event.type):
                            self.not_handled = NotHandled.is_type(event.type)
                            reply_context = event.data.get("context")
                            if (
                                isinstance(reply_context, dict)
                                and reply_context.get(EXPECTS_ANSWER_KEY) is True
                            ):
                                await self.emit(PipelineEventType.EXPECTS_ANSWER)
                            # A streaming brain repeats the whole answer in `handled` (for Home
                            # Assistant) before `handled-stop`: speak it only if no chunk came.
                            if not self.sentences:
                                answer = event.data.get("text") or ""
                                self.stamp("first_handled_chunk")
                            finished = "handled_start" not in self.stamps
                        elif Error.is_type(event.type):
                            err = Error.from_event(event)
                            raise IntentError(err.code or "brain-failed", err.text)
                        else:
                            await self.emit(PipelineEventType.BRAIN_EVENT, event=event)
                            continue
                        if answer and answer.strip():
                            await self._sentence(answer.strip(), sentences)
                        if speaker is not None and speaker.done():
                            speaker.result()  # TTS failed: raise its error now
                        if finished:
                            self.stamp("handled_stop")
                            break
            except ServiceUnavailable as err:
                raise IntentError("brain-unavailable", str(err)) from err
            except (ConnectionError, TimeoutError) as err:
                raise IntentError("brain-unavailable", f"the brain failed: {err}") from err
            await sentences.put(None)
            if speaker is not None:
                await speaker
        finally:
            if speaker is not None:
                await cancel_and_wait(speaker)

    async def _sentence(self, text: str, queue: asyncio.Queue[str | None]) -> None:
        self.sentences.append(text)
        await self.emit(PipelineEventType.SENTENCE, {"text": text})
        if self.end_stage == "tts":
            await queue.put(text)

    async def _speak(self, sentences: asyncio.Queue[str | None]) -> None:
        """Send sentences to TTS as they come and relay its audio; raises TextToSpeechError."""
        try:
            streaming = await self.services.tts_streaming()
            async with self.services.tts.connect() as tts:
                if streaming:
                    await self._speak_streaming(tts, sentences)
                else:
                    await self._speak_per_sentence(tts, sentences)
        except ServiceUnavailable as err:
            raise TextToSpeechError("tts-unavailable", str(err)) from err
        except (ConnectionError, TimeoutError) as err:
            raise TextToSpeechError("tts-unavailable", f"text-to-speech failed: {err}") from err
        if self.audio_started and not self.audio_stopped:
            self.audio_stopped = True
            await self.emit(PipelineEventType.AUDIO_STOP)

    def _voice(self) -> SynthesizeVoice:
        return SynthesizeVoice(language=self.answer_language)

    async def _speak_streaming(self, tts: Connection, sentences: asyncio.Queue[str | None]) -> None:
        async def send() -> None:
            # The voice of the answer's language (TTS falls back to its default voice, and says so).
            await tts.write_event(SynthesizeStart(voice=self._voice()).event())
            while (sentence := await sentences.get()) is not None:
                self.stamp("tts_request")
                await tts.write_event(SynthesizeChunk(text=sentence + " ").event())
            await tts.write_event(SynthesizeStop().event())

        sender = asyncio.create_task(send())
        relay = _AudioRelay(self)
        try:
            while True:
                if sender.done() and sender.exception() is not None:
                    sender.result()
                # Before the first sentence went out, TTS has nothing to say: the brain's own timeout
                # bounds that wait. After it, TTS must answer within the service timeout.
                waiting = "tts_request" in self.stamps
                event = await _read(tts, self.services.service_timeout_s if waiting else None, "TTS")
                if SynthesizeStopped.is_type(event.type):
                    break
                if Error.is_type(event.type):
                    raise TextToSpeechError("tts-failed", Error.from_event(event).text)
                await relay.handle(event)
            await sender
        finally:
            await cancel_and_wait(sender)

    async def _speak_per_sentence(self, tts: Connection, sentences: asyncio.Queue[str | None]) -> None:
        relay = _AudioRelay(self)
        while (sentence := await sentences.get()) is not None:
            self.stamp("tts_request")
            await tts.write_event(Synthesize(text=sentence, voice=self._voice()).event())
            while True:
                event = await _read(tts, self.services.service_timeout_s, "TTS")
                if Error.is_type(event.type):
                    raise TextToSpeechError("tts-failed", Error.from_event(event).text)
                await relay.handle(event)
                if AudioStop.is_type(event.type):
                    break

    async def _apologize(self, err: PipelineError) -> None:
        """Speak the error's apology if TTS works; never raises (the error was already reported)."""
        if err.apology is None or self.end_stage != "tts" or self.audio_stopped:
            return
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        await self._sentence(err.apology, queue)
        await queue.put(None)
        try:
            await self._speak(queue)
        except PipelineError as tts_err:
            _LOGGER.debug("No spoken apology: %s", tts_err.message)


class _AudioRelay:
    """TTS audio (one ``audio-start/stop`` per sentence) -> one continuous stream to the satellite.

    ``audio-start`` goes to the satellite with the first non-empty chunk (an empty answer sends no
    audio at all); later sentences in another format are converted to the stream's format.
    """

    def __init__(self, run: PipelineRun) -> None:
        self.run = run
        self.converter: AudioConverter | None = None
        self.source: AudioFormat | None = None

    def _begin(self, fmt: AudioFormat) -> None:
        self.source = fmt
        out = self.run.audio_format or fmt
        self.converter = None if fmt == out else AudioConverter(fmt.rate, fmt.width, fmt.channels, out=out)

    async def _send(self, audio: bytes) -> None:
        run = self.run
        if not audio or self.source is None:
            return
        if run.audio_format is None:
            run.audio_format = self.source
        out = run.audio_format
        fmt = {"rate": out.rate, "width": out.width, "channels": out.channels}
        if not run.audio_started:
            run.audio_started = True
            run.state = RunState.SPEAKING
            await run.emit(PipelineEventType.AUDIO_START, fmt)
        run.stamp("first_audio")
        await run.emit(PipelineEventType.AUDIO_CHUNK, fmt, payload=audio)

    async def handle(self, event: Event) -> None:
        if AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            self._begin(AudioFormat(start.rate, start.width, start.channels))
        elif AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            if self.source is None:  # a TTS that skipped audio-start
                self._begin(AudioFormat(chunk.rate, chunk.width, chunk.channels))
            await self._send(self.converter.convert(chunk.audio) if self.converter else chunk.audio)
        elif AudioStop.is_type(event.type) and self.converter is not None:
            await self._send(self.converter.flush())
