"""Timers on disk, so that a restart neither forgets nor silences them (issue 13).

The hub (which rings timers) and the brain (which answers "how long is left" and cancels them) each
keep their timers in a small JSON file in the data dir: ``timers-hub.json`` and ``timers-brain.json``.
A record holds the wall-clock end of a running timer (``ends_at``, Unix seconds) or the seconds left
of a paused one (``paused_s``), so the countdown goes on across a restart: a timer that ended while
the server was down rings as soon as its satellite is back.

Writes are whole-file (written aside, fsynced, renamed: a crash leaves the old or the new file, never
half of one), 0600, in one worker thread per file so they stay in order and never block the event
loop. A file that cannot be written (read-only or full disk) is said once in the log; the timers keep
running in memory. A file that cannot be read starts with no timers, and says why.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jarvis.protocol.paths import make_private

_LOGGER = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_TIMERS = 1000
"""Records read from a file at most (a file is never trusted to be small)."""
MAX_FILE_BYTES = 1_000_000


class TimerFile:
    """One JSON file of timer records (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="timer-file")
        self._failed: str | None = None

    def load(self) -> list[dict[str, Any]]:
        """The records saved last; [] when there is no file or it cannot be read (logged)."""
        try:
            if self.path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as err:
            _LOGGER.warning("Timers file %s cannot be read (%s): starting with no timers", self.path, err)
            return []
        records = data.get("timers") if isinstance(data, dict) else None
        if not isinstance(records, list):
            _LOGGER.warning("Timers file %s has no timer list: starting with no timers", self.path)
            return []
        return [r for r in records[:MAX_TIMERS] if isinstance(r, dict) and isinstance(r.get("id"), str)]

    def save(self, records: list[dict[str, Any]]) -> None:
        """Write ``records`` in the background (in order with earlier saves)."""
        payload = json.dumps({"version": FORMAT_VERSION, "saved_at": time.time(), "timers": records})
        try:
            self._writer.submit(self._write, payload)
        except RuntimeError:  # closed: the process is stopping
            pass

    def _write(self, payload: str) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            make_private(self.path)
        except OSError as err:
            why = err.strerror or str(err)
            if why != self._failed:  # once per cause, not once per timer
                _LOGGER.warning(
                    "Cannot save timers to %s (%s): they will not survive a restart", self.path, why
                )
                self._failed = why
            return
        self._failed = None

    def close(self) -> None:
        """Finish pending writes."""
        self._writer.shutdown(wait=True)


def record(
    timer_id: str,
    satellite_id: str | None,
    name: str | None,
    total_s: float,
    remaining_s: float,
    running: bool,
) -> dict[str, Any]:
    """A record: the wall-clock end of a running timer, the seconds left of a paused one."""
    out: dict[str, Any] = {"id": timer_id, "satellite_id": satellite_id, "name": name, "total_s": total_s}
    if running:
        out["ends_at"] = time.time() + remaining_s
    else:
        out["paused_s"] = remaining_s
    return out


def left_of(entry: dict[str, Any]) -> tuple[float, bool] | None:
    """(seconds left now, running) of a record; None when it is malformed."""
    try:
        if "paused_s" in entry:
            return max(0.0, float(entry["paused_s"])), False
        return float(entry["ends_at"]) - time.time(), True
    except (KeyError, TypeError, ValueError):
        return None
