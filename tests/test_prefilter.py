"""Prefilter layers 1-2: STT hallucination phrases (EN/FR, user-extensible) and foreign scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis.server.brain.prefilter import (
    ACCEPTED,
    ANNOTATION,
    EMPTY,
    HALLUCINATION,
    SCRIPT,
    Prefilter,
    normalize,
)


@pytest.fixture
def prefilter() -> Prefilter:
    return Prefilter()


@pytest.mark.parametrize(
    "text",
    [
        "Thank you.",
        "thank you",
        "THANK YOU!",
        "Thanks for watching!",
        "Thank you for watching.",
        "Please subscribe.",
        "Subtitles by the Amara.org community",
        "you",
        " You. ",
        "OK",
        "Okay.",
        "Bye.",
        "Thank you. Thank you.",
        "Thanks for watching! Don't forget to like and subscribe.",
        "you you you",
        "Thanks for watching, and I'll see you in the next one!",
        "I'll see you guys in the next video.",
    ],
)
def test_english_hallucinations_rejected(prefilter: Prefilter, text: str) -> None:
    verdict = prefilter.check(text, "en")
    assert not verdict
    assert verdict.reason == HALLUCINATION


@pytest.mark.parametrize(
    "text",
    [
        "Sous-titres réalisés par la communauté d'Amara.org",
        "Sous-titres réalisés para la communauté d'Amara.org",  # a variant: caught by the re: line
        "sous titres realises par la communaute d'amara.org",  # no accents, no hyphen
        "Merci d'avoir regardé !",
        "Merci d’avoir regardé cette vidéo.",  # typographic apostrophe
        "Merci.",
        "Sous-titrage Société Radio-Canada",
        "Sous-titrage ST' 501",
        "Abonnez-vous !",
        "Merci. Au revoir.",
        "Merci d'avoir regardé cette vidéo, à la prochaine !",
        "Merci à tous et à bientôt.",
    ],
)
def test_french_hallucinations_rejected(prefilter: Prefilter, text: str) -> None:
    verdict = prefilter.check(text, "fr")
    assert not verdict
    assert verdict.reason == HALLUCINATION


@pytest.mark.parametrize("text", ["", "   ", "...", "?!", "♪", "♪ ♪ ♪", "- -", "…"])
def test_empty_and_punctuation_only(prefilter: Prefilter, text: str) -> None:
    verdict = prefilter.check(text, "en")
    assert verdict == type(verdict)(False, EMPTY, text.strip())


@pytest.mark.parametrize(
    "text", ["[BLANK_AUDIO]", "(silence)", "[Music]", "(upbeat music)", "*applause*", "[Musique] (rires)"]
)
def test_sound_annotations(prefilter: Prefilter, text: str) -> None:
    verdict = prefilter.check(text, "en")
    assert not verdict.accepted
    assert verdict.reason == ANNOTATION


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("OK Jarvis, turn on the light", "en"),
        ("thank you for the help yesterday, what's the weather", "en"),
        ("Thank you. What's the time?", "en"),  # one sentence is a real question
        ("you are great", "en"),
        ("Set a timer for five minutes", "en"),
        ("stop", "en"),
        ("yes", "en"),
        ("Quelle heure est-il à Montréal ?", "fr"),
        ("Éteins la lumière de la cuisine", "fr"),
        ("Merci, et quelle est la météo demain ?", "fr"),
        ("Thanks for watching the kids, what's on my calendar?", "en"),
        ("Ça va, Jarvis ?", "fr"),
        ("12 + 7", "en"),
        ("Play the song Пусть всегда будет солнце by the choir from the festival last year", "en"),
    ],
)
def test_real_commands_accepted(prefilter: Prefilter, text: str, language: str) -> None:
    verdict = prefilter.check(text, language)
    assert verdict.accepted, verdict
    assert verdict.reason == ACCEPTED


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("Продолжение следует...", "CYRILLIC"),
        ("Привет, как дела?", "CYRILLIC"),
        ("你好吗", "CJK"),
        ("ご視聴ありがとうございました", "HIRAGANA"),
        ("MBC 뉴스 이덕영입니다", "HANGUL"),
        ("شكرا للمشاهدة", "ARABIC"),
        ("Ευχαριστώ", "GREEK"),
    ],
)
def test_foreign_scripts_rejected(prefilter: Prefilter, text: str, script: str) -> None:
    verdict = prefilter.check(text, "en")
    assert not verdict.accepted
    assert verdict.reason == SCRIPT
    assert verdict.detail == script


def test_allowed_scripts_are_configurable() -> None:
    cyrillic_ok = Prefilter(allowed_scripts=("Latin", "Cyrillic"))
    assert cyrillic_ok.check("Привет, как дела?", "ru").accepted
    assert not cyrillic_ok.check("你好吗", "zh").accepted
    with pytest.raises(ValueError):
        Prefilter(allowed_scripts=())


def test_french_accents_and_ligatures_are_latin(prefilter: Prefilter) -> None:
    assert prefilter.check("Œuvre à côté de la fenêtre, ça gèle", "fr").accepted
    assert prefilter.check("Ｆｕｌｌｗｉｄｔｈ text", "en").accepted  # NFKC folds to Latin


def test_user_file_in_data_dir_extends_the_list(_isolated_data_dir: Path) -> None:
    _isolated_data_dir.mkdir(parents=True, exist_ok=True)
    (_isolated_data_dir / "hallucinations.txt").write_text(
        "# my own\nLa suite au prochain épisode\nre:generique de fin.*\n", encoding="utf-8"
    )
    prefilter = Prefilter()
    assert prefilter.check("La suite au prochain épisode !", "fr").reason == HALLUCINATION
    assert prefilter.check("Générique de fin, musique", "fr").reason == HALLUCINATION
    assert prefilter.check("Thank you.", "en").reason == HALLUCINATION  # defaults still there
    assert prefilter.check("La suite, s'il te plaît", "fr").accepted


def test_extra_phrases_file(tmp_path: Path) -> None:
    extra = tmp_path / "extra.txt"
    extra.write_text("Nice to see you all\n\nre:[ \\d]+\nre:((\n", encoding="utf-8")  # last line invalid
    prefilter = Prefilter(extra_phrases_file=extra)
    assert prefilter.check("Nice to see you all.", "en").reason == HALLUCINATION
    assert prefilter.check("1 2 3", "en").reason == HALLUCINATION
    assert prefilter.check("Nice to see you all, Jarvis: what's new?", "en").accepted


def test_missing_extra_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Prefilter(extra_phrases_file=tmp_path / "nope.txt")


def test_addressee_check_only_when_always_listening(prefilter: Prefilter) -> None:
    assert prefilter.needs_addressee_check(True) is True
    assert prefilter.needs_addressee_check(False) is False
    # Layers 1-2 do not depend on the mode.
    assert not prefilter.check("Thank you.", "en", always_listening=True).accepted
    assert prefilter.check("what time is it", "en", always_listening=True).accepted


def test_normalize() -> None:
    assert normalize("Merci d'avoir regardé !") == "merci d avoir regarde"
    assert normalize("  THANK   you...  ") == "thank you"
    assert normalize("♪") == ""
