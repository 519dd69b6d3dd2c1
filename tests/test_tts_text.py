"""Sentence splitting of streamed text and speech hygiene (no model needed)."""

from __future__ import annotations

import pytest

from jarvis.server.tts.text import (
    SentenceSplitter,
    clean_for_speech,
    speak_clock_times,
    split_first_clause,
    split_sentences,
    truncate_text,
)


def test_complete_sentence_is_released_without_waiting_for_the_next() -> None:
    splitter = SentenceSplitter(split_first_clause=False)
    assert splitter.add("Hello there. ") == ["Hello there."]
    assert splitter.add("How are") == []
    assert splitter.add(" you? ") == ["How are you?"]
    assert splitter.finish() == []


def test_sentence_without_trailing_space_waits_for_the_next_one() -> None:
    splitter = SentenceSplitter(split_first_clause=False)
    # "3." could be the start of "3.5": nothing is released until the text continues.
    assert splitter.add("It costs 3.") == []
    assert splitter.add("5 dollars.") == []
    assert splitter.add(" Thanks") == ["It costs 3.5 dollars."]
    assert splitter.finish() == ["Thanks"]


@pytest.mark.parametrize(
    ("head", "tail"),
    [
        ("Please ask Dr. ", "Smith about it. "),
        ("Compare apples vs. ", "pears. "),
        ("Buy fruit, e.g. ", "figs. "),
    ],
)
def test_abbreviation_does_not_end_a_sentence(head: str, tail: str) -> None:
    splitter = SentenceSplitter(split_first_clause=False)
    assert splitter.add(head) == []
    assert splitter.add(tail) == [(head + tail).strip()]


REPLIES = [
    "Sure, I set a timer for five minutes in the kitchen. It ends at 3:45 PM. "
    "Mr. Smith called twice! Do you want me to call him back?",
    "The weather in Berlin is sunny today, with a high of twenty two degrees. Tomorrow, rain.",
    "I turned off all the lights, as asked. Good night!",
    "Here is the list:\n\n- milk\n- eggs\n\nAnything else?",
]


@pytest.mark.parametrize("text", REPLIES)
@pytest.mark.parametrize("delta", [1, 3, 7, 1000])
def test_token_deltas_give_the_same_pieces_as_the_whole_text(text: str, delta: int) -> None:
    whole = split_sentences(text)
    splitter = SentenceSplitter()
    streamed: list[str] = []
    for i in range(0, len(text), delta):
        streamed += splitter.add(text[i : i + delta])
    streamed += splitter.finish()
    assert streamed == whole
    assert " ".join(whole).split() == text.split()


def test_first_clause_of_a_reply_is_split_off() -> None:
    text = "The weather in Berlin is sunny today, with a high of twenty two degrees. Tomorrow, it rains."
    assert split_sentences(text) == [
        "The weather in Berlin is sunny today,",
        "with a high of twenty two degrees.",
        "Tomorrow, it rains.",
    ]
    assert split_sentences(text, split_first_clause=False)[0] == (
        "The weather in Berlin is sunny today, with a high of twenty two degrees."
    )


@pytest.mark.parametrize(
    "sentence",
    ["Yes, it is.", "Well, I think that is probably right.", "No commas in this sentence at all."],
)
def test_short_clauses_are_not_split(sentence: str) -> None:
    assert split_first_clause(sentence) == [sentence]


@pytest.mark.parametrize(
    ("raw", "spoken"),
    [
        ("**Bold** and *italic* and `code`.", "Bold and italic and code."),
        ("Great news 🎉👍🏽! Done ✅.", "Great news! Done."),
        ("# Shopping\n- milk\n- eggs\n* bread\n\nThat's all.", "Shopping, milk, eggs, bread, That's all."),
        ("See [the docs](https://example.com/x) and ![a cat](cat.png).", "See the docs and a cat."),
        ("> quoted line\n---\nafter the rule", "quoted line, after the rule"),
        ("| city | temp |\n|---|---|\n| Paris | 20 |", "city, temp, Paris, 20"),
        ("It is 22°C & sunny, 5 * 3 = 15, ~~old~~ new.", "It is 22°C & sunny, 5 times 3 = 15, old new."),
        ("snake_case stays, __underlined__ goes.", "snake_case stays, underlined goes."),
        ("```python\nprint('hi')\n```", "print('hi')"),
    ],
)
def test_markdown_and_emoji_are_not_read_aloud(raw: str, spoken: str) -> None:
    assert clean_for_speech(raw) == spoken


@pytest.mark.parametrize("raw", ["", "   \n\t ", "🎉🎉", "***", "- \n# ", "…"])
def test_nothing_speakable_gives_empty_text(raw: str) -> None:
    assert clean_for_speech(raw) == ""


def test_truncate_cuts_at_a_sentence_or_word_boundary() -> None:
    text = "One two three. " * 20
    cut = truncate_text(text, 100)
    assert len(cut) <= 100 and cut.endswith("three.")
    words = truncate_text("word " * 100, 52)
    assert len(words) <= 52 and words.split() == ["word"] * len(words.split())
    assert truncate_text("short", 100) == "short"


def test_first_clause_is_released_while_the_sentence_is_still_arriving() -> None:
    splitter = SentenceSplitter()
    assert splitter.add("The weather in Berlin is sunny today,") == []
    assert splitter.add(" with a high") == []  # too little after the comma to know yet
    assert splitter.add(" of twenty") == ["The weather in Berlin is sunny today,"]
    assert splitter.add(" two degrees.") == []
    assert splitter.add(" Tomorrow") == ["with a high of twenty two degrees."]
    assert splitter.finish() == ["Tomorrow"]


def test_short_tail_after_the_first_comma_keeps_the_sentence_whole_when_streamed() -> None:
    splitter = SentenceSplitter()
    for delta in ["I turned off all the lights,", " as asked.", " Good night"]:
        pieces = splitter.add(delta)
    assert pieces == ["I turned off all the lights, as asked."]


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("It's 1:05 AM.", "It's 1 oh 5 in the morning."),
        ("It's 12:48 AM.", "It's 12 48 in the morning."),
        ("It's 2:15 PM.", "It's 2 15 in the afternoon."),
        ("It's 7:30 PM.", "It's 7 30 in the evening."),
        ("It's 9:45 pm", "It's 9 45 at night"),
        ("It's 1 AM.", "It's 1 in the morning."),
        ("It's 12 PM.", "It's noon."),
        ("12:00 AM", "midnight"),
        ("The alarm is at 6:45 a.m. tomorrow.", "The alarm is at 6 45 in the morning tomorrow."),
        ("It's 10:04 a.m. Set a timer.", "It's 10 oh 4 in the morning. Set a timer."),
        ("It's 1:05 AM. Set a timer.", "It's 1 oh 5 in the morning. Set a timer."),
        ("Meet at 3 PM, then lunch.", "Meet at 3 in the afternoon, then lunch."),
        ("The train leaves at 13:05.", "The train leaves at 13 oh 5."),
        ("Open from 9:00 to 17:00.", "Open from 9 o'clock to 17 hundred."),
        ("Lights out at 00:00.", "Lights out at midnight."),
    ],
)
def test_clock_times_are_written_as_people_say_them(written: str, spoken: str) -> None:
    assert speak_clock_times(written) == spoken


@pytest.mark.parametrize(
    "text",
    ["A ratio of 3:1.", "Score 10:75.", "At 1:2:3 speed.", "It's 24:10.", "13 AM", "I'm 2 am I", "Room 12:3"],
)
def test_text_that_is_not_a_clock_time_is_left_alone(text: str) -> None:
    assert speak_clock_times(text) == text


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("Il est 10 h 04.", "Il est 10 heures 4."),  # espeak alone: "dix ache zéro quatre"
        ("Il est 10h04.", "Il est 10 heures 4."),
        ("Il est 10 h.", "Il est 10 heures."),
        ("Il est 1 h.", "Il est une heure."),
        ("Il est 21 h 30.", "Il est vingt et une heures 30."),
        ("Il est 0 h 15.", "Il est minuit 15."),
        ("Il est 12 h.", "Il est midi."),
        ("Rendez-vous à 14:30 demain.", "Rendez-vous à 14 heures 30 demain."),
        ("Il y a 10 hommes.", "Il y a 10 hommes."),
        ("Il est 25 h.", "Il est 25 h."),
    ],
)
def test_french_clock_times_are_written_as_people_say_them(written: str, spoken: str) -> None:
    assert speak_clock_times(written, "fr_FR") == spoken


def test_clock_times_of_other_languages_are_left_to_espeak() -> None:
    assert speak_clock_times("Es ist 10:04 Uhr.", "de_DE") == "Es ist 10:04 Uhr."
    assert speak_clock_times("It's 1:05 AM.", "en_GB") == "It's 1 oh 5 in the morning."
