# ruff: noqa: F811 - pytest fixtures imported from test_hub are redefined as parameters
"""French through the real path: hub -> multilingual Whisper base (``en,fr``) -> brain -> TTS.

The French speech is SVOX Pico's ``fr-FR`` voice (py-nanotts; the most intelligible French source
on these machines, see docs/benchmarks.md), the English the bundled piper voice. The brain has no LLM
(``NoLLM``), so every answer is a local intent's or the honest "I need a language model", and its
language is the one the STT heard.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from speech import silence, speak
from test_hub import TOKEN, piper_engine, tts  # noqa: F401 - pytest fixtures

from jarvis.server.brain.handler import BrainSettings, start_brain
from jarvis.server.brain.llm import NEED_LLM, NoLLM
from jarvis.server.config import HubSettings, Settings, SttSettings
from jarvis.server.hub.client import HubClient, TurnResult
from jarvis.server.hub.hub import Hub
from jarvis.server.stt.__main__ import start_stt
from jarvis.server.stt.engine import ModelLoader, SttEngine
from jarvis.server.stt.engine import SttSettings as EngineSttSettings

pytestmark = [pytest.mark.slow]

LOOPBACK = "tcp://127.0.0.1:0"
BASE = EngineSttSettings(model="base", language="en,fr", workers=1)


@pytest.fixture(scope="module")
def base_model() -> Any:
    return ModelLoader.load_sync(BASE)


def pico(text: str, voice: str = "pico-fr") -> bytes:
    from jarvis.server.bench.voices import _ALL_VOICES, synthesize

    return synthesize(_ALL_VOICES[voice], text, cache=None)


def english_wake_then(french: str) -> tuple[bytes, float]:
    """ "Hey Jarvis" in Pico's English voice, then a French command (a bilingual household's way)."""
    wake = silence(0.3) + pico("Hey Jarvis", "pico-gb")
    return wake + silence(0.1) + pico(french), len(wake) / 32000


@pytest.fixture
async def french_hub(base_model: Any, tts: Any) -> AsyncIterator[Hub]:  # noqa: F811
    engine = SttEngine(BASE, loader=ModelLoader.preloaded(BASE, base_model))
    stt = await start_stt(LOOPBACK, engine=engine)
    brain = await start_brain(LOOPBACK, NoLLM(), settings=BrainSettings(onboarding=False), probe=False)
    settings = Settings(hub=HubSettings(port=0), stt=SttSettings(language="en,fr"))
    try:
        async with Hub(settings, TOKEN, stt=[stt.uri], tts=[tts.uri], brain=[brain.uri]) as hub:
            yield hub
    finally:
        await brain.stop()
        await stt.stop()
        await engine.close()


async def turn(hub: Hub, pcm: bytes, satellite_id: str) -> TurnResult:
    async with asyncio.timeout(90):
        sat = await HubClient.connect(hub.uri, TOKEN, satellite_id)
        async with sat:
            return await sat.voice_turn(silence(0.3) + pcm + silence(1.2))


def heard(result: TurnResult) -> dict[str, Any]:
    found = result.first("transcript")
    assert found is not None, result.types()
    return dict(found[1].data)


async def test_french_speech_is_detected_as_french_and_answered_in_french(french_hub: Hub) -> None:
    result = await turn(french_hub, pico("Mets un minuteur de cinq minutes."), "salon")
    transcript = heard(result)
    assert transcript["language"] == "fr", transcript
    answer = " ".join(result.sentences)
    assert "minuteur" in answer.lower() and "5 minutes" in answer.lower(), (transcript, answer)
    started = result.first("timer-started")
    assert started is not None and started[1].data["total_seconds"] == 300, result.types()
    assert len(result.audio) > 16000  # spoken


async def test_french_question_is_answered_in_french(french_hub: Hub) -> None:
    result = await turn(french_hub, pico("Quel jour sommes-nous ?"), "salon")
    assert heard(result)["language"] == "fr"
    weekdays = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
    answer = " ".join(result.sentences).lower()
    assert any(day in answer for day in weekdays), result.sentences


@pytest.mark.parametrize(
    ("text", "answer_start"),
    [("What time is it?", "It's "), ("What's seven times six?", "7 times 6 is 42")],
)
async def test_english_speech_is_english_never_a_third_language(
    french_hub: Hub, text: str, answer_start: str
) -> None:
    result = await turn(french_hub, speak(text), "kitchen")
    assert heard(result)["language"] == "en"
    assert result.sentences and result.sentences[0].startswith(answer_start), result.sentences


async def test_satellite_pinned_to_french_is_decoded_and_answered_in_french(french_hub: Hub) -> None:
    """``run-pipeline`` with ``language: fr`` (what ``jarvis satellite --language fr`` sends): STT
    decodes only French, and the brain answers in French, whatever the audio sounds like."""
    from wyoming.pipeline import PipelineStage, RunPipeline

    async with asyncio.timeout(90):
        sat = await HubClient.connect(french_hub.uri, TOKEN, "bureau")
        async with sat:
            run = RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS).event()
            run.data["language"] = "fr"
            sat.start_turn = lambda *a, **k: sat.send(run)  # type: ignore[method-assign]
            result = await sat.voice_turn(silence(0.3) + speak("What time is it?") + silence(1.2))
    assert heard(result)["language"] == "fr"
    answer = " ".join(result.sentences)
    assert answer == NEED_LLM["fr"] or answer.startswith("Il est"), answer


async def test_jarvis_satellite_with_language_fr_sends_the_pin(french_hub: Hub, tmp_path: Any) -> None:
    """The real satellite, ``--language fr``: local wake word, then the hub decodes in French."""
    from test_satellite_hub import run_once, settings_for, write_wav

    from jarvis.satellite.settings import IdentitySettings

    mic = silence(0.5) + speak("Hey Jarvis, what time is it?") + silence(2.0)
    out = tmp_path / "answer.wav"
    settings = settings_for(french_hub.uri, write_wav(tmp_path / "q.wav", mic), out)
    settings = replace(settings, identity=IdentitySettings(satellite_id="bureau-pi", language="fr"))
    lines = await run_once(settings, timeout=90)
    answers = [line.removeprefix("answer: ") for line in lines if line.startswith("answer: ")]
    assert answers and (answers[0] == NEED_LLM["fr"] or answers[0].startswith("Il est")), lines


async def test_one_encoder_pass_detects_and_decodes_like_two(base_model: Any) -> None:
    """Detection among en,fr reuses the decode's encoder pass: same language, same English text
    as faster-whisper's own detect-then-decode (the French text may differ, because whisper's
    temperature fallback samples on synthetic audio it is unsure of)."""
    one = SttEngine(BASE, loader=ModelLoader.preloaded(BASE, base_model))
    two = SttEngine(BASE, loader=ModelLoader.preloaded(BASE, base_model))
    two._one_pass = False  # the two-pass path, as faster-whisper's transcribe(language=None) does it
    try:
        for pcm, language in [
            (speak("Hey Jarvis, set a timer for ten minutes."), "en"),
            (speak("What's seven times six?"), "en"),
            (pico("Mets un minuteur de cinq minutes."), "fr"),
        ]:
            a, b = await one.transcribe(pcm), await two.transcribe(pcm)
            assert a.language == b.language == language
            if language == "en":
                assert a.text == b.text
        assert one._one_pass  # it never fell back
    finally:
        await one.close()
        await two.close()


async def test_the_beams_runners_up_come_with_the_transcript_and_leave_it_unchanged(base_model: Any) -> None:
    """Asking the beam for its runners-up (NBestWhisper) keeps the best hypothesis as it was: an
    engine that asks for none decodes the same text; runners-up are distinct and bounded."""
    import re

    from jarvis.protocol.events import MAX_ALTERNATIVES as ALTERNATIVES
    from jarvis.server.stt.engine import NBestWhisper

    assert isinstance(base_model.model, NBestWhisper)
    plain_settings = replace(BASE, alternatives=False)  # generate is asked for one hypothesis
    one = SttEngine(BASE, loader=ModelLoader.preloaded(BASE, base_model))
    two = SttEngine(plain_settings, loader=ModelLoader.preloaded(plain_settings, base_model))
    words = lambda text: re.findall(r"[\w']+", text.casefold())  # noqa: E731
    try:
        for text in ("Hey Jarvis, set a timer for five minutes.", "How much is ten percent of eighty?"):
            pcm = speak(text)
            with_alternatives, plain = await one.transcribe(pcm), await two.transcribe(pcm)
            assert with_alternatives.text == plain.text and plain.alternatives == ()
            alternatives = with_alternatives.alternatives
            assert 0 < len(alternatives) <= ALTERNATIVES, alternatives
            keys = [words(a) for a in alternatives]
            assert words(with_alternatives.text) not in keys and len({tuple(k) for k in keys}) == len(keys)
    finally:
        await one.close()
        await two.close()


async def test_english_wake_phrase_does_not_make_a_french_command_english(base_model: Any) -> None:
    """On the whole utterance, Whisper hears "Hey Jarvis" and calls this French command English;
    told where the wake phrase ends (the hub's wake hint), the STT detects on the command alone,
    decodes it as French, and starts the decoder from the wake phrase itself."""
    from jarvis.protocol.wake import WakeHint

    engine = SttEngine(BASE, loader=ModelLoader.preloaded(BASE, base_model))
    pcm, wake_s = english_wake_then("Il est quelle heure ?")
    try:
        unhinted = await engine.transcribe(pcm)
        hinted = await engine.transcribe(pcm, wake=WakeHint("Hey Jarvis", wake_s))
    finally:
        await engine.close()
    assert unhinted.language == "en", unhinted  # the failure the hint fixes (same audio, same model)
    assert hinted.language == "fr", hinted
    assert hinted.text.startswith("Hey Jarvis,"), hinted.text


async def test_satellite_french_command_after_english_wake_phrase_is_answered_in_french(
    french_hub: Hub, tmp_path: Any
) -> None:
    """The real satellite (local wake word, pre-roll) -> hub (wake hint to STT) -> base -> brain."""
    from test_satellite_hub import run_once, settings_for, write_wav

    pcm, _ = english_wake_then("Lance un minuteur de cinq minutes.")
    mic = silence(0.5) + pcm + silence(2.0)
    out = tmp_path / "answer.wav"
    lines = await run_once(settings_for(french_hub.uri, write_wav(tmp_path / "q.wav", mic), out), timeout=90)
    answers = [line.removeprefix("answer: ") for line in lines if line.startswith("answer: ")]
    assert answers and answers[0] == "Minuteur réglé sur 5 minutes.", lines
