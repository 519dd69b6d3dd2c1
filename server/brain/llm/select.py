"""Choosing a backend from the command line: auto, ollama, openai, none or scripted:FILE."""

from __future__ import annotations

from .base import LLMBackend
from .none import AutoLLM, NoLLM
from .ollama import DEFAULT_MODEL, OllamaBackend, default_host
from .openai import OpenAIBackend


def make_llm(
    kind: str = "auto",
    *,
    ollama_host: str | None = None,
    model: str | None = None,
    llm_url: str | None = None,
    api_key: str | None = None,
    pull: bool = False,
    keep_alive: str = "30m",
    reprobe_interval: float = 30.0,
) -> LLMBackend:
    """Build the backend. Everything but ``none`` and ``scripted:`` is wrapped in :class:`AutoLLM`.

    ``auto`` tries an OpenAI-compatible server first when ``llm_url`` is given, then Ollama.
    """
    if kind == "none":
        return NoLLM()
    if kind.startswith("scripted:"):
        from .scripted import ScriptedLLM  # a test double, only ever chosen explicitly

        return ScriptedLLM.from_file(kind.split(":", 1)[1])
    host = ollama_host or default_host()
    ollama_model = model or DEFAULT_MODEL
    candidates: list[LLMBackend] = []
    if kind in ("auto", "openai"):
        if llm_url:
            candidates.append(OpenAIBackend(llm_url, model=model, api_key=api_key))
        elif kind == "openai":
            raise ValueError("--llm openai needs --llm-url (e.g. http://localhost:8000/v1)")
    if kind in ("auto", "ollama"):
        candidates.append(OllamaBackend(host, ollama_model, keep_alive=keep_alive, pull=pull))
    if not candidates:
        raise ValueError(f"unknown --llm {kind!r}: use auto, ollama, openai, none or scripted:FILE")
    how_to = (
        "Local intents (time, timers, arithmetic...) still work. For everything else start one: "
        f"`ollama serve` then `ollama pull {ollama_model}` (Ollama at {host}), or run an "
        "OpenAI-compatible server and pass --llm-url http://HOST:PORT/v1. "
        f"Jarvis checks again every {reprobe_interval:g} s."
    )
    return AutoLLM(candidates, how_to, reprobe_interval=reprobe_interval)
