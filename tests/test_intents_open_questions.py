# ruff: noqa: F811 - the recognizer fixture imported from test_intents_speech is a parameter here
"""Open questions and ordinary sentences never become a local action (false accepts), and what is
left of a misheard wake phrase does not stop a real command from being recognised.

The open questions are written for this test, not taken from the understanding benchmark's corpus.
"""

from __future__ import annotations

import pytest
from test_intents_speech import ask, recognizer  # noqa: F401 - the shared fixture and helper

from jarvis.server.brain.intents import IntentRecognizer
from jarvis.server.brain.normalize import sound_key, wake_like_leads

OPEN_EN = [
    "what is the capital of Australia",
    "how far away is the moon",
    "tell me a joke about cats",
    "who wrote the Lord of the Rings",
    "what should I cook for dinner tonight",
    "how do I get red wine out of a carpet",
    "why is the sky blue",
    "what's the weather going to be like tomorrow",
    "play some jazz in the living room",
    "who won the football last night",
    "how many calories are in an avocado",
    "what does serendipity mean",
    "translate good morning into Spanish",
    "is it going to rain this weekend",
    "recommend a good book about history",
    "how old is the universe",
    "what's a good name for a goldfish",
    "write a short poem about autumn",
    "how long should I boil an egg",
    "what's the difference between a frog and a toad",
    "can you explain how vaccines work",
    "what time does the bakery open on Sundays",
    "how many minutes are in a year",
    "who is the president of France",
    "summarize the news for me",
    "what's the population of Tokyo",
    "when did the Berlin wall fall",
    "how do you say thank you in Japanese",
    "what is the meaning of life",
    "give me three ideas for a birthday party",
    "is a tomato a fruit or a vegetable",
    "what's the best way to learn the piano",
    "should I bring an umbrella today",
    "how tall is the Eiffel tower",
    "tell me something interesting",
    "what year did the Titanic sink",
    "how do magnets work",
    "describe the plot of Hamlet",
    "which planet is the biggest",
    "why do cats purr",
    "Harvest season starts in September, right",
    "Elvis sang Blue Suede Shoes, didn't he",
    "Jarvis is a character in Iron Man, isn't he",
    "Travis, what do you think about the new album",
    "Each of us needs a timer for the game, any ideas",
    "don't set a timer for ten minutes",
]

OPEN_FR = [
    "quelle est la capitale du Canada",
    "raconte-moi une blague",
    "pourquoi le ciel est bleu",
    "qu'est-ce que je peux cuisiner ce soir",
    "qui a écrit les Misérables",
    "comment enlever une tache de vin",
    "est-ce qu'il va pleuvoir demain",
    "traduis bonjour en anglais",
    "combien d'habitants à Paris",
    "donne-moi une idée de cadeau",
    "c'est quoi la différence entre un crapaud et une grenouille",
    "explique-moi la photosynthèse",
]


@pytest.mark.parametrize("text", OPEN_EN)
async def test_english_open_questions_go_to_the_agent(recognizer: IntentRecognizer, text: str) -> None:
    assert await ask(recognizer, text) is None


@pytest.mark.parametrize("text", OPEN_FR)
async def test_french_open_questions_go_to_the_agent(recognizer: IntentRecognizer, text: str) -> None:
    assert await ask(recognizer, text, "fr") is None


def test_sound_key_of_the_wake_phrase_and_of_what_whisper_makes_of_it() -> None:
    assert sound_key("Hey Jarvis") == "jrbs"
    assert sound_key("Hedge Arvus") == "jrbs"
    assert sound_key("Hit Elvis") == "trbs"
    assert sound_key("what's") == "ts"


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("HR this, delete the timer.", "delete the timer."),
        ("Each harvest set a timer for ten minutes", "set a timer for ten minutes"),
        ("Hit Elvis set a timer for 10 minutes", "set a timer for 10 minutes"),
        ("H. Arvas, how much is 100 minus 40?", "how much is 100 minus 40?"),
    ],
)
def test_wake_like_leads_propose_the_command(text: str, rest: str) -> None:
    assert wake_like_leads(text)[0] == rest


@pytest.mark.parametrize(
    "text", ["set a timer for ten minutes", "what's the time", "cancel the timer", "turn off the light"]
)
def test_real_commands_are_not_proposed_as_wake_leads(text: str) -> None:
    assert wake_like_leads(text) == []


@pytest.mark.parametrize(
    ("text", "speech"),
    [
        ("HR this, delete the timer.", "Timer cancelled."),
        ("Each harvest, what's ten divided by four?", "10 divided by 4 is 2.5."),
        ("Hit Elvis set a timer for 10 minutes.", "Timer set for 10 minutes."),
        ("A jar of this, what's 100 plus 50?", "100 plus 50 is 150."),
    ],
)
async def test_a_misheard_wake_phrase_does_not_hide_the_command(
    recognizer: IntentRecognizer, text: str, speech: str
) -> None:
    if "delete" in text:
        await ask(recognizer, "set a timer for five minutes")
    reply = await ask(recognizer, text)
    assert reply is not None and reply.speech == speech, reply


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("They jardins list my timers.", "list my timers."),
        ("They jardest what's 20 take away five?", "what's 20 take away five?"),
    ],
)
def test_a_short_word_for_hey_then_a_name_like_jarvis(text: str, rest: str) -> None:
    assert rest in wake_like_leads(text)
