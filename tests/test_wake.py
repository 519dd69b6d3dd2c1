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
    open_models,
    resolve_engine,
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
    with pytest.raises(WakeWordUnavailable, match="unknown microWakeWord model 'hey_toaster'"):
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


# Two engines (microWakeWord and openWakeWord): each hears voices the other does not.

needs_open = pytest.mark.skipif(not open_models(), reason="pyopen-wakeword is x86_64-only")


def _espeak(text: str) -> bytes:
    from jarvis.server.bench.voices import VOICES_BY_NAME, synthesize

    voice = VOICES_BY_NAME["espeak-gb-f3-150"]
    if not voice.available:
        pytest.skip("espeak-ng is not installed")
    return synthesize(voice, text, cache=None)


def test_engine_choice_is_checked() -> None:
    assert resolve_engine("micro", "hey_jarvis") == (True, False)
    assert resolve_engine("auto", "/models/custom.json") == (True, False)
    with pytest.raises(WakeWordUnavailable, match="unknown wake word engine 'porcupine'"):
        resolve_engine("porcupine", "hey_jarvis")
    with pytest.raises(WakeWordUnavailable, match="needs --wake-engine micro"):
        resolve_engine("openwakeword", "/models/custom.json")
    with pytest.raises(WakeWordUnavailable, match="needs --wake-engine micro"):
        WakeWordDetector("/models/custom.json", engine="both")


@needs_open
def test_auto_runs_both_engines_where_the_model_exists_in_both() -> None:
    assert "hey_jarvis" in open_models()
    assert WakeWordDetector().engines == ("micro", "openwakeword")
    assert WakeWordDetector(engine="micro").engines == ("micro",)
    assert WakeWordDetector(engine="openwakeword").engines == ("openwakeword",)
    # hey_rhasspy is openWakeWord's only: auto runs it alone, micro refuses with a hint.
    assert "hey_rhasspy" in open_models() and "hey_rhasspy" not in available_models()
    rhasspy = WakeWordDetector("hey rhasspy")
    assert rhasspy.engines == ("openwakeword",)
    assert (rhasspy.model, rhasspy.wake_word) == ("hey_rhasspy", "Hey Rhasspy")
    with pytest.raises(WakeWordUnavailable, match="--wake-engine openwakeword"):
        WakeWordDetector("hey_rhasspy", engine="micro")
    with pytest.raises(WakeWordUnavailable, match="openWakeWord has no built-in model 'hey_toaster'"):
        WakeWordDetector("hey_toaster", engine="openwakeword")


@needs_open
def test_a_voice_microwakeword_never_hears_wakes_the_default_detector() -> None:
    """espeak-ng's "hey jarvis" stays far under microWakeWord's cutoff; openWakeWord hears it,
    so the default detector does, once, where the phrase ends (not in the command after it)."""
    phrase = _espeak("Hey Jarvis.")
    audio = silence(0.5) + _espeak("Hey Jarvis, what time is it?") + silence(1.0)
    micro = WakeWordDetector(engine="micro")
    assert _feed(micro, audio, 2560) == []
    default = WakeWordDetector()
    assert len(_feed(default, audio, 2560)) == 1
    assert default.last_engine == "openwakeword"
    phrase_end_s = 0.5 + len(phrase) / 2 / SAMPLE_RATE
    assert phrase_end_s - 0.5 < default.last_detection_sample / SAMPLE_RATE < phrase_end_s + 0.6


@needs_open
def test_both_engines_hearing_one_phrase_make_one_detection(hey_jarvis: bytes) -> None:
    detector = WakeWordDetector(engine="both")
    audio = silence(0.5) + hey_jarvis + silence(1.5)
    assert len(_feed(detector, audio, 2560)) == 1
    # Each engine alone hears the bundled piper voice too.
    for engine in ("micro", "openwakeword"):
        assert len(_feed(WakeWordDetector(engine=engine), audio, 2560)) == 1, engine


@needs_open
@pytest.mark.parametrize("engine", ["micro", "openwakeword"])
def test_neither_engine_fires_on_speech_without_the_phrase(engine: str, small_talk: bytes) -> None:
    audio = silence(0.3) + small_talk + _espeak("Hello there, what's the weather like?") + silence(0.5)
    assert _feed(WakeWordDetector(engine=engine), audio, 2560) == []


@needs_open
def test_openwakeword_reset_and_close(hey_jarvis: bytes) -> None:
    detector = WakeWordDetector(engine="openwakeword")
    assert _feed(detector, hey_jarvis + silence(0.5), 4096)
    detector.reset()
    assert detector.last_engine is None and detector.samples_processed == 0
    assert len(_feed(detector, hey_jarvis + silence(0.5), 4096)) == 1
    detector.close()
    with pytest.raises(RuntimeError, match="closed"):
        detector.process(silence(0.1))
