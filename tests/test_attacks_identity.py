"""Attacks on identity (issue 15 §1), each over real sockets on 127.0.0.1.

- A raw client on the brain port that claims ``user_id: alice`` or ``satellite_id: kitchen`` is served
  as the default user: it cannot read alice's memory, write or delete her facts or history, nor list,
  cancel or hear the kitchen's timers. Only the hub, which sent the peer secret, is believed.
- The hub rejects a malformed ``user_id`` in ``jarvis-auth`` with an ``error``.
- The hub closes a connection that does not authenticate in time, and answers repeated wrong tokens
  from one address more and more slowly (:class:`jarvis.protocol.backoff.FailureBackoff`).
- ``jarvis serve --host`` exposes only the hub and the web page; ``--wyoming-host`` the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_brain_service import read_until
from wyoming.asr import Transcript
from wyoming.event import Event

from jarvis.protocol.backoff import FailureBackoff
from jarvis.protocol.events import Auth
from jarvis.protocol.peer_auth import PeerAuth, valid_user_id
from jarvis.protocol.service import Connection
from jarvis.server.brain.handler import BrainServer, BrainSettings, start_brain
from jarvis.server.brain.llm.base import ToolCall
from jarvis.server.brain.llm.scripted import ScriptedLLM, ScriptedTurn
from jarvis.server.brain.memory import MemoryStore
from jarvis.server.config import HubSettings, Settings
from jarvis.server.hub.client import HubClient, HubRefused
from jarvis.server.hub.hub import Hub
from jarvis.server.tokens import load_or_create_peer_secret

LOOPBACK = "tcp://127.0.0.1:0"
SECRET = "peer-secret-for-the-tests-0123456789abcdef"
TOKEN = "hub-token-for-the-tests-0123456789"
DEAD = "tcp://127.0.0.1:1"  # nothing listens: text turns that end at "handle" never need STT/TTS


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[MemoryStore]:
    store = await MemoryStore.open(tmp_path / "memory.sqlite3")
    yield store
    await store.close()


async def brain_server(memory: MemoryStore, llm: ScriptedLLM | None = None, **kw: Any) -> BrainServer:
    kw.setdefault("settings", BrainSettings(onboarding=False))
    kw.setdefault("peer_secret", SECRET)
    return await start_brain(LOOPBACK, llm or ScriptedLLM([]), memory=memory, probe=False, **kw)


async def read_answer(conn: Connection, timeout: float = 10) -> list[Event]:
    """Events up to ``handled-stop`` (or ``not-handled`` / ``error``)."""
    return await read_until(conn, ("handled-stop", "not-handled", "error"), timeout)


async def open_brain(uri: str, secret: str | None = None) -> Connection:
    """A connection to the brain; with ``secret``, authenticated the way the hub does it."""
    conn = await Connection.open(uri)
    if secret is not None:
        await conn.write_event(PeerAuth(secret).event())
        answer = await conn.read_event(timeout=5)
        assert answer is not None and answer.type == "jarvis-peer-authed", answer
    return conn


async def ask(uri: str, text: str, secret: str | None = None, **context: Any) -> list[Event]:
    async with await open_brain(uri, secret) as conn:
        await conn.write_event(Transcript(text=text, language="en", context=context).event())
        return await read_answer(conn)


def answer_of(events: list[Event]) -> tuple[str, dict[str, Any]]:
    handled = next(e for e in events if e.type == "handled")
    return str(handled.data.get("text")), dict(handled.data.get("context") or {})


# -- the brain port --------------------------------------------------------------------------------


async def test_raw_client_claiming_alice_gets_the_default_users_answer(memory: MemoryStore) -> None:
    await memory.update_profile("alice", name="Alice Liddell")
    server = await brain_server(memory)  # the real local intents answer "what's my name"
    try:
        spoofed = await ask(server.uri, "what's my name", user_id="alice")
        hub = await ask(server.uri, "what's my name", SECRET, user_id="alice", satellite_id="kitchen")
    finally:
        await server.stop()
    text, context = answer_of(spoofed)
    assert "Alice" not in text and text == "I don't know your name yet."
    assert context["user_id"] == "default"
    text, context = answer_of(hub)
    assert text == "Your name is Alice Liddell."
    assert context["user_id"] == "alice"
    # the spoofed turn went into the default user's history, not alice's
    assert [t.user_text for t in await memory.recent_turns("alice")] == ["what's my name"]
    assert [t.user_text for t in await memory.recent_turns("default")] == ["what's my name"]


async def test_raw_client_cannot_write_or_delete_alices_memory(memory: MemoryStore) -> None:
    await memory.add_fact("alice", "Alice likes green tea.")
    llm = ScriptedLLM(
        [
            ScriptedTurn(tool_calls=[ToolCall("remember", {"fact": "Alice hates tea."}, "c1")]),
            "Noted.",
            ScriptedTurn(tool_calls=[ToolCall("forget", {"fact": "Alice likes green tea."}, "c2")]),
            "Forgotten.",
        ]
    )
    server = await brain_server(memory, llm, fast_paths=[])
    try:
        wrote = await ask(server.uri, "remember that I hate tea", user_id="alice")
        deleted = await ask(server.uri, "forget that I like green tea", user_id="alice")
    finally:
        await server.stop()
    assert answer_of(wrote)[1]["user_id"] == "default"
    assert answer_of(deleted)[1]["user_id"] == "default"
    assert [f.fact for f in await memory.list_facts("alice")] == ["Alice likes green tea."]
    assert [f.fact for f in await memory.list_facts("default")] == ["Alice hates tea."]
    assert await memory.recent_turns("alice") == []
    # the LLM was never shown alice's memory
    assert all("green tea" not in call.system for call in llm.calls)


async def test_raw_client_cannot_list_cancel_or_hear_the_kitchens_timers(memory: MemoryStore) -> None:
    server = await brain_server(memory)
    timers = server.brain.timers
    try:
        started = await ask(server.uri, "set a timer for five minutes", SECRET, satellite_id="kitchen")
        assert started[0].type == "timer-started"
        status = await ask(server.uri, "how much time is left on my timer", satellite_id="kitchen")
        cancel = await ask(server.uri, "cancel all timers", satellite_id="kitchen")
        nothing = await ask(server.uri, "cancel all timers")  # no satellite at all: not "every timer"
        assert [t.satellite_id for t in timers.list("kitchen")] == ["kitchen"], "the spoofed cancel worked"
        for events in (status, cancel, nothing):
            assert not any(e.type.startswith("timer-") for e in events), [e.type for e in events]
            assert "5 minutes" not in answer_of(events)[0] and "4 minutes" not in answer_of(events)[0]
        # a raw client that claims the kitchen does not receive the kitchen's timer-finished
        async with (
            await open_brain(server.uri) as spy,
            await open_brain(server.uri, SECRET) as hub,
        ):
            await spy.write_event(Transcript(text="stop", context={"satellite_id": "kitchen"}).event())
            await read_answer(spy)
            await hub.write_event(
                Transcript(text="set a timer for 1 second", context={"satellite_id": "kitchen"}).event()
            )
            assert (await read_answer(hub))[0].type == "timer-started"
            finished = await hub.read_event(timeout=5)
            assert finished is not None and finished.type == "timer-finished"
            with pytest.raises(TimeoutError):
                leaked = await spy.read_event(timeout=0.5)
                pytest.fail(f"the spy got {leaked}")
    finally:
        await server.stop()


async def test_a_wrong_peer_secret_is_refused_and_the_connection_closed(memory: MemoryStore) -> None:
    server = await brain_server(memory)
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(PeerAuth("not-the-secret").event())
            error = await conn.read_event(timeout=5)
            assert error is not None and error.type == "error" and error.data["code"] == "unauthorized"
            assert await conn.read_event(timeout=5) is None
        for bogus in ({"secret": 42}, {"secret": {"a": 1}}, {}):
            async with await Connection.open(server.uri) as conn:
                await conn.write_event(Event("jarvis-peer-auth", bogus))
                error = await conn.read_event(timeout=5)
                assert error is not None and error.data["code"] == "unauthorized", bogus
        # the secret comes first or not at all: a late one does not upgrade the connection
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(Transcript(text="stop").event())
            await read_answer(conn)
            await conn.write_event(PeerAuth(SECRET).event())
            error = await conn.read_event(timeout=5)
            assert error is not None and error.data["code"] == "bad-event"
            await conn.write_event(Transcript(text="what's my name", context={"user_id": "alice"}).event())
            assert answer_of(await read_answer(conn))[1]["user_id"] == "default"
    finally:
        await server.stop()


async def test_a_brain_without_a_secret_believes_no_one(memory: MemoryStore) -> None:
    server = await brain_server(memory, peer_secret="")
    try:
        async with await Connection.open(server.uri) as conn:
            await conn.write_event(PeerAuth("").event())
            error = await conn.read_event(timeout=5)
            assert error is not None and error.data["code"] == "unauthorized"
    finally:
        await server.stop()


async def test_configured_device_mapping_still_works_without_the_secret(memory: MemoryStore) -> None:
    """Home Assistant sends no secret; configuration may still map its device to a user."""
    await memory.update_profile("ann", name="Ann")
    settings = BrainSettings(onboarding=False, user_map={"ha-device-1": "ann@kitchen"})
    server = await brain_server(memory, settings=settings)
    try:
        mapped = await ask(server.uri, "what's my name", device_id="ha-device-1", user_id="alice")
    finally:
        await server.stop()
    text, context = answer_of(mapped)
    assert text == "Your name is Ann." and context["user_id"] == "ann"


# -- through the hub --------------------------------------------------------------------------------


def hub_settings(**hub: Any) -> Settings:
    return Settings(hub=HubSettings(port=0, **hub))


async def test_the_authenticated_hub_still_gets_per_user_answers(memory: MemoryStore) -> None:
    await memory.update_profile("alice", name="Alice Liddell")
    await memory.update_profile("bob", name="Bob")
    server = await brain_server(memory)
    try:
        async with Hub(
            hub_settings(), TOKEN, stt=[DEAD], tts=[DEAD], brain=[server.uri], peer_secret=SECRET
        ) as hub:
            for user, name in (("alice", "Alice Liddell"), ("bob", "Bob")):
                async with await HubClient.connect(hub.uri, TOKEN, f"{user}-sat", user_id=user) as sat:
                    result = await sat.text_turn("what's my name", timeout=20, end_stage="handle")
                assert result.error is None, result.error
                assert result.sentences == [f"Your name is {name}."]
    finally:
        await server.stop()


async def test_hub_and_brain_share_the_data_dirs_secret_by_default(memory: MemoryStore) -> None:
    """Neither side is given a secret: both take ``<data dir>/peer-secret`` (what ``jarvis serve`` does)."""
    await memory.update_profile("alice", name="Alice Liddell")
    server = await start_brain(
        LOOPBACK, ScriptedLLM([]), memory=memory, settings=BrainSettings(onboarding=False), probe=False
    )
    secret_file = Path(os.environ["JARVIS_DATA_DIR"]) / "peer-secret"
    try:
        assert secret_file.read_text().strip() == server.brain.peer_secret
        assert os.stat(secret_file).st_mode & 0o777 == 0o600
        async with (
            Hub(hub_settings(), TOKEN, stt=[DEAD], tts=[DEAD], brain=[server.uri]) as hub,
            await HubClient.connect(hub.uri, TOKEN, "kitchen", user_id="alice") as sat,
        ):
            result = await sat.text_turn("what's my name", timeout=20, end_stage="handle")
        assert result.sentences == ["Your name is Alice Liddell."]
    finally:
        await server.stop()


async def test_a_hub_with_the_wrong_secret_gets_a_clear_error(memory: MemoryStore) -> None:
    server = await brain_server(memory)
    try:
        async with (
            Hub(
                hub_settings(), TOKEN, stt=[DEAD], tts=[DEAD], brain=[server.uri], peer_secret="wrong"
            ) as hub,
            await HubClient.connect(hub.uri, TOKEN, "kitchen", user_id="alice") as sat,
        ):
            result = await sat.text_turn("what's my name", timeout=20, end_stage="handle")
        assert result.error is not None and result.error.code == "brain-unavailable"
        assert "peer secret" in result.error.text
    finally:
        await server.stop()


@pytest.mark.parametrize(
    "user_id",
    [{"name": "alice"}, 42, ["alice"], True, "x" * 500_000, "alice\x00bob", "../../etc/passwd", "a b", "é"],
    ids=["dict", "int", "list", "bool", "500k-chars", "nul", "path", "space", "non-ascii"],
)
async def test_the_hub_rejects_a_bad_user_id(user_id: Any) -> None:
    async with Hub(hub_settings(), TOKEN, stt=[DEAD], tts=[DEAD], brain=[DEAD], peer_secret=SECRET) as hub:
        async with await Connection.open(hub.uri) as conn:
            await conn.write_event(
                Event("jarvis-auth", {"token": TOKEN, "satellite_id": "kitchen", "user_id": user_id})
            )
            answer = await conn.read_event(timeout=5)
            assert answer is not None and answer.type == "error", answer
            assert answer.data["code"] == "bad-event"
            assert "user_id" in answer.data["text"]
            assert await conn.read_event(timeout=5) is None  # closed
        assert hub.sessions == {}


@pytest.mark.parametrize("field", ["satellite_id", "area", "name"])
async def test_the_hub_rejects_bad_labels(field: str) -> None:
    async with Hub(hub_settings(), TOKEN, stt=[DEAD], tts=[DEAD], brain=[DEAD], peer_secret=SECRET) as hub:
        for bad in (
            {"x": 1},
            "x" * 10_000,
            "kitchen\x00",
            *(["unverified:kitchen"] * (field == "satellite_id")),
        ):
            data: dict[str, Any] = {"token": TOKEN, "satellite_id": "kitchen", field: bad}
            async with await Connection.open(hub.uri) as conn:
                await conn.write_event(Event("jarvis-auth", data))
                answer = await conn.read_event(timeout=5)
                assert answer is not None and answer.data.get("code") == "bad-event", (field, answer)
        assert hub.sessions == {}


async def test_good_user_ids_are_accepted() -> None:
    async with Hub(hub_settings(), TOKEN, stt=[DEAD], tts=[DEAD], brain=[DEAD], peer_secret=SECRET) as hub:
        for user_id in ("alice", "bob.smith", "user_2-b", "A" * 64):
            async with await HubClient.connect(hub.uri, TOKEN, "kitchen", user_id=user_id) as sat:
                assert sat.auth_ok.user_id == user_id
    assert not valid_user_id("A" * 65) and not valid_user_id("..") and not valid_user_id("")


async def test_the_auth_deadline_closes_an_idle_connection() -> None:
    settings = hub_settings(auth_timeout_s=0.3)
    async with Hub(settings, TOKEN, stt=[DEAD], tts=[DEAD], brain=[DEAD], peer_secret=SECRET) as hub:
        started = time.monotonic()
        async with await Connection.open(hub.uri) as idle:
            error = await idle.read_event(timeout=5)
            assert error is not None and error.type == "error" and error.data["code"] == "auth-timeout"
            assert await idle.read_event(timeout=5) is None
        assert 0.25 <= time.monotonic() - started < 3
        # describe alone does not count as authenticating
        async with await Connection.open(hub.uri) as chatty:
            await chatty.write_event(Event("describe"))
            assert (info := await chatty.read_event(timeout=5)) is not None and info.type == "info"
            error = await chatty.read_event(timeout=5)
            assert error is not None and error.data["code"] == "auth-timeout"
        # an authenticated satellite stays past the deadline
        async with await HubClient.connect(hub.uri, TOKEN, "kitchen") as sat:
            await asyncio.sleep(0.6)
            await sat.send(Event("ping", {"text": "still here"}))
            pong = await sat.conn.read_event(timeout=5)
            assert pong is not None and pong.type == "pong"


async def bad_attempt(uri: str) -> float:
    """Seconds from sending a wrong token to the hub's answer."""
    async with await Connection.open(uri) as conn:
        started = time.monotonic()
        await conn.write_event(Auth("wrong-token-wrong-token", "mallory").event())
        answer = await conn.read_event(timeout=10)
        assert answer is not None and answer.data.get("code") == "unauthorized", answer
        return time.monotonic() - started


async def test_repeated_bad_tokens_get_slower() -> None:
    settings = hub_settings(auth_backoff_s=0.1, auth_backoff_max_s=0.4)
    async with Hub(settings, TOKEN, stt=[DEAD], tts=[DEAD], brain=[DEAD], peer_secret=SECRET) as hub:
        waits = [await bad_attempt(hub.uri) for _ in range(5)]
        # 0, then 0.1, 0.2, 0.4 (the cap), 0.4
        assert waits[0] < 0.09, waits
        assert 0.09 <= waits[1] and 0.18 <= waits[2] and 0.36 <= waits[3] and 0.36 <= waits[4], waits
        assert max(waits) < 2, waits
        # many connections at once do not multiply the rate: their answers come one delay apart
        started = time.monotonic()
        await asyncio.gather(*(bad_attempt(hub.uri) for _ in range(4)))
        assert time.monotonic() - started >= 4 * 0.36
        # the right token still works (after its turn), and clears the record
        async with await HubClient.connect(hub.uri, TOKEN, "kitchen") as sat:
            assert sat.auth_ok.user_id == "default"
        assert await bad_attempt(hub.uri) < 0.09
        with pytest.raises(HubRefused):
            await HubClient.connect(hub.uri, "also-wrong-also-wrong", "kitchen")


def test_failure_backoff_doubles_caps_queues_and_forgets() -> None:
    now = [100.0]
    backoff = FailureBackoff(0.5, 4.0, forget_after_s=60, max_keys=3, clock=lambda: now[0])
    assert backoff.reserve("a") == 0
    assert [backoff.failure("a") for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff.reserve("a") == pytest.approx(4.0)
    assert backoff.reserve("a") == pytest.approx(8.0)  # a second attempt in parallel queues behind
    assert backoff.reserve("b") == 0  # other addresses are not slowed down
    backoff.success("a")
    assert backoff.reserve("a") == 0 and backoff.failures("a") == 0
    backoff.failure("c")
    now[0] += 61
    assert backoff.failures("c") == 0  # forgotten
    for key in "defg":
        backoff.failure(key)
    assert len(backoff) == 3 and backoff.failures("d") == 0  # bounded: the oldest went first
    assert backoff.delay_after(10**6) == 4.0


# -- what jarvis serve exposes ---------------------------------------------------------------------


def serve_settings(*argv: str) -> Settings:
    from jarvis.server.serve import add_arguments, settings_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return settings_from_args(parser.parse_args(list(argv)))


def test_serve_host_exposes_only_the_hub_and_the_web_page() -> None:
    lan = serve_settings("--host", "0.0.0.0")
    assert (lan.hub.host, lan.web.host) == ("0.0.0.0", "0.0.0.0")
    assert (lan.stt.host, lan.tts.host, lan.brain.host) == ("127.0.0.1",) * 3
    ha = serve_settings("--host", "0.0.0.0", "--wyoming-host", "0.0.0.0")
    assert (ha.stt.host, ha.tts.host, ha.brain.host, ha.hub.host) == ("0.0.0.0",) * 4
    only_wyoming = serve_settings("--wyoming-host", "192.168.1.5")
    assert only_wyoming.brain.host == "192.168.1.5" and only_wyoming.hub.host == "127.0.0.1"


def test_peer_secret_file_option_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "peer-secret"
    settings = serve_settings("--peer-secret-file", str(path))
    assert settings.peer_secret_path() == path
    secret = load_or_create_peer_secret(settings.peer_secret_path())
    assert len(secret) >= 40 and os.stat(path).st_mode & 0o777 == 0o600
    assert load_or_create_peer_secret(path) == secret  # made once, then reused
    assert Settings().peer_secret_path() == Path(os.environ["JARVIS_DATA_DIR"]) / "peer-secret"


def test_hub_and_brain_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    """Two processes on one data volume (Docker) create the file at the same moment: one secret wins."""
    import subprocess
    import sys

    path = tmp_path / "peer-secret"
    code = (
        "import sys; from jarvis.server.tokens import load_or_create_peer_secret; "
        "print(load_or_create_peer_secret(sys.argv[1]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    secrets = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert secrets == {path.read_text().strip()}
    assert [p.name for p in tmp_path.iterdir()] == ["peer-secret"]  # nothing left aside
