"""Issue 15 §3, "bad input and faults": each attack, automated, with a clear error and nothing lost.

Real components only: the brain's SQLite store in a per-test data dir, the web app through
``start_web`` (TLS, port 0) as in ``test_web_api.py``, the brain's own fast paths.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from jarvis.server.brain.context import TurnContext
from jarvis.server.brain.memory import MemoryStore
from jarvis.server.brain.tools.base import ToolError
from jarvis.server.brain.tools.memory_tools import ForgetTool
from jarvis.server.web.__main__ import WebServer, start_web

TOKEN = "faults-test-token-0123456789abcdef"
NO_HUB = "tcp://127.0.0.1:9"


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        connector=aiohttp.TCPConnector(ssl=False),
        timeout=aiohttp.ClientTimeout(total=10),
    )


async def login(session: aiohttp.ClientSession, server: WebServer, user: str = "alice") -> None:
    async with session.post(server.url + "api/login", json={"token": TOKEN, "user": user}) as resp:
        assert resp.status == 200, await resp.text()


@pytest.fixture
async def web_server(_isolated_data_dir: Path) -> AsyncIterator[WebServer]:
    server = await start_web(token=TOKEN, hub_uri=NO_HUB, port=0, data_dir=_isolated_data_dir)
    try:
        yield server
    finally:
        await server.stop()


# -- nested JSON: 400 with a clear message, never a 500 with a traceback ----------------------------

DEEP_ARRAY = "[" * 30_000 + "]" * 30_000  # 60 kB: under the 64 KiB body limit
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
async def test_nested_json_on_login_is_a_400_unauthenticated(web_server: WebServer, body: str) -> None:
    async with (
        client() as session,
        session.post(
            web_server.url + "api/login", data=body, headers={"Content-Type": "application/json"}
        ) as resp,
    ):
        assert resp.status == 400
        reply = await resp.json()
    assert reply["error"] == "bad-request"
    assert "nested too deeply" in reply["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "api/memory/profile"),
        ("PUT", "api/memory/dynamic"),
        ("POST", "api/memory/facts"),
        ("POST", "api/feedback"),
    ],
)
async def test_nested_json_on_authenticated_routes_is_a_400(
    web_server: WebServer, method: str, path: str
) -> None:
    async with client() as session:
        await login(session, web_server)
        async with session.request(
            method, web_server.url + path, data=DEEP_ARRAY, headers={"Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 400
            reply = await resp.json()
        assert reply == {"error": "bad-request", "message": "body is nested too deeply to be parsed"}
        # The server is fine afterwards.
        async with session.get(web_server.url + "api/memory") as resp:
            assert resp.status == 200


# -- forget: only what is designated clearly; several candidates -> nothing goes, ask which --------

SEVEN_FACTS = [
    "I like jazz",
    "I live in Lyon",
    "my bike is blue",
    "I am allergic to peanuts",
    "my sister is called Inès",
    "I work in a hospital",
    "the wifi password is on the fridge",
]


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[MemoryStore]:
    store = await MemoryStore.open(tmp_path / "memory.sqlite3")
    yield store
    await store.close()


async def _seven(memory: MemoryStore, user: str = "alice") -> list[int]:
    return [await memory.add_fact(user, fact) for fact in SEVEN_FACTS]


async def forget_call(memory: MemoryStore, arguments: dict[str, object], user: str = "alice") -> str:
    ctx = TurnContext(text="forget", language="en", user_id=user, conversation_id="c")
    try:
        return (await ForgetTool(memory).call(arguments, ctx)).text
    except ToolError as err:
        return f"Error: {err}"


@pytest.mark.parametrize("words", ["i", "I", "my", "is", "the", "a", "that", "je", "  i  "])
async def test_forget_a_common_word_forgets_nothing(memory: MemoryStore, words: str) -> None:
    """The attack: ``forget {"fact": "i"}`` deleted 6 of 7 facts (substring matching)."""
    await _seven(memory)
    reply = await forget_call(memory, {"fact": words})
    assert reply.startswith("Error: no remembered fact matches")
    assert [f.fact for f in await memory.list_facts("alice")] == SEVEN_FACTS


async def test_forget_a_clear_match_forgets_exactly_one(memory: MemoryStore) -> None:
    await _seven(memory)
    assert await forget_call(memory, {"fact": "bike"}) == "Forgot: my bike is blue"
    assert (
        await forget_call(memory, {"fact": "I'm allergic to peanuts."}) == "Forgot: I am allergic to peanuts"
    )
    left = [f.fact for f in await memory.list_facts("alice")]
    assert left == [f for f in SEVEN_FACTS if "bike" not in f and "peanuts" not in f]


async def test_forget_with_several_candidates_forgets_nothing_and_asks(memory: MemoryStore) -> None:
    ids = await _seven(memory)
    await memory.add_fact("alice", "my bike has a flat tyre")
    reply = await forget_call(memory, {"fact": "my bike"})
    assert reply.startswith("Nothing was forgotten: 2 facts match")
    assert f"[id {ids[2]}] my bike is blue" in reply and "Ask the user which one" in reply
    assert len(await memory.list_facts("alice")) == 8
    # the user chose: the model calls again with the id, and only that fact goes
    assert await forget_call(memory, {"id": ids[2]}) == "Forgot: my bike is blue"
    assert [f.fact for f in await memory.list_facts("alice") if "bike" in f.fact] == [
        "my bike has a flat tyre"
    ]
    # another user's id is not this user's to forget
    bobs = await memory.add_fact("bob", "my bike is red")
    assert (await forget_call(memory, {"id": bobs})).startswith("Error: the current user has no")
    assert [f.fact for f in await memory.list_facts("bob")] == ["my bike is red"]


async def test_forgotten_facts_are_recoverable(memory: MemoryStore, tmp_path: Path) -> None:
    ids = await _seven(memory)
    assert (await memory.forget_fact("alice", "jazz")).removed[0].id == ids[0]
    assert [f.id for f in await memory.forgotten_facts("alice")] == [ids[0]]
    assert "I like jazz" not in [f.fact for f in await memory.list_facts("alice")]
    assert await memory.restore_fact("alice", ids[0])
    assert not await memory.restore_fact("bob", ids[0])  # not Bob's
    assert [f.fact for f in await memory.list_facts("alice")] == SEVEN_FACTS
    assert await memory.forgotten_facts("alice") == []
