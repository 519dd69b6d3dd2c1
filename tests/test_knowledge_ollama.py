"""The Ollama embedding path, against FakeOllamaEmbed — a TEST DOUBLE of Ollama's ``POST /api/embed``.

The double speaks the real wire format (``{"model", "input": [..]}`` in, ``{"model", "embeddings":
[[..], ..]}`` out, 404 ``{"error"}`` for a model it does not have) so the real ``ollama`` client is
exercised. Its vectors are hashed bags of words (8 dimensions): enough to check that changing the
model re-embeds every chunk, with progress, and that search then runs on the new vectors.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from fake_ollama import serve_on_loopback
from knowledge_files import write_corpus

from jarvis.server.knowledge.embed import OllamaEmbedder, WordLlamaEmbedder, make_embedder
from jarvis.server.knowledge.errors import EmbeddingError
from jarvis.server.knowledge.store import DB_NAME, DocumentStore, stored_model

DIM = 8


def bag_of_words(text: str) -> list[float]:
    vector = [0.0] * DIM
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.sha1(word.encode()).hexdigest(), 16) % DIM] += 1.0
    return vector


@dataclass
class FakeOllamaEmbed:
    models: set[str] = field(default_factory=lambda: {"nomic-embed-text:latest"})
    inputs: list[str] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/embed", self._embed)
        self._runner, self.url = await serve_on_loopback(app)
        return self.url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _embed(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        model = str(body.get("model"))
        if (model if ":" in model else f"{model}:latest") not in self.models:
            return web.json_response({"error": f"model '{model}' not found"}, status=404)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        self.inputs.extend(texts)
        return web.json_response({"model": model, "embeddings": [bag_of_words(t) for t in texts]})


@pytest.fixture
async def ollama() -> AsyncIterator[FakeOllamaEmbed]:
    fake = FakeOllamaEmbed()
    await fake.start()
    yield fake
    await fake.stop()


async def test_changing_the_model_reembeds_everything_with_progress(
    ollama: FakeOllamaEmbed, tmp_path: Path
) -> None:
    path = tmp_path / "data" / DB_NAME
    files = write_corpus(tmp_path / "docs")
    store = await DocumentStore.open(path)
    for key in ("boiler", "wifi", "alarm"):
        await store.add("ann", files[key], "household")
    chunks = (await store.stats())["chunks"]
    await store.close()
    assert stored_model(path) == "wordllama:l2_supercat_256"

    progress: list[tuple[int, int]] = []
    embedder = make_embedder("ollama:nomic-embed-text", ollama_host=ollama.url)
    store = await DocumentStore.open(path, embedder, lambda done, total: progress.append((done, total)))
    assert store.model == "ollama:nomic-embed-text" and stored_model(path) == "ollama:nomic-embed-text"
    assert progress and progress[-1] == (chunks, chunks)
    assert len(ollama.inputs) == chunks + 1  # every chunk, plus the probe for the dimension
    dim = await store._run(
        lambda: store._db.execute("SELECT value FROM meta WHERE key='embed_dim'").fetchone()[0]
    )
    assert dim == str(DIM)
    hits = await store.search("ann", "guest network password", mode="vector")
    assert hits and hits[0].similarity is not None
    assert ollama.inputs[-1] == "guest network password"  # the query went to Ollama too
    await store.close()

    # the same model again: nothing re-embedded
    before = len(ollama.inputs)
    store = await DocumentStore.open(path, OllamaEmbedder("nomic-embed-text", host=ollama.url))
    assert len(ollama.inputs) == before  # not even a probe
    await store.close()
    # back to wordllama: re-embedded again, search works on 256-dimension vectors
    store = await DocumentStore.open(path, WordLlamaEmbedder())
    assert store.model == "wordllama:l2_supercat_256"
    hits = await store.search("ann", "how do I arm the alarm", mode="vector")
    assert hits[0].title == "Alarm guide"
    await store.close()


async def test_ollama_errors_are_clear(ollama: FakeOllamaEmbed, tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="cannot embed with bge-m3"):
        await DocumentStore.open(tmp_path / DB_NAME, OllamaEmbedder("bge-m3", host=ollama.url))
    with pytest.raises(EmbeddingError, match="Ollama is not reachable"):
        await DocumentStore.open(
            tmp_path / DB_NAME, OllamaEmbedder("nomic-embed-text", host="http://127.0.0.1:1")
        )
    with pytest.raises(EmbeddingError, match="unknown embedder"):
        make_embedder("openai:ada")
