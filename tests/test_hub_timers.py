"""The hub's timer book: countdown from timer-started, pause/resume/cancel, delivery when back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from wyoming.event import Event
from wyoming.timer import TimerCancelled, TimerStarted, TimerUpdated

from jarvis.server.hub.timers import TimerBook


class Inbox:
    """Satellites as seen by the book: which are connected, and what each received."""

    def __init__(self) -> None:
        self.connected: set[str] = set()
        self.received: asyncio.Queue[tuple[str, Event, float]] = asyncio.Queue()

    async def deliver(self, satellite_id: str, event: Event) -> bool:
        if satellite_id not in self.connected:
            return False
        await self.received.put((satellite_id, event, time.monotonic()))
        return True


async def test_started_timer_finishes_on_its_satellite() -> None:
    inbox = Inbox()
    inbox.connected = {"kitchen", "office"}
    book = TimerBook(inbox.deliver)
    start = time.monotonic()
    book.handle("kitchen", TimerStarted(id="t1", total_seconds=1).event())
    assert book.active("kitchen") == ["t1"] and book.active("office") == []
    async with asyncio.timeout(5):
        sat, event, at = await inbox.received.get()
    assert (sat, event.type, event.data["id"]) == ("kitchen", "timer-finished", "t1")
    assert at - start >= 0.95
    assert book.active() == []
    await book.close()


async def test_pause_resume_and_cancel() -> None:
    inbox = Inbox()
    inbox.connected = {"kitchen"}
    book = TimerBook(inbox.deliver)
    book.handle("kitchen", TimerStarted(id="t1", total_seconds=60).event())
    book.handle("kitchen", TimerUpdated(id="t1", is_active=False, total_seconds=42).event())
    assert book.remaining("t1") == 42  # paused: the remaining time stands still
    book.handle("kitchen", TimerUpdated(id="t1", is_active=True, total_seconds=1).event())
    remaining = book.remaining("t1")
    assert remaining is not None and 0.5 < remaining <= 1.0
    async with asyncio.timeout(5):
        _, event, _ = await inbox.received.get()
    assert event.data["id"] == "t1"

    book.handle("kitchen", TimerStarted(id="t2", total_seconds=1).event())
    book.handle("kitchen", TimerCancelled(id="t2").event())
    assert book.active() == [] and book.remaining("t2") is None
    book.handle("kitchen", TimerUpdated(id="nope", is_active=True, total_seconds=1).event())  # ignored
    await book.close()


async def test_finished_while_disconnected_waits_for_the_satellite() -> None:
    inbox = Inbox()
    book = TimerBook(inbox.deliver)
    book.handle("kitchen", TimerStarted(id="t1", total_seconds=0).event())
    async with asyncio.timeout(5):
        await book.pending_added.wait()
    pending = book.take_pending("kitchen")
    assert [e.data["id"] for e in pending] == ["t1"]
    assert book.take_pending("kitchen") == []
    await book.close()


async def test_close_cancels_running_countdowns() -> None:
    inbox = Inbox()
    inbox.connected = {"kitchen"}
    book = TimerBook(inbox.deliver)
    for i in range(3):
        book.handle("kitchen", TimerStarted(id=f"t{i}", total_seconds=3600).event())
    await book.close()
    assert book.active() == []
    assert inbox.received.empty()


async def test_a_timer_ending_during_another_turn_rings_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The hub owns the ringing: the brain's own ``timer-finished``, relayed on the connection of a
    turn that is running when the timer ends, is not passed on as a second ring (issue 13)."""
    from jarvis.server.brain.handler import BrainSettings, start_brain
    from jarvis.server.brain.llm.scripted import ScriptedLLM, ScriptedTurn
    from jarvis.server.brain.memory import MemoryStore
    from jarvis.server.config import HubSettings, Settings
    from jarvis.server.hub.client import HubClient
    from jarvis.server.hub.hub import Hub

    gate = asyncio.Event()
    llm = ScriptedLLM([ScriptedTurn(chunks=["A slow answer."], gate=gate, gate_before=0)])
    memory = await MemoryStore.open(tmp_path / "memory.sqlite3")
    brain = await start_brain(
        "tcp://127.0.0.1:0", llm, memory=memory, settings=BrainSettings(onboarding=False), probe=False
    )
    dead = "tcp://127.0.0.1:1"
    try:
        async with Hub(Settings(hub=HubSettings(port=0)), "token-0123456789abcdef", stt=[dead], tts=[dead],
                       brain=[brain.uri]) as hub:  # fmt: skip
            async with await HubClient.connect(hub.uri, "token-0123456789abcdef", "kitchen") as sat:
                started = await sat.text_turn("set a timer for 2 seconds", end_stage="handle")
                assert started.first("timer-started") is not None, started.types()
                slow = asyncio.create_task(sat.text_turn("tell me something slowly", end_stage="handle"))
                await asyncio.sleep(3.0)  # the timer ends while the brain is still on this turn
                gate.set()
                during = await asyncio.wait_for(slow, 20)
                after: list[str] = []
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):
                        while (event := await sat.conn.read_event()) is not None:
                            after.append(event.type)
        rings = during.types().count("timer-finished") + after.count("timer-finished")
        assert rings == 1, (during.types(), after)
        assert during.sentences == ["A slow answer."]
    finally:
        await brain.stop()
        await memory.close()


async def test_timers_survive_a_restart_of_the_book(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Running ones count on from the same wall-clock end, paused ones stay paused, one that ended
    while the hub was down waits for its satellite; the file is 0600."""
    import json
    import stat

    from jarvis.server.timer_file import TimerFile

    path = tmp_path / "data" / "timers-hub.json"
    inbox = Inbox()
    book = TimerBook(inbox.deliver, TimerFile(path))
    book.handle("kitchen", TimerStarted(id="run", total_seconds=60, name="pasta").event())
    book.handle("office", TimerStarted(id="paused", total_seconds=120).event())
    book.handle("office", TimerUpdated(id="paused", is_active=False, total_seconds=100).event())
    await book.close()  # stops the countdown in memory; the file keeps the timers
    saved = json.loads(path.read_text())["timers"]
    assert {t["id"] for t in saved} == {"run", "paused"} and stat.S_IMODE(path.stat().st_mode) == 0o600

    later = TimerBook(inbox.deliver, TimerFile(path))
    later.restore()
    assert sorted(later.active()) == ["paused", "run"]
    assert 58 < (later.remaining("run") or 0) <= 60 and later.remaining("paused") == 100
    await later.close()

    saved = json.loads(path.read_text())
    saved["timers"][0]["ends_at"] = time.time() - 5  # it ended while the hub was down
    saved["timers"] = [t for t in saved["timers"] if "ends_at" in t]
    path.write_text(json.dumps(saved))
    again = TimerBook(inbox.deliver, TimerFile(path))
    again.restore()
    assert again.active() == [] and [e.data["id"] for e in again.take_pending("kitchen")] == ["run"]
    await again.close()


async def test_an_unreadable_timers_file_starts_empty_and_an_unwritable_one_keeps_timers_running(
    tmp_path,
    caplog,  # type: ignore[no-untyped-def]
) -> None:
    from jarvis.server.timer_file import TimerFile

    broken = tmp_path / "timers-hub.json"
    broken.write_text("{not json")
    inbox = Inbox()
    inbox.connected = {"kitchen"}
    book = TimerBook(inbox.deliver, TimerFile(broken))
    book.restore()
    assert book.active() == [] and "cannot be read" in caplog.text
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    stuck = TimerBook(inbox.deliver, TimerFile(blocked / "timers-hub.json"))  # its folder is a file
    stuck.handle("kitchen", TimerStarted(id="t1", total_seconds=1).event())
    async with asyncio.timeout(5):
        sat, event, _ = await inbox.received.get()
    assert (sat, event.type) == ("kitchen", "timer-finished")
    await stuck.close()
    assert caplog.text.count("Cannot save timers") == 1  # said once, not once per change
    await book.close()


async def test_a_timer_set_before_a_restart_rings_after_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``jarvis serve`` stopped and started again (same data dir): the hub rings the timer on time,
    and the brain still knows it ("how long is left")."""
    from jarvis.server.brain.handler import BrainSettings, start_brain
    from jarvis.server.brain.llm.none import NoLLM
    from jarvis.server.brain.memory import MemoryStore
    from jarvis.server.config import HubSettings, Settings
    from jarvis.server.hub.client import HubClient
    from jarvis.server.hub.hub import Hub

    token, dead = "token-0123456789abcdef", "tcp://127.0.0.1:1"
    data = tmp_path / "data"
    settings = Settings(data_dir=str(data), hub=HubSettings(port=0))

    async def start() -> tuple[Any, Any, Hub]:
        memory = await MemoryStore.open(data / "memory.sqlite3")
        brain = await start_brain(
            "tcp://127.0.0.1:0",
            NoLLM(),
            memory=memory,
            settings=BrainSettings(onboarding=False),
            probe=False,
            peer_secret="s" * 32,
        )
        hub = Hub(settings, token, stt=[dead], tts=[dead], brain=[brain.uri], peer_secret="s" * 32)
        await hub.start()
        return memory, brain, hub

    memory, brain, hub = await start()
    async with await HubClient.connect(hub.uri, token, "kitchen") as sat:
        set_at = time.monotonic()
        started = await sat.text_turn("set a timer for 4 seconds", end_stage="handle")
        assert started.first("timer-started") is not None, started.types()
    for stop in (hub.stop, brain.stop, memory.close):
        await stop()
    memory, brain, hub = await start()  # the restart, a second or so later
    try:
        async with await HubClient.connect(hub.uri, token, "kitchen") as sat:
            left = await sat.text_turn("how much time is left", end_stage="handle")
            assert "second" in " ".join(left.sentences), left.sentences
            async with asyncio.timeout(10):
                while (event := await sat.conn.read_event()) is not None and event.type != "timer-finished":
                    pass
            assert event is not None and event.type == "timer-finished"
            assert time.monotonic() - set_at >= 3.9
    finally:
        for stop in (hub.stop, brain.stop, memory.close):
            await stop()
