"""A small Wyoming ASR client: send one utterance, collect the answer, time it.

Used by the tests and ``jarvis bench stt``; works against any Wyoming ``asr`` server (ours or the
reference ``wyoming-faster-whisper``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event

from jarvis.protocol.audio import TARGET_RATE
from jarvis.protocol.service import Connection

_LOGGER = logging.getLogger(__name__)


@dataclass
class TranscribeResult:
    text: str
    """The final ``transcript`` text ("" if none came)."""
    events: list[Event] = field(default_factory=list)
    """Everything the server sent, in order (audio events excluded: there are none)."""
    after_stop_s: float = float("nan")
    """Seconds from sending ``audio-stop`` to receiving ``transcript``."""
    total_s: float = float("nan")
    """Seconds from the first byte sent to ``transcript``."""

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def chunks_text(self) -> str:
        """The ``transcript-chunk`` texts concatenated."""
        return "".join(str(e.data.get("text", "")) for e in self.events if e.type == "transcript-chunk")


async def send_utterance(
    conn: Connection,
    audio: bytes,
    rate: int = TARGET_RATE,
    width: int = 2,
    channels: int = 1,
    chunk_ms: float = 20.0,
    realtime: float = 0.0,
    language: str | None = None,
) -> float:
    """Send ``transcribe``, ``audio-start``, chunks, ``audio-stop``; returns the monotonic time of the stop.

    ``realtime`` > 0 paces the chunks at that multiple of real time (1.0 = as a microphone would),
    keeping to an absolute schedule so the pace does not drift.
    """
    frame = width * channels
    step = max(1, int(rate * chunk_ms / 1000)) * frame
    await conn.write_event(Transcribe(language=language).event())
    await conn.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
    start = time.monotonic()
    for offset in range(0, len(audio), step):
        if realtime > 0:
            due = start + (offset / frame / rate) / realtime
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        chunk = audio[offset : offset + step]
        await conn.write_event(AudioChunk(rate=rate, width=width, channels=channels, audio=chunk).event())
    if realtime > 0:
        delay = start + (len(audio) / frame / rate) / realtime - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    await conn.write_event(AudioStop().event())
    return time.monotonic()


async def read_until_transcript(
    conn: Connection, events: list[Event], timeout: float = 60.0
) -> tuple[Event, float]:
    """Read (appending to ``events``) until ``transcript``; then also read a ``transcript-stop``
    if one follows at once. Returns the transcript event and its arrival time."""
    async with asyncio.timeout(timeout):
        while True:
            event = await conn.read_event()
            if event is None:
                raise ConnectionError(f"server closed the connection; got {[e.type for e in events]}")
            events.append(event)
            if event.type == "error":
                raise RuntimeError(f"server error {event.data.get('code')}: {event.data.get('text')}")
            if Transcript.is_type(event.type):
                return event, time.monotonic()


async def transcribe(
    uri: str,
    audio: bytes,
    rate: int = TARGET_RATE,
    width: int = 2,
    channels: int = 1,
    chunk_ms: float = 20.0,
    realtime: float = 0.0,
    language: str | None = None,
    timeout: float = 60.0,
) -> TranscribeResult:
    """Transcribe one utterance over a fresh connection, reading the answer concurrently."""
    async with await Connection.open(uri) as conn:
        events: list[Event] = []
        begin = time.monotonic()
        reader = asyncio.create_task(read_until_transcript(conn, events, timeout))
        try:
            stopped = await send_utterance(conn, audio, rate, width, channels, chunk_ms, realtime, language)
            transcript, received = await reader
        finally:
            if not reader.done():
                reader.cancel()
                await asyncio.wait([reader])
        # Servers that stream end with transcript-stop right after the transcript.
        if any(e.type == "transcript-start" for e in events):
            async with asyncio.timeout(timeout):
                while (event := await conn.read_event()) is not None:
                    events.append(event)
                    if event.type == "transcript-stop":
                        break
        return TranscribeResult(
            text=str(transcript.data.get("text", "")),
            events=events,
            after_stop_s=received - stopped,
            total_s=received - begin,
        )
