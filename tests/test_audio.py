"""jarvis.protocol.audio: validation, sample conversion, band-limited resampling, streaming, levels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from speech import silence, speak, wer

from jarvis.protocol import audio as A
from jarvis.protocol.audio import AudioConverter, AudioFormat, AudioFormatError, Resampler


def _tone(freq: float, rate: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * math.pi * freq * t)).astype(np.float32)


def _level_db(x: np.ndarray) -> float:
    x = x[len(x) // 10 : -len(x) // 10]  # ignore the filter's edges
    return 20 * math.log10(max(1e-12, float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))))


@pytest.mark.parametrize(
    ("rate", "width", "channels"),
    [(0, 2, 1), (7999, 2, 1), (192001, 2, 1), (16000, 3, 1), (16000, 0, 1), (16000, 8, 1),
     (16000, 2, 0), (16000, 2, 9), (16000, 2, 50), ("16000", 2, 1), (16000.0, 2, 1), (True, 2, 1),
     (None, 2, 1)],
)  # fmt: skip
def test_absurd_formats_rejected(rate: object, width: object, channels: object) -> None:
    with pytest.raises(AudioFormatError) as err:
        A.validate_format(rate, width, channels)
    assert err.value.code == "bad-audio-format"
    assert str(err.value)


@pytest.mark.parametrize(
    ("rate", "width", "channels"), [(8000, 1, 1), (16000, 2, 1), (44100, 2, 2), (192000, 4, 8)]
)
def test_sane_formats_accepted(rate: int, width: int, channels: int) -> None:
    assert A.validate_format(rate, width, channels) == AudioFormat(rate, width, channels)


@pytest.mark.parametrize("width", [1, 2, 4])
def test_sample_codec_roundtrip(width: int) -> None:
    x = np.linspace(-0.9, 0.9, 101, dtype=np.float32)
    back = A.to_float(A.from_float(x, width), width).reshape(-1)
    assert np.max(np.abs(back - x)) <= (1 / 64 if width == 1 else 1e-4)


def test_8bit_is_unsigned_like_wav() -> None:
    assert A.to_float(bytes([128]), 1)[0, 0] == 0.0
    assert A.from_float(np.zeros(1), 1) == bytes([128])


def test_partial_frame_payload_rejected() -> None:
    with pytest.raises(AudioFormatError) as err:
        A.to_float(b"\x00\x01\x02", 2, 1)
    assert err.value.code == "bad-audio-payload"
    with pytest.raises(AudioFormatError):
        A.convert(b"\x00" * 6, 44100, 2, 2)  # 1.5 stereo frames
    with pytest.raises(AudioFormatError):
        A.convert(b"\x00" * 3, 16000, 2, 1)  # already the target format, still checked


@pytest.mark.parametrize(
    ("src", "dst"), [(22050, 16000), (44100, 16000), (48000, 16000), (8000, 16000), (11025, 16000)]
)
def test_resample_keeps_passband_tone(src: int, dst: int) -> None:
    y = A.resample(_tone(1000, src), src, dst)
    assert len(y) == dst
    t = np.arange(len(y)) / dst
    ref = 0.5 * np.sin(2 * math.pi * 1000 * t)
    assert np.max(np.abs(y - ref)[200:-200]) < 1e-3


@pytest.mark.parametrize("src", [44100, 48000])
def test_downsampling_removes_what_would_alias(src: int) -> None:
    """A 10 kHz tone cannot exist at 16 kHz: it must vanish, not fold down to 6 kHz."""
    y = A.resample(_tone(10_000, src), src, 16000)
    assert _level_db(y) < -60
    # A 6 kHz tone (inside the band) keeps its level.
    assert abs(_level_db(A.resample(_tone(6000, src), src, 16000)) - _level_db(_tone(6000, src))) < 0.5


@pytest.mark.parametrize(("src", "dst"), [(22050, 16000), (44100, 16000), (8000, 16000), (16000, 48000)])
def test_streaming_resampler_equals_one_shot(src: int, dst: int) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(src) * 0.1).astype(np.float32)
    whole = A.resample(x, src, dst)
    resampler = Resampler(src, dst)
    pieces = []
    sizes = rng.integers(1, 900, size=400)
    pos = 0
    for size in sizes:
        pieces.append(resampler.process(x[pos : pos + size]))
        pos += int(size)
        if pos >= len(x):
            break
    pieces.append(resampler.process(x[pos:]))
    pieces.append(resampler.flush())
    streamed = np.concatenate(pieces)
    assert len(streamed) == len(whole) == math.ceil(len(x) * dst / src)
    np.testing.assert_allclose(streamed, whole, atol=1e-6)


def test_converter_stereo_44k_to_16k_mono() -> None:
    left = _tone(440, 44100)
    stereo = np.stack([left, left], axis=1)
    pcm = A.from_float(stereo, 2)
    conv = AudioConverter(44100, 2, 2)
    step = 441 * 4  # 10 ms of 16-bit stereo
    out = b"".join(conv.convert(pcm[i : i + step]) for i in range(0, len(pcm), step)) + conv.flush()
    assert len(out) == 16000 * 2
    y = A.pcm16_to_float(out)
    t = np.arange(len(y)) / 16000
    assert np.max(np.abs(y - 0.5 * np.sin(2 * math.pi * 440 * t))[200:-200]) < 2e-3
    assert out == A.convert(pcm, 44100, 2, 2)


def test_converter_passthrough_is_identity() -> None:
    pcm = A.from_float(_tone(300, 16000, 0.1), 2)
    conv = AudioConverter(16000, 2, 1)
    assert conv.convert(pcm) == pcm and conv.flush() == b""


def test_convert_to_other_formats() -> None:
    pcm = A.from_float(_tone(300, 16000, 0.5), 2)
    out = A.convert(pcm, 16000, 2, 1, out=AudioFormat(48000, 4, 2))
    assert len(out) == 48000 // 2 * 4 * 2


def test_chunking_and_levels() -> None:
    pcm = silence(1.0)
    chunks = list(A.chunk_bytes(pcm, ms=20))
    assert len(chunks) == 50 and all(len(c) == 640 for c in chunks)
    assert b"".join(chunks) == pcm
    assert list(A.chunk_bytes(b"\x00" * 100, AudioFormat(16000, 2, 2), ms=1)) == [b"\x00" * 64, b"\x00" * 36]
    assert A.dbfs(pcm) == float("-inf") and A.rms(b"") == 0.0
    full = A.from_float(np.ones(1000), 2)
    assert A.dbfs(full) == pytest.approx(0.0, abs=0.01)
    assert A.dbfs(A.from_float(_tone(1000, 16000), 2)) == pytest.approx(
        20 * math.log10(0.5 / math.sqrt(2)), abs=0.05
    )
    assert A.duration_seconds(pcm) == 1.0


@pytest.mark.slow
def test_speech_helper_and_wer() -> None:
    pcm = speak("Hello there.")
    assert len(pcm) % 2 == 0 and A.duration_seconds(pcm) > 0.3
    assert A.dbfs(pcm) > -40
    assert wer("Set a timer for 5 minutes.", "set a timer for five minutes") == 0.0
    assert wer("turn on the light", "turn off the light") == 0.25
    assert wer("a b", "") == 1.0 and wer("", "") == 0.0
