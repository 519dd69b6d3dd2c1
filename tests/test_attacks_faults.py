"""Issue 15 §3, "bad input and faults": each attack, automated, with a clear error and nothing lost.

Real components only: the brain's SQLite store in a per-test data dir, the web app through
``start_web`` (TLS, port 0) as in ``test_web_api.py``, the brain's own fast paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
import shutil
import stat
import tempfile
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from wyoming.asr import Transcript

from jarvis.protocol.logs import ENV_VAR, private, transcript_level
from jarvis.protocol.paths import check_writable, data_dir
from jarvis.protocol.service import Connection
from jarvis.server.brain.context import TurnContext
from jarvis.server.brain.handler import (
    Brain,
    BrainSettings,
    TurnEnd,
    _default_fast_paths,
    default_tools,
    start_brain,
)
from jarvis.server.brain.llm.base import ToolCall
from jarvis.server.brain.llm.scripted import ScriptedLLM, ScriptedTurn
from jarvis.server.brain.memory import MemoryStore, MemoryWriteError
from jarvis.server.brain.timers import TimerManager
from jarvis.server.brain.tools.base import ToolError
from jarvis.server.brain.tools.memory_tools import ForgetTool
from jarvis.server.brain.tools.registry import ToolRegistry
from jarvis.server.web.__main__ import WebServer, start_web
from jarvis.server.web.store import WebStore

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


# -- a read-only data dir: a warning at start-up, 503 on the web, an honest apology by voice ---------
#
# Tests run as root, and root writes through a 0500 directory and a 0400 file, so a chmod proves
# nothing there. The scenario therefore runs in a forked child that drops to an unprivileged user
# (nobody, after chown'ing a fresh directory to it; as ourselves when not root), where the kernel
# really refuses the writes: SQLite sees exactly what it sees on a read-only data dir in production.
# (A fork, not a subprocess: nobody may not exec this interpreter, which can live under /root. The
# child first runs the same scenario once as root in a scratch dir, so every module it imports
# lazily is loaded before it loses the right to read them.)
# Phase 1 uses the dir normally (profile, fact, TLS certificate); then it is made read-only (0500,
# files 0400) and phase 2 starts the real brain (Wyoming TCP) and web app (HTTPS) on it.


async def _say(uri: str, text: str, language: str = "en") -> dict[str, Any]:
    async with await Connection.open(uri) as conn:
        await conn.write_event(Transcript(text=text, language=language).event())
        chunks: list[str] = []
        handled, errors = None, []
        async with asyncio.timeout(20):
            while True:
                event = await conn.read_event()
                if event is None or event.type == "handled-stop":
                    break
                if event.type == "handled-chunk":
                    chunks.append(event.data["text"])
                elif event.type == "handled":
                    handled = event.data.get("text")
                elif event.type in ("error", "not-handled"):
                    errors.append(f"{event.type}: {event.data}")
                    break
    return {"text": handled if handled is not None else " ".join(chunks), "errors": errors}


def _make_read_only(data: Path) -> None:
    for path in sorted(data.rglob("*"), reverse=True):
        path.chmod(0o500 if path.is_dir() else 0o400)
    data.chmod(0o500)


async def _read_only_scenario(data: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"uid": os.geteuid()}
    os.environ["JARVIS_DATA_DIR"] = str(data)  # what everything else (the prefilter...) opens
    store = await MemoryStore.open(data / "memory.sqlite3")
    await store.update_profile("alice", name="Alice")
    await store.add_fact("alice", "my bike is blue")
    brain = await start_brain("tcp://127.0.0.1:0", ScriptedLLM([]), memory=store, probe=False)
    await brain.stop()  # a first run leaves what the brain keeps in the data dir (its secrets...)
    await store.close()
    web = await start_web(token=TOKEN, hub_uri=NO_HUB, port=0, data_dir=data)
    await web.stop()  # ... and the web app's TLS certificate
    _make_read_only(data)
    out["check_writable"] = check_writable(data)
    _LOG_MARK.warning("--- read-only from here ---")

    memory = await MemoryStore.open(data / "memory.sqlite3")
    out["read_only"] = str(memory.read_only)
    brain = await start_brain(
        "tcp://127.0.0.1:0",
        ScriptedLLM(["It is sunny today."]),
        memory=memory,
        settings=BrainSettings(default_user="alice"),
        probe=False,
    )
    web = await start_web(token=TOKEN, hub_uri=NO_HUB, port=0, data_dir=data, memory=memory)
    try:
        out["voice"] = {
            "remember": await _say(brain.uri, "remember that my car is red"),
            "remember_fr": await _say(brain.uri, "souviens-toi que j'aime le thé", "fr"),
            "forget": await _say(brain.uri, "forget that my bike is blue"),
            "name": await _say(brain.uri, "what's my name"),
            "llm": await _say(brain.uri, "how is the weather"),
        }
        async with client() as http:

            async def call(method: str, path: str, body: Any = None) -> dict[str, Any]:
                async with http.request(method, web.url + path, json=body) as resp:
                    return {"status": resp.status, "body": await resp.json()}

            found = {"login": await call("POST", "api/login", {"token": TOKEN, "user": "alice"})}
            found["memory"] = await call("GET", "api/memory")
            facts = found["memory"]["body"].get("facts") or [{"id": 1}]
            found["profile"] = await call("PUT", "api/memory/profile", {"age": "34"})
            found["dynamic"] = await call("PUT", "api/memory/dynamic", {"summary": "Likes bikes."})
            found["fact"] = await call("POST", "api/memory/facts", {"text": "my car is red"})
            found["delete"] = await call("DELETE", f"api/memory/facts/{facts[0]['id']}")
            found["feedback"] = await call(
                "POST", "api/feedback", {"turn_id": "t1", "rating": 1, "question": "q", "answer": "a"}
            )
            found["feedback_list"] = await call("GET", "api/feedback")
            found["memory_after"] = await call("GET", "api/memory")
        out["web"] = found
    finally:
        await web.stop()
        await brain.stop()
    return out


_LOG_MARK = logging.getLogger("test.read_only")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


def _run_dropped(top: Path, data: Path, drop: tuple[int, int] | None) -> tuple[dict[str, Any], str]:
    """Run the scenario in a forked child (unprivileged when ``drop``); its result and its log."""
    result, failure = top / "result.json", top / "failure.txt"
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            if drop is not None:
                scratch = Path(tempfile.mkdtemp(prefix="jarvis-warmup-"))
                asyncio.run(_read_only_scenario(scratch))  # as root: loads every lazy import
                shutil.rmtree(scratch, ignore_errors=True)
                os.setgroups([])
                os.setgid(drop[1])
                os.setuid(drop[0])
            collect = _Collect()
            logging.getLogger().addHandler(collect)
            out = asyncio.run(_read_only_scenario(data))
            result.write_text(json.dumps({"out": out, "log": "\n".join(collect.lines)}))
            code = 0
        except BaseException:
            with contextlib.suppress(BaseException):
                failure.write_text(traceback.format_exc())
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        pytest.fail(f"the scenario failed:\n{failure.read_text() if failure.exists() else status}")
    found = json.loads(result.read_text())
    return found["out"], found["log"]


def test_read_only_data_dir_as_an_unprivileged_user() -> None:
    drop = None
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        drop = (nobody.pw_uid, nobody.pw_gid)
    # Not under pytest's tmp_path: its parents are 0700 root, which nobody cannot even traverse.
    top = Path(tempfile.mkdtemp(prefix="jarvis-ro-"))
    try:
        top.chmod(0o755)
        data = top / "data"
        data.mkdir(mode=0o700)
        if drop is not None:
            os.chown(top, *drop)
            os.chown(data, *drop)
        out, log = _run_dropped(top, data, drop)
    finally:
        for path in [top, *top.rglob("*")]:
            with contextlib.suppress(OSError):
                path.chmod(0o700)
        shutil.rmtree(top, ignore_errors=True)
    log = log.split("--- read-only from here ---", 1)[1]
    if drop is not None:
        assert out["uid"] == drop[0]

    # start-up: said once, clearly
    assert "is not writable" in out["check_writable"]
    assert log.count("Data dir problem:") == 1 and "read-only folder" in log, log
    assert "cannot save to memory: the data folder is read-only" in out["read_only"]

    # voice: an honest apology that names the cause; never brain-error; answers still delivered
    voice = out["voice"]
    assert all(not turn["errors"] for turn in voice.values()), voice
    apology = "I can't save to my memory right now: the data folder is read-only."
    assert voice["remember"]["text"] == apology
    assert voice["forget"]["text"] == apology
    assert voice["remember_fr"]["text"] == (
        "Je ne peux pas enregistrer dans ma mémoire pour le moment : "
        "le dossier de données est en lecture seule."
    )
    assert voice["name"]["text"] == "Your name is Alice."  # what was stored before is still read
    assert voice["llm"]["text"] == "It is sunny today."
    assert "not reachable" not in json.dumps(voice)
    assert log.count("Could not save the conversation history") == 1, log  # once per cause

    # web: reads work, writes are a 503 with a clear JSON message
    web = out["web"]
    assert web["login"]["status"] == 200 and web["memory"]["status"] == 200
    assert [f["fact"] for f in web["memory"]["body"]["facts"]] == ["my bike is blue"]
    for name in ("profile", "dynamic", "fact", "delete", "feedback"):
        assert web[name]["status"] == 503, (name, web[name])
        assert web[name]["body"]["error"] == "storage-unavailable"
        assert web[name]["body"]["cause"] == "read-only"
        assert "Nothing was saved: the data folder is read-only" in web[name]["body"]["message"]
    assert web["feedback_list"]["status"] == 200
    assert web["memory_after"]["body"] == web["memory"]["body"]  # nothing half-written


async def test_a_full_disk_loses_no_answer_and_says_why(
    memory: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite's own "database or disk is full", produced with ``max_page_count`` at the current size
    (the store's connection is reached directly for that: nothing else can fill a disk in a test)."""
    await memory.add_fact("alice", "my bike is blue")
    (pages,) = memory._db.execute("PRAGMA page_count").fetchone()
    memory._db.execute(f"PRAGMA max_page_count = {pages + 1}")
    filler = "my car is red and " * 10  # 180 characters: a fact the intents accept
    with pytest.raises(MemoryWriteError) as caught:
        for _ in range(1000):
            await memory.add_fact("alice", filler)
    assert caught.value.cause == "disk-full"
    kept = len(await memory.list_facts("alice"))
    paths = _default_fast_paths(TimerManager(), memory)
    reply = await paths[1].handle(TurnContext(text="remember that " + filler, language="en", user_id="alice"))
    assert reply is not None and reply.speech == "I can't save to my memory right now: the disk is full."
    reply = await paths[1].handle(TurnContext(text="retiens que " + filler, language="fr", user_id="alice"))
    assert reply is not None and reply.speech.endswith("pour le moment : le disque est plein.")
    with caplog.at_level(logging.WARNING, logger="jarvis.server.brain.memory"):
        for _ in range(3):
            assert await memory.add_turn("alice", "c", "hi " * 2000, "hello " * 2000) == 0
    warned = [r.getMessage() for r in caplog.records if "conversation history" in r.getMessage()]
    assert len(warned) == 1 and "the disk is full" in warned[0]
    assert len(await memory.list_facts("alice")) == kept  # nothing lost, nothing half-written


async def test_llm_remember_on_a_full_disk_tells_the_model_why(memory: MemoryStore) -> None:
    """With an LLM, the remember tool fails with the cause and the sentence to say; the turn ends
    normally (its history write is skipped) and nothing is lost."""
    await memory.add_fact("ann", "my bike is blue")
    (pages,) = memory._db.execute("PRAGMA page_count").fetchone()
    memory._db.execute(f"PRAGMA max_page_count = {pages}")
    llm = ScriptedLLM(
        [ScriptedTurn(tool_calls=[ToolCall("remember", {"fact": "x" * 5000}, "r")]), "Sorry about that."]
    )
    brain = Brain(llm, memory, ToolRegistry(default_tools(memory)), [], None, BrainSettings(onboarding=False))
    ends = [
        i async for i in brain.turn(TurnContext(text="remember this", user_id="ann", conversation_id="c"))
    ]
    assert isinstance(ends[-1], TurnEnd) and ends[-1].handled and ends[-1].text == "Sorry about that."
    told = llm.calls[1].messages[-1]["content"]
    assert "the disk is full" in told and "I can't save to my memory right now: the disk is full." in told
    assert [f.fact for f in await memory.list_facts("ann")] == ["my bike is blue"]


# -- privacy of the files: 0700 data dir, 0600 SQLite files (and their -wal/-shm), whatever the umask


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _modes(folder: Path, pattern: str = "*") -> dict[str, int]:
    return {p.name: _mode(p) for p in folder.glob(pattern)}


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0: without explicit modes every new file would be 0666 (world-readable)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


async def test_memory_and_web_files_are_private_whatever_the_umask(
    open_umask: None, _isolated_data_dir: Path
) -> None:
    data = data_dir()
    assert data == _isolated_data_dir and _mode(data) == 0o700
    memory = await MemoryStore.open(data / "memory.sqlite3")
    web = WebStore(data, memory)
    try:
        await memory.add_fact("alice", "my bike is blue")
        await memory.add_turn("alice", "c", "q", "a")
        await web.record_feedback("alice", "hub-1", 1, question="not", answer="matched")  # web.sqlite3
        modes = _modes(data)
        assert {"memory.sqlite3", "memory.sqlite3-wal", "memory.sqlite3-shm", "web.sqlite3"} <= set(modes)
        assert {name: oct(mode) for name, mode in modes.items() if mode != 0o600} == {}
    finally:
        await web.close()
        await memory.close()


async def test_an_existing_world_readable_store_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    old = await MemoryStore.open(path)
    await old.add_fact("alice", "secret")
    await old.close()
    path.chmod(0o644)
    store = await MemoryStore.open(path)
    try:
        assert _mode(path) == 0o600
        assert set(_modes(tmp_path, "memory.sqlite3*").values()) == {0o600}
    finally:
        await store.close()


# -- private words stay out of INFO logs (transcripts, answers) unless JARVIS_LOG_TRANSCRIPTS=1 ----

SENTENCE = "Turn off the lights in the living room and set a timer for ten minutes."


@pytest.fixture(scope="module")
def stt_model() -> Any:
    from jarvis.server.stt.engine import ModelLoader, SttSettings

    return ModelLoader.load_sync(SttSettings())


async def _transcribe_logged(stt_model: Any, caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    """A real utterance through the real STT service; the log lines of ``jarvis`` at ``level``."""
    from speech import silence, speak

    from jarvis.server.stt.__main__ import start_stt
    from jarvis.server.stt.client import transcribe
    from jarvis.server.stt.engine import ModelLoader, SttEngine, SttSettings

    settings = SttSettings()
    engine = SttEngine(settings, loader=ModelLoader.preloaded(settings, stt_model))
    server = await start_stt("tcp://127.0.0.1:0", engine=engine)
    try:
        with caplog.at_level(level, logger="jarvis"):
            result = await transcribe(server.uri, speak(SENTENCE) + silence(0.6), timeout=30)
    finally:
        await server.stop()
        await engine.close()
    assert "living room" in result.text.lower()
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]


async def test_transcripts_are_not_in_info_logs(
    stt_model: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    lines = await _transcribe_logged(stt_model, caplog, logging.INFO)
    final = [line for line in lines if "transcript after" in line]
    assert len(final) == 1 and final[0].endswith(" chars>"), final  # the metrics stay at INFO
    assert not [line for line in lines if "living room" in line.lower()], lines


async def test_transcripts_in_logs_when_opted_in_or_at_debug(
    stt_model: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, "1")
    lines = await _transcribe_logged(stt_model, caplog, logging.INFO)
    assert any("transcript after" in line and "living room" in line.lower() for line in lines), lines
    monkeypatch.delenv(ENV_VAR)
    caplog.clear()
    lines = await _transcribe_logged(stt_model, caplog, logging.DEBUG)
    assert any("transcript after" in line and "living room" in line.lower() for line in lines), lines


def test_transcript_level_and_private(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = logging.getLogger("jarvis.test.private")
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert transcript_level() == logging.DEBUG
    with caplog.at_level(logging.INFO, logger="jarvis.test.private"):
        logger.info("Turn t1 ok text=%r", private("my PIN is 4711", logger))
        logger.log(transcript_level(), "heard %r", "my PIN is 4711")
    assert [r.getMessage() for r in caplog.records] == ["Turn t1 ok text=<14 chars>"]
    monkeypatch.setenv(ENV_VAR, "yes")
    assert transcript_level() == logging.INFO
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jarvis.test.private"):
        logger.info("Turn t1 ok text=%r", private("my PIN is 4711", logger))
    assert [r.getMessage() for r in caplog.records] == ["Turn t1 ok text='my PIN is 4711'"]
