"""The wake-to-command boundary: STT gets the whole wake phrase, and a pause after it ends nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from speech import silence, speak
from test_hub import (  # noqa: F401 - pytest fixtures
    TOKEN,
    HubClient,
    brain,
    hub,
    hub_side_wake_turn,
    llm,
    piper_engine,
    stt,
    tts,
    whisper_model,
)
from test_satellite_hub import run_once, settings_for, write_wav
from wyoming.pipeline import PipelineStage, RunPipeline

from jarvis.server.bench.wer import normalize
from jarvis.server.brain.normalize import strip_wake_phrase
from jarvis.server.hub.hub import Hub
from jarvis.server.hub.vad import Endpointer, EndpointSettings, VadEvent, make_vad

RATE = 16000
COMMANDS = ["set a timer for two minutes", "cancel the timer", "what's my name"]


def _heard_whole(transcript: str, command: str) -> None:
    """STT heard "hey jarvis" and the command from its first word, with no pause between them."""
    assert "jarvis" in transcript.lower(), transcript  # the wake phrase reached STT
    rest = strip_wake_phrase(transcript)
    assert rest != transcript, transcript  # and the brain recognises it as the wake phrase
    # Every word of the command, the first one intact ("2 minutes" and "two minutes" are the same).
    assert normalize(rest) == normalize(command), transcript


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


@pytest.mark.parametrize("command", COMMANDS)
async def test_satellite_pre_roll_sends_the_whole_wake_phrase(
    hub: Hub,  # noqa: F811
    tmp_path: Path,
    command: str,
) -> None:
    """The headless satellite's local wake word: its pre-roll carries "hey jarvis" to STT."""
    mic = silence(1.0) + speak(f"Hey Jarvis, {command}.") + silence(2.0)
    out = tmp_path / "answer.wav"
    settings = settings_for(hub.uri, write_wav(tmp_path / "q.wav", mic), out)
    lines = await run_once(settings, timeout=90)
    transcript = next(line for line in lines if line.startswith("transcript: ")).removeprefix("transcript: ")
    _heard_whole(transcript, command)


@pytest.mark.parametrize("command", COMMANDS)
async def test_hub_side_wake_word_sends_the_whole_wake_phrase(hub: Hub, command: str) -> None:  # noqa: F811
    """No pause between "hey jarvis" and the command: STT hears both, the first word intact."""
    result = await hub_side_wake_turn(hub, silence(1.0) + speak(f"Hey Jarvis, {command}.") + silence(1.5))
    _heard_whole(result.transcript or "", command)


@pytest.mark.parametrize("bad", ["1500", -1, 60_000, True])
async def test_bad_wake_phrase_ms_is_refused(hub: Hub, bad: object) -> None:  # noqa: F811
    async with await HubClient.connect(hub.uri, TOKEN, "kitchen") as sat:
        run = RunPipeline(PipelineStage.ASR, PipelineStage.TTS).event()
        run.data["wake_phrase_ms"] = bad
        await sat.send(run)
        event = await sat.conn.read_event(timeout=10)
        assert event is not None and event.type == "error", event
        assert event.data["code"] == "bad-event" and "wake_phrase_ms" in event.data["text"]
