"""Slow down guessing: a per-key (per peer address) exponential delay after failed attempts.

The hub uses it for wrong tokens in ``jarvis-auth`` (an attempt asks :meth:`FailureBackoff.reserve`
how long to wait *before* it is checked and answered); the web login for its lockout (it asks
:meth:`~FailureBackoff.blocked_for` and answers 429 meanwhile). Either then reports
:meth:`~FailureBackoff.failure` or :meth:`~FailureBackoff.success`. After ``n`` failures beyond the
first ``free_failures`` the delay is ``initial_s * factor ** (n - 1)``, capped at ``max_s``.
Attempts from one key queue one delay apart, so opening many connections at once does not multiply
the guessing rate. A key's record is forgotten ``forget_after_s`` after its last failure, and at most
``max_keys`` records are kept (the oldest go first), so the table itself cannot exhaust memory.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    next_at: float = 0.0
    """Monotonic time before which the key's next attempt is not answered."""


class FailureBackoff:
    """Exponential, capped delay per key after failures; reset by a success."""

    def __init__(
        self,
        initial_s: float = 0.25,
        max_s: float = 8.0,
        *,
        factor: float = 2.0,
        free_failures: int = 0,
        forget_after_s: float = 900.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if initial_s < 0 or max_s < 0 or factor < 1 or max_keys < 1 or free_failures < 0:
            raise ValueError(
                "FailureBackoff wants initial_s, max_s, free_failures >= 0, factor >= 1, max_keys >= 1"
            )
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self.free_failures = free_failures
        """Failures that cost nothing (typos) before the delays begin."""
        self.forget_after_s = forget_after_s
        self.max_keys = max_keys
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def delay_after(self, failures: int) -> float:
        """Seconds between answered attempts once a key has ``failures`` failures."""
        over = failures - self.free_failures
        if over <= 0:
            return 0.0
        # min() before the power would overflow for a huge count
        exponent = min(over - 1, 64)
        return min(self.max_s, self.initial_s * self.factor**exponent)

    def failures(self, key: str) -> int:
        record = self._get(key)
        return record.failures if record else 0

    def reserve(self, key: str) -> float:
        """Seconds this attempt must wait before it is answered (0 for a key without failures).

        Each call books a slot: concurrent attempts from one key are answered one delay apart.
        """
        record = self._get(key)
        if record is None or record.failures == 0:
            return 0.0
        now = self._clock()
        start = max(now, record.next_at)
        record.next_at = start + self.delay_after(record.failures)
        return start - now

    def blocked_for(self, key: str) -> float:
        """Seconds until the key's next attempt would be answered (0: now); books nothing."""
        record = self._get(key)
        if record is None:
            return 0.0
        return max(0.0, record.next_at - self._clock())

    async def wait(self, key: str) -> float:
        """Sleep for :meth:`reserve`'s delay; returns it."""
        delay = self.reserve(key)
        if delay > 0:
            await asyncio.sleep(delay)
        return delay

    def failure(self, key: str) -> float:
        """Count a failed attempt; returns the delay the key's next attempt will wait."""
        now = self._clock()
        record = self._get(key)
        if record is None:
            record = _Record()
            self._records[key] = record
            while len(self._records) > self.max_keys:
                self._records.popitem(last=False)
        self._records.move_to_end(key)
        record.failures += 1
        record.last_failure = now
        delay = self.delay_after(record.failures)
        record.next_at = max(record.next_at, now + delay)
        return delay

    def success(self, key: str) -> None:
        """A successful attempt clears the key's record."""
        self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)

    def _get(self, key: str) -> _Record | None:
        record = self._records.get(key)
        if record is None:
            return None
        now = self._clock()
        if now - record.last_failure > self.forget_after_s and now >= record.next_at:
            del self._records[key]
            return None
        return record
