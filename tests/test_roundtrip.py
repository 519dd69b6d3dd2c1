"""TTS -> STT round trip over real Wyoming TCP on 127.0.0.1, with the bundled voice and tiny.en.

Our TTS speaks each sentence (22.05 kHz, sent to STT as is: STT converts), our STT transcribes it,
and the overall word error rate must stay at or below 10%. Both services run in-process on port 0
and load their models once for the module.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from speech import normalize, read_spoken_time, wer
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from jarvis.protocol.service import Connection
from jarvis.server.stt.__main__ import SttServer, start_stt
from jarvis.server.stt.client import transcribe
from jarvis.server.tts.__main__ import TtsServer, start_tts

_LOGGER = logging.getLogger(__name__)

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

TIMEOUT = 60.0

#: Commands, questions, numbers, names, a list, a time.
SENTENCES = [
    "Turn on the kitchen lights.",
    "What is the weather like in Paris tomorrow?",
    "Set a timer for 15 minutes.",
    "Remind me to call Sarah at 7:30 tonight.",
    "Play some jazz music in the living room.",
    "How many days are left until Christmas?",
    "Add eggs, milk and bread to my shopping list.",
    "Who wrote the novel Pride and Prejudice?",
    "The meeting with John has been moved to Thursday.",
    "Please lower the volume to 30 percent.",
    "Is the front door locked?",
    "Tell me a joke about computers.",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def services() -> AsyncIterator[tuple[TtsServer, SttServer]]:
    tts = await start_tts("tcp://127.0.0.1:0")
    stt = await start_stt("tcp://127.0.0.1:0")
    try:
        await stt.engine.model()
        yield tts, stt
    finally:
        await stt.stop()
        await tts.stop()


async def _read_audio(conn: Connection, until: str) -> tuple[bytes, int]:
    pcm, rate = b"", 0
    async with asyncio.timeout(TIMEOUT):
        while (event := await conn.read_event()) is not None:
            if event.type == "audio-start":
                rate = int(event.data["rate"])
            elif event.type == "audio-chunk":
                pcm += event.payload or b""
            elif event.type == "error":
                raise AssertionError(f"TTS error: {event.data}")
            if event.type == until:
                return pcm, rate
    raise AssertionError("TTS closed the connection")


async def speak(uri: str, text: str) -> tuple[bytes, int]:
    async with await Connection.open(uri) as conn:
        await conn.write_event(Synthesize(text=text).event())
        return await _read_audio(conn, "audio-stop")


async def speak_streamed(uri: str, text: str, delta: int = 5) -> tuple[bytes, int]:
    """Send ``text`` as small deltas, like an LLM's tokens."""
    async with await Connection.open(uri) as conn:
        await conn.write_event(SynthesizeStart().event())
        for i in range(0, len(text), delta):
            await conn.write_event(SynthesizeChunk(text=text[i : i + delta]).event())
        await conn.write_event(SynthesizeStop().event())
        return await _read_audio(conn, "synthesize-stopped")


async def test_spoken_sentences_are_transcribed_back(services: tuple[TtsServer, SttServer]) -> None:
    tts, stt = services
    errors = words = 0
    started = time.monotonic()
    for sentence in SENTENCES:
        pcm, rate = await speak(tts.uri, sentence)
        assert pcm and rate == 22050
        result = await transcribe(stt.uri, pcm, rate=rate, timeout=TIMEOUT)
        rate_ = wer(sentence, result.text)
        _LOGGER.info("WER %.2f  %r -> %r", rate_, sentence, result.text)
        n = len(normalize(sentence))
        errors += round(rate_ * n)
        words += n
    overall = errors / words
    _LOGGER.info("overall WER %.3f over %d words (%.1f s)", overall, words, time.monotonic() - started)
    assert overall <= 0.10, f"overall WER {overall:.1%}"


async def test_streamed_reply_is_spoken_once_in_order(services: tuple[TtsServer, SttServer]) -> None:
    tts, stt = services
    text = "Okay, the timer is set for 10 minutes. I will tell you when it rings. Anything else?"
    pcm, rate = await speak_streamed(tts.uri, text)
    result = await transcribe(stt.uri, pcm, rate=rate, timeout=TIMEOUT)
    _LOGGER.info("streamed: %r -> %r", text, result.text)
    assert wer(text, result.text) <= 0.15, result.text


async def test_clock_times_are_spoken_as_people_say_them(services: tuple[TtsServer, SttServer]) -> None:
    """ "6:45 AM" is said "six forty-five in the morning" (espeak alone says "six forty-five A M",
    and "1:05" "one zero five"), so the STT hears the time back."""
    tts, stt = services
    for written, expected in [("It's 6:45 AM.", ("645", "morning")),
                              ("It's 1:05 PM.", ("105", "afternoon"))]:  # fmt: skip
        pcm, rate = await speak(tts.uri, written)
        result = await transcribe(stt.uri, pcm, rate=rate, timeout=TIMEOUT)
        _LOGGER.info("%r -> %r", written, result.text)
        assert read_spoken_time(result.text) == expected, result.text
