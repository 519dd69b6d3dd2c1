"""One TTS connection: ``synthesize`` and the streaming ``synthesize-start/chunk/stop`` protocol.

Reading and speaking are decoupled: :meth:`TtsHandler.handle_event` only splits text into sentences
and puts work on a per-connection queue; one speaker task per connection takes it in order,
synthesizes each sentence in the engine's pool and sends its audio in small chunks. So text keeps
arriving while earlier sentences are synthesized, and the first sentence is spoken before the
stream ends. When the client disconnects the speaker task is cancelled, which also stops the
inference that is running for it.

Event flow (one ``audio-start`` per request, even for a multi-sentence stream)::

    synthesize(text)                     -> audio-start, audio-chunk..., audio-stop
    synthesize-start, synthesize-chunk..., [synthesize(text)], synthesize-stop
                                         -> audio-start, audio-chunk..., audio-stop, synthesize-stopped

A ``synthesize`` that arrives while a stream is open is Home Assistant's compatibility copy of the
streamed text and is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from jarvis.protocol.service import ServiceHandler
from jarvis.protocol.tasks import cancel_and_wait
from jarvis.protocol.wire import DEFAULT_LIMITS, WireLimits

from .engine import CHANNELS, SAMPLE_WIDTH, PiperEngine, VoiceError
from .text import SentenceSplitter, clean_for_speech, speak_clock_times, truncate_text
from .voices import Choice, VoiceBook

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class HandlerSettings:
    """Per-connection behaviour shared by all connections of a server."""

    samples_per_chunk: int = 1024
    """Samples per ``audio-chunk`` event."""
    max_text_chars: int = 5000
    """Longest text spoken per request (``synthesize`` text or a whole stream); the rest is dropped
    with an ``error`` (code ``text-too-long``)."""
    split_first_clause: bool = True
    """Cut a reply's first sentence at its first clause boundary for a faster first audio."""
    max_queued_requests: int = 16
    """Requests (a ``synthesize`` or a whole stream) one connection may have waiting or being
    spoken; one more is refused with an ``error`` (code ``queue-full``) and dropped. (Unbounded,
    15,000 queued requests once raised the server's RSS by 165 MB.)"""


@dataclass(frozen=True)
class _Begin:
    speaker_id: int | None
    choice: Choice


@dataclass(frozen=True)
class _Sentence:
    text: str


@dataclass(frozen=True)
class _End:
    streaming: bool


_Work = _Begin | _Sentence | _End


@dataclass
class _Request:
    """Text intake of one request (a ``synthesize`` or an open stream)."""

    splitter: SentenceSplitter
    chars: int = 0
    truncated: bool = False
    refused: bool = False
    """The queue was full when it began: its text is read and dropped."""


class TtsHandler(ServiceHandler):
    """Handles one client of the TTS service."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        engine: PiperEngine,
        info: Info,
        settings: HandlerSettings,
        limits: WireLimits = DEFAULT_LIMITS,
        voices: VoiceBook | None = None,
    ) -> None:
        super().__init__(reader, writer, limits)
        self.engine = engine
        self.voices = voices or VoiceBook(engine)
        """The loaded voices; a request picks one by its ``voice`` (name, else language)."""
        self.info = info
        self.settings = settings
        self._stream: _Request | None = None
        self._queue: asyncio.Queue[_Work] = asyncio.Queue()
        self._refused = 0
        self._pending = 0
        """Requests begun and not yet finished by the speaker (bounded by max_queued_requests)."""
        self._speaker: asyncio.Task[None] | None = None

    # -- reading side ------------------------------------------------------------------------

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(self.info.event())
            return True
        if Synthesize.is_type(event.type):
            return await self._on_synthesize(event)
        if SynthesizeStart.is_type(event.type):
            return await self._on_stream_start(event)
        if SynthesizeChunk.is_type(event.type):
            return await self._on_stream_chunk(event)
        if SynthesizeStop.is_type(event.type):
            return await self._on_stream_stop()
        return await self.unsupported(event)

    async def _on_synthesize(self, event: Event) -> bool:
        if self._stream is not None:
            _LOGGER.debug("%s: ignoring compatibility synthesize inside a stream", self.peer)
            return True
        text = event.data.get("text")
        if not isinstance(text, str):
            await self.write_error("synthesize needs a string 'text'", "bad-request")
            return True
        if not await self._admit():
            return True
        choice = self.voices.choose(event.data.get("voice"))
        speaker_id = await self._speaker_id(event, choice.engine)
        request = self._new_request()
        self._enqueue(_Begin(speaker_id, choice))
        await self._add_text(request, text)
        self._enqueue_sentences(request.splitter.finish())
        self._enqueue(_End(streaming=False))
        return True

    async def _on_stream_start(self, event: Event) -> bool:
        if self._stream is not None:
            await self.write_error("synthesize-start while a stream is already open", "bad-request")
            return True
        self._stream = self._new_request()
        if not await self._admit():
            self._stream.refused = True
            return True
        choice = self.voices.choose(event.data.get("voice"))
        self._enqueue(_Begin(await self._speaker_id(event, choice.engine), choice))
        return True

    async def _on_stream_chunk(self, event: Event) -> bool:
        if self._stream is None:
            await self.write_error("synthesize-chunk without synthesize-start", "bad-request")
            return True
        text = event.data.get("text")
        if not isinstance(text, str):
            await self.write_error("synthesize-chunk needs a string 'text'", "bad-request")
            return True
        if not self._stream.refused:
            await self._add_text(self._stream, text)
        return True

    async def _on_stream_stop(self) -> bool:
        if self._stream is None:
            await self.write_error("synthesize-stop without synthesize-start", "bad-request")
            return True
        stream, self._stream = self._stream, None
        if stream.refused:
            return True  # the client was told at synthesize-start
        self._enqueue_sentences(stream.splitter.finish())
        self._enqueue(_End(streaming=True))
        return True

    async def _admit(self) -> bool:
        """Count a new request in, or refuse it (``queue-full``) when the connection has too many."""
        limit = self.settings.max_queued_requests
        if self._pending >= limit:
            self._refused += 1
            if self._refused == 1 or self._refused % 1000 == 0:
                _LOGGER.warning(
                    "%s: %d request(s) refused, %d already queued", self.peer, self._refused, limit
                )
            await self.write_error(
                f"too many requests queued on this connection (at most {limit}); this one is dropped",
                "queue-full",
            )
            return False
        self._pending += 1
        return True

    def _new_request(self) -> _Request:
        return _Request(SentenceSplitter(split_first_clause=self.settings.split_first_clause))

    async def _speaker_id(self, event: Event, engine: PiperEngine) -> int | None:
        voice = event.data.get("voice")
        speaker = voice.get("speaker") if isinstance(voice, dict) else None
        if speaker is None:
            return None
        try:
            return engine.resolve_speaker(str(speaker))
        except VoiceError as err:
            await self.write_error(f"{err}; using the default speaker", "bad-speaker")
            return None

    async def _add_text(self, request: _Request, text: str) -> None:
        if request.truncated:
            return
        room = self.settings.max_text_chars - request.chars
        if len(text) > room:
            request.truncated = True
            text = truncate_text(text, room) if room > 0 else ""
            _LOGGER.warning(
                "%s: text longer than %d chars, truncated", self.peer, self.settings.max_text_chars
            )
            await self.write_error(
                f"text longer than {self.settings.max_text_chars} characters; only the first part is spoken",
                "text-too-long",
            )
        request.chars += len(text)
        self._enqueue_sentences(request.splitter.add(text))

    def _enqueue_sentences(self, sentences: list[str]) -> None:
        for sentence in sentences:
            self._enqueue(_Sentence(sentence))

    def _enqueue(self, work: _Work) -> None:
        if self._speaker is None or self._speaker.done():
            self._speaker = asyncio.create_task(self._speak_loop(), name=f"tts-speaker {self.peer}")
        self._queue.put_nowait(work)

    # -- speaking side -----------------------------------------------------------------------

    async def _speak_loop(self) -> None:
        try:
            await self._speak_queue()
        except ConnectionError as err:
            _LOGGER.debug("%s: client gone while speaking: %s", self.peer, err)

    async def _speak_queue(self) -> None:
        started = False
        speaker_id: int | None = None
        choice = self.voices.choose(None)
        while True:
            work = await self._queue.get()
            if isinstance(work, _Begin):
                started, speaker_id, choice = False, work.speaker_id, work.choice
            elif isinstance(work, _Sentence):
                started = await self._speak(work.text, speaker_id, started, choice)
            else:
                if not started:
                    await self.write_event(self._audio_start(choice.engine).event())
                await self.write_event(AudioStop().event())
                if work.streaming:
                    await self.write_event(SynthesizeStopped().event())
                started = False
                self._pending -= 1

    async def _speak(self, sentence: str, speaker_id: int | None, started: bool, choice: Choice) -> bool:
        text = clean_for_speech(sentence)
        if not text:
            return started
        # Clock times are said the way speakers of the text's language say them (English, French).
        text = speak_clock_times(text, choice.language)
        engine = choice.engine
        _LOGGER.debug("%s: synthesizing %r", self.peer, text)
        try:
            pcm = await engine.synthesize(text, speaker_id)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            _LOGGER.exception("%s: synthesis failed for %r", self.peer, text)
            await self.write_error(f"synthesis failed: {err}", "synthesis-failed")
            return started
        if not started:
            await self.write_event(self._audio_start(engine).event())
            started = True
        rate = engine.sample_rate
        step = self.settings.samples_per_chunk * SAMPLE_WIDTH * CHANNELS
        for offset in range(0, len(pcm), step):
            chunk = AudioChunk(
                rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS, audio=pcm[offset : offset + step]
            )
            await self.write_event(chunk.event())
        return started

    @staticmethod
    def _audio_start(engine: PiperEngine) -> AudioStart:
        return AudioStart(rate=engine.sample_rate, width=SAMPLE_WIDTH, channels=CHANNELS)

    async def disconnect(self) -> None:
        """The client left: stop speaking to it, including the inference running for it."""
        task, self._speaker = self._speaker, None
        if task is None:
            return
        if task.done():
            if not task.cancelled() and (err := task.exception()) is not None:
                _LOGGER.error("%s: speaker task failed: %r", self.peer, err)
            return
        await cancel_and_wait(task)
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                self._queue.get_nowait()
