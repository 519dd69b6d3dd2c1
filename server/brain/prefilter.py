"""Is this transcript worth answering? Cheap checks before any intent or LLM work.

Layer 1: known speech-to-text hallucinations ("Thank you.", "Sous-titres réalisés par la communauté
d'Amara.org", a lone "you", empty or punctuation-only text, "♪", "[BLANK_AUDIO]", "(silence)"...).
Only a WHOLE utterance that is one of the phrases (or a repetition of them) is rejected: a real command
that starts with "OK" or "thank you" passes. The phrases come from the package's
``data/hallucinations.txt``, then ``<data dir>/hallucinations.txt`` if it exists, then
``extra_phrases_file``.

Layer 2: text whose letters are mostly outside the allowed scripts (default Latin) is rejected; digits,
punctuation and symbols do not count, and accented Latin letters are Latin.

Layer 3 (always-listening mode: did the user address Jarvis at all?) needs the LLM and recent history;
the agent does it when :meth:`Prefilter.needs_addressee_check` says so.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from jarvis.protocol.paths import data_dir

_LOGGER = logging.getLogger(__name__)

USER_FILE_NAME = "hallucinations.txt"

ACCEPTED = "accepted"
EMPTY = "empty"
"""Nothing but whitespace, punctuation or symbols (♪, ...)."""
ANNOTATION = "annotation"
"""Only bracketed sound descriptions: "[Music]", "(upbeat music)", "*applause*"."""
HALLUCINATION = "hallucination"
"""The whole utterance is a known hallucination phrase."""
SCRIPT = "script"
"""Most letters are outside the allowed scripts."""

_ANNOTATION_RE = re.compile(r"\s*(?:(?:\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|<[^>]*>)\s*)+")
_SENTENCE_SPLIT_RE = re.compile(r"[.!?…;。！？]+")


@dataclass(frozen=True)
class Verdict:
    """The prefilter's decision. ``reason`` is one of the module's constants (for logs and metrics)."""

    accepted: bool
    reason: str
    detail: str = ""
    """What matched (the phrase, the foreign script), for the log."""

    def __bool__(self) -> bool:
        return self.accepted


def normalize(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form used for phrase matching.

    "Merci d'avoir regardé !" -> "merci d avoir regarde"
    """
    decomposed = unicodedata.normalize("NFKD", text)
    out: list[str] = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        category = unicodedata.category(ch)
        if category[0] in "LN":
            out.append(ch.casefold())
        else:  # punctuation, symbols, separators, controls
            out.append(" ")
    return " ".join("".join(out).split())


class PhraseList:
    """Hallucination phrases (exact, normalised) and ``re:`` patterns (full match, normalised)."""

    def __init__(self) -> None:
        self.phrases: set[str] = set()
        self.patterns: list[re.Pattern[str]] = []

    def add_lines(self, lines: Iterable[str], source: str) -> None:
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("re:"):
                try:
                    self.patterns.append(re.compile(line[3:].strip()))
                except re.error as err:
                    # A user's typo must not take the brain down: skip the line, say where it is.
                    _LOGGER.warning("%s:%d: invalid regular expression skipped: %s", source, number, err)
                continue
            phrase = normalize(line)
            if phrase:
                self.phrases.add(phrase)

    def match(self, normalized: str) -> str | None:
        """The phrase or pattern that ``normalized`` is entirely, or None."""
        if normalized in self.phrases:
            return normalized
        for pattern in self.patterns:
            if pattern.fullmatch(normalized):
                return f"re:{pattern.pattern}"
        return None


def _script_of(ch: str) -> str | None:
    """Unicode script of a letter from its name ("LATIN SMALL LETTER E WITH ACUTE" -> "LATIN")."""
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    return name.split(" ", 1)[0]


class Prefilter:
    """Layers 1-2 of "is this for me?". Construction reads the phrase files once; ``check`` is pure."""

    def __init__(
        self,
        extra_phrases_file: Path | None = None,
        allowed_scripts: Iterable[str] = ("Latin",),
    ) -> None:
        self.allowed_scripts = frozenset(script.upper() for script in allowed_scripts)
        if not self.allowed_scripts:
            raise ValueError("allowed_scripts must name at least one script (e.g. 'Latin')")
        self.phrases = PhraseList()

        default = resources.files("jarvis.server.brain").joinpath("data", "hallucinations.txt")
        self.phrases.add_lines(default.read_text(encoding="utf-8").splitlines(), "hallucinations.txt")

        user_file = data_dir() / USER_FILE_NAME
        for path in (user_file, extra_phrases_file):
            if path is None:
                continue
            if path is extra_phrases_file or path.exists():
                # An explicitly given file must exist: a wrong path is a configuration error.
                text = Path(path).read_text(encoding="utf-8")
                self.phrases.add_lines(text.splitlines(), str(path))
                _LOGGER.debug("Loaded hallucination phrases from %s", path)

    @staticmethod
    def needs_addressee_check(always_listening: bool) -> bool:
        """Whether layer 3 (the LLM "was that for me, and does it make sense?" check) must run.

        Only without a wake word: then most of what the microphone hears is not meant for Jarvis.
        """
        return always_listening

    def check(self, text: str, language: str = "en", always_listening: bool = False) -> Verdict:
        """Decide on one transcript. ``language`` is the STT's guess; the phrase list covers EN and FR
        whatever it says (Whisper mislabels short noise). ``always_listening`` does not change layers
        1-2; see :meth:`needs_addressee_check`.
        """
        stripped = text.strip() if text else ""
        normalized = normalize(stripped)
        if not normalized:
            return Verdict(False, EMPTY, stripped)

        if _ANNOTATION_RE.fullmatch(stripped):
            return Verdict(False, ANNOTATION, stripped)

        verdict = self._check_phrases(stripped, normalized)
        if verdict is not None:
            return verdict

        verdict = self._check_script(stripped)
        if verdict is not None:
            return verdict

        return Verdict(True, ACCEPTED)

    def _check_phrases(self, stripped: str, normalized: str) -> Verdict | None:
        matched = self.phrases.match(normalized)
        if matched is not None:
            return Verdict(False, HALLUCINATION, matched)

        # "Thank you. Thank you." / "Thanks for watching! Subscribe to my channel."
        sentences = [normalize(part) for part in _SENTENCE_SPLIT_RE.split(stripped)]
        sentences = [sentence for sentence in sentences if sentence]
        if len(sentences) > 1:
            matches = [self.phrases.match(sentence) for sentence in sentences]
            if all(match is not None for match in matches):
                return Verdict(False, HALLUCINATION, " | ".join(m for m in matches if m))

        # "you you you"
        words = normalized.split()
        if len(words) > 1 and len(set(words)) == 1:
            matched = self.phrases.match(words[0])
            if matched is not None:
                return Verdict(False, HALLUCINATION, matched)
        return None

    def _check_script(self, stripped: str) -> Verdict | None:
        letters = 0
        foreign: dict[str, int] = {}
        for ch in unicodedata.normalize("NFKC", stripped):
            if not unicodedata.category(ch).startswith("L"):
                continue  # digits, punctuation, symbols, spaces, marks
            letters += 1
            script = _script_of(ch) or "UNKNOWN"
            if script not in self.allowed_scripts:
                foreign[script] = foreign.get(script, 0) + 1
        if letters and sum(foreign.values()) * 2 > letters:
            main = max(foreign, key=lambda key: foreign[key])
            return Verdict(False, SCRIPT, main)
        return None
