"""Memory: persistence across a reopen, kill -9 durability, per-user isolation, feedback, the CLI."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jarvis.protocol.cli import main as jarvis_main
from jarvis.server.brain.context import TurnContext
from jarvis.server.brain.handler import Brain, BrainSettings, TurnEnd, default_tools
from jarvis.server.brain.llm.base import ToolCall
from jarvis.server.brain.llm.scripted import ScriptedLLM, ScriptedTurn
from jarvis.server.brain.memory import MemoryError_, MemoryStore, Pending
from jarvis.server.brain.tools.registry import ToolRegistry


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[MemoryStore]:
    store = await MemoryStore.open(tmp_path / "memory.sqlite3")
    yield store
    await store.close()


async def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    store = await MemoryStore.open(path)
    await store.update_profile("ann", name="Ann", age="34", interests="chess")
    await store.set_onboarding("ann", "done")
    await store.add_fact("ann", "my bike is blue")
    await store.add_summary("ann", "Likes chess.")
    await store.add_summary("ann", "Likes chess and jazz.")
    turn_id = await store.add_turn("ann", "c1", "hi", "Hello Ann.", "en", "agent")
    await store.set_pending(
        Pending("c1", "ann", "unlock_door", {"door": "front"}, "unlock door front", 123.0)
    )
    await store.record_feedback("ann", turn_id, -1, "too long")
    await store.close()

    store = await MemoryStore.open(path)
    try:
        profile = await store.get_profile("ann")
        assert (profile.name, profile.age, profile.interests, profile.onboarding) == (
            "Ann",
            "34",
            "chess",
            "done",
        )
        assert [f.fact for f in await store.list_facts("ann")] == ["my bike is blue"]
        assert [s["summary"] for s in await store.summaries("ann")] == [
            "Likes chess.",
            "Likes chess and jazz.",
        ]
        assert [(t.id, t.assistant_text) for t in await store.recent_turns("ann", "c1")] == [
            (turn_id, "Hello Ann.")
        ]
        pending = await store.get_pending("c1", "ann")
        assert pending is not None and pending.arguments == {"door": "front"}
        assert [(f["turn_id"], f["rating"], f["comment"]) for f in await store.feedback("ann")] == [
            (turn_id, -1, "too long")
        ]
        assert await store.integrity_check() == "ok"
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


_WRITER = """
import asyncio, sys
from jarvis.server.brain.memory import MemoryStore

async def main() -> None:
    store = await MemoryStore.open(sys.argv[1])
    i = 0
    while True:
        await store.add_turn("ann", "c", f"question {i}", "x" * 4000, "en", "agent")
        await store.add_fact("ann", f"fact {i}")
        print(i, flush=True)  # acknowledged: both writes committed
        i += 1

asyncio.run(main())
"""


async def test_kill_9_mid_write_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(path), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    acknowledged: list[int] = []
    try:
        async with asyncio.timeout(120):
            while len(acknowledged) < 150:
                line = await proc.stdout.readline()
                assert line, "writer died"
                acknowledged.append(int(line))
    finally:
        proc.send_signal(signal.SIGKILL)
        rest = await proc.stdout.read()
        await proc.wait()
    acknowledged += [int(x) for x in rest.split()]
    assert proc.returncode == -signal.SIGKILL

    store = await MemoryStore.open(path)
    try:
        assert await store.integrity_check() == "ok"
        facts = {f.fact for f in await store.list_facts("ann")}
        turns = {t.user_text for t in await store.recent_turns("ann", None, 1_000_000)}
    finally:
        await store.close()
    missing = [i for i in acknowledged if f"fact {i}" not in facts or f"question {i}" not in turns]
    assert missing == []
    assert len(facts) >= len(acknowledged)


async def test_user_b_prompt_never_contains_user_a_memory(memory: MemoryStore) -> None:
    # An age no clock time or date in the prompt can contain ("34" matched "08:34" in CI).
    await memory.update_profile("ann", name="Annabelle", age="87", interests="free jazz")
    await memory.add_summary("ann", "Annabelle is training for a marathon.")
    await memory.add_fact("ann", "her locker code is 4711")
    llm = ScriptedLLM(["Hello.", "I don't know.", "Hi."])
    brain = Brain(llm, memory, ToolRegistry(default_tools(memory)), [], None, BrainSettings(onboarding=False))

    async def ask(text: str, user: str) -> TurnEnd:
        items = [
            i async for i in brain.turn(TurnContext(text=text, user_id=user, conversation_id="living-room"))
        ]
        assert isinstance(items[-1], TurnEnd)
        return items[-1]

    await ask("hello", "ann")
    await ask("What is Annabelle's locker code and what does she like?", "bob")
    await ask("hi", "bob")
    ann_prompt, bob_prompt, bob_again = (c.messages for c in llm.calls)
    ann_text = json.dumps(ann_prompt)
    assert (
        "Annabelle" in ann_text and "4711" in ann_text and "marathon" in ann_text and "free jazz" in ann_text
    )
    for prompt in (bob_prompt, bob_again):
        system = prompt[0]["content"]
        text = json.dumps([m for m in prompt if "Annabelle's locker" not in (m.get("content") or "")])
        assert (
            "4711" not in text and "marathon" not in text and "free jazz" not in text and "87" not in system
        )
        assert "Annabelle" not in system
        assert "nothing known yet" in system and "answer that you do not know" in system
    # same conversation id, different users: Bob's history holds only Bob's turns
    assert [m["content"] for m in bob_again[1:]] == [
        "What is Annabelle's locker code and what does she like?",
        "I don't know.",
        "hi",
    ]


async def test_memory_tools_only_touch_the_current_user(memory: MemoryStore) -> None:
    await memory.add_fact("ann", "my bike is blue")
    llm = ScriptedLLM(
        [ScriptedTurn(tool_calls=[ToolCall("forget", {"fact": "bike"}, "f")]), "Nothing to forget."]
    )
    brain = Brain(llm, memory, ToolRegistry(default_tools(memory)), [], None, BrainSettings(onboarding=False))
    async for _ in brain.turn(TurnContext(text="forget my bike", user_id="bob", conversation_id="c")):
        pass
    assert [f.fact for f in await memory.list_facts("ann")] == ["my bike is blue"]
    assert "Error: no remembered fact matches" in llm.calls[1].messages[-1]["content"]


async def test_forget_fact_by_id_removes_exactly_that_fact_of_that_user(memory: MemoryStore) -> None:
    tea = await memory.add_fact("alice", "likes tea")
    milk = await memory.add_fact("alice", "likes tea with milk")
    bobs = await memory.add_fact("bob", "likes tea")
    assert not await memory.forget_fact_id("bob", tea)  # not Bob's fact: untouched
    assert await memory.forget_fact_id("alice", tea)
    assert not await memory.forget_fact_id("alice", tea)  # already gone
    assert [(f.id, f.fact) for f in await memory.list_facts("alice")] == [(milk, "likes tea with milk")]
    assert [f.id for f in await memory.list_facts("bob")] == [bobs]


async def test_feedback_api_checks_owner_and_rating(memory: MemoryStore) -> None:
    turn = await memory.add_turn("ann", "c", "q", "a")
    assert await memory.record_feedback("ann", turn, 1) > 0
    with pytest.raises(MemoryError_, match="no turn"):
        await memory.record_feedback("bob", turn, 1)
    with pytest.raises(MemoryError_, match="rating"):
        await memory.record_feedback("ann", turn, 5)
    assert [f["rating"] for f in await memory.feedback("ann")] == [1]
    assert await memory.feedback("bob") == []


async def test_bad_input_is_refused_and_writes_nothing(memory: MemoryStore) -> None:
    with pytest.raises(MemoryError_, match="unknown profile field"):
        await memory.update_profile("ann", name="Ann", password="x")
    assert (await memory.get_profile("ann")).name is None
    with pytest.raises(MemoryError_):
        await memory.add_fact("ann", "   ")
    with pytest.raises(MemoryError_):
        await memory.add_fact("", "x")
    assert await memory.list_users() == []


async def test_pending_is_per_conversation_and_user(memory: MemoryStore) -> None:
    await memory.set_pending(Pending("c1", "ann", "unlock", {}, "unlock", time.time()))
    assert await memory.get_pending("c1", "bob") is None
    assert await memory.get_pending("c2", "ann") is None
    await memory.clear_pending("c1", "ann")
    assert await memory.get_pending("c1", "ann") is None


def test_cli_show_edit_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "cli-data")
    assert (
        jarvis_main(
            ["memory", "--data-dir", data, "edit", "--user", "ann", "name=Ann", "interests=chess, jazz"]
        )
        == 0
    )
    assert (
        jarvis_main(["memory", "--data-dir", data, "edit", "--user", "ann", "--add-fact", "bike is blue"])
        == 0
    )
    assert jarvis_main(["memory", "--data-dir", data, "edit", "--user", "ann", "colour=red"]) == 2
    assert "unknown profile field" in capsys.readouterr().err
    assert jarvis_main(["memory", "--data-dir", data, "show"]) == 0
    assert capsys.readouterr().out.strip() == "ann"
    assert jarvis_main(["memory", "--data-dir", data, "show", "--user", "ann"]) == 0
    shown = capsys.readouterr().out
    assert "name: Ann" in shown and "interests: chess, jazz" in shown and "bike is blue" in shown
    out = tmp_path / "export.json"
    assert jarvis_main(["memory", "--data-dir", data, "export", "--user", "ann", "-o", str(out)]) == 0
    exported = json.loads(out.read_text())
    assert exported["users"]["ann"]["profile"]["name"] == "Ann"
    assert [f["fact"] for f in exported["users"]["ann"]["facts"]] == ["bike is blue"]
    assert jarvis_main(["memory", "--data-dir", data, "edit", "--user", "ann", "--forget-fact", "bike"]) == 0
    assert "Forgot: bike is blue" in capsys.readouterr().out


async def test_a_store_made_before_soft_delete_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE facts (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, fact TEXT NOT NULL,"
        " created_at REAL NOT NULL); INSERT INTO facts VALUES (1, 'ann', 'my bike is blue', 0);"
    )
    db.commit()
    db.close()
    store = await MemoryStore.open(path)
    try:
        assert [f.fact for f in await store.list_facts("ann")] == ["my bike is blue"]
        assert (await store.forget_fact("ann", "bike")).removed
        assert [f.id for f in await store.forgotten_facts("ann")] == [1]
    finally:
        await store.close()


def test_cli_forgotten_restore_purge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "cli-data")
    base = ["memory", "--data-dir", data]
    for fact in ("my bike is blue", "my bike has a flat tyre"):
        assert jarvis_main([*base, "edit", "--user", "ann", "--add-fact", fact]) == 0
    capsys.readouterr()
    assert jarvis_main([*base, "edit", "--user", "ann", "--forget-fact", "bike"]) == 0
    out = capsys.readouterr().out
    assert "Several facts match 'bike'; nothing forgotten" in out and "[1] my bike is blue" in out
    assert jarvis_main([*base, "edit", "--user", "ann", "--forget-fact", "#1"]) == 0
    assert jarvis_main([*base, "forgotten", "--user", "ann"]) == 0
    assert "[1] my bike is blue" in capsys.readouterr().out
    assert jarvis_main([*base, "restore", "--user", "ann", "1"]) == 0
    assert "Restored fact 1" in capsys.readouterr().out
    assert jarvis_main([*base, "restore", "--user", "ann", "1"]) == 1  # not forgotten any more
    assert jarvis_main([*base, "edit", "--user", "ann", "--forget-fact", "flat tyre"]) == 0
    assert jarvis_main([*base, "forgotten", "--user", "ann", "--purge"]) == 0
    assert "Deleted 1 forgotten fact(s) for good" in capsys.readouterr().out
    assert jarvis_main([*base, "forgotten", "--user", "ann"]) == 0
    assert capsys.readouterr().out.strip() == "None"
