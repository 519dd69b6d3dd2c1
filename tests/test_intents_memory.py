"""Memory without an LLM: the speaker's name and facts, stored, read back and forgotten, in EN and FR."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis.server.brain.context import TurnContext
from jarvis.server.brain.handler import _default_fast_paths
from jarvis.server.brain.memory import MemoryStore
from jarvis.server.brain.memory_intents import MemoryIntents, parse_name
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
    ("text", "lang"),
    [("call me a taxi", "en"), ("appelle-moi un taxi", "fr"), ("je m'appelle comment déjà", "fr")],
)
def test_a_determiner_or_a_question_word_is_no_name(text: str, lang: str) -> None:
    assert parse_name(text, lang) is None


async def test_asking_ones_name_in_the_shape_of_an_introduction_reads_it_back(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    await say(paths, "je m'appelle Noé", lang="fr")
    assert await say(paths, "je m'appelle comment déjà", lang="fr") == "Vous vous appelez Noé."
    assert (await memory.get_profile("camille")).name == "Noé"


async def test_a_note_is_a_fact_and_c_est_gives_a_name(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    assert await say(paths, "make a note that the plumber comes on Friday") == "Okay, I'll remember that."
    assert await say(paths, "note que le code est 1234", lang="fr") == "C'est noté."
    assert [f.fact for f in await memory.list_facts("camille")] == [
        "the plumber comes on Friday",
        "le code est 1234",
    ]
    assert parse_name("mon prénom c'est Hugo", "fr") == "Hugo"
    assert parse_name("Mon nom, c'est Paul.", "fr") == "Paul"
    recall = await say(paths, "Tu te souviens de quoi, sur moi ?", lang="fr")
    assert recall is not None and recall.startswith("Vous m'avez dit :") and "le code est 1234" in recall
    assert parse_name("note that", "en") is None


async def test_what_have_i_told_you_is_a_recall(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    await say(paths, "remember that the spare key is under the mat")
    assert await say(paths, "what have I told you") == "You told me: the spare key is under the mat."
    assert (
        await say(paths, "qu'est-ce que je t'ai dit", lang="fr")
        == "Vous m'avez dit : the spare key is under the mat."
    )


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


# -- forget, without an LLM: only a clear match; several candidates -> ask which, forget nothing -----


async def test_forget_that_forgets_the_one_clear_fact(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    for fact in ("my bike is blue", "I like jazz", "my sister lives in Lyon"):
        await memory.add_fact("camille", fact)
    await memory.add_fact("bob", "my bike is blue")
    assert await say(paths, "Forget that my bike is blue.") == "Okay, I've forgotten that my bike is blue."
    assert [f.fact for f in await memory.list_facts("camille")] == ["I like jazz", "my sister lives in Lyon"]
    assert [f.fact for f in await memory.list_facts("bob")] == ["my bike is blue"]  # Bob's stays
    assert await say(paths, "forget about jazz") == "Okay, I've forgotten that I like jazz."
    assert [f.fact for f in await memory.forgotten_facts("camille")] == ["I like jazz", "my bike is blue"]


async def test_forget_with_several_candidates_asks_which_and_forgets_nothing(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    await memory.add_fact("camille", "my bike is blue")
    await memory.add_fact("camille", "my bike has a flat tyre")
    reply = await say(paths, "forget my bike")
    assert reply == "Which one should I forget: my bike is blue, or my bike has a flat tyre?"
    assert len(await memory.list_facts("camille")) == 2
    # the answer to the question, said in full, is a clear match
    assert await say(paths, "forget that my bike is blue") == "Okay, I've forgotten that my bike is blue."
    assert [f.fact for f in await memory.list_facts("camille")] == ["my bike has a flat tyre"]


async def test_forget_what_was_never_said_and_words_that_designate_nothing(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    await memory.add_fact("camille", "I like jazz")
    assert await say(paths, "forget that I have a cat") == "I don't remember anything like that."
    # "i", "that", "it": no distinguishing word. Not a memory command (the stop intent has "forget it").
    for text in ("forget I", "forget that", "forget about that"):
        assert await MemoryIntents(memory).handle(TurnContext(text=text, user_id="camille")) is None
    assert await say(paths, "forget it") == ""  # the stop intent, as before
    assert [f.fact for f in await memory.list_facts("camille")] == ["I like jazz"]
    # "don't forget that ..." still remembers
    assert await say(paths, "don't forget that the keys are under the mat") == "Okay, I'll remember that."


async def test_french_forget(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    assert await say(paths, "souviens-toi que j'aime le thé", lang="fr") == "C'est noté."
    await memory.add_fact("camille", "mon vélo est bleu")
    await memory.add_fact("camille", "mon vélo est chez le réparateur")
    assert await say(paths, "oublie que j'aime le thé", lang="fr") == "D'accord, j'ai oublié : j'aime le thé."
    assert (
        await say(paths, "oublie mon vélo", lang="fr")
        == "Lequel dois-je oublier : mon vélo est bleu ou mon vélo est chez le réparateur ?"
    )
    assert len(await memory.list_facts("camille")) == 2
    assert await say(paths, "oublie que j'ai un chat", lang="fr") == "Je ne me souviens de rien de tel."
    assert await say(paths, "n'oublie pas que le code est 1234", lang="fr") == "C'est noté."
    assert len(await memory.list_facts("camille")) == 3


async def test_forget_my_name(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    assert await say(paths, "forget my name") == "I don't know your name anyway."
    await say(paths, "my name is Camille")
    await memory.add_fact("camille", "my name is on the door")  # a fact, not the profile name: stays
    assert await say(paths, "Forget my name.") == "Okay, I've forgotten your name."
    assert (await memory.get_profile("camille")).name is None
    assert await say(paths, "what's my name") == "I don't know your name yet."
    await say(paths, "je m'appelle Zoé", lang="fr")
    assert await say(paths, "oublie mon prénom", lang="fr") == "D'accord, j'ai oublié votre nom."
    assert (await memory.get_profile("camille")).name is None
    assert [f.fact for f in await memory.list_facts("camille")] == ["my name is on the door"]


async def test_discourse_words_and_an_earlier_sentence_before_a_memory_command(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    assert await say(paths, "So, my name is Camille.") == "Nice to meet you, Camille. I'll remember."
    assert await say(paths, "okay remember that the keys are under the mat") == "Okay, I'll remember that."
    assert await say(paths, "And what do you remember about me?") == (
        "Your name is Camille. You told me: the keys are under the mat."
    )
    assert await say(paths, "alors, souviens-toi que j'aime le thé", lang="fr") == "C'est noté."
    assert await say(paths, "Hello. My name is Zoé.", user="zoe") == "Nice to meet you, Zoé. I'll remember."
    # an earlier sentence that is a memory command of its own: neither is taken alone
    ctx = TurnContext(text="My name is Bob. Remember that I like tea.", user_id="camille")
    assert await MemoryIntents(memory).handle(ctx) is None
    assert (await memory.get_profile("camille")).name == "Camille"
    assert len(await memory.list_facts("camille")) == 2


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("remember that", "en"),
        ("I parked on level three. Remember that.", "en"),
        ("don't forget this", "en"),
        ("souviens-toi de ça", "fr"),
    ],
)
async def test_remember_with_no_fact_in_it_stores_nothing(memory: MemoryStore, text: str, lang: str) -> None:
    """ "Remember that" points at what was said before: the agent, which has the conversation, decides."""
    assert (
        await MemoryIntents(memory).handle(TurnContext(text=text, language=lang, user_id="camille")) is None
    )
    assert await memory.list_facts("camille") == []


async def test_im_and_a_capitalized_name_is_an_introduction(memory: MemoryStore) -> None:
    """ "I'm Emma" (the STT capitalizes names) gives a name; "I'm tired" or "i'm back" do not."""
    paths = _default_fast_paths(TimerManager(), memory)
    assert await say(paths, "I'm Emma.", user="emma") == "Nice to meet you, Emma. I'll remember."
    assert (await memory.get_profile("emma")).name == "Emma"
    assert (
        await say(paths, "Je suis Claire.", user="claire", lang="fr")
        == "Enchanté, Claire. Je m'en souviendrai."
    )
    for text, lang in (("I'm tired", "en"), ("I'm Back", "en"), ("i'm emma", "en"), ("I'm French", "en"),
                       ("I'm Mary Ann", "en"), ("Je suis fatiguée", "fr"), ("C'est Noël", "fr")):  # fmt: skip
        assert parse_name(text, lang) is None, text
    assert (await memory.get_profile("camille")).name is None


async def test_polite_openings_before_memory_commands(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    assert await say(paths, "can you remember that I like my coffee black?") == "Okay, I'll remember that."
    assert [f.fact for f in await memory.list_facts("camille")] == ["I like my coffee black"]
    assert await say(paths, "could you please forget that I like my coffee black") is not None
    assert await memory.list_facts("camille") == []
    assert await say(paths, "tu peux retenir que la clé est sous le pot", lang="fr") == "C'est noté."
    assert [f.fact for f in await memory.list_facts("camille")] == ["la clé est sous le pot"]
    assert await say(paths, "can you remember the name of that song") is None  # not "remember that …"


@pytest.mark.parametrize(
    ("text", "name"),
    [("Hey, my name's Tom.", "Tom"), ("I go by Alex.", "Alex"), ("Hi Jarvis, call me Liz", "Liz")],
)
def test_more_introductions(text: str, name: str) -> None:
    assert parse_name(text, "en") == name


async def test_remember_and_recall_wordings_and_what_is_no_fact(memory: MemoryStore) -> None:
    paths = _default_fast_paths(TimerManager(), memory)
    assert await say(paths, "Remember, my PIN is in the blue notebook.") == "Okay, I'll remember that."
    assert await say(paths, "Keep in mind that I work from home on Mondays.") == "Okay, I'll remember that."
    recall = await say(paths, "Tell me what you know about me.")
    assert recall is not None and "blue notebook" in recall and "Mondays" in recall
    # a question, and a second request after a comma, are no facts: the agent answers them
    assert await say(paths, "Remember when we went to Paris?") is None
    assert await say(paths, "remember the Alamo, who said that") is None
    assert await say(paths, "Forget about the weather, tell me a joke") is None
    assert len(await memory.list_facts("camille")) == 2
    # a fact to keep may have a comma in it
    assert await say(paths, "Remember that on Tuesday, I see the dentist.") == "Okay, I'll remember that."
    assert len(await memory.list_facts("camille")) == 3
