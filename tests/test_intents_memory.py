"""Memory without an LLM: the speaker's name and facts, stored and read back, in English and French."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis.server.brain.context import TurnContext
from jarvis.server.brain.handler import _default_fast_paths
from jarvis.server.brain.memory import MemoryStore
from jarvis.server.brain.memory_intents import parse_name
from jarvis.server.brain.timers import TimerManager


async def say(paths: list, text: str, user: str = "camille", lang: str = "en") -> str | None:  # type: ignore[type-arg]
    ctx = TurnContext(text=text, language=lang, user_id=user, satellite_id="kitchen")
    for path in paths:
        if (reply := await path.handle(ctx)) is not None:
            return str(reply.speech)
    return None


@pytest.fixture
async def memory(tmp_path: Path) -> MemoryStore:
    store = await MemoryStore.open(tmp_path / "memory.sqlite3")
    yield store  # type: ignore[misc]
    await store.close()


async def test_name_is_stored_for_the_speaker_only(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    assert await say(paths, "My name is camille.") == "Nice to meet you, Camille. I'll remember."
    assert await say(paths, "what's my name") == "Your name is Camille."
    assert await say(paths, "what's my name", user="bob") == "I don't know your name yet."
    assert (await memory.get_profile("bob")).name is None


async def test_french_name_and_recall(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    assert (
        await say(paths, "Je m'appelle Jean-Pierre.", lang="fr")
        == "Enchanté, Jean-Pierre. Je m'en souviendrai."
    )
    assert await say(paths, "souviens-toi que j'aime le thé", lang="fr") == "C'est noté."
    recall = await say(paths, "qu'est-ce que tu sais sur moi ?", lang="fr")
    assert recall == "Vous vous appelez Jean-Pierre. Vous m'avez dit : j'aime le thé."


async def test_remember_and_recall_in_english(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    assert await say(paths, "what do you remember about me") == "I don't know anything about you yet."
    assert await say(paths, "remember that my car is the blue one") == "Okay, I'll remember that."
    assert [f.fact for f in await memory.list_facts("camille")] == ["my car is the blue one"]
    assert await say(paths, "What do you remember about me?") == "You told me: my car is the blue one."


@pytest.mark.parametrize(
    "text",
    ["my name is not important", "what is my name", "I'm called by my boss every day", "tell me about names"],
)
def test_sentences_that_give_no_name(text: str) -> None:
    assert parse_name(text, "en") is None


@pytest.mark.parametrize(
    ("text", "lang", "name"),
    [
        ("Call me Ann", "en", "Ann"),
        ("my name's anne marie", "en", "Anne Marie"),
        ("appelle-moi Zoé", "fr", "Zoé"),
    ],
)
def test_sentences_that_give_a_name(text: str, lang: str, name: str) -> None:
    assert parse_name(text, lang) == name
