"""The sounddevice paths (microphone, speaker, --list-devices) on a real PortAudio + ALSA stack.

There is no sound card here, so each test runs in a subprocess whose ``$HOME/.asoundrc`` defines
an ALSA ``null`` PCM (``jarvisnull``): PortAudio lists and opens it like any device. (The null
device is not paced: capture returns silence as fast as it is read.) Skipped where PortAudio is
not installed (``apt install libportaudio2``).
"""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    ctypes.util.find_library("portaudio") is None, reason="PortAudio (libportaudio2) not installed"
)

ASOUNDRC = """\
pcm.jarvisnull {
    type null
    hint { show on description "null device for tests" }
}
"""


def run_with_null_device(tmp_path: Path, code: str | None = None, args: list[str] | None = None) -> str:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(ASOUNDRC)
    env = {**os.environ, "HOME": str(home)}
    command = [sys.executable, "-c", textwrap.dedent(code)] if code else [sys.executable, *(args or [])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_list_devices_shows_alsa_devices(tmp_path: Path) -> None:
    out = run_with_null_device(tmp_path, args=["-m", "jarvis.protocol.cli", "satellite", "--list-devices"])
    assert "jarvisnull" in out


def test_microphone_source_yields_16k_chunks(tmp_path: Path) -> None:
    out = run_with_null_device(
        tmp_path,
        """
        import asyncio
        from jarvis.satellite.audio_io import MicrophoneSource

        async def main():
            # 48 kHz stereo device audio, converted to 16 kHz mono chunks of 30 ms.
            source = MicrophoneSource("jarvisnull", rate=48000, channels=2, chunk_ms=30)
            sizes = []
            async with asyncio.timeout(20):
                async for chunk in source.chunks():
                    sizes.append(len(chunk))
                    if len(sizes) == 20:
                        break
            await source.close()
            total = sum(sizes)
            print("total", total, "per-chunk", sizes[5])

        asyncio.run(main())
        """,
    )
    fields = out.split()
    # 30 ms at 48 kHz in, 30 ms at 16 kHz/16-bit out (960 bytes, give or take the resampler's delay).
    assert abs(int(fields[3]) - 960) <= 64, out


def test_speaker_sink_plays_drains_and_stops(tmp_path: Path) -> None:
    out = run_with_null_device(
        tmp_path,
        """
        import asyncio
        from jarvis.protocol.audio import AudioFormat
        from jarvis.satellite.audio_io import SpeakerSink
        from jarvis.satellite.sounds import awake_tone

        async def main():
            sink = SpeakerSink("jarvisnull", rate=48000)
            async with asyncio.timeout(20):
                await sink.start_answer(AudioFormat(22050, 2, 1))
                await sink.play(bytes(22050 * 2))  # one second of answer
                await sink.drain()
                await sink.play_sound(awake_tone())
                await sink.start_answer(AudioFormat(16000, 2, 1))
                await sink.play(bytes(32000))
                sink.stop_now()  # barge-in: nothing left to play
                await sink.drain()
            await sink.close()
            print("ok")

        asyncio.run(main())
        """,
    )
    assert out.strip() == "ok"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--mic-device", "no-such-mic", "--output-wav", "{tmp}/o.wav"],
            "cannot open microphone 'no-such-mic'",
        ),
        (
            ["--snd-device", "no-such-speaker", "--input-wav", "{tmp}/i.wav"],
            "cannot open speaker 'no-such-speaker'",
        ),
    ],
)
def test_bad_device_is_a_clear_error(tmp_path: Path, flags: list[str], message: str) -> None:
    import wave

    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(ASOUNDRC)
    with wave.open(str(tmp_path / "i.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(3200))
    result = subprocess.run(
        [sys.executable, "-m", "jarvis.protocol.cli", "satellite", "--server", "tcp://127.0.0.1:9",
         "--token", "t" * 20, "--once", "--turn-timeout", "20"]
        + [flag.replace("{tmp}", str(tmp_path)) for flag in flags],
        capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(home)},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert message in result.stderr and "--list-devices" in result.stderr
