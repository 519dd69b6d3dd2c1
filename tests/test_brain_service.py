"""The brain over real Wyoming TCP on 127.0.0.1: describe, streaming order, timers, errors, user mapping.

The language model is ScriptedLLM (a test double); everything else is real: the prefilter, the
timer manager, the SQLite memory, the sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from wyoming.asr import Transcript
from wyoming.event import Event
from wyoming.info import Describe, Info

from jarvis.protocol.peer_auth import PeerAuth
from jarvis.protocol.service import Connection
from jarvis.server.brain.agent import AgentSettings
from jarvis.server.brain.handler import BrainServer, BrainSettings, start_brain
from jarvis.server.brain.llm.base import ToolCall
from jarvis.server.brain.llm.scripted import ScriptedLLM, ScriptedTurn
from jarvis.server.brain.memory import MemoryStore


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[MemoryStore]:
    store = await MemoryStore.open(tmp_path / "memory.sqlite3")
    yield store
    await store.close()


async def serve(llm: ScriptedLLM, memory: MemoryStore, **kw: Any) -> BrainServer:
    kw.setdefault("fast_paths", [])
    kw.setdefault("settings", BrainSettings(onboarding=False))
    return await start_brain("tcp://127.0.0.1:0", llm, memory=memory, **kw)


async def read_until(conn: Connection, last: str | tuple[str, ...], timeout: float = 10) -> list[Event]:
    """Events up to the first of type ``last`` (or of one of the types ``last`` names)."""
    ends = (last,) if isinstance(last, str) else last
    events: list[Event] = []
    async with asyncio.timeout(timeout):
        while True:
            event = await conn.read_event()
            assert event is not None, f"connection closed after {[e.type for e in events]}"
            events.append(event)
            if event.type in ends:
                return events


async def test_describe_answers_quickly_with_a_streaming_handle_program(memory: MemoryStore) -> None:
    server = await serve(ScriptedLLM([]), memory)
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(Describe().event())
            event = await conn.read_event(timeout=1.0)
        assert event is not None
        info = Info.from_event(event)
        assert info.satellite is None and not info.asr and not info.tts
        (program,) = info.handle
        assert program.supports_handled_streaming is True
        assert [m.name for m in program.models] == ["scripted"]
        assert set(program.models[0].languages) == {"en", "fr"}
    finally:
        await server.stop()


async def test_streaming_order_first_chunk_leaves_before_the_model_finishes(memory: MemoryStore) -> None:
    gate = asyncio.Event()
    llm = ScriptedLLM(
        [
            ScriptedTurn(
                chunks=["First sentence. ", "Second sentence. ", "Third one."], gate=gate, gate_before=2
            )
        ]
    )
    server = await serve(llm, memory)
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(
                Transcript(
                    text="tell me three things", language="en", context={"conversation_id": "x"}
                ).event()
            )
            first = await read_until(conn, "handled-chunk")
            assert [e.type for e in first] == ["handled-start", "handled-chunk"]
            assert first[1].data["text"] == "First sentence."
            assert llm.finished == 0  # the model is still generating
            gate.set()
            rest = await read_until(conn, "handled-stop")
    finally:
        await server.stop()
    assert [e.type for e in rest] == ["handled-chunk", "handled-chunk", "handled", "handled-stop"]
    assert [e.data["text"] for e in rest[:2]] == ["Second sentence.", "Third one."]
    assert rest[2].data["text"] == "First sentence. Second sentence. Third one."
    assert first[0].data["context"]["conversation_id"] == "x"
    assert isinstance(rest[2].data["context"]["turn_id"], int)


async def test_prefilter_rejects_hallucinations_with_not_handled(memory: MemoryStore) -> None:
    llm = ScriptedLLM([])
    server = await serve(llm, memory)  # default prefilter: the real one
    try:
        async with await Connection.open(server.uri) as conn:
            for text in ("Thank you.", "Sous-titres réalisés par la communauté d'Amara.org", "   "):
                await conn.write_event(Transcript(text=text).event())
                events = await read_until(conn, "not-handled")
                assert [e.type for e in events] == ["not-handled"]
    finally:
        await server.stop()
    assert llm.calls == []


async def test_timer_events_go_out_before_the_answer_and_finished_later(memory: MemoryStore) -> None:
    llm = ScriptedLLM(
        [
            ScriptedTurn(tool_calls=[ToolCall("set_timer", {"seconds": 0.2, "name": "tea"}, "t1")]),
            "Tea timer set.",
        ]
    )
    server = await serve(llm, memory)
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(
                Transcript(text="tea timer", context={"satellite_id": "kitchen-sat"}).event()
            )
            events = await read_until(conn, "handled-stop")
            assert [e.type for e in events] == [
                "timer-started",
                "handled-start",
                "handled-chunk",
                "handled",
                "handled-stop",
            ]
            assert events[0].data["name"] == "tea"
            finished = await conn.read_event(timeout=5)
            assert finished is not None and finished.type == "timer-finished"
            assert finished.data["id"] == events[0].data["id"]
    finally:
        await server.stop()


async def test_bad_transcript_gets_an_error_and_the_connection_stays(memory: MemoryStore) -> None:
    server = await serve(ScriptedLLM(["Fine."]), memory)
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(Event("transcript", {"text": 42}))
            error = await conn.read_event(timeout=5)
            assert error is not None and error.type == "error" and error.data["code"] == "bad-event"
            await conn.write_event(Event("synthesize", {"text": "hi"}))
            error = await conn.read_event(timeout=5)
            assert error is not None and error.data["code"] == "unsupported-event"
            await conn.write_event(Transcript(text="still there?").event())
            events = await read_until(conn, "handled-stop")
            assert events[-2].data["text"] == "Fine."
    finally:
        await server.stop()


async def test_llm_failure_is_spoken_not_crashed(memory: MemoryStore) -> None:
    server = await serve(ScriptedLLM([ScriptedTurn(error="GPU on fire")]), memory)
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(Transcript(text="hello").event())
            events = await read_until(conn, "handled-stop")
    finally:
        await server.stop()
    assert events[-2].data["text"] == "Sorry, my language model is not answering right now."


async def test_device_id_maps_to_a_user_and_area(memory: MemoryStore) -> None:
    llm = ScriptedLLM(["Hi Ann."])
    settings = BrainSettings(onboarding=False, user_map={"ha-device-123": "ann@kitchen"})
    server = await serve(llm, memory, settings=settings)
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(
                Transcript(
                    text="hello", context={"conversation_id": "ha-1", "device_id": "ha-device-123"}
                ).event()
            )
            events = await read_until(conn, "handled-stop")
    finally:
        await server.stop()
    assert events[-2].data["context"]["user_id"] == "ann"
    turns = await memory.recent_turns("ann", "ha-1")
    assert [(t.user_text, t.assistant_text) for t in turns] == [("hello", "Hi Ann.")]
    assert "speaking from the kitchen" in llm.calls[0].system


async def test_concurrent_clients_are_answered_independently(memory: MemoryStore) -> None:
    llm = ScriptedLLM([ScriptedTurn(text="Same answer.", delay=0.01)], loop=True)
    server = await serve(llm, memory, settings=BrainSettings(onboarding=False, agent=AgentSettings()))
    try:

        async def one(i: int) -> str:
            async with await Connection.open(server.uri) as conn:
                await conn.write_event(Transcript(text=f"q{i}", context={"user_id": f"u{i}"}).event())
                return str((await read_until(conn, "handled"))[-1].data["text"])

        answers = await asyncio.gather(*(one(i) for i in range(4)))
    finally:
        await server.stop()
    assert answers == ["Same answer."] * 4


async def test_real_local_intents_answer_without_the_llm(memory: MemoryStore) -> None:
    """Default fast paths (the hassil IntentRecognizer with the real TimerManager) over TCP."""
    await memory.update_profile("ann", name="Ann")
    llm = ScriptedLLM([])
    server = await start_brain(
        "tcp://127.0.0.1:0", llm, memory=memory, settings=BrainSettings(onboarding=False)
    )

    async def turn(text: str, **context: Any) -> list[Event]:
        async with await Connection.open(server.uri) as conn:
            # as the hub: only a peer that proved itself may say who is speaking
            await conn.write_event(PeerAuth(server.brain.peer_secret).event())
            authed = await conn.read_event(timeout=5)
            assert authed is not None and authed.type == "jarvis-peer-authed"
            await conn.write_event(Transcript(text=text, language="en", context=context).event())
            return await read_until(conn, "handled-stop")

    try:
        events = await turn("set a timer for five minutes", satellite_id="kitchen", user_id="ann")
        assert [e.type for e in events] == [
            "timer-started",
            "handled-start",
            "handled-chunk",
            "handled",
            "handled-stop",
        ]
        assert events[0].data["total_seconds"] == 300
        mine = await turn("what's my name", user_id="ann")
        theirs = await turn("what's my name", user_id="bob")
        silent = await turn("stop", user_id="ann")
    finally:
        await server.stop()
    assert mine[-2].data["text"] == "Your name is Ann."
    assert theirs[-2].data["text"] == "I don't know your name yet."
    assert [e.type for e in silent] == ["handled-start", "handled", "handled-stop"]
    assert silent[-2].data["text"] == ""
    assert llm.calls == []


async def test_zeroconf_advertises_the_brain_on_loopback(memory: MemoryStore) -> None:
    from jarvis.protocol import discovery

    server = await serve(ScriptedLLM([]), memory)
    try:
        async with discovery.advertise_wyoming(None, server, interfaces=["127.0.0.1"]) as ad:
            assert ad.name.startswith("jarvis-brain-") and ad.port == server.port
    finally:
        await server.stop()


async def test_client_leaving_mid_answer_does_not_hurt_the_next_one(memory: MemoryStore) -> None:
    gate = asyncio.Event()
    llm = ScriptedLLM(
        [
            ScriptedTurn(chunks=["One thing. ", "Two things. ", "Three."], gate=gate, gate_before=2),
            "Next answer.",
        ]
    )
    server = await serve(llm, memory)
    try:
        conn = await Connection.open(server.uri)
        await conn.write_event(Transcript(text="count").event())
        await read_until(conn, "handled-chunk")
        await conn.close()
        gate.set()
        async with await Connection.open(server.uri) as conn2:
            await conn2.write_event(Transcript(text="again").event())
            events = await read_until(conn2, "handled-stop")
        assert events[-2].data["text"] == "Next answer."
    finally:
        await server.stop()


async def test_a_failing_fast_path_falls_through_to_the_agent(memory: MemoryStore) -> None:
    class Broken:
        async def handle(self, ctx: Any) -> None:
            raise RuntimeError("template bug")

    server = await serve(ScriptedLLM(["The agent answered."]), memory, fast_paths=[Broken()])
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(Transcript(text="hello").event())
            events = await read_until(conn, "handled-stop")
    finally:
        await server.stop()
    assert events[-2].data["text"] == "The agent answered."


async def test_a_broken_turn_gets_an_error_event_and_the_connection_survives(memory: MemoryStore) -> None:
    server = await serve(ScriptedLLM(["Fine again."]), memory)
    real_snapshot = memory.snapshot
    failures = iter([True])

    async def flaky_snapshot(*args: Any, **kw: Any) -> Any:
        if next(failures, False):
            raise OSError("disk unplugged")
        return await real_snapshot(*args, **kw)

    memory.snapshot = flaky_snapshot  # type: ignore[method-assign]
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(Transcript(text="hello").event())
            error = await conn.read_event(timeout=5)
            assert error is not None and error.type == "error" and error.data["code"] == "brain-error"
            assert "disk unplugged" in error.data["text"]
            await conn.write_event(Transcript(text="hello again").event())
            events = await read_until(conn, "handled-stop")
            assert events[-2].data["text"] == "Fine again."
    finally:
        await server.stop()


async def test_context_can_switch_on_the_always_listening_check(memory: MemoryStore) -> None:
    llm = ScriptedLLM(["no"])
    server = await serve(llm, memory)
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(
                Transcript(text="pass the salt please", context={"always_listening": True}).event()
            )
            events = await read_until(conn, "not-handled")
    finally:
        await server.stop()
    assert [e.type for e in events] == ["not-handled"]
    assert "pass the salt please" in llm.calls[0].messages[-1]["content"]


async def test_per_satellite_subscriptions_are_pruned_when_their_connections_close(
    memory: MemoryStore,
) -> None:
    """One entry per satellite id ever seen must not pile up (a client may claim any id)."""
    server = await serve(ScriptedLLM(["Fine."], loop=True), memory)
    try:
        for n in range(20):
            async with await Connection.open(server.uri) as conn:
                await conn.write_event(Transcript(text="hello", context={"satellite_id": f"sat-{n}"}).event())
                await read_until(conn, "handled-stop")
        async with asyncio.timeout(5):
            while server.brain._subscribers:  # noqa: ASYNC110 - closed on the server's side
                await asyncio.sleep(0.02)
    finally:
        await server.stop()


async def test_a_misheard_wake_phrase_does_not_hide_a_memory_command(memory: MemoryStore) -> None:
    """Every fast path gets the command behind a lead that sounds like "hey jarvis" (measured:
    "They jar this, remember that ..."), not only the intent templates; nothing else changes."""
    server = await start_brain(
        "tcp://127.0.0.1:0", ScriptedLLM([]), memory=memory, settings=BrainSettings(onboarding=False)
    )

    async def turn(text: str) -> list[Event]:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(PeerAuth(server.brain.peer_secret).event())
            assert (await conn.read_event(timeout=5)) is not None
            await conn.write_event(Transcript(text=text, language="en", context={"user_id": "ann"}).event())
            return await read_until(conn, "handled-stop")

    try:
        events = await turn("They jar this, remember that my keys are in the kitchen drawer.")
        answer = next(e for e in events if e.type == "handled").data["text"]
        assert "remember" in answer.lower(), answer
        facts = await memory.list_facts("ann")
        assert [f.fact for f in facts] == ["my keys are in the kitchen drawer"], facts
        events = await turn("They jardins list my timers.")
        assert next(e for e in events if e.type == "handled").data["text"] == "You have no timers running."
    finally:
        await server.stop()
