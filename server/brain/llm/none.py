"""No language model: :class:`NoLLM`, and :class:`AutoLLM`, which falls back to it and re-probes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .base import ChatDelta, LLMBackend, LLMError, Message

_LOGGER = logging.getLogger(__name__)

#: Spoken when a turn needs the LLM and there is none.
NEED_LLM = {
    "en": "I need a language model for that.",
    "fr": "J'ai besoin d'un modèle de langage pour ça.",
}


class NoLLM(LLMBackend):
    """Nothing reachable: local intents still work, everything else gets an honest spoken answer."""

    name = "intents only"

    @property
    def is_real(self) -> bool:
        return False

    async def available(self) -> bool:
        return False

    async def chat(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ChatDelta]:
        raise LLMError("no language model is configured or reachable")
        yield ChatDelta()  # pragma: no cover  (makes this an async generator)


class AutoLLM(LLMBackend):
    """Uses the first reachable candidate; with none, behaves as :class:`NoLLM` and re-probes.

    While nothing is reachable it probes again at most every ``reprobe_interval`` seconds (on
    demand, when a turn needs the LLM), so starting Ollama later just works. A failure in the
    middle of a chat marks the backend down until the next probe. The how-to-start line is
    logged once per outage.
    """

    def __init__(self, candidates: Sequence[LLMBackend], how_to: str, reprobe_interval: float = 30.0) -> None:
        self.candidates = list(candidates)
        self.how_to = how_to
        self.reprobe_interval = reprobe_interval
        self._current: LLMBackend | None = None
        self._last_probe = -float("inf")
        self._told = False
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._current.name if self._current else NoLLM.name

    @property
    def is_real(self) -> bool:
        return self._current is not None

    @property
    def current(self) -> LLMBackend | None:
        return self._current

    async def probe(self) -> LLMBackend | None:
        """Probe the candidates in order now; returns the chosen one (None when none answers)."""
        async with self._lock:
            self._last_probe = time.monotonic()
            for backend in self.candidates:
                if await backend.available():
                    if self._current is not backend:
                        _LOGGER.info("Language model available: %s", backend.name)
                    self._current = backend
                    self._told = False
                    return backend
            self._current = None
            if not self._told:
                _LOGGER.warning("No language model reachable. %s", self.how_to)
                self._told = True
            return None

    async def available(self) -> bool:
        if self._current is not None:
            return True
        if time.monotonic() - self._last_probe >= self.reprobe_interval:
            await self.probe()
        return self._current is not None

    def mark_failed(self, err: Exception) -> None:
        """The current backend failed mid-turn: treat it as down until the next probe."""
        if self._current is not None:
            _LOGGER.error("Language model %s failed: %s", self._current.name, err)
        self._current = None
        self._last_probe = time.monotonic()
        if not self._told:
            _LOGGER.warning("No language model reachable. %s", self.how_to)
            self._told = True

    async def chat(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ChatDelta]:
        backend = self._current
        if backend is None:
            raise LLMError("no language model reachable")
        try:
            async for delta in backend.chat(messages, tools):
                yield delta
        except LLMError as err:
            self.mark_failed(err)
            raise

    async def close(self) -> None:
        for backend in self.candidates:
            await backend.close()
