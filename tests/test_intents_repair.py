"""Tolerant matching: one STT slip repaired (server/brain/repair.py), never a false action."""

from __future__ import annotations

import pytest
from test_intents_speech import ask

from jarvis.server.brain.intents import IntentRecognizer
from jarvis.server.brain.repair import repairs, vocabulary
from jarvis.server.brain.timers import TimerManager


@pytest.fixture
def timers() -> TimerManager:
    return TimerManager()


@pytest.fixture
def recognizer(timers: TimerManager) -> IntentRecognizer:
    return IntentRecognizer(timers)


@pytest.mark.parametrize(
    ("text", "lang", "intent"),
    [
        ("set to timer for ten minutes", "en", "JarvisStartTimer"),  # a word slipped in
        ("start the timor for five minutes", "en", "JarvisStartTimer"),  # a near-spelling
        ("mets un minouteur de cinq minutes", "fr", "JarvisStartTimer"),
        ("what's the tyme", "en", "JarvisGetTime"),
    ],
)
async def test_one_slip_is_repaired(recognizer: IntentRecognizer, text: str, lang: str, intent: str) -> None:
    reply = await ask(recognizer, text, lang)
    assert reply is not None and reply.intent == intent, (text, reply)
    if intent == "JarvisStartTimer":
        assert reply.speech in (
            "Timer set for 10 minutes.",
            "Timer set for 5 minutes.",
            "Minuteur réglé sur 5 minutes.",
        )


@pytest.mark.parametrize(
    "text",
    [
        "and pause the timer please",  # whisper's "unpause": deleting "and" would pause it
        "don't set a timer for ten minutes",
        "set the table for ten people",
        "tell me about the time machine movie",
        "how many minutes are in a year",
        "timber is a good building material",
    ],
)
async def test_what_one_repair_cannot_make_a_command_goes_to_the_agent(
    recognizer: IntentRecognizer, text: str
) -> None:
    assert await ask(recognizer, text) is None


@pytest.mark.parametrize(
    "text",
    [
        "and 2 minutes to the timer",
        "at 5 minutes to the timer",
        "had 3 minutes to my timer",
        "with 3 minutes to my timer",
        "And another minute on the timer.",
        "so, and two minutes to the timer",
    ],
)
async def test_add_heard_as_and_or_at_still_adds(recognizer: IntentRecognizer, text: str) -> None:
    await ask(recognizer, "set a timer for 5 minutes")
    reply = await ask(recognizer, text)
    assert reply is not None and reply.intent == "JarvisAddTimerTime", (text, reply)
    assert reply.speech.startswith("Added ")


def test_add_is_heard_for_and_at_or_with_only_as_the_first_word() -> None:
    from importlib import resources

    vocab = vocabulary(str(resources.files("jarvis.server.brain").joinpath("sentences")), "en")
    assert "add 3 minutes to my timer" in repairs("with 3 minutes to my timer", "en", vocab)
    for text in ("set a timer at 5 minutes", "set a timer with 5 minutes", "what time is it and what day"):
        assert not any("add" in proposal.split() for proposal in repairs(text, "en", vocab)), text


def test_repairs_never_touch_negations_numbers_or_and() -> None:
    from importlib import resources

    vocab = vocabulary(str(resources.files("jarvis.server.brain").joinpath("sentences")), "en")
    assert {"timer", "cancel", "minutes"} <= vocab
    proposals = repairs("don't set 10 timers and go", "en", vocab)
    assert all("don't" in p and "10" in p and " and " in p for p in proposals), proposals


async def test_a_timer_is_never_named_after_a_function_word(recognizer: IntentRecognizer) -> None:
    reply = await ask(recognizer, "set to timer for ten minutes")
    assert reply is not None and reply.speech == "Timer set for 10 minutes."  # not "To timer set"


async def test_cancel_the_timer_with_several_running_asks_which(
    recognizer: IntentRecognizer, timers: TimerManager
) -> None:
    await ask(recognizer, "set a timer for 5 minutes")
    await ask(recognizer, "set a pasta timer for 10 minutes")
    reply = await ask(recognizer, "cancel the timer")
    assert reply is not None and reply.speech.startswith("You have 2 timers. Which one?")
    assert len(timers.list("kitchen")) == 2  # nothing cancelled
    reply = await ask(recognizer, "cancel the pasta timer")
    assert reply is not None and reply.speech == "Pasta timer cancelled."
    await ask(recognizer, "set a timer for 7 minutes")
    reply = await ask(recognizer, "cancel all my timers")
    assert reply is not None and reply.speech == "2 timers cancelled."
    assert timers.list("kitchen") == []


async def test_annule_le_minuteur_with_several_asks_which_and_tous_cancels_all(
    recognizer: IntentRecognizer, timers: TimerManager
) -> None:
    await ask(recognizer, "mets un minuteur de 5 minutes", "fr")
    await ask(recognizer, "mets un minuteur de 8 minutes", "fr")
    reply = await ask(recognizer, "annule le minuteur", "fr")
    assert reply is not None and reply.speech.startswith("Vous avez 2 minuteurs : lequel ?")
    reply = await ask(recognizer, "annule tous les minuteurs", "fr")
    assert reply is not None and reply.speech == "2 minuteurs annulés."


@pytest.mark.parametrize(
    ("text", "lang", "intent"),
    [
        ("please set a timer for 12 minutes. Thanks.", "en", "JarvisStartTimer"),
        ("what time is it, thank you", "en", "JarvisGetTime"),
        ("quelle heure est-il, merci", "fr", "JarvisGetTime"),
    ],
)
async def test_thanks_around_a_command_carry_nothing(
    recognizer: IntentRecognizer, text: str, lang: str, intent: str
) -> None:
    reply = await ask(recognizer, text, lang)
    assert reply is not None and reply.intent == intent


@pytest.mark.parametrize("text", ["thanks", "thank you for the help with the timer"])
async def test_thanks_alone_is_not_a_command(recognizer: IntentRecognizer, text: str) -> None:
    assert await ask(recognizer, text) is None


@pytest.mark.parametrize(
    ("text", "lang", "speech"),
    [
        ("Mais un minuteur de 5 minutes.", "fr", "Minuteur réglé sur 5 minutes."),  # mets / mais
        ("s'en divisé par quatre", "fr", "100 divisé par 4 égale 25."),  # cent / s'en
        ("combien font douze foie sept", "fr", "12 fois 7 égale 84."),  # fois / foie
        ("set a timer for to minutes", "en", "Timer set for 2 minutes."),  # two / to
    ],
)
async def test_a_homophone_of_a_command_word_is_repaired(
    recognizer: IntentRecognizer, text: str, lang: str, speech: str
) -> None:
    reply = await ask(recognizer, text, lang)
    assert reply is not None and reply.speech == speech, (text, reply)


@pytest.mark.parametrize(
    "text",
    ["mais je ne sais pas quoi faire ce soir", "mais non, je pense que c'est faux", "mes clés sont où"],
)
async def test_a_homophone_repair_that_makes_no_command_goes_to_the_agent(
    recognizer: IntentRecognizer, text: str
) -> None:
    assert await ask(recognizer, text, "fr") is None
