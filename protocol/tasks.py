"""Task helpers shared by the hub, the services and the web bridge."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

_LOGGER = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it to finish; re-raises if *we* are being cancelled meanwhile.

    A task that had already ended is left as it is, but an error it ended with is read here (and
    logged at DEBUG), so asyncio never reports it as "never retrieved".
    """
    if task.done():
        if not task.cancelled() and (err := task.exception()) is not None:
            _LOGGER.debug("task %s ended with %r", task.get_name(), err)
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
