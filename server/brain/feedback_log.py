"""What the agent did in each LLM turn, for ``jarvis feedback``: model, memory, tools, latency.

The memory store records the turn's words; this records, in ``<data_dir>/feedback.sqlite3`` (0600),
what it does not: which model answered (A/B), the system prompt with the memory injected, the tools
called, and how long the answer took. ``jarvis feedback export`` joins a trace to its turn (same
user, conversation and prompt, the turn stored just after the trace). Text is cut at
:data:`MAX_TEXT_CHARS`; only the latest :data:`MAX_TRACES` traces are kept.

Nothing of it is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jarvis.protocol.paths import private_file

_LOGGER = logging.getLogger(__name__)

TRACE_DB_NAME = "feedback.sqlite3"
MAX_TEXT_CHARS = 8000
MAX_TRACES = 50_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_turns (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL, conversation_id TEXT NOT NULL, prompt TEXT NOT NULL,
    model TEXT NOT NULL, arm TEXT NOT NULL, memory TEXT, tools TEXT NOT NULL,
    latency_ms REAL NOT NULL, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_turns_user ON llm_turns (user_id, conversation_id, id);
"""


@dataclass
class Trace:
    """One agent turn, filled in as it goes."""

    user_id: str
    conversation_id: str
    prompt: str
    model: str
    arm: str = "a"
    """``a`` (the main model) or ``b`` (``--llm-b``)."""
    memory: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


class TraceLog:
    """Append-only, bounded; writes run in a thread and never fail a turn."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / TRACE_DB_NAME
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            private_file(self.path)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            private_file(self.path, siblings=("-wal", "-shm", "-journal"))
            self._db = db
        return self._db

    def _write(self, trace: Trace, latency_ms: float) -> None:
        with self._lock:
            if self._closed:  # a turn that ends while the brain shuts down
                return
            db = self._open()
            db.execute(
                "INSERT INTO llm_turns (user_id, conversation_id, prompt, model, arm, memory, tools,"
                " latency_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trace.user_id,
                    trace.conversation_id,
                    trace.prompt[:MAX_TEXT_CHARS],
                    trace.model,
                    trace.arm,
                    trace.memory[:MAX_TEXT_CHARS],
                    json.dumps(trace.tools, ensure_ascii=False)[:MAX_TEXT_CHARS],
                    latency_ms,
                    time.time(),
                ),
            )
            db.execute("DELETE FROM llm_turns WHERE id <= (SELECT MAX(id) FROM llm_turns) - ?", (MAX_TRACES,))

    async def record(self, trace: Trace) -> None:
        latency_ms = (time.monotonic() - trace.started) * 1000
        try:
            await asyncio.to_thread(self._write, trace, latency_ms)
        except (sqlite3.Error, OSError) as err:
            _LOGGER.warning("Could not record the turn's trace in %s: %s", self.path, err)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None


def read_traces(directory: Path) -> list[dict[str, Any]]:
    """All traces, oldest first (read-only; empty when none were recorded)."""
    path = Path(directory) / TRACE_DB_NAME
    if not path.is_file():
        return []
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM llm_turns ORDER BY id")]
    finally:
        db.close()


def ab_share(value: str) -> float:
    """argparse type for ``--ab-share``: a fraction in [0, 1]."""
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"--ab-share wants a fraction between 0 and 1, got {value!r}")
    return share


def attach(agent: Any, directory: Path, llm_b: Any = None, share: float = 0.0) -> TraceLog:
    """Give the brain's agent its trace log and, for A/B, its second model and share of turns."""
    log = TraceLog(directory)
    agent.trace_log = log
    if llm_b is not None and share > 0:
        agent.llm_b = llm_b
        agent.ab_share = share
        _LOGGER.info(
            "A/B: %s answers %.0f%% of the LLM turns, %s the rest", llm_b.name, share * 100, agent.llm.name
        )
    return log
