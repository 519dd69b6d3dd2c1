"""Voice feedback: "that was wrong" / « c'est faux » marks the speaker's previous turn 👎.

The real brain over Wyoming on a loopback socket, a real SQLite memory store; the hub's peer
secret proves who speaks. The LLM is :class:`NoLLM`, so a phrase the fast path leaves alone is
answered by the agent's no-LLM apology, never by the acknowledgement.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_attacks_identity import SECRET, answer_of, open_brain, read_answer
from wyoming.asr import Transcript
from wyoming.event import Event

from jarvis.server.brain.feedback_intents import VoiceFeedback, is_negative_feedback
from jarvis.server.brain.handler import BrainServer, BrainSettings, start_brain
from jarvis.server.brain.llm.none import NoLLM
from jarvis.server.brain.memory import MemoryStore

ACK_EN = "Noted, that answer was wrong."
ACK_FR = "C'est noté, cette réponse était fausse."


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[MemoryStore]:
    store = await MemoryStore.open(tmp_path / "memory.sqlite3")
    yield store
    await store.close()


async def brain(memory: MemoryStore, **kw: Any) -> BrainServer:
    return await start_brain(
        "tcp://127.0.0.1:0",
        NoLLM(),
        memory=memory,
        probe=False,
        peer_secret=SECRET,
        settings=BrainSettings(onboarding=False),
        extra_fast_paths=[VoiceFeedback(memory, **kw)],
    )


async def say(uri: str, text: str, secret: str | None = SECRET, language: str = "en", **ctx: Any) -> str:
    async with await open_brain(uri, secret) as conn:
        await conn.write_event(Transcript(text=text, language=language, context=ctx).event())
        events: list[Event] = await read_answer(conn)
    return answer_of(events)[0]


def test_the_phrases() -> None:
    for text in (
        "That was wrong.",
        "no, that's not right",
        "Jarvis, c'est faux !",
        "C’est pas ça",
        "That is wrong",
    ):
        assert is_negative_feedback(text), text
    for text in ("what was wrong with the boiler", "is that right", "c'est faux de dire ça ?", "wrong"):
        assert not is_negative_feedback(text), text


async def test_that_was_wrong_marks_the_speakers_previous_turn(memory: MemoryStore) -> None:
    server = await brain(memory)
    try:
        await say(server.uri, "what's my name", user_id="ann")
        ack = await say(server.uri, "That was wrong.", user_id="ann")
        french = await say(server.uri, "quelle heure est-il", language="fr", user_id="ann")
        ack_fr = await say(server.uri, "C'est faux !", language="fr", user_id="ann")
    finally:
        await server.stop()
    assert ack == ACK_EN and ack_fr == ACK_FR and french
    turns = {t.id: t for t in await memory.recent_turns("ann", None, limit=10)}
    marked = [
        (turns[f["turn_id"]].user_text, f["rating"], f["comment"]) for f in await memory.feedback("ann")
    ]
    assert marked == [("what's my name", -1, "voice"), ("quelle heure est-il", -1, "voice")]


async def test_a_second_that_was_wrong_does_not_mark_the_acknowledgement(memory: MemoryStore) -> None:
    server = await brain(memory)
    try:
        await say(server.uri, "what's my name", user_id="ann")
        assert await say(server.uri, "that was wrong", user_id="ann") == ACK_EN
        again = await say(server.uri, "that was wrong", user_id="ann")
    finally:
        await server.stop()
    assert again != ACK_EN  # the agent's turn, not a rating of the rating
    assert len(await memory.feedback("ann")) == 1


async def test_another_user_cannot_mark_someone_elses_turn(memory: MemoryStore) -> None:
    server = await brain(memory)
    try:
        await say(server.uri, "what's my name", user_id="bob")
        # Ann, through the hub, has no turn of her own: Bob's stays unmarked
        ann = await say(server.uri, "that was wrong", user_id="ann")
        # a raw client claiming to be Bob is the default user, who has no turn either
        spoofed = await say(server.uri, "that was wrong", secret=None, user_id="bob")
    finally:
        await server.stop()
    assert ann != ACK_EN and spoofed != ACK_EN
    assert await memory.feedback("bob") == []
    assert await memory.feedback("ann") == [] and await memory.feedback("default") == []


async def test_outside_the_window_nothing_is_marked(memory: MemoryStore) -> None:
    server = await brain(memory, window_s=120, clock=lambda: time.time() + 121)
    try:
        await say(server.uri, "what's my name", user_id="ann")
        late = await say(server.uri, "that was wrong", user_id="ann")
    finally:
        await server.stop()
    assert late != ACK_EN
    assert await memory.feedback("ann") == []
    # it went on as a normal utterance: recorded as the agent's turn
    last = (await memory.recent_turns("ann", None, limit=1))[-1]
    assert last.user_text == "that was wrong" and last.source == "agent"
