"""Audio helpers shared by every part: format checks, conversion to 16 kHz/16-bit/mono, chunking, levels.

Everything is numpy (no audioop, which is gone in Python 3.13). Sample formats follow Wyoming/WAV:
width 1 = unsigned 8-bit, width 2 = signed 16-bit little-endian, width 4 = signed 32-bit
little-endian; channels are interleaved.

Resampling is band-limited (Kaiser-windowed sinc, polyphase table): downsampling filters out
everything above the new Nyquist frequency instead of aliasing it into the speech band, and
:class:`Resampler` keeps state between chunks so a stream resampled chunk by chunk is identical to
the same audio resampled in one piece.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_LOGGER = logging.getLogger(__name__)

#: The format every Jarvis stage works in.
TARGET_RATE = 16000
TARGET_WIDTH = 2
TARGET_CHANNELS = 1

MIN_RATE = 8000
MAX_RATE = 192000
VALID_WIDTHS = (1, 2, 4)
MAX_CHANNELS = 8


class AudioFormatError(ValueError):
    """An audio format (rate/width/channels) or payload that cannot be converted."""

    def __init__(self, message: str, code: str = "bad-audio-format") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AudioFormat:
    """Raw PCM format: ``rate`` in Hz, ``width`` in bytes per sample, interleaved ``channels``."""

    rate: int = TARGET_RATE
    width: int = TARGET_WIDTH
    channels: int = TARGET_CHANNELS

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame (one sample of every channel)."""
        return self.width * self.channels

    @property
    def bytes_per_second(self) -> int:
        return self.rate * self.frame_bytes

    def validate(self) -> AudioFormat:
        """Raise :class:`AudioFormatError` unless this is a format we convert; returns self."""
        validate_format(self.rate, self.width, self.channels)
        return self


TARGET_FORMAT = AudioFormat()


def validate_format(rate: object, width: object, channels: object) -> AudioFormat:
    """Check a format from the wire; raise :class:`AudioFormatError` with a clear message if absurd."""
    for name, value in (("rate", rate), ("width", width), ("channels", channels)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise AudioFormatError(f"audio {name} must be an integer, got {value!r}")
    assert isinstance(rate, int) and isinstance(width, int) and isinstance(channels, int)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioFormatError(f"audio rate {rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz")
    if width not in VALID_WIDTHS:
        raise AudioFormatError(f"audio width {width} bytes is not one of {VALID_WIDTHS}")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFormatError(f"audio channels {channels} is outside 1..{MAX_CHANNELS}")
    return AudioFormat(rate, width, channels)


# ---------------------------------------------------------------------------------------------
# Samples <-> bytes


def to_float(audio: bytes, width: int, channels: int = 1) -> np.ndarray:
    """Decode PCM bytes to float32 in [-1, 1], shape (frames, channels).

    Raises :class:`AudioFormatError` if ``audio`` is not a whole number of frames.
    """
    if width not in VALID_WIDTHS:
        raise AudioFormatError(f"audio width {width} bytes is not one of {VALID_WIDTHS}")
    frame = width * channels
    if len(audio) % frame:
        raise AudioFormatError(
            f"{len(audio)} bytes is not a whole number of {frame}-byte frames "
            f"(width {width} x {channels} channels)",
            code="bad-audio-payload",
        )
    if width == 1:
        samples = (np.frombuffer(audio, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(audio, dtype="<i2").astype(np.float32) / 32768.0
    else:
        samples = (np.frombuffer(audio, dtype="<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    return samples.reshape(-1, channels)


def from_float(samples: np.ndarray, width: int = TARGET_WIDTH) -> bytes:
    """Encode float samples in [-1, 1] (any shape; interleaved if 2-D) to PCM bytes, clipping."""
    flat = np.clip(np.asarray(samples, dtype=np.float64).reshape(-1), -1.0, 1.0)
    if width == 1:
        return np.round(flat * 127.0 + 128.0).astype(np.uint8).tobytes()
    if width == 2:
        return np.round(flat * 32767.0).astype("<i2").tobytes()
    if width == 4:
        return np.round(flat * 2147483647.0).astype("<i4").tobytes()
    raise AudioFormatError(f"audio width {width} bytes is not one of {VALID_WIDTHS}")


def pcm16_to_float(audio: bytes) -> np.ndarray:
    """16-bit mono PCM -> float32 1-D array in [-1, 1] (what faster-whisper takes)."""
    return to_float(audio, 2, 1).reshape(-1)


# ---------------------------------------------------------------------------------------------
# Resampling


@lru_cache(maxsize=32)
def _filter_table(in_rate: int, out_rate: int, zero_crossings: int = 16) -> tuple[np.ndarray, int, int]:
    """Polyphase windowed-sinc table for ``in_rate -> out_rate``.

    Returns ``(table, half, phases)``: ``table[p]`` holds the ``2*half`` weights applied to input
    samples ``i0-half+1 .. i0+half`` for an output whose position lies ``p/phases`` of a sample
    after input ``i0``.
    """
    g = math.gcd(in_rate, out_rate)
    phases = out_rate // g
    # Cut-off relative to the input Nyquist, with a little room for the transition band.
    cutoff = min(1.0, out_rate / in_rate) * 0.94
    half = int(math.ceil(zero_crossings / cutoff))
    k = np.arange(-half + 1, half + 1, dtype=np.float64)  # tap offsets relative to i0
    frac = np.arange(phases, dtype=np.float64) / phases
    # Distance from the output position to each tap: (i0 + frac) - (i0 + k) = frac - k.
    dist = frac[:, None] - k[None, :]
    # Continuous Kaiser window (beta 8.6: ~ -90 dB side lobes) evaluated at each distance.
    beta = 8.6
    inside = np.clip(1.0 - (dist / half) ** 2, 0.0, None)
    win = np.i0(beta * np.sqrt(inside)) / np.i0(beta)
    table = cutoff * np.sinc(cutoff * dist) * win
    table /= table.sum(axis=1, keepdims=True)  # unity DC gain for every phase
    return table.astype(np.float32), half, phases


class Resampler:
    """Streaming band-limited resampler for one mono float signal.

    ``process`` may be called with chunks of any size; ``flush`` emits the tail. The output equals
    resampling the concatenated input in one go.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        validate_format(in_rate, 2, 1)
        validate_format(out_rate, 2, 1)
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._identity = in_rate == out_rate
        if not self._identity:
            self._table, self._half, self._phases = _filter_table(in_rate, out_rate)
            g = math.gcd(in_rate, out_rate)
            self._step_num = in_rate // g  # output n sits at input position n * num / den
            self._step_den = out_rate // g
        # Input history: ``_buf[0]`` is absolute input sample ``_buf_start``. Start with ``half``
        # zeros of "past" so the first outputs see silence before the signal, like a one-shot call.
        self._buf = np.zeros(self._half - 1 if not self._identity else 0, dtype=np.float32)
        self._buf_start = -len(self._buf)
        self._n_in = 0  # input samples received
        self._n_out = 0  # output samples produced

    def _produce(self, available_end: int, limit: int | None = None) -> np.ndarray:
        """Outputs whose taps all lie below absolute input index ``available_end``."""
        half = self._half
        # Output n needs input up to i0(n) + half where i0(n) = floor(n * num / den).
        # Largest n with i0(n) + half < available_end:
        last_i0 = available_end - half - 1
        if last_i0 < 0:
            return np.zeros(0, dtype=np.float32)
        n_end = (last_i0 * self._step_den) // self._step_num + 1
        while (n_end * self._step_num) // self._step_den > last_i0:
            n_end -= 1
        while ((n_end) * self._step_num) // self._step_den <= last_i0:
            n_end += 1
        if limit is not None:
            n_end = min(n_end, limit)
        if n_end <= self._n_out:
            return np.zeros(0, dtype=np.float32)
        n = np.arange(self._n_out, n_end, dtype=np.int64)
        pos = n * self._step_num
        i0 = pos // self._step_den
        phase = (pos % self._step_den) * self._phases // self._step_den
        out = np.empty(len(n), dtype=np.float32)
        taps = np.arange(-half + 1, half + 1, dtype=np.int64)
        block = 8192
        for s in range(0, len(n), block):
            idx = i0[s : s + block, None] + taps[None, :] - self._buf_start
            out[s : s + block] = np.einsum("ij,ij->i", self._buf[idx], self._table[phase[s : s + block]])
        self._n_out = n_end
        # Drop history no future output needs.
        next_i0 = (self._n_out * self._step_num) // self._step_den
        drop = next_i0 - half + 1 - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        return out

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Feed mono float samples; returns the output samples that are now complete."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._n_in += len(samples)
        if self._identity:
            self._n_out += len(samples)
            return samples.copy()
        self._buf = np.concatenate([self._buf, samples])
        return self._produce(self._buf_start + len(self._buf))

    def flush(self) -> np.ndarray:
        """Emit the remaining output (input padded with silence); the total output length is
        ``ceil(n_in * out_rate / in_rate)``. The resampler can be reused afterwards."""
        if self._identity:
            return np.zeros(0, dtype=np.float32)
        total = -(-self._n_in * self._step_den // self._step_num)
        self._buf = np.concatenate([self._buf, np.zeros(self._half + 1, dtype=np.float32)])
        out = self._produce(self._buf_start + len(self._buf), limit=total)
        self.reset()
        return out

    def reset(self) -> None:
        self.__init__(self.in_rate, self.out_rate)  # type: ignore[misc]


def resample(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample a whole mono float signal (band-limited)."""
    if in_rate == out_rate:
        return np.asarray(samples, dtype=np.float32).reshape(-1).copy()
    resampler = Resampler(in_rate, out_rate)
    return np.concatenate([resampler.process(samples), resampler.flush()])


# ---------------------------------------------------------------------------------------------
# Conversion to the Jarvis format


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) float -> (frames,) by averaging channels."""
    if samples.ndim == 1:
        return samples
    if samples.shape[1] == 1:
        return samples[:, 0]
    return samples.mean(axis=1, dtype=np.float32)


def convert(
    audio: bytes,
    rate: int,
    width: int,
    channels: int,
    out: AudioFormat = TARGET_FORMAT,
) -> bytes:
    """Convert a whole PCM buffer to ``out`` (default 16 kHz/16-bit/mono).

    Multi-channel output duplicates the mono mix. Raises :class:`AudioFormatError` for an
    unsupported format or a payload that is not a whole number of frames.
    """
    validate_format(rate, width, channels)
    out.validate()
    if (rate, width, channels) == (out.rate, out.width, out.channels):
        if len(audio) % out.frame_bytes:
            to_float(audio, width, channels)  # raises the clear error
        return audio
    mono = to_mono(to_float(audio, width, channels))
    mono = resample(mono, rate, out.rate)
    if out.channels > 1:
        mono = np.repeat(mono[:, None], out.channels, axis=1)
    return from_float(mono, out.width)


class AudioConverter:
    """Stateful chunk-by-chunk conversion of one stream to 16 kHz/16-bit/mono (or ``out``).

    Use one per ``audio-start``; call :meth:`convert` per chunk and :meth:`flush` at ``audio-stop``.
    """

    def __init__(self, rate: int, width: int, channels: int, out: AudioFormat = TARGET_FORMAT) -> None:
        self.source = validate_format(rate, width, channels)
        self.out = out.validate()
        self._passthrough = (rate, width, channels) == (out.rate, out.width, out.channels)
        self._resampler = Resampler(rate, out.rate)

    @property
    def passthrough(self) -> bool:
        """True when the source already is the output format (conversion only checks frames)."""
        return self._passthrough

    def convert(self, audio: bytes) -> bytes:
        """Convert one chunk; raises :class:`AudioFormatError` for a partial frame."""
        if self._passthrough:
            if len(audio) % self.source.frame_bytes:
                to_float(audio, self.source.width, self.source.channels)
            return audio
        mono = to_mono(to_float(audio, self.source.width, self.source.channels))
        return self._encode(self._resampler.process(mono))

    def flush(self) -> bytes:
        """The tail held back by the resampler's look-ahead (a few ms)."""
        if self._passthrough:
            return b""
        return self._encode(self._resampler.flush())

    def _encode(self, mono: np.ndarray) -> bytes:
        if self.out.channels > 1:
            mono = np.repeat(mono[:, None], self.out.channels, axis=1)
        return from_float(mono, self.out.width)


# ---------------------------------------------------------------------------------------------
# Chunking and levels


def chunk_bytes(audio: bytes, fmt: AudioFormat = TARGET_FORMAT, ms: float = 20.0) -> Iterator[bytes]:
    """Split ``audio`` into chunks of ``ms`` milliseconds (whole frames; the last may be shorter)."""
    if ms <= 0:
        raise ValueError("chunk length must be positive")
    size = max(1, int(fmt.rate * ms / 1000)) * fmt.frame_bytes
    for start in range(0, len(audio), size):
        yield audio[start : start + size]


def duration_seconds(audio: bytes, fmt: AudioFormat = TARGET_FORMAT) -> float:
    return len(audio) / fmt.bytes_per_second


def rms(audio: bytes, width: int = TARGET_WIDTH, channels: int = TARGET_CHANNELS) -> float:
    """Root-mean-square level in [0, 1] (full-scale square wave = 1)."""
    if not audio:
        return 0.0
    samples = to_float(audio, width, channels).astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples)))


def dbfs(audio: bytes, width: int = TARGET_WIDTH, channels: int = TARGET_CHANNELS) -> float:
    """RMS level in dBFS; -inf for digital silence."""
    level = rms(audio, width, channels)
    return 20.0 * math.log10(level) if level > 0 else float("-inf")
