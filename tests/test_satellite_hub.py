# ruff: noqa: F811 - pytest fixtures imported from test_hub are redefined as parameters
"""The headless satellite against the real hub (real STT, TTS, VAD, brain with a scripted LLM).

Fixtures (models loaded once per session, services on 127.0.0.1) come from tests/test_hub.py.
"""

from __future__ import annotations

import asyncio
import sys
import wave
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from speech import silence, speak, wer
from test_hub import (  # noqa: F401 - pytest fixtures
    TOKEN,
    brain,
    hub,
    llm,
    piper_engine,
    stt,
    tts,
    whisper_model,
)

from jarvis.protocol.audio import convert, pcm16_to_float
from jarvis.satellite.audio_io import WavFileSink, WavSource
from jarvis.satellite.satellite import ExitCode, Satellite, State
from jarvis.satellite.settings import (
    IdentitySettings,
    LinkSettings,
    MicSettings,
    RunSettings,
    SatelliteSettings,
    ServerSettings,
    SndSettings,
    WakeSettings,
)
from jarvis.server.bench.procs import free_port
from jarvis.server.brain.normalize import strip_wake_phrase
from jarvis.server.config import HubSettings, Settings
from jarvis.server.hub.hub import Hub

pytestmark = pytest.mark.slow

WAIT = 90.0


def write_wav(path: Path, pcm: bytes, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return path


def settings_for(uri: str, input_wav: Path, output_wav: Path, **run: Any) -> SatelliteSettings:
    return SatelliteSettings(
        server=ServerSettings(uri=uri, token=TOKEN),
        identity=IdentitySettings(satellite_id="kitchen-pi", area="kitchen"),
        mic=MicSettings(input_wav=input_wav, fast=True),
        snd=SndSettings(output_wav=output_wav),
        link=LinkSettings(reconnect_min_s=0.05, reconnect_max_s=0.5),
        run=RunSettings(**({"once": True, "turn_timeout_s": WAIT} | run)),
    )


async def run_once(settings: SatelliteSettings, timeout: float = WAIT) -> list[str]:
    """Run the headless satellite (``once``) on its WAV microphone; the lines it printed.

    Asserts it exited OK. The answer audio goes to ``settings.snd.output_wav``.
    """
    assert settings.mic.input_wav is not None and settings.snd.output_wav is not None
    lines: list[str] = []
    sat = Satellite(
        settings,
        WavSource(settings.mic.input_wav, fast=True),
        WavFileSink(settings.snd.output_wav, paced=False),
    )
    sat.printer = lines.append
    async with asyncio.timeout(timeout):
        code = await sat.run()
    assert code is ExitCode.OK, sat.exit_message
    return lines


async def transcribe_wav(whisper_model: Any, path: Path) -> str:
    with wave.open(str(path), "rb") as wav:
        pcm = convert(wav.readframes(wav.getnframes()), wav.getframerate(), wav.getsampwidth(), 1)

    def run() -> str:
        segments, _ = whisper_model.transcribe(pcm16_to_float(pcm), language="en", beam_size=1)
        return " ".join(s.text for s in segments)

    return await asyncio.to_thread(run)


async def test_spoken_turn_through_real_hub(hub: Hub, whisper_model: Any, tmp_path: Path) -> None:
    """Wake word heard locally, command streamed with its pre-roll, answer written to the WAV."""
    mic = silence(0.5) + speak("Hey Jarvis, turn on the kitchen light.") + silence(2.0)
    out = tmp_path / "answer.wav"
    settings = settings_for(hub.uri, write_wav(tmp_path / "q.wav", mic), out)
    lines = await run_once(settings)
    transcript = next(line for line in lines if line.startswith("transcript: ")).removeprefix("transcript: ")
    # The pre-roll carries the whole wake phrase to STT; the brain removes it from the text.
    assert strip_wake_phrase(transcript) != transcript, transcript
    assert wer("turn on the kitchen light", strip_wake_phrase(transcript)) <= 0.2, transcript
    assert "answer: Sure." in lines and "answer: The kitchen light is on now." in lines
    assert any(line.startswith("metrics: ") for line in lines)
    heard = await transcribe_wav(whisper_model, out)
    # The answer's first sentences, spoken by the real TTS (the brain may add onboarding after them).
    assert "kitchen light is on now" in heard.lower(), heard


async def test_cli_process_once_against_real_hub(hub: Hub, tmp_path: Path) -> None:
    """The real `jarvis satellite` process: one turn, exit 0, texts on stdout."""
    mic = silence(0.3) + speak("Hey Jarvis, turn on the kitchen light.") + silence(2.0)
    wav_in = write_wav(tmp_path / "q.wav", mic)
    out = tmp_path / "a.wav"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jarvis.protocol.cli", "satellite", "--server", hub.uri,
        "--token", TOKEN, "--satellite-id", "cli-sat", "--input-wav", str(wav_in), "--fast",
        "--output-wav", str(out), "--once", "--turn-timeout", "60",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(WAIT):
        stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-3000:]
    text = stdout.decode()
    assert "transcript: " in text and "answer: The kitchen light is on now." in text
    assert "metrics: " in text and "timing: " in text
    with wave.open(str(out), "rb") as wav:
        assert wav.getnframes() > wav.getframerate()  # over a second of speech
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    assert np.abs(samples).max() > 1000  # not silence


async def test_reconnects_after_real_hub_restart(stt: Any, tts: Any, brain: Any, tmp_path: Path) -> None:
    port = free_port()
    services = {"stt": [stt.uri], "tts": [tts.uri], "brain": [brain.uri]}
    settings = settings_for(
        f"tcp://127.0.0.1:{port}",
        write_wav(tmp_path / "q.wav", silence(0.2)),
        tmp_path / "a.wav",
        once=False,
    )
    sat = Satellite(settings, WavSource(settings.mic.input_wav), WavFileSink(tmp_path / "a.wav"))
    task = asyncio.create_task(sat.run())
    try:
        async with asyncio.timeout(WAIT):
            async with Hub(Settings(hub=HubSettings(port=port)), TOKEN, **services):
                await sat.wait_until(lambda s: s.state is State.IDLE)
            await sat.wait_until(lambda s: s.state is State.CONNECTING)
            async with Hub(Settings(hub=HubSettings(port=port)), TOKEN, **services):
                await sat.wait_until(lambda s: s.connections == 2 and s.state is State.IDLE)
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_no_wake_uses_the_hubs_wake_word(hub: Hub, tmp_path: Path) -> None:
    """--no-wake: everything is streamed; the hub hears "hey jarvis" and the turn completes."""
    mic = silence(0.5) + speak("Hey Jarvis, turn on the kitchen light.") + silence(2.0)
    out = tmp_path / "answer.wav"
    settings = settings_for(hub.uri, write_wav(tmp_path / "q.wav", mic), out)
    settings = replace(settings, wake=WakeSettings(local=False))
    lines = await run_once(settings)
    assert any("kitchen" in line for line in lines if line.startswith("transcript: ")), lines
    assert "answer: The kitchen light is on now." in lines


@pytest.mark.parametrize(
    ("said", "outcome"),
    [("Hey Jarvis, thanks for watching.", "not-handled"), ("Hey Jarvis, never mind.", "silent")],
)
async def test_a_turn_without_answer_ends_at_once(hub: Hub, tmp_path: Path, said: str, outcome: str) -> None:
    """Nothing to play: the satellite ends the turn when the hub's metrics say so, not at its turn
    timeout; with --once it exits 0 and says why."""
    import time

    mic = silence(0.5) + speak(said) + silence(2.0)
    out = tmp_path / "answer.wav"
    settings = settings_for(hub.uri, write_wav(tmp_path / "q.wav", mic), out, turn_timeout_s=60.0)
    started = time.monotonic()
    lines = await run_once(settings)
    assert time.monotonic() - started < 30  # far from the 60 s turn timeout
    assert any(line.startswith(f"no-answer: {outcome}: ") for line in lines), lines
    assert not any(line.startswith("answer: ") and line != "answer: " for line in lines), lines
