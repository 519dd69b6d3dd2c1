"""Follow-up (issue 11 §2): after an answer that asks something, the reply needs no wake word.

Real STT (tiny.en), TTS (piper), brain and hub over TCP on 127.0.0.1, real piper speech. The
brain's LLM is ``ScriptedLLM`` (the brain's test double): it asks to unlock a door, a sensitive
tool, so the brain asks "Are you sure…?" and flags the answer as expecting one.

- A satellite with its own wake word gets ``jarvis-follow-up``; its ``run-pipeline`` with
  ``follow_up: true`` and a bare spoken "yes" runs the tool.
- Silence in the window runs nothing: the turn ends with the outcome ``no-reply``, no error.
- With the hub's wake word (the web page), the hub starts listening itself on ``played``.
- An answer that asks nothing opens no window, and ``follow_up`` without a question is a normal turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from speech import silence, speak
from test_brain_agent import UnlockTool, call
from test_hub import TOKEN, piper_engine, stt, tts, whisper_model  # noqa: F401 - fixtures
from wyoming.audio import AudioStop
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.snd import Played

from jarvis.protocol.events import FOLLOW_UP_KEY
from jarvis.server.brain.handler import BrainSettings
from jarvis.server.brain.handler import start_brain as _start_brain
from jarvis.server.brain.llm.scripted import ScriptedLLM
from jarvis.server.config import HubSettings, Settings
from jarvis.server.hub.client import HubClient, TurnResult
from jarvis.server.hub.hub import Hub

WINDOW_S = 2.0
pytestmark = pytest.mark.slow


@pytest.fixture
def unlock() -> UnlockTool:
    return UnlockTool()


@pytest.fixture
async def hub(stt: Any, tts: Any, unlock: UnlockTool) -> AsyncIterator[Hub]:  # noqa: F811
    llm = ScriptedLLM([call("unlock_door", door="front door"), "It is sunny."], loop=True)
    brain = await _start_brain(
        "tcp://127.0.0.1:0", llm, settings=BrainSettings(onboarding=False), extra_tools=[unlock]
    )
    settings = Settings(hub=HubSettings(port=0, follow_up_s=WINDOW_S))
    try:
        async with Hub(settings, TOKEN, stt=[stt.uri], tts=[tts.uri], brain=[brain.uri]) as hub:
            yield hub
    finally:
        await brain.stop()


def follow_up_of(result: TurnResult) -> float | None:
    found = result.first("jarvis-follow-up")
    return None if found is None else float(found[1].data["seconds"])


async def reply_turn(sat: HubClient, pcm: bytes, follow_up: bool = True) -> TurnResult:
    """What a satellite with its own wake word does after playing the question."""
    run = RunPipeline(PipelineStage.ASR, PipelineStage.TTS).event()
    if follow_up:
        run.data[FOLLOW_UP_KEY] = True
    await sat.send(run)
    result = TurnResult()
    reading = asyncio.create_task(sat.read_turn(result, timeout=40))
    await sat.stream(pcm, realtime=True)
    await reading
    await sat.send(AudioStop().event())
    return result


async def test_a_bare_yes_after_the_question_runs_the_tool(hub: Hub, unlock: UnlockTool) -> None:
    async with await HubClient.connect(hub.uri, TOKEN, "hall") as sat:
        asked = await sat.text_turn("unlock the front door")
        assert asked.sentences == ["Are you sure you want me to unlock door front door?"]
        assert follow_up_of(asked) == WINDOW_S and unlock.calls == []
        await sat.send(Played().event())
        answered = await reply_turn(sat, silence(0.3) + speak("yes") + silence(1.2))
        assert answered.transcript is not None and "yes" in answered.transcript.lower()
        assert answered.sentences == ["Done."], answered.types
        assert unlock.calls == [{"door": "front door"}]
        assert follow_up_of(answered) is None  # "Done." asks nothing


async def test_silence_after_the_question_runs_nothing(hub: Hub, unlock: UnlockTool) -> None:
    async with await HubClient.connect(hub.uri, TOKEN, "hall") as sat:
        asked = await sat.text_turn("unlock the front door")
        assert follow_up_of(asked) == WINDOW_S
        await sat.send(Played().event())
        quiet = await reply_turn(sat, silence(WINDOW_S + 1.5))
        metrics = quiet.metrics
        assert metrics is not None and metrics.outcome == "no-reply"
        assert quiet.error is None and quiet.sentences == [] and quiet.transcript is None
        assert unlock.calls == []


async def test_with_the_hubs_wake_word_the_hub_listens_on_played(hub: Hub, unlock: UnlockTool) -> None:
    async with await HubClient.connect(hub.uri, TOKEN, "web-page", local_wake=False) as sat:
        await sat.send(RunPipeline(PipelineStage.WAKE, PipelineStage.TTS, restart_on_end=True).event())
        asked = await sat.text_turn("unlock the front door")
        assert follow_up_of(asked) == WINDOW_S
        await sat.send(Played().event())  # the page played the question: the hub opens the window
        result = TurnResult()
        reading = asyncio.create_task(sat.read_turn(result, timeout=40))
        await sat.stream(silence(0.3) + speak("yes") + silence(1.2), realtime=True)
        await reading
        assert result.sentences == ["Done."], result.types
        assert unlock.calls == [{"door": "front door"}]


async def test_no_window_without_a_question(hub: Hub, unlock: UnlockTool) -> None:
    async with await HubClient.connect(hub.uri, TOKEN, "hall") as sat:
        first = await sat.text_turn("what's the weather")  # the scripted model asks for the door first
        assert follow_up_of(first) == WINDOW_S
        await sat.send(Played().event())
        dropped = await sat.text_turn("what's the weather like")  # not a yes: the question is dropped
        assert dropped.sentences == ["It is sunny."] and follow_up_of(dropped) is None
        # follow_up without an open question is an ordinary turn: no wake phrase, no always-listening
        plain = await reply_turn(sat, silence(0.3) + speak("yes") + silence(1.2))
        assert plain.metrics is not None and plain.metrics.outcome != "no-reply"
        assert unlock.calls == []


async def test_the_real_satellite_listens_for_the_reply_without_the_wake_word(
    hub: Hub, unlock: UnlockTool
) -> None:
    """``jarvis.satellite`` with its own wake word: "hey jarvis, unlock the front door", the question
    is played, then a bare "yes" (no wake phrase) confirms; then silence closes nothing more."""
    from jarvis.satellite.satellite import Satellite, State
    from jarvis.satellite.settings import IdentitySettings, SatelliteSettings, ServerSettings
    from jarvis.server.bench.understand import NullSpeaker, ScriptedMic

    mic = ScriptedMic()
    lines: list[str] = []
    settings = SatelliteSettings(
        server=ServerSettings(uri=hub.uri, token=TOKEN), identity=IdentitySettings(satellite_id="hall")
    )
    sat = Satellite(settings, mic, NullSpeaker(), printer=lines.append)
    task = asyncio.create_task(sat.run())

    async def printed(prefix: str, timeout: float = 40) -> str:
        async with asyncio.timeout(timeout):
            while not (found := [line for line in lines if line.startswith(prefix)]):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        return found[-1]

    try:
        async with asyncio.timeout(20):
            while sat.state is not State.IDLE:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        question = silence(0.5) + speak("Hey Jarvis, unlock the front door.") + silence(0.3)
        mic.say(question, len(question))
        assert "Are you sure" in await printed("answer: ")
        await printed("follow-up: listening 2 s")
        assert unlock.calls == []
        reply = speak("yes")
        mic.say(reply, len(reply))
        assert await printed("answer: Done.")
        assert unlock.calls == [{"door": "front door"}]
        assert sum(line.startswith("follow-up: ") for line in lines) == 1  # "Done." asks nothing
    finally:
        sat.stop()
        await asyncio.wait_for(task, 15)
