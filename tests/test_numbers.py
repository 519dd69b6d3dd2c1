"""Spoken numbers to digits, English and French."""

from __future__ import annotations

import pytest

from jarvis.server.brain.numbers import normalize_numbers, words_to_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zero", 0),
        ("seven", 7),
        ("twenty three", 23),
        ("twenty-three", 23),
        ("one hundred and five", 105),
        ("a hundred", 100),
        ("a thousand", 1000),
        ("twelve hundred", 1200),
        ("two thousand and twenty six", 2026),
        ("one million two hundred thousand", 1_200_000),
        ("a half", 0.5),
        ("one half", 0.5),
        ("three quarters", 0.75),
        ("two and a half", 2.5),
        ("two point five", 2.5),
        ("three point one four", 3.14),
        ("zero point five", 0.5),
        ("minus five", -5),
        ("negative twelve", -12),
        ("Forty-Two", 42),
        ("12", 12),
        ("2.5", 2.5),
    ],
)
def test_english_words_to_number(text: str, expected: float) -> None:
    assert words_to_number(text, "en") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zéro", 0),
        ("un", 1),
        ("une", 1),
        ("dix-sept", 17),
        ("vingt et un", 21),
        ("vingt-trois", 23),
        ("soixante-dix", 70),
        ("soixante et onze", 71),
        ("soixante-douze", 72),
        ("quatre-vingts", 80),
        ("quatre-vingt-un", 81),
        ("quatre-vingt-dix-sept", 97),
        ("septante-sept", 77),
        ("nonante-neuf", 99),
        ("cent", 100),
        ("cent un", 101),
        ("deux cents", 200),
        ("deux cent trois", 203),
        ("mille", 1000),
        ("mille neuf cent quatre-vingt-quatre", 1984),
        ("deux mille vingt-six", 2026),
        ("trois millions", 3_000_000),
        ("deux virgule cinq", 2.5),
        ("deux et demi", 2.5),
        ("un demi", 0.5),
        ("un quart", 0.25),
        ("trois quarts", 0.75),
        ("moins quatre", -4),
        ("2,5", 2.5),
    ],
)
def test_french_words_to_number(text: str, expected: float) -> None:
    assert words_to_number(text, "fr") == expected


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("twenty three times four", "en"),  # not ONE number
        ("hello", "en"),
        ("", "en"),
        ("and", "en"),
        ("a", "en"),
        ("vingt-trois fois quatre", "fr"),
        ("bonjour", "fr"),
        ("seven", "de"),  # unknown language: digits only
    ],
)
def test_not_a_number(text: str, language: str) -> None:
    assert words_to_number(text, language) is None


def test_integral_values_are_ints() -> None:
    value = words_to_number("two and a half", "en")
    assert isinstance(value, float)
    whole = words_to_number("one hundred", "en")
    assert isinstance(whole, int)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("twenty three times four", "23 times 4"),
        ("What is twenty-one divided by seven?", "What is 21 divided by 7?"),
        ("set a timer for one and a half hours", "set a timer for 1.5 hours"),
        ("set a pasta timer for ten minutes", "set a pasta timer for 10 minutes"),
        ("one hundred and five", "105"),
        ("a half", "0.5"),
        ("two point five plus a hundred", "2.5 plus 100"),
        ("negative five plus three", "-5 plus 3"),
        ("minus five", "minus 5"),  # "minus" stays: it is an operator in arithmetic
        ("one two three", "1 2 3"),  # digits spoken one by one stay separate numbers
        ("twenty, three", "20, 3"),  # punctuation separates numbers
        ("a timer for an hour", "a timer for an hour"),  # articles alone are not numbers
        ("nothing to see here", "nothing to see here"),
        ("", ""),
    ],
)
def test_english_normalize(text: str, expected: str) -> None:
    assert normalize_numbers(text, "en") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vingt-trois fois quatre", "23 fois 4"),
        ("combien font douze plus sept", "combien font 12 plus 7"),
        ("quatre-vingt-dix-sept moins deux", "97 moins 2"),
        ("soixante et onze plus vingt et un", "71 plus 21"),
        ("deux virgule cinq fois quatre", "2.5 fois 4"),
        ("mets une minuterie de dix minutes", "mets une minuterie de 10 minutes"),  # "une" alone stays
        ("une heure et demie", "une heure et demie"),
        ("Quatre-Vingts", "80"),
        ("zéro", "0"),
    ],
)
def test_french_normalize(text: str, expected: str) -> None:
    assert normalize_numbers(text, "fr") == expected


def test_language_variants_and_unknown() -> None:
    assert normalize_numbers("twenty three", "en-US") == "23"
    assert normalize_numbers("vingt-trois", "fr_CA") == "23"
    assert normalize_numbers("twenty three", "de") == "twenty three"
