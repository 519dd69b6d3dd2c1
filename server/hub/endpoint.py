"""Which silence ends a turn: the fixed rule, or the semantic early endpoint (docs/hub.md).

``fixed``: ``silence_s`` (0.6 s) of silence after speech, always.

``semantic``: the STT sends the hub the text of each decode of the utterance so far
(``jarvis-stt-hypothesis``, with the audio it covers); the hub asks the brain whether that text is
a complete local command (``jarvis-intent-probe``; the brain parses, it runs nothing). A verdict
counts only while it covers all the speech heard: once the person speaks again it is stale. Then:

- ``complete`` ("what time is it"): end after ``complete_silence_s`` (0.2 s);
- ``incomplete`` ("set a timer for", "set a timer", "… et"): wait ``incomplete_silence_s`` (1.0 s);
- ``unknown`` (anything for the LLM): ``silence_s`` (0.6 s), as today;
- no verdict yet (the decode of the end of speech is still running): ``verdict_wait_s``
  (1.0 s by default, the unfinished wait: on a slow CPU the verdict is always late, and with 0.6 s
  every command with a pause was cut off; docs/benchmarks.md, "Endpointing").

This module holds the rule only; :mod:`.pipeline` feeds it and :class:`.vad.Endpointer` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass

from jarvis.protocol.endpoint import COMPLETE, INCOMPLETE

FIXED = "fixed"
SEMANTIC = "semantic"
MODES = (FIXED, SEMANTIC)

#: Values of a turn's ``endpoint.rule`` (jarvis-turn-metrics, the ``jarvis_turn_endpoints_total``
#: label): what ended listening.
RULES = (
    FIXED,  # the fixed silence (--endpoint fixed)
    COMPLETE,  # semantic: a complete local command, short silence
    INCOMPLETE,  # semantic: an unfinished one, long silence
    "unknown",  # semantic: neither, the usual silence
    "no-verdict",  # semantic: no verdict on the end of speech in time, verdict_wait_s
    "max-length",  # max_utterance_s of speech
    "audio-stop",  # the satellite ended the audio (or stopped sending it)
)


@dataclass(frozen=True)
class EndpointPolicy:
    """The endpoint settings of the hub (``[hub]`` endpoint, *_silence_s; docs/configuration.md)."""

    mode: str = SEMANTIC
    complete_silence_s: float = 0.2
    """Silence that ends a turn whose words so far are a complete local command."""
    incomplete_silence_s: float = 1.0
    """Silence waited when the words so far end on a dangling word or a timer without a number."""
    verdict_wait_s: float = 1.0
    """Silence waited, at most, for a verdict on the end of speech before ending anyway."""
    probe_timeout_s: float = 2.0
    """Longest wait for the brain's ``jarvis-intent-verdict`` (a late verdict is just unused)."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"endpoint must be one of {', '.join(MODES)}, not {self.mode!r}")
        for name in ("complete_silence_s", "incomplete_silence_s", "verdict_wait_s", "probe_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @property
    def semantic(self) -> bool:
        return self.mode == SEMANTIC

    def without_verdict(self, silence_s: float) -> tuple[float, str]:
        """(silence that ends the turn, rule) while no verdict covers the speech."""
        if not self.semantic:
            return silence_s, FIXED
        return self.verdict_wait_s, "no-verdict"

    def for_verdict(self, verdict: str, silence_s: float) -> tuple[float, str]:
        """(silence that ends the turn, rule) once a verdict covers all the speech."""
        if verdict == COMPLETE:
            return self.complete_silence_s, COMPLETE
        if verdict == INCOMPLETE:
            return self.incomplete_silence_s, INCOMPLETE
        return silence_s, "unknown"
