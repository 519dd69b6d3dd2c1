"""Wake word detection over ``pymicro_wakeword`` (microWakeWord) and ``pyopen_wakeword`` (openWakeWord).

Two engines, because neither hears every voice: microWakeWord's ``hey_jarvis`` never fires on
some voices (espeak-ng's, for one: its probability stays under 0.06), and openWakeWord's
``hey_jarvis`` hears those (docs/satellite.md, "Wake word engines", and ``jarvis bench wake``).
The default, ``auto``, runs both when both are installed and the model exists in both, and
fires on the first; a detection's position is where the phrase ended, so the pre-roll and the
wake hint are the same whichever engine fired.

Used by the satellite (local wake word, so audio leaves the room only after it) and by the hub
(server-side wake word for clients without one). ``pymicro_wakeword`` is imported lazily, when a
:class:`WakeWordDetector` is created, so ``jarvis.protocol`` imports without the satellite extra.

Audio is 16 kHz, 16-bit, mono PCM, in chunks of any size. One utterance triggers once: after a
detection, further detections are ignored for ``refractory_s`` seconds *of audio* (counted in
samples, not wall-clock time, so faster-than-real-time input behaves the same as a microphone).

The models' CPU cost is small (well under 1 ms per 10 ms of audio on a laptop core) but it is still
model inference: async callers should run :meth:`WakeWordDetector.process` in a worker thread.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .audio import TARGET_CHANNELS, TARGET_RATE, TARGET_WIDTH

if TYPE_CHECKING:
    from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = TARGET_RATE
"""Hz; the only rate the models accept (the pipeline's format, :data:`.audio.TARGET_FORMAT`)."""
SAMPLE_WIDTH = TARGET_WIDTH
"""Bytes per sample (16-bit signed, little endian)."""
CHANNELS = TARGET_CHANNELS
DEFAULT_MODEL = "hey_jarvis"
DEFAULT_REFRACTORY_S = 2.0
"""Seconds of audio after a detection during which the wake word cannot trigger again."""
ENGINES = ("auto", "micro", "openwakeword", "both")
"""``micro``: microWakeWord alone; ``openwakeword``: openWakeWord alone; ``both``: either fires
(an error if one is missing); ``auto``: ``both`` where possible, else microWakeWord."""
OPEN_LAG_S = 0.1
"""openWakeWord fires this much later after the phrase's end than microWakeWord (measured 0.03
to 0.12 s over eleven voices): its detection's position is its firing point less this."""
AUTOFILL_S = 2.5
"""Silence openWakeWord's features start from after a reset (enough for its 2 s window)."""
OPEN_THRESHOLD = 0.5
"""openWakeWord's own default probability threshold."""


WAKE_HINT_KEY = "jarvis_wake"
"""``transcribe``'s context key for a :class:`WakeHint` (our extension; other clients never send it)."""
MAX_WAKE_S = 5.0
_PHRASE = re.compile(r"[^\W\d_]+(?: [^\W\d_]+){0,3}")
"""A wake phrase as text: one to four words of letters (it becomes the decoder's prefix)."""


@dataclass(frozen=True)
class WakeHint:
    """The wake phrase at the start of an utterance's audio: the first ``seconds`` say ``phrase``.

    The hub sends it to the STT with the utterance (the satellite's pre-roll, or the hub's own
    detection). The STT then detects the language on the audio after it (an English wake phrase
    must not make a French command English) and starts the decoder with the phrase as its prefix
    (it need not guess how the wake phrase is spelled, and the command's first word is not
    merged into it)."""

    phrase: str
    """As spoken: ``Hey Jarvis``."""
    seconds: float

    @classmethod
    def for_model(cls, model: str, seconds: float) -> WakeHint | None:
        """The hint for a wake word model name (``hey_jarvis`` -> ``Hey Jarvis``); None if unusable."""
        words = normalize_model_name(model.rsplit("/", 1)[-1].removesuffix(".json")).split("_")
        words = [w for w in words if not re.fullmatch(r"v?\d+(?:\.\d+)*", w)]  # "hey_jarvis_v0.1"
        phrase = " ".join(w.capitalize() for w in words)
        if not _PHRASE.fullmatch(phrase) or not 0 < seconds <= MAX_WAKE_S:
            return None
        return cls(phrase, seconds)

    def to_context(self) -> dict[str, Any]:
        return {"phrase": self.phrase, "ms": round(self.seconds * 1000)}

    @classmethod
    def from_context(cls, context: Any) -> WakeHint | None:
        """From ``transcribe``'s context; None when absent or malformed (a client fills it in)."""
        hint = context.get(WAKE_HINT_KEY) if isinstance(context, dict) else None
        if not isinstance(hint, dict):
            return None
        phrase, ms = hint.get("phrase"), hint.get("ms")
        if not isinstance(phrase, str) or not _PHRASE.fullmatch(phrase) or len(phrase) > 40:
            return None
        if not isinstance(ms, int) or isinstance(ms, bool) or not 0 < ms <= MAX_WAKE_S * 1000:
            return None
        return cls(phrase, ms / 1000)


class WakeWordUnavailable(RuntimeError):
    """``pymicro-wakeword`` is not installed, or the model does not exist."""


def available_models() -> list[str]:
    """Names of the built-in models (e.g. ``hey_jarvis``); empty if pymicro-wakeword is missing."""
    try:
        from pymicro_wakeword import Model
    except ImportError:
        return []
    return [model.value for model in Model]


def normalize_model_name(name: str) -> str:
    """``"Hey Jarvis"``, ``"hey-jarvis"`` and ``"hey_jarvis"`` all name the ``hey_jarvis`` model."""
    return "_".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


def _load(model: str) -> tuple[MicroWakeWord, MicroWakeWordFeatures]:
    try:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model
    except ImportError as err:
        raise WakeWordUnavailable(
            "wake word detection needs pymicro-wakeword: pip install 'jarvis-voice[satellite]'"
        ) from err
    if model.endswith(".json"):
        config = Path(model)
        if not config.is_file():
            raise WakeWordUnavailable(f"wake word config not found: {config}")
        return MicroWakeWord.from_config(config), MicroWakeWordFeatures()
    name = normalize_model_name(model)
    try:
        builtin = Model(name)
    except ValueError as err:
        raise WakeWordUnavailable(
            f"unknown microWakeWord model {model!r}; built-in models: {', '.join(available_models())}, "
            "or a path to a microWakeWord .json config"
            + (f" (openWakeWord has {model!r}: --wake-engine openwakeword)" if name in open_models() else "")
        ) from err
    return MicroWakeWord.from_builtin(builtin), MicroWakeWordFeatures()


def open_models() -> list[str]:
    """Names of openWakeWord's built-in models; empty if pyopen-wakeword is missing or unusable."""
    try:
        from pyopen_wakeword import Model
    except (ImportError, OSError):
        return []
    return [model.value for model in Model]


class _OpenEngine:
    """openWakeWord over ``pyopen_wakeword``: probabilities per 80 ms, a detection at the first
    one over :data:`OPEN_THRESHOLD`."""

    def __init__(self, model: str) -> None:
        try:
            from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures
        except (ImportError, OSError) as err:
            raise WakeWordUnavailable(
                "the openwakeword engine needs pyopen-wakeword (x86_64 Linux wheels only): "
                "pip install pyopen-wakeword"
            ) from err
        try:
            builtin = Model(normalize_model_name(model))
        except ValueError as err:
            raise WakeWordUnavailable(
                f"openWakeWord has no built-in model {model!r}; it has {', '.join(open_models())}"
            ) from err
        self._model = OpenWakeWord.from_builtin(builtin)
        self._features = OpenWakeWordFeatures.from_builtin()
        self._short_autofill()
        self.samples = 0
        self.best = 0.0
        """Highest probability in the last :meth:`process` call."""

    def process(self, pcm: bytes) -> list[tuple[int, float]]:
        """(position in samples, probability) of each window over the threshold in ``pcm``."""
        hits = []
        best = 0.0
        for embeddings in self._features.process_streaming(pcm):
            for prob in self._model.process_streaming(embeddings):
                best = max(best, prob)
                if prob > OPEN_THRESHOLD:
                    hits.append((self.samples + len(pcm) // SAMPLE_WIDTH, prob))
        self.samples += len(pcm) // SAMPLE_WIDTH
        self.best = best
        return hits

    def reset(self) -> None:
        self._model.reset()
        self._features.reset()
        self._short_autofill()
        self.samples = 0

    def _short_autofill(self) -> None:
        # pyopen-wakeword primes its feature buffers with 8 s of silence after a reset, and the
        # first block then costs 1.3 s of CPU; 2.5 s of it still fills the model's 2 s window.
        if isinstance(getattr(self._features, "new_audio_samples", None), int):
            autofill = int(AUTOFILL_S * SAMPLE_RATE)
            self._features.new_audio_samples = min(self._features.new_audio_samples, autofill)

    def close(self) -> None:
        self._model.close()
        self._features.close()


def resolve_engine(engine: str, model: str) -> tuple[bool, bool]:
    """(run microWakeWord, run openWakeWord) for an engine choice and a model name."""
    if engine not in ENGINES:
        raise WakeWordUnavailable(f"unknown wake word engine {engine!r}; one of {', '.join(ENGINES)}")
    custom = model.endswith(".json")
    if engine == "micro":
        return True, False
    if engine == "openwakeword":
        if custom:
            raise WakeWordUnavailable("a microWakeWord .json config needs --wake-engine micro")
        return False, True
    if engine == "both":
        if custom:
            raise WakeWordUnavailable("a microWakeWord .json config needs --wake-engine micro")
        return True, True
    if custom:
        return True, False
    name = normalize_model_name(model)
    in_open = name in open_models()
    if in_open and name not in available_models():
        return False, True  # an openWakeWord-only model (hey_rhasspy)
    return True, in_open


class WakeWordDetector:
    """Streaming wake word detector for one audio stream (one per stream).

    :meth:`process`, :meth:`reset` and :meth:`close` hold one lock, so closing from the event
    loop while a worker thread is inside :meth:`process` waits for it rather than freeing the
    TFLite interpreter under it (which aborts the process). After :meth:`close`, :meth:`process`
    and :meth:`reset` raise :class:`RuntimeError`.

    ``model`` is a built-in model name (see :func:`available_models`) or the path of a
    microWakeWord ``.json`` config next to its ``.tflite`` file.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        refractory_s: float = DEFAULT_REFRACTORY_S,
        probability_cutoff: float | None = None,
        engine: str = "auto",
    ) -> None:
        if refractory_s < 0:
            raise ValueError(f"refractory_s must be >= 0, got {refractory_s}")
        use_micro, use_open = resolve_engine(engine, model)
        self._mww: MicroWakeWord | None = None
        self._features: MicroWakeWordFeatures | None = None
        if use_micro:
            self._mww, self._features = _load(model)
        self.use_micro = use_micro
        self._open = _OpenEngine(model) if use_open else None
        self.engines = ("micro",) * use_micro + ("openwakeword",) * use_open
        """The engines that run, e.g. ``("micro", "openwakeword")``."""
        self.last_engine: str | None = None
        """The engine of the last detection."""
        if probability_cutoff is not None:
            if not 0.0 < probability_cutoff < 1.0:
                raise ValueError(f"probability_cutoff must be in (0, 1), got {probability_cutoff}")
            if self._mww is not None:
                self._mww.probability_cutoff = probability_cutoff
        self.model = self._mww.id if self._mww is not None else normalize_model_name(model)
        """Model id, e.g. ``hey_jarvis``."""
        self.wake_word: str = (
            self._mww.wake_word
            if self._mww is not None
            else " ".join(word.capitalize() for word in self.model.split("_"))
        )
        """The phrase, e.g. ``Hey Jarvis``."""
        self.refractory_samples = int(refractory_s * SAMPLE_RATE)
        self.samples_processed = 0
        """Samples fed since the last :meth:`reset`."""
        self.last_detection_sample: int | None = None
        """Stream position (in samples since :meth:`reset`) of the last detection."""
        self.last_probability = 0.0
        """Highest smoothed microWakeWord probability in the last :meth:`process` call (debugging)."""
        self._odd_byte = b""
        self._lock = threading.Lock()
        self._closed = False

    @property
    def probability_cutoff(self) -> float:
        """microWakeWord's cutoff (openWakeWord's threshold where it runs alone)."""
        return float(self._mww.probability_cutoff) if self._mww is not None else OPEN_THRESHOLD

    def process(self, pcm: bytes) -> bool:
        """Feed 16 kHz/16-bit/mono PCM of any length; True if the wake word was detected in it."""
        with self._lock:
            if self._closed:
                raise RuntimeError("wake word detector is closed")
            return self._process(pcm)

    def _process(self, pcm: bytes) -> bool:
        data = self._odd_byte + pcm
        if len(data) % SAMPLE_WIDTH:
            self._odd_byte, data = data[-1:], data[:-1]
        else:
            self._odd_byte = b""
        start = self.samples_processed
        self.samples_processed += len(data) // SAMPLE_WIDTH
        hits: list[tuple[int, float, str]] = []
        best = 0.0
        if self._mww is not None and self._features is not None:
            # Each feature window advances 10 ms; the position is approximate to one window.
            position = start
            for features in self._features.process_streaming(data):
                position += SAMPLE_RATE // 100
                prob = self._mww.process_streaming_prob(features)
                if prob is None:
                    continue
                best = max(best, prob)
                if prob > self._mww.probability_cutoff:
                    hits.append((min(position, self.samples_processed), prob, "micro"))
        if self._open is not None:
            lag = int(OPEN_LAG_S * SAMPLE_RATE)
            for position, prob in self._open.process(data):
                hits.append((max(0, position - lag), prob, "openwakeword"))
        self.last_probability = best
        detected = False
        for position, prob, engine in sorted(hits):
            last = self.last_detection_sample
            if last is not None and abs(position - last) < self.refractory_samples:
                continue
            self.last_detection_sample = position
            self.last_engine = engine
            detected = True
            _LOGGER.debug(
                "Wake word %r detected by %s (p=%.3f), phrase ending at %.2f s",
                self.wake_word,
                engine,
                prob,
                position / SAMPLE_RATE,
            )
        return detected

    def reset(self) -> None:
        """Forget all audio (model state, refractory period); use between unrelated streams."""
        with self._lock:
            if self._closed:
                raise RuntimeError("wake word detector is closed")
            self._reset()

    def _reset(self) -> None:
        if self._mww is not None and self._features is not None:
            self._mww.reset()
            self._features.reset()
        if self._open is not None:
            self._open.reset()
        self.last_engine = None
        self._odd_byte = b""
        self.samples_processed = 0
        self.last_detection_sample = None
        self.last_probability = 0.0

    def close(self) -> None:
        """Release the TFLite interpreter (idempotent; waits for a :meth:`process` in progress)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._mww is not None:
                self._mww.close()
            if self._open is not None:
                self._open.close()
