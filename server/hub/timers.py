"""Timers the brain set, counted down by the hub, rung on the satellite that set them.

The brain sends ``timer-started`` / ``timer-updated`` / ``timer-cancelled`` during a turn; the hub
relays them to the satellite and keeps its own countdown here. When a timer ends, ``timer-finished``
goes to that satellite's current session; if it is not connected, the event waits and is delivered
when it reconnects (and is logged). With a store (``<data dir>/timers-hub.json``, server/timer_file.py)
the timers survive a restart of the hub.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from wyoming.event import Event
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated

from ..timer_file import TimerFile, left_of, record

_LOGGER = logging.getLogger(__name__)

#: Sends an event to a satellite's session; returns False if it is not connected.
Deliver = Callable[[str, Event], Awaitable[bool]]


@dataclass
class _Timer:
    id: str
    satellite_id: str
    name: str | None
    ends_at: float | None
    """Monotonic end time; None while paused."""
    remaining_s: float
    task: asyncio.Task[None] | None = None


class TimerBook:
    def __init__(self, deliver: Deliver, store: TimerFile | None = None) -> None:
        """``store``: where the timers are kept across restarts (None: in memory only)."""
        self._deliver = deliver
        self._store = store
        self._timers: dict[str, _Timer] = {}
        self._pending: dict[str, list[Event]] = {}
        """satellite_id -> finished events waiting for it to reconnect."""
        self.pending_added = asyncio.Event()
        """Set whenever a finished timer could not be delivered (for tests and monitoring)."""

    def active(self, satellite_id: str | None = None) -> list[str]:
        return [t.id for t in self._timers.values() if satellite_id in (None, t.satellite_id)]

    def remaining(self, timer_id: str) -> float | None:
        timer = self._timers.get(timer_id)
        if timer is None:
            return None
        if timer.ends_at is None:
            return timer.remaining_s
        return max(0.0, timer.ends_at - time.monotonic())

    def restore(self) -> None:
        """Take up the timers of the last run: running ones count on, paused ones stay paused, and
        one that ended while the hub was down rings when its satellite connects."""
        if self._store is None:
            return
        for entry in self._store.load():
            left = left_of(entry)
            satellite_id = entry.get("satellite_id")
            if left is None or not isinstance(satellite_id, str) or entry["id"] in self._timers:
                continue
            seconds, running = left
            name = entry.get("name") if isinstance(entry.get("name"), str) else None
            if running and seconds <= 0:
                _LOGGER.info(
                    "Timer %s on %s ended while the hub was down: ringing", entry["id"], satellite_id
                )
                self._pending.setdefault(satellite_id, []).append(TimerFinished(id=entry["id"]).event())
                continue
            timer = _Timer(
                entry["id"], satellite_id, name, time.monotonic() + seconds if running else None, seconds
            )
            self._timers[timer.id] = timer
            if running:
                self._schedule(timer)
        if self._timers or self._pending:
            _LOGGER.info(
                "Restored %d timer(s) from %s",
                len(self._timers) + sum(len(rings) for rings in self._pending.values()),
                self._store.path,
            )
        self._save()

    def _save(self) -> None:
        if self._store is None:
            return
        self._store.save(
            [
                record(
                    t.id,
                    t.satellite_id,
                    t.name,
                    t.remaining_s,
                    self.remaining(t.id) or 0.0,
                    t.ends_at is not None,
                )
                for t in self._timers.values()
            ]
        )

    def handle(self, satellite_id: str, event: Event) -> None:
        """Track a ``timer-*`` event from the brain (other events are ignored); saved at once."""
        if any(kind.is_type(event.type) for kind in (TimerStarted, TimerCancelled, TimerUpdated)):
            self._handle(satellite_id, event)
            self._save()

    def _handle(self, satellite_id: str, event: Event) -> None:
        if TimerStarted.is_type(event.type):
            started = TimerStarted.from_event(event)
            self._cancel(started.id)
            timer = _Timer(
                started.id,
                satellite_id,
                started.name,
                time.monotonic() + started.total_seconds,
                float(started.total_seconds),
            )
            self._timers[timer.id] = timer
            self._schedule(timer)
            _LOGGER.info("Timer %s (%s s) on %s", timer.id, started.total_seconds, satellite_id)
        elif TimerCancelled.is_type(event.type):
            self._cancel(TimerCancelled.from_event(event).id)
        elif TimerUpdated.is_type(event.type):
            updated = TimerUpdated.from_event(event)
            known = self._timers.get(updated.id)
            if known is None:
                _LOGGER.warning("Update for unknown timer %s", updated.id)
                return
            if known.task is not None:
                known.task.cancel()
                known.task = None
            known.remaining_s = float(updated.total_seconds)
            if updated.is_active:
                known.ends_at = time.monotonic() + known.remaining_s
                self._schedule(known)
            else:
                known.ends_at = None

    def _schedule(self, timer: _Timer) -> None:
        timer.task = asyncio.create_task(self._ring(timer), name=f"timer-{timer.id}")

    def _cancel(self, timer_id: str) -> None:
        timer = self._timers.pop(timer_id, None)
        if timer is not None and timer.task is not None:
            timer.task.cancel()

    async def _ring(self, timer: _Timer) -> None:
        assert timer.ends_at is not None
        await asyncio.sleep(max(0.0, timer.ends_at - time.monotonic()))
        self._timers.pop(timer.id, None)
        self._save()
        event = TimerFinished(id=timer.id).event()
        if not await self._deliver(timer.satellite_id, event):
            _LOGGER.warning(
                "Timer %s finished but satellite %s is not connected; ringing when it reconnects",
                timer.id,
                timer.satellite_id,
            )
            self._pending.setdefault(timer.satellite_id, []).append(event)
            self.pending_added.set()

    def take_pending(self, satellite_id: str) -> list[Event]:
        """Finished-timer events waiting for this satellite (removed from the book)."""
        return self._pending.pop(satellite_id, [])

    async def close(self) -> None:
        tasks = [t.task for t in self._timers.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._timers.clear()  # in memory only: the file keeps them for the next start
        if self._store is not None:
            await asyncio.to_thread(self._store.close)  # waits for the last write: not on the loop
