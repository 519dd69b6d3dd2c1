"""The logged-in user's memory and feedback, for the web page.

Memory is the brain's own store (:class:`jarvis.server.brain.memory.MemoryStore`, the same API as
``jarvis memory``): static profile, dynamic memory (every edit is a new version; old ones are kept),
facts, onboarding state.

Feedback is stored with the turn in the brain's store (``record_feedback(user_id, turn_id, rating)``)
when the answer can be matched to one of the user's recorded turns (the hub's ``turn_id`` is not the
store's row id, so the page also sends the question and answer text and the newest turn with that
exact text is used). A rating that matches no recorded turn (for example a turn the brain did not
log) is not lost: it goes to this module's own ``web_feedback`` table in ``<data_dir>/web.sqlite3``
with the hub turn id and both texts.

Storage faults (read-only data dir, full disk, I/O error: :class:`MemoryWriteError`) are answered
``503 {"error": "storage-unavailable", "message": ...}`` with the cause in words; nothing is
written, and reading keeps working. ``web.sqlite3`` is created 0600, like the memory store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import web

from jarvis.protocol.paths import data_dir, private_file
from jarvis.server.brain.memory import (
    PROFILE_FIELDS,
    MemoryError_,
    MemoryStore,
    MemoryWriteError,
    write_fault,
)
from jarvis.server.brain.normalize import normalize_transcript

_LOGGER = logging.getLogger(__name__)

WEB_DB_NAME = "web.sqlite3"
#: How many of the user's latest turns are searched to match a rated answer.
MATCH_TURNS = 200
MAX_FIELD_CHARS = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_feedback (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL, hub_turn_id TEXT NOT NULL, rating INTEGER NOT NULL,
    question TEXT, answer TEXT, comment TEXT, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS web_feedback_user ON web_feedback (user_id, id);
"""


class StoreError(ValueError):
    """Bad input from the page; nothing was written."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def storage_unavailable(err: MemoryWriteError) -> web.HTTPServiceUnavailable:
    """The 503 for a write the storage refused: JSON ``{error, message}``, the cause in words."""
    message = f"Nothing was saved: {err.reason('en')}. Fix the data folder and try again. ({err.detail})"
    return web.HTTPServiceUnavailable(
        text=json.dumps({"error": "storage-unavailable", "cause": err.cause, "message": message}),
        content_type="application/json",
    )


@contextlib.contextmanager
def _writes() -> Iterator[None]:
    """Turn a storage fault of the writes inside into the 503 (never a 500 with a traceback)."""
    try:
        yield
    except (MemoryWriteError, sqlite3.OperationalError, OSError) as err:
        fault = write_fault(err)
        if fault is None:
            raise
        _LOGGER.warning("Web API write refused by the storage: %s", fault)
        raise storage_unavailable(fault) from err


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).strip().lower()


class WebStore:
    """Memory (the brain's store) and feedback for the web API. Blocking work runs in threads."""

    def __init__(self, directory: Path | None = None, memory: MemoryStore | None = None) -> None:
        self.directory = Path(directory) if directory else data_dir()
        self._memory = memory
        self._owns_memory = memory is None
        self._memory_lock = asyncio.Lock()
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()

    async def memory_store(self) -> MemoryStore:
        """The brain's store: the one given (shared in ``jarvis serve``) or opened on first use."""
        async with self._memory_lock:
            if self._memory is None:
                self._memory = await MemoryStore.open(self.directory / "memory.sqlite3")
            return self._memory

    # --- memory ----------------------------------------------------------------------------------
    async def memory(self, user_id: str) -> dict[str, Any]:
        store = await self.memory_store()
        profile = await store.get_profile(user_id)
        versions = await store.summaries(user_id)
        facts = await store.list_facts(user_id)
        data = asdict(profile)
        onboarding = data.pop("onboarding")
        data.pop("user_id")
        return {
            "user_id": user_id,
            "profile": data,
            "profile_fields": list(PROFILE_FIELDS),
            "onboarding": {
                "state": onboarding,
                "needed": onboarding != "done" and profile.is_empty(),
                "question": "Before we start: what's your name, how old are you, what are you "
                "interested in, and what matters to you?",
            },
            "dynamic": {
                "summary": versions[-1]["summary"] if versions else "",
                "version": versions[-1]["version"] if versions else 0,
                "updated_at": versions[-1]["created_at"] if versions else None,
                "versions": len(versions),
            },
            "facts": [asdict(f) for f in facts],
        }

    async def update_profile(self, user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, str | None] = {}
        for key, value in fields.items():
            if key not in PROFILE_FIELDS:
                raise StoreError(
                    "bad-field", f"unknown profile field {key!r}; editable: {', '.join(PROFILE_FIELDS)}"
                )
            if value is not None and not isinstance(value, str | int | float):
                raise StoreError("bad-field", f"{key!r} must be text")
            text = None if value is None else str(value).strip()
            if text is not None and len(text) > MAX_FIELD_CHARS:
                raise StoreError("too-large", f"{key!r} is longer than {MAX_FIELD_CHARS} characters")
            values[key] = text or None
        store = await self.memory_store()
        try:
            with _writes():
                profile = await store.update_profile(user_id, **values)
            if not profile.is_empty() and profile.onboarding != "done":
                await store.set_onboarding(user_id, "done")
        except MemoryError_ as err:
            raise StoreError("bad-field", str(err)) from err
        return await self.memory(user_id)

    async def set_dynamic(self, user_id: str, summary: str) -> dict[str, Any]:
        if len(summary) > 20 * MAX_FIELD_CHARS:
            raise StoreError("too-large", "the summary is too long")
        store = await self.memory_store()
        current = await store.latest_summary(user_id)
        if (current or "").strip() != summary.strip():
            with _writes():
                await store.add_summary(user_id, summary)
        return await self.memory(user_id)

    async def add_fact(self, user_id: str, text: str) -> dict[str, Any]:
        if len(text) > MAX_FIELD_CHARS:
            raise StoreError("too-large", f"a fact is at most {MAX_FIELD_CHARS} characters")
        store = await self.memory_store()
        try:
            with _writes():
                await store.add_fact(user_id, text)
        except MemoryError_ as err:
            raise StoreError("bad-request", str(err)) from err
        return await self.memory(user_id)

    async def forget_fact(self, user_id: str, fact_id: str) -> dict[str, Any]:
        store = await self.memory_store()
        facts = {str(f.id): f for f in await store.list_facts(user_id)}
        fact = facts.get(fact_id)
        if fact is None:
            raise StoreError("not-found", f"no fact {fact_id} for this user")
        with _writes():
            await store.forget_fact_id(user_id, fact.id)
        return await self.memory(user_id)

    # --- feedback --------------------------------------------------------------------------------
    def _web_db(self) -> sqlite3.Connection:
        if self._db is None:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self.directory / WEB_DB_NAME
            private_file(path)  # 0600 before SQLite opens it
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            try:
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(_SCHEMA)
                private_file(path, siblings=("-wal", "-shm", "-journal"))
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _insert_web_feedback(self, row: tuple[Any, ...]) -> int:
        with self._db_lock:
            db = self._web_db()
            cursor = db.execute(
                "INSERT INTO web_feedback (user_id, hub_turn_id, rating, question, answer, comment,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cursor.lastrowid or 0)

    def _web_feedback(self, user_id: str) -> list[dict[str, Any]]:
        with self._db_lock:
            try:
                db = self._web_db()
            except (sqlite3.OperationalError, OSError) as err:
                if (fault := write_fault(err)) is None:
                    raise
                _LOGGER.warning("%s cannot be opened (%s): no web feedback to list", WEB_DB_NAME, fault)
                return []
            rows = db.execute(
                "SELECT * FROM web_feedback WHERE user_id = ? ORDER BY id DESC", (user_id,)
            ).fetchall()
            return [dict(r) for r in rows]

    async def _match_turn(self, user_id: str, question: str | None, answer: str | None) -> int | None:
        if not question and not answer:
            return None
        store = await self.memory_store()
        turns = await store.recent_turns(user_id, None, limit=MATCH_TURNS)
        a = _norm(answer)
        for turn in reversed(turns):  # newest first
            # The page shows what STT heard ("Hey Jarvis, what time is it?"); the brain logs the
            # command it answered, after removing the wake phrase (brain.normalize).
            asked = {_norm(question), _norm(normalize_transcript(question or "", turn.language or "en"))}
            question_ok = not question or _norm(turn.user_text) in asked
            if question_ok and (not a or _norm(turn.assistant_text) == a):
                return turn.id
        return None

    async def record_feedback(
        self,
        user_id: str,
        turn_id: str,
        rating: int,
        question: str | None = None,
        answer: str | None = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Store a rating with its turn; returns where it went (``memory`` or ``web``) and the ids."""
        memory_turn = await self._match_turn(user_id, question, answer)
        if memory_turn is not None:
            store = await self.memory_store()
            note = comment if comment else None
            with _writes():
                feedback_id = await store.record_feedback(user_id, memory_turn, rating, note)
            _LOGGER.info("Feedback %+d on turn %s of user %s (memory store)", rating, memory_turn, user_id)
            return {
                "stored_in": "memory",
                "feedback_id": feedback_id,
                "memory_turn_id": memory_turn,
                "turn_id": turn_id,
                "rating": rating,
            }
        row = (user_id, turn_id, rating, question, answer, comment, time.time())
        with _writes():
            feedback_id = await asyncio.to_thread(self._insert_web_feedback, row)
        _LOGGER.info("Feedback %+d on hub turn %s of user %s (web table)", rating, turn_id, user_id)
        return {
            "stored_in": "web",
            "feedback_id": feedback_id,
            "memory_turn_id": None,
            "turn_id": turn_id,
            "rating": rating,
        }

    async def list_feedback(self, user_id: str) -> list[dict[str, Any]]:
        """This user's ratings from both places, newest first."""
        store = await self.memory_store()
        from_memory = [{**r, "stored_in": "memory"} for r in await store.feedback(user_id)]
        from_web = [{**r, "stored_in": "web"} for r in await asyncio.to_thread(self._web_feedback, user_id)]
        return sorted(from_memory + from_web, key=lambda r: r["created_at"], reverse=True)

    async def close(self) -> None:
        def work() -> None:
            with self._db_lock:
                if self._db is not None:
                    self._db.close()
                    self._db = None

        await asyncio.to_thread(work)
        if self._owns_memory and self._memory is not None:
            await self._memory.close()
            self._memory = None
