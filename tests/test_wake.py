"""jarvis.protocol.wake: the real hey_jarvis model on piper-synthesized speech."""

from __future__ import annotations

import numpy as np
import pytest
from speech import silence, speak

from jarvis.protocol.wake import (
    SAMPLE_RATE,
    WakeWordDetector,
    WakeWordUnavailable,
    available_models,
    normalize_model_name,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hey_jarvis() -> bytes:
    return speak("Hey Jarvis.")


@pytest.fixture(scope="module")
def hey_jarvis_command() -> bytes:
    return speak("Hey Jarvis, what time is it?")


@pytest.fixture(scope="module")
def small_talk() -> bytes:
    return speak("Hello there, how are you?")


def _feed(detector: WakeWordDetector, pcm: bytes, chunk_bytes: int) -> list[int]:
    """Feed in chunks; return the byte offsets of the chunks that reported a detection."""
    hits = []
    for offset in range(0, len(pcm), chunk_bytes):
        if detector.process(pcm[offset : offset + chunk_bytes]):
            hits.append(offset)
    return hits


def test_available_models_lists_builtin() -> None:
    models = available_models()
    assert "hey_jarvis" in models
    assert "okay_nabu" in models


@pytest.mark.parametrize("name", ["hey jarvis", "Hey-Jarvis", " hey_jarvis "])
def test_model_names_normalized(name: str) -> None:
    assert normalize_model_name(name) == "hey_jarvis"


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(WakeWordUnavailable, match="unknown wake word model 'hey_toaster'"):
        WakeWordDetector("hey_toaster")
    with pytest.raises(WakeWordUnavailable, match="not found"):
        WakeWordDetector("/nonexistent/model.json")


@pytest.mark.parametrize("chunk_bytes", [2048, 320, 777, 16000])
def test_detects_hey_jarvis_in_any_chunk_size(hey_jarvis: bytes, chunk_bytes: int) -> None:
    detector = WakeWordDetector("hey_jarvis")
    audio = silence(0.5) + hey_jarvis + silence(1.0)
    hits = _feed(detector, audio, chunk_bytes)
    assert len(hits) == 1, f"expected exactly one detection, got {len(hits)}"
    # The detection lands while or just after the phrase is spoken, not in the leading silence.
    detected_s = detector.last_detection_sample / SAMPLE_RATE
    spoken_end_s = 0.5 + len(hey_jarvis) / 2 / SAMPLE_RATE
    assert 0.5 < detected_s <= spoken_end_s + 0.5


def test_detects_wake_word_followed_by_command(hey_jarvis_command: bytes) -> None:
    detector = WakeWordDetector()
    assert len(_feed(detector, silence(0.3) + hey_jarvis_command, 1024)) == 1


def test_small_talk_does_not_trigger(small_talk: bytes) -> None:
    detector = WakeWordDetector()
    assert _feed(detector, silence(0.5) + small_talk + silence(1.0), 1024) == []


def test_silence_and_noise_do_not_trigger() -> None:
    rng = np.random.default_rng(1)
    noise = (rng.normal(0, 800, SAMPLE_RATE * 3)).astype(np.int16).tobytes()
    detector = WakeWordDetector()
    assert _feed(detector, silence(2.0) + noise, 2048) == []


def test_refractory_period_then_triggers_again(hey_jarvis: bytes) -> None:
    detector = WakeWordDetector(refractory_s=2.0)
    # Twice back to back (inside the refractory period): one detection.
    assert len(_feed(detector, hey_jarvis + hey_jarvis, 1024)) == 1
    # After more than the refractory period of other audio, it triggers again.
    assert len(_feed(detector, silence(2.5) + hey_jarvis + silence(0.5), 1024)) == 1


def test_reset_forgets_stream(hey_jarvis: bytes) -> None:
    detector = WakeWordDetector()
    assert _feed(detector, hey_jarvis + silence(0.5), 4096)
    detector.reset()
    assert detector.samples_processed == 0 and detector.last_detection_sample is None
    # Right after a reset the refractory period no longer applies.
    assert len(_feed(detector, hey_jarvis + silence(0.5), 4096)) == 1


def test_odd_byte_chunks_keep_samples_aligned(hey_jarvis: bytes) -> None:
    detector = WakeWordDetector()
    audio = silence(0.2) + hey_jarvis + silence(0.8)
    assert len(_feed(detector, audio, 333)) == 1
    assert detector.samples_processed == len(audio) // 2


def test_close_while_processing_on_another_thread_waits_then_refuses(hey_jarvis: bytes) -> None:
    """The hub closes a session's detector on disconnect while its worker thread may be inside
    process(); freeing the TFLite interpreter under it aborted the whole process (CI, exit 134)."""
    import threading

    detector = WakeWordDetector()
    long_audio = silence(5.0) + hey_jarvis
    started = threading.Event()
    result: list[object] = []

    def worker() -> None:
        started.set()
        try:
            result.append(detector.process(long_audio))
        except RuntimeError as err:  # only if close() won the lock first
            result.append(err)

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait()
    detector.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(result) == 1
    detector.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        detector.process(silence(0.1))
    with pytest.raises(RuntimeError, match="closed"):
        detector.reset()


def test_wake_hint_from_model_names_and_from_a_clients_context() -> None:
    from jarvis.protocol.wake import WAKE_HINT_KEY, WakeHint

    assert WakeHint.for_model("hey_jarvis", 1.5) == WakeHint("Hey Jarvis", 1.5)
    assert WakeHint.for_model("okay_nabu_v0.1", 1.2) == WakeHint("Okay Nabu", 1.2)
    assert WakeHint.for_model("/models/hey_mycroft.json", 1.0) == WakeHint("Hey Mycroft", 1.0)
    assert WakeHint.for_model("hey_jarvis", 0.0) is None  # no pre-roll: no wake phrase in the audio
    hint = WakeHint("Hey Jarvis", 1.5)
    assert WakeHint.from_context({WAKE_HINT_KEY: hint.to_context()}) == hint
    # A client fills this in: anything but one to four words and 1-5000 ms is ignored, never used.
    for bad in (
        {"phrase": "Hey Jarvis <|endoftext|>", "ms": 1500},
        {"phrase": "Hey Jarvis", "ms": 60_000},
        {"phrase": "Hey Jarvis", "ms": True},
        {"phrase": "a b c d e", "ms": 1500},
        {"phrase": 3, "ms": 1500},
        "Hey Jarvis",
    ):
        assert WakeHint.from_context({WAKE_HINT_KEY: bad}) is None, bad
    assert WakeHint.from_context(None) is None
