"""A minimal in-process satellite: speaks the satellite protocol to a hub (tests and ``jarvis bench e2e``).

It is not the ``jarvis satellite`` program (no microphone, no wake word): it sends given audio, paced
at real time or as fast as possible, and records every event of the turn with its arrival time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.snd import Played

from jarvis.protocol.audio import TARGET_FORMAT
from jarvis.protocol.events import Auth, AuthOk, TurnMetrics
from jarvis.protocol.service import Connection
from jarvis.protocol.tasks import cancel_and_wait

RATE, WIDTH, CHANNELS = TARGET_FORMAT.rate, TARGET_FORMAT.width, TARGET_FORMAT.channels
CHUNK_BYTES = 640  # 20 ms


class HubRefused(Exception):
    """The hub answered ``jarvis-auth`` with an error."""

    def __init__(self, code: str | None, text: str) -> None:
        super().__init__(text)
        self.code = code


@dataclass
class TurnResult:
    events: list[tuple[float, Event]] = field(default_factory=list)
    """(monotonic arrival time, event) for everything the hub sent during the turn."""
    audio: bytes = b""
    audio_rate: int = 0
    stream_started_at: float | None = None
    """When the first chunk of the utterance was sent."""
    sent_last_audio_at: float | None = None
    """When the last chunk of the utterance was sent."""

    def types(self) -> list[str]:
        return [e.type for _, e in self.events]

    def first(self, event_type: str) -> tuple[float, Event] | None:
        return next(((t, e) for t, e in self.events if e.type == event_type), None)

    def time_of(self, event_type: str) -> float | None:
        found = self.first(event_type)
        return found[0] if found else None

    @property
    def transcript(self) -> str | None:
        found = self.first("transcript")
        return str(found[1].data.get("text", "")) if found else None

    @property
    def sentences(self) -> list[str]:
        return [str(e.data.get("text", "")) for _, e in self.events if e.type == "synthesize"]

    @property
    def error(self) -> Error | None:
        found = self.first("error")
        return Error.from_event(found[1]) if found else None

    @property
    def metrics(self) -> TurnMetrics | None:
        found = self.first("jarvis-turn-metrics")
        return TurnMetrics.from_event(found[1]) if found else None


class HubClient:
    """One satellite connection. ``async with HubClient.connect(uri, token, "kitchen") as sat: ...``"""

    def __init__(self, conn: Connection, auth_ok: AuthOk) -> None:
        self.conn = conn
        self.auth_ok = auth_ok

    @classmethod
    async def connect(
        cls,
        uri: str,
        token: str,
        satellite_id: str,
        *,
        area: str | None = None,
        user_id: str | None = None,
        local_wake: bool = True,
        timeout: float = 10.0,
        fingerprint: str | None = None,
    ) -> HubClient:
        """``fingerprint``: the certificate pinned for a ``tls://`` hub (:mod:`jarvis.protocol.tls`)."""
        conn = await Connection.open(uri, timeout=timeout, fingerprint=fingerprint)
        try:
            await conn.write_event(
                Auth(token, satellite_id, area=area, user_id=user_id, local_wake=local_wake).event()
            )
            event = await conn.read_event(timeout=timeout)
            if event is None:
                raise HubRefused(None, "hub closed the connection")
            if Error.is_type(event.type):
                err = Error.from_event(event)
                raise HubRefused(err.code, err.text)
            if not AuthOk.is_type(event.type):
                raise HubRefused(None, f"unexpected answer to jarvis-auth: {event.type}")
        except BaseException:
            await conn.close()
            raise
        return cls(conn, AuthOk.from_event(event))

    async def close(self) -> None:
        await self.conn.close()

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, event: Event) -> None:
        await self.conn.write_event(event)

    async def start_turn(self, start_stage: str = "asr", end_stage: str = "tts") -> None:
        await self.send(RunPipeline(PipelineStage(start_stage), PipelineStage(end_stage)).event())

    async def stream(
        self,
        pcm: bytes,
        *,
        realtime: bool = False,
        stop_on: asyncio.Event | None = None,
        result: TurnResult | None = None,
    ) -> float:
        """Send 16 kHz mono PCM as ``audio-start/chunk…``; returns when the last chunk was sent.

        ``realtime`` paces chunks at the audio's own speed (like a microphone). ``stop_on`` ends the
        stream early (the hub's ``voice-stopped``); no ``audio-stop`` is sent (the hub decides).
        """
        await self.send(AudioStart(RATE, WIDTH, CHANNELS).event())
        start = time.monotonic()
        last = start
        if result is not None:
            result.stream_started_at = start
        for offset in range(0, len(pcm), CHUNK_BYTES):
            if stop_on is not None and stop_on.is_set():
                break
            if realtime:
                due = start + offset / (RATE * WIDTH)
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await self.send(AudioChunk(RATE, WIDTH, CHANNELS, pcm[offset : offset + CHUNK_BYTES]).event())
            last = time.monotonic()
        return last

    async def read_turn(self, result: TurnResult, timeout: float, until: str = "jarvis-turn-metrics") -> None:
        """Collect events into ``result`` until ``until`` arrives (raises TimeoutError after ``timeout``)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.conn.read_event()
                if event is None:
                    raise ConnectionError("hub closed the connection")
                now = time.monotonic()
                result.events.append((now, event))
                if AudioStart.is_type(event.type):
                    result.audio_rate = AudioStart.from_event(event).rate
                elif AudioChunk.is_type(event.type):
                    result.audio += AudioChunk.from_event(event).audio
                if event.type == until:
                    return

    async def voice_turn(
        self,
        pcm: bytes,
        *,
        realtime: bool = False,
        timeout: float = 60.0,
        start_stage: str = "asr",
        end_stage: str = "tts",
    ) -> TurnResult:
        """A whole turn: run-pipeline, audio until ``voice-stopped``, answer until the turn's metrics."""
        result = TurnResult()
        stopped = asyncio.Event()

        async def reader() -> None:
            async with asyncio.timeout(timeout):
                while True:
                    event = await self.conn.read_event()
                    if event is None:
                        raise ConnectionError("hub closed the connection")
                    now = time.monotonic()
                    result.events.append((now, event))
                    if event.type in ("voice-stopped", "transcript", "error"):
                        stopped.set()
                    if AudioStart.is_type(event.type):
                        result.audio_rate = AudioStart.from_event(event).rate
                    elif AudioChunk.is_type(event.type):
                        result.audio += AudioChunk.from_event(event).audio
                    if event.type == "jarvis-turn-metrics":
                        return

        task = asyncio.create_task(reader())
        try:
            await self.start_turn(start_stage, end_stage)
            result.sent_last_audio_at = await self.stream(
                pcm, realtime=realtime, stop_on=stopped, result=result
            )
            await task
        finally:
            await cancel_and_wait(task)
        await self.send(AudioStop().event())
        await self.send(Played().event())
        return result

    async def text_turn(self, text: str, timeout: float = 60.0, end_stage: str = "tts") -> TurnResult:
        """A typed question; ``end_stage="handle"`` skips speech synthesis (answer text only)."""
        from wyoming.asr import Transcript

        result = TurnResult()
        await self.start_turn("handle", end_stage)
        await self.send(Transcript(text=text).event())
        await self.read_turn(result, timeout)
        return result
