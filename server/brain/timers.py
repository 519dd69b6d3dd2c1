"""Voice timers: set, cancel, list, time left; ``timer-finished`` when one ends.

Timers live in the brain process (one asyncio task each, deadlines on ``time.monotonic()``) and are
announced with the Wyoming ``timer-*`` events (``wyoming.timer``):

- :meth:`TimerManager.set` returns ``timer-started`` and :meth:`TimerManager.cancel` returns
  ``timer-cancelled`` events: the caller sends them with its reply (``Reply.events``), and the hub
  relays them to the satellite that set the timer.
- ``timer-finished`` happens later, on its own: it goes to ``on_event(satellite_id, event)``.
- :meth:`TimerManager.adjust`, :meth:`pause` and :meth:`resume` return ``timer-updated``.

With a store (``<data dir>/timers-brain.json``, server/timer_file.py) they survive a restart; the hub
keeps its own copy and is the one that rings them (server/hub/timers.py).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from wyoming.event import Event
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated

from ..timer_file import TimerFile, left_of, record

_LOGGER = logging.getLogger(__name__)

MAX_TIMER_SECONDS = 100 * 3600
"""Longest timer accepted (100 hours)."""

TimerEventCallback = Callable[[str | None, Event], None]


class TimerError(ValueError):
    """A timer request that cannot be honoured (bad duration, unknown timer)."""


@dataclass
class Timer:
    """One running (or paused) timer."""

    id: str
    total_seconds: float
    """Duration requested at start, in seconds (after adjustments)."""
    name: str | None
    satellite_id: str | None
    """Where it was set; it rings there."""
    deadline: float
    """``time.monotonic()`` at which it ends (while running)."""
    paused_remaining: float | None = None
    """Seconds left when paused; None while running."""
    task: asyncio.Task[None] | None = field(default=None, repr=False, compare=False)

    @property
    def is_active(self) -> bool:
        return self.paused_remaining is None


def _split(seconds: float) -> tuple[int, int, int]:
    total = math.ceil(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return hours, minutes, secs


def _normalize_name(name: str | None) -> str | None:
    if name is None:
        return None
    cleaned = " ".join(name.split())
    return cleaned or None


class TimerManager:
    """All timers of the brain. Methods that start tasks need a running event loop."""

    def __init__(self, on_event: TimerEventCallback | None = None, store: TimerFile | None = None) -> None:
        """``store``: where the timers are kept across restarts (None: in memory only)."""
        self._on_event = on_event
        self._store = store
        self._timers: dict[str, Timer] = {}

    def restore(self) -> None:
        """Take up the timers of the last run (needs the running loop). One that ended while the
        brain was down is dropped here: the hub, which rings timers, rings it."""
        if self._store is None:
            return
        loop = asyncio.get_running_loop()
        for entry in self._store.load():
            left = left_of(entry)
            if left is None or entry["id"] in self._timers:
                continue
            seconds, running = left
            if running and seconds <= 0:
                continue
            try:
                total = float(entry.get("total_s") or seconds)
            except (TypeError, ValueError):
                total = seconds
            satellite = entry.get("satellite_id")
            timer = Timer(
                id=entry["id"],
                total_seconds=total,
                name=_normalize_name(entry["name"]) if isinstance(entry.get("name"), str) else None,
                satellite_id=satellite if isinstance(satellite, str) else None,
                deadline=time.monotonic() + seconds,
                paused_remaining=None if running else seconds,
            )
            self._timers[timer.id] = timer
            if running:
                timer.task = loop.create_task(self._run(timer), name=f"timer-{timer.id}")
        if self._timers:
            _LOGGER.info("Restored %d timer(s) from %s", len(self._timers), self._store.path)
        self._save()

    def _save(self) -> None:
        if self._store is not None:
            self._store.save(
                [
                    record(t.id, t.satellite_id, t.name, t.total_seconds, self.remaining(t), t.is_active)
                    for t in self._timers.values()
                ]
            )

    # -- queries -----------------------------------------------------------------------------

    def list(self, satellite_id: str | None = None) -> builtins.list[Timer]:
        """Timers of one satellite (None = all), soonest first."""
        timers = [t for t in self._timers.values() if satellite_id is None or t.satellite_id == satellite_id]
        return sorted(timers, key=self.remaining)

    def get(self, timer_id: str) -> Timer | None:
        return self._timers.get(timer_id)

    def find(self, name: str, satellite_id: str | None = None) -> builtins.list[Timer]:
        """Timers with this name (case-insensitive), of one satellite (None = all)."""
        wanted = (_normalize_name(name) or "").casefold()
        return [t for t in self.list(satellite_id) if t.name is not None and t.name.casefold() == wanted]

    def remaining(self, timer: Timer) -> float:
        """Seconds left (0 when finished)."""
        if timer.paused_remaining is not None:
            return timer.paused_remaining
        return max(0.0, timer.deadline - time.monotonic())

    # -- changes -----------------------------------------------------------------------------

    def set(
        self, seconds: float, name: str | None = None, satellite_id: str | None = None
    ) -> tuple[Timer, Event]:
        """Start a timer; returns it and its ``timer-started`` event."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise TimerError(f"timer duration must be a number of seconds, not {seconds!r}")
        if seconds <= 0:
            raise TimerError("timer duration must be positive")
        if seconds > MAX_TIMER_SECONDS:
            raise TimerError(f"timers are limited to {MAX_TIMER_SECONDS // 3600} hours")
        loop = asyncio.get_running_loop()
        timer = Timer(
            id=uuid.uuid4().hex,
            total_seconds=float(seconds),
            name=_normalize_name(name),
            satellite_id=satellite_id,
            deadline=time.monotonic() + seconds,
        )
        self._timers[timer.id] = timer
        timer.task = loop.create_task(self._run(timer), name=f"timer-{timer.id}")
        self._save()
        hours, minutes, secs = _split(seconds)
        _LOGGER.debug("Timer %s (%s) set for %.1f s on %s", timer.id, timer.name, seconds, satellite_id)
        started = TimerStarted(
            id=timer.id,
            total_seconds=math.ceil(seconds),
            name=timer.name,
            start_hours=hours,
            start_minutes=minutes,
            start_seconds=secs,
        )
        return timer, started.event()

    def cancel(
        self, timer_id: str | None = None, name: str | None = None, satellite_id: str | None = None
    ) -> builtins.list[Event]:
        """Cancel by id, else by name, else every timer of ``satellite_id`` (None = all).

        Returns one ``timer-cancelled`` event per cancelled timer (empty when nothing matched).
        """
        if timer_id is not None:
            timers = [self._timers[timer_id]] if timer_id in self._timers else []
        elif name is not None:
            timers = self.find(name, satellite_id)
        else:
            timers = self.list(satellite_id)
        events = []
        for timer in timers:
            self._remove(timer)
            _LOGGER.debug("Timer %s (%s) cancelled", timer.id, timer.name)
            events.append(TimerCancelled(id=timer.id).event())
        if events:
            self._save()
        return events

    def adjust(self, timer: Timer, delta_seconds: float) -> Event:
        """Add (or remove, if negative) time; returns ``timer-updated``."""
        if timer.id not in self._timers:
            raise TimerError("that timer is not running any more")
        left = self.remaining(timer) + delta_seconds
        if left <= 0:
            raise TimerError("that would leave no time on the timer")
        if left > MAX_TIMER_SECONDS:
            raise TimerError(f"timers are limited to {MAX_TIMER_SECONDS // 3600} hours")
        timer.total_seconds += delta_seconds
        if timer.paused_remaining is not None:
            timer.paused_remaining = left
        else:
            self._restart(timer, left)
        self._save()
        return TimerUpdated(id=timer.id, is_active=timer.is_active, total_seconds=math.ceil(left)).event()

    def pause(self, timer: Timer) -> Event:
        """Stop the clock; returns ``timer-updated`` (inactive)."""
        if timer.id not in self._timers:
            raise TimerError("that timer is not running any more")
        if timer.paused_remaining is None:
            timer.paused_remaining = self.remaining(timer)
            if timer.task is not None:
                timer.task.cancel()
                timer.task = None
            self._save()
        return TimerUpdated(
            id=timer.id, is_active=False, total_seconds=math.ceil(timer.paused_remaining)
        ).event()

    def resume(self, timer: Timer) -> Event:
        """Restart the clock of a paused timer; returns ``timer-updated`` (active)."""
        if timer.id not in self._timers:
            raise TimerError("that timer is not running any more")
        if timer.paused_remaining is not None:
            left = timer.paused_remaining
            timer.paused_remaining = None
            self._restart(timer, left)
            self._save()
        left = math.ceil(self.remaining(timer))
        return TimerUpdated(id=timer.id, is_active=True, total_seconds=left).event()

    async def close(self) -> None:
        """Cancel every timer task and wait for them (no events are emitted)."""
        tasks = [t.task for t in self._timers.values() if t.task is not None]
        self._timers.clear()  # in memory only: the file keeps them for the next start
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._store is not None:
            await asyncio.to_thread(self._store.close)

    # -- internals ---------------------------------------------------------------------------

    def _restart(self, timer: Timer, left: float) -> None:
        if timer.task is not None:
            timer.task.cancel()
        timer.deadline = time.monotonic() + left
        timer.task = asyncio.get_running_loop().create_task(self._run(timer), name=f"timer-{timer.id}")

    def _remove(self, timer: Timer) -> None:
        self._timers.pop(timer.id, None)
        if timer.task is not None and timer.task is not asyncio.current_task():
            timer.task.cancel()
        timer.task = None

    async def _run(self, timer: Timer) -> None:
        # The deadline of a running task never moves: adjust/resume start a new task.
        await asyncio.sleep(max(0.0, timer.deadline - time.monotonic()))
        if self._timers.get(timer.id) is not timer:
            return
        self._remove(timer)
        self._save()
        _LOGGER.debug("Timer %s (%s) finished on %s", timer.id, timer.name, timer.satellite_id)
        if self._on_event is None:
            return
        try:
            self._on_event(timer.satellite_id, TimerFinished(id=timer.id).event())
        except Exception:
            _LOGGER.exception("Timer %s: on_event callback failed", timer.id)
