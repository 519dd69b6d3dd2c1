"""The wake-to-command boundary: STT gets the whole wake phrase, and a pause after it ends nothing."""

from __future__ import annotations

import asyncio

import pytest
from speech import silence, speak
from test_hub import (  # noqa: F401 - pytest fixtures
    TOKEN,
    HubClient,
    TurnResult,
    brain,
    hub,
    llm,
    piper_engine,
    stt,
    tts,
    whisper_model,
)
from wyoming.pipeline import PipelineStage, RunPipeline

from jarvis.server.brain.normalize import strip_wake_phrase
from jarvis.server.hub.hub import Hub
from jarvis.server.hub.vad import Endpointer, EndpointSettings, VadEvent, make_vad

RATE = 16000


def _events(endpointer: Endpointer, pcm: bytes) -> list[tuple[VadEvent, float]]:
    out = []
    for start in range(0, len(pcm), 640):
        for event in endpointer.process(pcm[start : start + 640]):
            out.append((event, endpointer.samples / RATE))
    return out


def test_pause_after_the_wake_phrase_does_not_end_the_turn() -> None:
    wake = silence(0.2) + speak("Hey Jarvis.")
    pcm = wake + silence(1.2) + speak("what time is it") + silence(1.0)
    command_at = (len(wake) + 2 * int(1.2 * RATE)) / 2 / RATE
    settings = EndpointSettings(silence_s=0.6)
    # Without knowing the wake phrase, the pause after it is the end of the utterance ...
    plain = [t for e, t in _events(Endpointer(make_vad("silero"), settings), pcm) if e is VadEvent.ENDPOINT]
    assert plain and plain[0] < command_at
    # ... told how long the pre-roll is, the endpointer waits for the command and ends after it.
    held = Endpointer(make_vad("silero"), settings, wake_phrase_s=len(wake) / 2 / RATE)
    ends = [t for e, t in _events(held, pcm) if e is VadEvent.ENDPOINT]
    assert ends and ends[0] > command_at + 0.5


def test_wake_phrase_alone_still_ends_after_the_no_speech_timeout() -> None:
    wake = speak("Hey Jarvis.")
    held = Endpointer(
        make_vad("silero"), EndpointSettings(no_speech_timeout_s=2.0), wake_phrase_s=len(wake) / 2 / RATE
    )
    ends = [t for e, t in _events(held, wake + silence(3.0)) if e is VadEvent.ENDPOINT]
    assert held.speech_end_sample is not None  # "hey jarvis" was speech, inside the wake phrase
    assert ends and 2.0 <= ends[0] - held.speech_end_sample / RATE < 2.1


async def test_hub_side_wake_word_sends_the_whole_wake_phrase(hub: Hub) -> None:  # noqa: F811
    """No pause between "hey jarvis" and the command: STT hears both, the first word intact."""
    audio = silence(0.5) + speak("Hey Jarvis, cancel the timer.") + silence(1.5)
    async with await HubClient.connect(hub.uri, TOKEN, "dumb", local_wake=False) as sat:
        result = TurnResult()
        await sat.start_turn("wake")
        reader = asyncio.create_task(sat.read_turn(result, timeout=60))
        await sat.stream(audio)
        await reader
    transcript = result.transcript or ""
    assert strip_wake_phrase(transcript) != transcript, transcript  # the wake phrase reached STT
    assert strip_wake_phrase(transcript).lower().startswith("cancel the timer"), transcript


@pytest.mark.parametrize("bad", ["1500", -1, 60_000, True])
async def test_bad_wake_phrase_ms_is_refused(hub: Hub, bad: object) -> None:  # noqa: F811
    async with await HubClient.connect(hub.uri, TOKEN, "kitchen") as sat:
        run = RunPipeline(PipelineStage.ASR, PipelineStage.TTS).event()
        run.data["wake_phrase_ms"] = bad
        await sat.send(run)
        event = await sat.conn.read_event(timeout=10)
        assert event is not None and event.type == "error", event
        assert event.data["code"] == "bad-event" and "wake_phrase_ms" in event.data["text"]
