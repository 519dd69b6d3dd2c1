"""Embedding models: ``wordllama`` (embedded default, offline) or an Ollama embedding model.

An :class:`Embedder` is synchronous (the store calls it in a worker thread, never on the event
loop) and returns L2-normalised float32 rows, so cosine distance is ``1 - dot``. Its ``name``
(``wordllama:l2_supercat_256``, ``ollama:nomic-embed-text``) is stored with the index: a store
opened with another model re-embeds every chunk.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import EmbeddingError

_LOGGER = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "wordllama"


class Embedder(Protocol):
    name: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised float32 row per text. Blocking: call it from a worker thread."""
        ...


def _normalise(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return rows / norms


class WordLlamaEmbedder:
    """WordLlama ``l2_supercat`` at 256 dimensions: weights and tokenizer from the wheel, never downloaded.

    (``WordLlama.load`` of wordllama 0.4 looks for the tokenizer in ``wordllama/tokenizer/`` while
    the wheel ships it in ``wordllama/tokenizers/``, and then downloads it: the files are opened
    directly instead, so nothing is ever fetched.)
    """

    CONFIG = "l2_supercat"
    DIM = 256
    _lock = threading.Lock()
    _model: Any = None

    def __init__(self) -> None:
        self.name = f"wordllama:{self.CONFIG}_{self.DIM}"

    @property
    def dim(self) -> int:
        return self.DIM

    @classmethod
    def _load(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                try:
                    import wordllama
                    from safetensors import safe_open
                    from wordllama import WordLlama
                    from wordllama.inference import WordLlamaInference
                except ImportError as err:
                    raise EmbeddingError("wordllama is not installed (pip install 'jarvis[server]')") from err
                package = Path(wordllama.__file__).parent
                weights = package / "weights" / f"{cls.CONFIG}_{cls.DIM}.safetensors"
                tokenizer = package / "tokenizers" / f"{cls.CONFIG}_tokenizer_config.json"
                for file in (weights, tokenizer):
                    if not file.is_file():
                        raise EmbeddingError(f"wordllama's wheel lacks {file.name}; reinstall wordllama")
                with safe_open(str(weights), framework="np", device="cpu") as f:
                    embedding = f.get_tensor("embedding.weight")
                cls._model = WordLlamaInference(
                    embedding, WordLlama.load_tokenizer(tokenizer, hf_model_id=None), binary=False
                )
            return cls._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.DIM), dtype=np.float32)
        rows = self._load().embed(list(texts), norm=True, batch_size=64)
        return _normalise(rows)


class OllamaEmbedder:
    """An Ollama embedding model through ``/api/embed`` (``nomic-embed-text``, ``bge-m3`` for French)."""

    def __init__(self, model: str, host: str | None = None, timeout: float = 60.0, batch: int = 32) -> None:
        import ollama

        self.model = model
        self.name = f"ollama:{model}"
        self.batch = batch
        self._client = ollama.Client(host=host, timeout=timeout)
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        import httpx
        import ollama

        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch):
            part = texts[start : start + self.batch]
            try:
                response = self._client.embed(model=self.model, input=part)
            except ollama.ResponseError as err:
                raise EmbeddingError(f"Ollama cannot embed with {self.model}: {err.error}") from err
            except (httpx.HTTPError, ConnectionError, OSError) as err:
                raise EmbeddingError(f"Ollama is not reachable: {err}") from err
            got = list(response.embeddings or [])
            if len(got) != len(part):
                raise EmbeddingError(f"Ollama returned {len(got)} embeddings for {len(part)} texts")
            rows.extend(list(map(float, row)) for row in got)
        if not rows:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        array = _normalise(np.array(rows, dtype=np.float32))
        self._dim = int(array.shape[1])
        return array


def make_embedder(spec: str | None, ollama_host: str | None = None) -> Embedder:
    """``wordllama`` (default) or ``ollama:MODEL``."""
    spec = (spec or DEFAULT_EMBEDDER).strip()
    if spec in ("wordllama", WordLlamaEmbedder().name):
        return WordLlamaEmbedder()
    if spec.startswith("ollama:") and spec[len("ollama:") :].strip():
        return OllamaEmbedder(spec[len("ollama:") :].strip(), host=ollama_host)
    raise EmbeddingError(f"unknown embedder {spec!r}: 'wordllama' or 'ollama:MODEL'")
