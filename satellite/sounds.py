"""Feedback sounds: short generated tones (awake, done, timer alarm) or user WAV files."""

from __future__ import annotations

import logging
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jarvis.protocol.audio import AudioFormat, from_float

_LOGGER = logging.getLogger(__name__)

TONE_RATE = 22050


@dataclass(frozen=True)
class Sound:
    """Raw PCM plus its format."""

    pcm: bytes
    fmt: AudioFormat

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / self.fmt.bytes_per_second


def _tones(parts: list[tuple[float, float]], volume: float = 0.3, rate: int = TONE_RATE) -> Sound:
    """Concatenate (frequency Hz, seconds) tones; frequency 0 is a pause. 5 ms fades avoid clicks."""
    pieces = []
    fade = int(0.005 * rate)
    for freq, seconds in parts:
        count = int(seconds * rate)
        if freq <= 0:
            pieces.append(np.zeros(count, dtype=np.float32))
            continue
        t = np.arange(count, dtype=np.float32) / rate
        tone = np.sin(2 * np.pi * freq * t).astype(np.float32) * volume
        ramp = np.linspace(0.0, 1.0, min(fade, count // 2), dtype=np.float32)
        tone[: len(ramp)] *= ramp
        tone[count - len(ramp) :] *= ramp[::-1]
        pieces.append(tone)
    return Sound(from_float(np.concatenate(pieces), 2), AudioFormat(rate, 2, 1))


def awake_tone() -> Sound:
    """Two rising notes: "I am listening"."""
    return _tones([(880.0, 0.07), (1318.5, 0.09)])


def done_tone() -> Sound:
    """Two falling notes: "got it"."""
    return _tones([(1318.5, 0.07), (880.0, 0.09)])


def alarm_tone(repeats: int = 4) -> Sound:
    """A timer alarm: beep-beep-beep, pause, repeated."""
    pattern = [(1760.0, 0.12), (0.0, 0.08)] * 3 + [(0.0, 0.4)]
    return _tones(pattern * repeats, volume=0.4)


def load_wav(path: Path) -> Sound:
    """Read a PCM WAV file; raises ValueError with the file name if it cannot be used."""
    try:
        with wave.open(str(path), "rb") as wav:
            fmt = AudioFormat(wav.getframerate(), wav.getsampwidth(), wav.getnchannels()).validate()
            pcm = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error, ValueError) as err:
        raise ValueError(f"cannot read WAV file {path}: {err}") from err
    return Sound(pcm, fmt)
