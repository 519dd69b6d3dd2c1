"""Sentence splitting of streamed text and speech hygiene (no model needed)."""

from __future__ import annotations

import pytest

from jarvis.server.tts.text import (
    SentenceSplitter,
    clean_for_speech,
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
