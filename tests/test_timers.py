"""Timers: real asyncio tasks with short durations, Wyoming timer events, bounded waits."""

from __future__ import annotations

import asyncio
import time

import pytest
from wyoming.event import Event
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated

from jarvis.server.brain.timers import MAX_TIMER_SECONDS, TimerError, TimerManager


class Recorder:
    """Collects on_event calls; lets a test wait (bounded) for the next one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str | None, Event]] = asyncio.Queue()

    def __call__(self, satellite_id: str | None, event: Event) -> None:
        self.queue.put_nowait((satellite_id, event))

    async def next(self, timeout: float = 5.0) -> tuple[str | None, Event]:
        async with asyncio.timeout(timeout):
            return await self.queue.get()


async def test_set_returns_timer_started_event() -> None:
    manager = TimerManager()
    try:
        timer, event = manager.set(5400, name="pasta", satellite_id="kitchen")
        started = TimerStarted.from_event(event)
        assert started.id == timer.id
        assert started.total_seconds == 5400
        assert started.name == "pasta"
        assert (started.start_hours, started.start_minutes, started.start_seconds) == (1, 30, 0)
        assert timer.satellite_id == "kitchen"
        assert 5399 < manager.remaining(timer) <= 5400
    finally:
        await manager.close()


async def test_timer_finishes_on_its_satellite() -> None:
    recorder = Recorder()
    manager = TimerManager(on_event=recorder)
    try:
        start = time.monotonic()
        timer, _ = manager.set(0.05, name="eggs", satellite_id="kitchen")
        satellite_id, event = await recorder.next()
        assert time.monotonic() - start >= 0.05
        assert satellite_id == "kitchen"
        assert TimerFinished.is_type(event.type)
        assert TimerFinished.from_event(event).id == timer.id
        assert manager.list() == []
        assert manager.remaining(timer) == 0
    finally:
        await manager.close()


async def test_timers_finish_in_deadline_order() -> None:
    recorder = Recorder()
    manager = TimerManager(on_event=recorder)
    try:
        slow, _ = manager.set(0.15, satellite_id="a")
        fast, _ = manager.set(0.05, satellite_id="b")
        first = await recorder.next()
        second = await recorder.next()
        assert [TimerFinished.from_event(e).id for _, e in (first, second)] == [fast.id, slow.id]
        assert [sat for sat, _ in (first, second)] == ["b", "a"]
    finally:
        await manager.close()


async def test_cancel_by_id_name_and_satellite() -> None:
    recorder = Recorder()
    manager = TimerManager(on_event=recorder)
    try:
        pasta, _ = manager.set(60, name="Pasta", satellite_id="kitchen")
        eggs, _ = manager.set(120, name="eggs", satellite_id="kitchen")
        other, _ = manager.set(180, satellite_id="office")

        events = manager.cancel(name="pasta")  # case-insensitive
        assert [TimerCancelled.from_event(e).id for e in events] == [pasta.id]

        assert manager.cancel(name="pizza") == []
        assert manager.cancel(timer_id="no-such-id") == []

        events = manager.cancel(satellite_id="kitchen")
        assert [TimerCancelled.from_event(e).id for e in events] == [eggs.id]
        assert [t.id for t in manager.list()] == [other.id]

        events = manager.cancel(timer_id=other.id)
        assert [TimerCancelled.from_event(e).id for e in events] == [other.id]
        assert manager.list() == []
        assert recorder.queue.empty()  # cancelled timers never finish
    finally:
        await manager.close()


async def test_cancelled_timer_does_not_fire() -> None:
    recorder = Recorder()
    manager = TimerManager(on_event=recorder)
    try:
        doomed, _ = manager.set(0.05, satellite_id="x")
        survivor, _ = manager.set(0.1, satellite_id="x")
        manager.cancel(timer_id=doomed.id)
        _, event = await recorder.next()
        assert TimerFinished.from_event(event).id == survivor.id
        assert recorder.queue.empty()
    finally:
        await manager.close()


async def test_list_per_satellite_soonest_first() -> None:
    manager = TimerManager()
    try:
        late, _ = manager.set(300, satellite_id="kitchen")
        soon, _ = manager.set(60, satellite_id="kitchen")
        office, _ = manager.set(10, satellite_id="office")
        assert [t.id for t in manager.list("kitchen")] == [soon.id, late.id]
        assert [t.id for t in manager.list()] == [office.id, soon.id, late.id]
        assert manager.list("garage") == []
        assert [t.id for t in manager.find("  ", None)] == []
    finally:
        await manager.close()


async def test_remaining_decreases() -> None:
    manager = TimerManager()
    try:
        timer, _ = manager.set(10)
        first = manager.remaining(timer)
        await asyncio.sleep(0.02)  # the clock must move for the value to change
        assert manager.remaining(timer) < first <= 10
    finally:
        await manager.close()


async def test_pause_resume_adjust_emit_timer_updated() -> None:
    recorder = Recorder()
    manager = TimerManager(on_event=recorder)
    try:
        timer, _ = manager.set(60, satellite_id="kitchen")
        paused = TimerUpdated.from_event(manager.pause(timer))
        assert paused.is_active is False
        assert 59 <= paused.total_seconds <= 60
        left = manager.remaining(timer)
        assert manager.remaining(timer) == left  # frozen while paused

        added = TimerUpdated.from_event(manager.adjust(timer, 30))
        assert added.is_active is False
        assert 89 <= added.total_seconds <= 90

        resumed = TimerUpdated.from_event(manager.resume(timer))
        assert resumed.is_active is True

        shortened = TimerUpdated.from_event(manager.adjust(timer, -(manager.remaining(timer) - 0.05)))
        assert shortened.total_seconds == 1  # ceil of 0.05 s
        satellite_id, event = await recorder.next()
        assert (satellite_id, TimerFinished.from_event(event).id) == ("kitchen", timer.id)

        with pytest.raises(TimerError):
            manager.pause(timer)  # finished
    finally:
        await manager.close()


async def test_adjust_cannot_go_below_zero() -> None:
    manager = TimerManager()
    try:
        timer, _ = manager.set(10)
        with pytest.raises(TimerError):
            manager.adjust(timer, -20)
        assert manager.list() == [timer]
    finally:
        await manager.close()


@pytest.mark.parametrize("seconds", [0, -5, float("nan"), float("inf"), MAX_TIMER_SECONDS + 1, "60", True])
async def test_bad_durations_are_refused(seconds: object) -> None:
    manager = TimerManager()
    try:
        with pytest.raises(TimerError):
            manager.set(seconds)  # type: ignore[arg-type]
        assert manager.list() == []
    finally:
        await manager.close()


async def test_close_cancels_and_awaits_every_task() -> None:
    recorder = Recorder()
    manager = TimerManager(on_event=recorder)
    timers = [manager.set(0.05 * (i + 1))[0] for i in range(3)]
    tasks = [t.task for t in timers]
    await manager.close()
    assert all(task is not None and task.cancelled() for task in tasks)  # so none can fire any more
    assert manager.list() == []
    assert recorder.queue.empty()


async def test_failing_callback_does_not_break_the_manager() -> None:
    calls: list[str] = []

    def explode(satellite_id: str | None, event: Event) -> None:
        calls.append(event.type)
        raise RuntimeError("boom")

    manager = TimerManager(on_event=explode)
    try:
        timer, _ = manager.set(0.02)
        async with asyncio.timeout(5):
            assert timer.task is not None
            await asyncio.wait({timer.task})
        assert calls == ["timer-finished"]
        second, _ = manager.set(0.02)  # still usable
        assert manager.list() == [second]
    finally:
        await manager.close()
