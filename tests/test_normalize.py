"""The brain's one clean-up of a transcript: the wake phrase and hesitations go, real words stay."""

from __future__ import annotations

import pytest
from wyoming.asr import Transcript

from jarvis.server.brain.normalize import is_wake_name, normalize_transcript, strip_wake_phrase

# How whisper writes "hey jarvis" in front of a command (tiny.en and base, several voices).
WAKE_FORMS = [
    ("Hey Jarvis, set a timer for two minutes.", "set a timer for two minutes."),
    ("Hey, Jarvis! What time is it?", "What time is it?"),
    ("A Jarvis, cancel the timer.", "cancel the timer."),
    ("Jarvis. What's my name?", "What's my name?"),
    ("Hey Travis, what's the time?", "what's the time?"),
    ("Hi Jervis set a timer", "set a timer"),
    ("Okay Jarvis: what day is it", "what day is it"),
    ("Hé Jarvis, quelle heure est-il ?", "quelle heure est-il ?"),
    ("hey jarvis cancel all my timers", "cancel all my timers"),
    ("They Jarvis cancel the timer.", "cancel the timer."),  # tiny.en on flite slt
    ("Page Arvis, set a timer for two minutes.", "set a timer for two minutes."),  # ditto
]
# Sentences whose first words are the user's, not a wake phrase.
KEEP = [
    "a timer for ten minutes",
    "Hey, what time is it?",
    "Davis called me",
    "this, what's the time?",
    "Tell me about Travis",
    "Remind Davis to call",
    "Hey service, what time is it",
    "Ask Travis about dinner",
    "Set a timer",
]


@pytest.mark.parametrize(("heard", "command"), WAKE_FORMS)
def test_wake_phrase_forms_are_removed(heard: str, command: str) -> None:
    assert strip_wake_phrase(heard) == command


@pytest.mark.parametrize("text", KEEP)
def test_real_first_words_are_kept(text: str) -> None:
    assert normalize_transcript(text) == text


def test_name_distance_depends_on_the_greeting() -> None:
    assert is_wake_name("Jervis") and not is_wake_name("Travis")  # alone: one edit at most
    assert is_wake_name("Travis", max_distance=3)  # after "hey"
    assert not is_wake_name("this", max_distance=3) and not is_wake_name("vis,", max_distance=3)


def test_fillers_go_in_both_languages() -> None:
    assert normalize_transcript("uh, set a timer for um ten minutes") == "set a timer for ten minutes"
    assert normalize_transcript("Euh, hey Jarvis, euh, quelle heure est-il", "fr") == "quelle heure est-il"
    assert normalize_transcript("the umbrella is here") == "the umbrella is here"  # not inside words


def test_a_filler_word_capitalized_inside_a_clause_is_a_name() -> None:
    assert normalize_transcript("tu peux m'appeler Ben", "fr") == "tu peux m'appeler Ben"
    assert normalize_transcript("Ben, mets un minuteur", "fr") == "mets un minuteur"
    assert (
        normalize_transcript("Hey Jarvis, Um, set a timer for um ten minutes.")
        == "set a timer for ten minutes."
    )


def test_bare_wake_phrase_is_left_for_the_prefilter() -> None:
    assert normalize_transcript("Hey Jarvis.") == "Hey Jarvis."


def test_the_brain_answers_the_command_not_the_wake_phrase(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from jarvis.server.brain.handler import Brain
    from jarvis.server.brain.llm.none import NoLLM
    from jarvis.server.brain.memory import MemoryStore
    from jarvis.server.brain.tools.registry import ToolRegistry

    brain = Brain(NoLLM(), MemoryStore(tmp_path / "m.sqlite3"), ToolRegistry([]))
    ctx = brain.context_from(Transcript(text="Hey, Jarvis! What time is it?", language="en"))
    assert ctx.text == "What time is it?"


def test_the_stts_runners_up_are_bounded_and_cleaned_like_the_transcript(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from jarvis.protocol.events import MAX_ALTERNATIVE_CHARS, MAX_ALTERNATIVES, alternatives_of
    from jarvis.server.brain.handler import Brain
    from jarvis.server.brain.llm.none import NoLLM
    from jarvis.server.brain.memory import MemoryStore
    from jarvis.server.brain.tools.registry import ToolRegistry

    brain = Brain(NoLLM(), MemoryStore(tmp_path / "m.sqlite3"), ToolRegistry([]))
    sent = ["Hey Jarvis, cancel the timer.", 5, {"x": 1}, "x" * 5000, "", "a", "b", "c"]
    ctx = brain.context_from(Transcript(text="console timer", context={"jarvis_alternatives": sent}))
    assert ctx.alternatives[0] == "cancel the timer."  # the wake phrase removed, as from the text
    assert len(ctx.alternatives) <= MAX_ALTERNATIVES
    assert all(len(a) <= MAX_ALTERNATIVE_CHARS for a in ctx.alternatives)
    assert all(isinstance(a, str) and a for a in ctx.alternatives)
    for junk in ("cancel the timer", {"jarvis_alternatives": "cancel"}, None):
        context = junk if isinstance(junk, dict) else {"jarvis_alternatives": junk}
        assert brain.context_from(Transcript(text="x", context=context)).alternatives == ()
        assert alternatives_of(context) == ()
    assert alternatives_of({"jarvis_alternatives": sent}) == ("Hey Jarvis, cancel the timer.", "x" * 300)
